//! JWT-SVIDs (JWT-SVID.md): strict parsing and validation of compact JWS tokens.
//!
//! Signatures are verified by `jsonwebtoken` (its aws-lc-rs provider) for every algorithm it
//! implements; ES512, which JWT-SVID.md allows and `jsonwebtoken` 12 does not implement, is
//! verified by aws-lc-rs directly. The other SPIFFE rules are this module's own, because
//! `jsonwebtoken` cannot express them:
//!
//! - **size cap** (64 KiB) before any decoding: `jsonwebtoken` decodes whatever it is given;
//! - **header**: only `alg`, `kid` and `typ`, each once; `jsonwebtoken::Header` accepts and
//!   ignores unknown members (and members such as `jku`, `jwk`, `x5u`, `crit`), which JWT-SVID.md
//!   leaves no room for;
//! - **`alg` bound to the key type** ([`JwtAlgorithm::suits`]) with an error that says so, and
//!   `none`, HS* and EdDSA not representable at all;
//! - **`typ`** `JWT` or `JOSE` when present; `jsonwebtoken` does not check `typ`;
//! - **`aud`** must hold *every* expected audience; `jsonwebtoken::Validation` accepts a token
//!   that holds *any* of them;
//! - **`exp`/`nbf`** checked at a time the caller chooses ([`Validation::at`]), `exp` exclusive
//!   as RFC 7519 4.1.4 says; `jsonwebtoken` reads the wall clock and accepts a token at its
//!   `exp` second;
//! - **`sub`** must be a SPIFFE ID, and selects the trust domain whose bundle holds the key.

mod alg;
mod error;
mod parse;

pub use alg::JwtAlgorithm;
pub use error::JwtError;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::id::SpiffeId;
use crate::source::BundleSource;

/// A JWT-SVID that was parsed (and, unless made by [`JwtSvid::parse_insecure`], validated).
#[derive(Clone, Debug)]
pub struct JwtSvid {
    token: String,
    id: SpiffeId,
    audience: Vec<String>,
    expiry: i64,
    issued_at: Option<i64>,
    not_before: Option<i64>,
    algorithm: JwtAlgorithm,
    key_id: Option<String>,
    claims_json: String,
    hint: Option<String>,
}

/// What a validation expects besides the signature.
#[derive(Debug, Clone)]
pub struct Validation<'a> {
    /// Audiences the token must name; each of them must be in its `aud` (at least one).
    pub audiences: &'a [&'a str],
    /// The time to validate at.
    pub now: SystemTime,
    /// Tolerated clock difference for `exp` and `nbf`.
    pub leeway: Duration,
}

impl<'a> Validation<'a> {
    /// Expect `audience`, validate now, with no leeway.
    pub fn new(audiences: &'a [&'a str]) -> Self {
        Validation {
            audiences,
            now: SystemTime::now(),
            leeway: Duration::ZERO,
        }
    }

    /// The same, with a leeway.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The same, validating at another time.
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = now;
        self
    }
}

impl JwtSvid {
    /// Parses and validates a token for one audience, now, with no leeway.
    pub fn parse_and_validate(
        token: &str,
        bundles: &dyn BundleSource,
        audience: &str,
    ) -> Result<Self, JwtError> {
        Self::validate(token, bundles, &Validation::new(&[audience]))
    }

