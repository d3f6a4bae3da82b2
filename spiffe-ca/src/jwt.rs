//! JWT-SVID signing keys and minting.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::Serialize;

use spiffe_core::SpiffeId;
use spiffe_core::jwt::{JwtAlgorithm, assemble, signing_input};

use crate::keys::Signer;
use crate::x509::unix;
use crate::{CaError, CryptoError};

/// A JWT-SVID signing key with its key ID and lifetime.
pub struct JwtAuthority {
    kid: String,
    signer: Arc<dyn Signer>,
    algorithm: JwtAlgorithm,
    not_before: i64,
    not_after: i64,
    /// The header, serialized once.
    header: String,
}

impl std::fmt::Debug for JwtAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthority")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// What a JWT-SVID should say.
#[derive(Debug, Clone)]
pub struct JwtSvidParams {
    /// `sub`.
    pub spiffe_id: SpiffeId,
    /// `aud` (at least one, none empty).
    pub audience: Vec<String>,
    /// Requested lifetime (capped by the key's own expiry).
    pub ttl: Duration,
    /// `iss`, if the deployment sets one.
    pub issuer: Option<String>,
    /// Whether to add a random `jti`.
    pub with_jti: bool,
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    kid: &'a str,
    typ: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    sub: &'a str,
    aud: &'a [String],
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
}

/// A random identifier of `len` characters from `[A-Za-z0-9]`.
pub(crate) fn random_id(len: usize) -> Result<String, CaError> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CryptoError::Random {
            purpose: "identifier",
        })?;
    // 62 symbols: the small modulo bias is irrelevant for identifiers that need only be unique.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

impl JwtAuthority {
    /// A new key valid from `now` for `ttl`, with a random 32-character key ID.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] if the random key ID cannot be drawn, the key's type does not suit
    /// `algorithm`, or the header does not serialize.
    pub fn create(
        signer: Arc<dyn Signer>,
        algorithm: JwtAlgorithm,
        now: SystemTime,
        ttl: Duration,
    ) -> Result<Self, CaError> {
        let now = unix(now);
        let not_after = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        Self::restore(random_id(32)?, signer, algorithm, now, not_after)
    }

    /// Rebuilds a key from stored facts.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] ([`CryptoError::AlgorithmMismatch`]) if the key's type does not suit
    /// `algorithm`, or ([`CryptoError::Json`]) if the header does not serialize.
    pub fn restore(
        kid: String,
        signer: Arc<dyn Signer>,
        algorithm: JwtAlgorithm,
        not_before: i64,
        not_after: i64,
    ) -> Result<Self, CaError> {
        if !algorithm.suits(signer.public_key().key_type()) {
            return Err(CryptoError::AlgorithmMismatch {
                key_type: signer.key_type(),
                algorithm,
            }
            .into());
        }
        let header = serde_json::to_string(&Header {
            alg: algorithm.as_str(),
            kid: &kid,
            typ: "JWT",
        })
        .map_err(|source| CryptoError::Json {
            part: "header",
            source,
        })?;
        Ok(JwtAuthority {
            kid,
            signer,
            algorithm,
            not_before,
            not_after,
            header,
        })
    }

    /// The key ID (`kid`).
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The signing key.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// Start of the key's lifetime, seconds since the Unix epoch.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// End of the key's lifetime, seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Mints a JWT-SVID: header `alg`, `kid`, `typ: JWT`; claims `sub`, `aud`, `exp`, `iat`, and
    /// `iss`/`jti` when asked. `exp` is capped by the key's own expiry.
    ///
    /// # Errors
    ///
    /// [`CaError::ZeroTtl`] for a zero TTL, [`CaError::NoAudience`] without a non-empty
    /// audience, [`CaError::Crypto`] if the `jti` cannot be drawn, the claims do not serialize
    /// or the key fails to sign.
    pub fn mint(&self, params: &JwtSvidParams, now: SystemTime) -> Result<String, CaError> {
        if params.ttl.is_zero() {
            return Err(CaError::ZeroTtl);
        }
        if params.audience.is_empty() || params.audience.iter().any(String::is_empty) {
            return Err(CaError::NoAudience);
        }
        let iat = unix(now);
        let exp = iat
            .saturating_add(i64::try_from(params.ttl.as_secs()).unwrap_or(i64::MAX))
            .min(self.not_after);
        let claims = Claims {
            iss: params.issuer.as_deref(),
            sub: params.spiffe_id.as_str(),
            aud: &params.audience,
            exp,
            iat,
            jti: if params.with_jti {
                Some(random_id(32)?)
            } else {
                None
            },
        };
        let claims = serde_json::to_string(&claims).map_err(|source| CryptoError::Json {
            part: "claims",
            source,
        })?;
        let input = signing_input(&self.header, &claims);
        let sig = self.signer.sign_jws(self.algorithm, input.as_bytes())?;
        Ok(assemble(input, &sig))
    }
}