    /// Parses and validates a token:
    ///
    /// - compact JWS serialization only (three base64url parts); a JWE is refused;
    /// - the JOSE header holds only `alg`, `kid` and `typ`; `alg` is one of RS256/384/512,
    ///   ES256/384/512, PS256/384/512 (so `none` and HS* are refused); `typ`, when present, is
    ///   `JWT` or `JOSE`; `kid` is required to select the key;
    /// - `sub` is a SPIFFE ID; `aud` is present, non-empty, and holds every expected audience;
    ///   `exp` is present and not past (`nbf`, when present, is reached), with the given leeway;
    /// - the key named by `kid` is taken from the JWT bundle of the `sub`'s trust domain (never
    ///   another's), must suit `alg`, and must verify the signature.
    pub fn validate(
        token: &str,
        bundles: &dyn BundleSource,
        validation: &Validation<'_>,
    ) -> Result<Self, JwtError> {
        if validation.audiences.is_empty() {
            return Err(JwtError::NoExpectedAudience);
        }
        let parsed = parse::parse(token)?;
        let svid = parsed.svid;
        let td = svid.id.trust_domain();
        let bundle = bundles
            .jwt_bundle(&td)
            .ok_or_else(|| JwtError::UntrustedTrustDomain {
                trust_domain: td.name().to_owned(),
            })?;
        let kid = svid.key_id.as_deref().ok_or(JwtError::MissingKeyId)?;
        let key = bundle.find(kid).ok_or_else(|| JwtError::KeyNotFound {
            kid: kid.to_owned(),
            trust_domain: td.name().to_owned(),
        })?;
        svid.algorithm
            .verify(key, parsed.signing_input.as_bytes(), &parsed.signature)?;
        svid.check_claims(validation)?;
        Ok(svid)
    }

    /// Parses a token and checks its form and claims' presence, but neither its signature nor
    /// its times: for a workload reading a token it was just given by its own agent.
    pub fn parse_insecure(token: &str) -> Result<Self, JwtError> {
        Ok(parse::parse(token)?.svid)
    }

    fn check_claims(&self, validation: &Validation<'_>) -> Result<(), JwtError> {
        for expected in validation.audiences {
            if !self.audience.iter().any(|a| a == expected) {
                return Err(JwtError::AudienceMismatch {
                    expected: (*expected).to_owned(),
                    actual: self.audience.clone(),
                });
            }
        }
        let now = system_to_unix(validation.now);
        let leeway = i64::try_from(validation.leeway.as_secs()).unwrap_or(i64::MAX);
        if now >= self.expiry.saturating_add(leeway) {
            return Err(JwtError::Expired {
                exp: self.expiry,
                now,
            });
        }
        if let Some(nbf) = self.not_before
            && now.saturating_add(leeway) < nbf
        {
            return Err(JwtError::NotYetValid { nbf, now });
        }
        Ok(())
    }

    /// The token, as given.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The `sub` claim.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.id
    }

    /// The `aud` claim (one or more values).
    pub fn audience(&self) -> &[String] {
        &self.audience
    }

    /// The `exp` claim, in seconds since the Unix epoch.
    pub fn expiry_unix(&self) -> i64 {
        self.expiry
    }

    /// The `exp` claim.
    pub fn expiry(&self) -> SystemTime {
        crate::x509::unix_to_system(self.expiry)
    }

    /// The `iat` claim, if present.
    pub fn issued_at_unix(&self) -> Option<i64> {
        self.issued_at
    }

    /// The `alg` header.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.algorithm
    }

    /// The `kid` header, if present.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// All claims, as a JSON object.
    pub fn claims(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_str(&self.claims_json).unwrap_or_default()
    }

    /// The hint given with the token by the Workload API, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The same token with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.hint = if hint.is_empty() { None } else { Some(hint) };
        self
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn system_to_unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// Builds the signing input `base64url(header) "." base64url(claims)` of a token from its
/// JSON header and claims (used by signers; the signature is appended with [`assemble`]).
pub fn signing_input(header_json: &str, claims_json: &str) -> String {
    let mut out = URL_SAFE_NO_PAD.encode(header_json);
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(claims_json));
    out
}

/// Appends `"." base64url(signature)` to a signing input, giving the compact token.
pub fn assemble(mut signing_input: String, signature: &[u8]) -> String {
    signing_input.push('.');
    signing_input.push_str(&URL_SAFE_NO_PAD.encode(signature));
    signing_input
}
