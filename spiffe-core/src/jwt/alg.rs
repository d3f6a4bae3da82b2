//! The JWS algorithms JWT-SVID.md 2.1 allows, and signature verification with them.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
use jsonwebtoken::{Algorithm, DecodingKey};

use super::JwtError;
use crate::key::{KeyType, PublicKey};

/// A JWS `alg` allowed for JWT-SVIDs (RFC 7518 3.3, 3.4, 3.5). `none` and the HMAC algorithms
/// are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// ECDSA with P-256 and SHA-256.
    ES256,
    /// ECDSA with P-384 and SHA-384.
    ES384,
    /// ECDSA with P-521 and SHA-512.
    ES512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
}

impl JwtAlgorithm {
    /// The `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::RS384 => "RS384",
            JwtAlgorithm::RS512 => "RS512",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::ES384 => "ES384",
            JwtAlgorithm::ES512 => "ES512",
            JwtAlgorithm::PS256 => "PS256",
            JwtAlgorithm::PS384 => "PS384",
            JwtAlgorithm::PS512 => "PS512",
        }
    }

    /// Whether a key of `key_type` can verify this algorithm.
    pub fn suits(self, key_type: KeyType) -> bool {
        matches!(
            (self, key_type),
            (JwtAlgorithm::ES256, KeyType::EcP256)
                | (JwtAlgorithm::ES384, KeyType::EcP384)
                | (JwtAlgorithm::ES512, KeyType::EcP521)
                | (
                    JwtAlgorithm::RS256
                        | JwtAlgorithm::RS384
                        | JwtAlgorithm::RS512
                        | JwtAlgorithm::PS256
                        | JwtAlgorithm::PS384
                        | JwtAlgorithm::PS512,
                    KeyType::Rsa
                )
        )
    }

    /// The `jsonwebtoken` algorithm, for all but ES512, which that crate does not implement.
    fn jose(self) -> Option<Algorithm> {
        Some(match self {
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::RS384 => Algorithm::RS384,
            JwtAlgorithm::RS512 => Algorithm::RS512,
            JwtAlgorithm::ES256 => Algorithm::ES256,
            JwtAlgorithm::ES384 => Algorithm::ES384,
            JwtAlgorithm::PS256 => Algorithm::PS256,
            JwtAlgorithm::PS384 => Algorithm::PS384,
            JwtAlgorithm::PS512 => Algorithm::PS512,
            JwtAlgorithm::ES512 => return None,
        })
    }

    /// Verifies a JWS signature (ECDSA signatures in the fixed `r || s` form of RFC 7518 3.4).
    ///
    /// The key type is checked against the algorithm first (so an RSA key never verifies an
    /// ES256 token, nor a P-256 key an ES384 one); the signature is then checked by
    /// `jsonwebtoken`'s aws-lc-rs provider, or for ES512, which that crate does not implement,
    /// by aws-lc-rs directly.
    ///
    /// # Errors
    ///
    /// [`JwtError::KeyAlgorithmMismatch`] when the key cannot verify this algorithm,
    /// [`JwtError::BadSignature`] when the signature does not verify.
    pub fn verify(self, key: &PublicKey, message: &[u8], sig: &[u8]) -> Result<(), JwtError> {
        if !self.suits(key.key_type()) {
            return Err(JwtError::KeyAlgorithmMismatch {
                alg: self,
                key_type: key.key_type(),
            });
        }
        let Some(alg) = self.jose() else {
            return UnparsedPublicKey::new(&signature::ECDSA_P521_SHA512_FIXED, key.raw())
                .verify(message, sig)
                .map_err(|_| JwtError::BadSignature);
        };
        // The raw key is what the provider expects: an uncompressed EC point, or a DER
        // `RSAPublicKey`.
        let decoding = if key.key_type() == KeyType::Rsa {
            DecodingKey::from_rsa_der(key.raw())
        } else {
            DecodingKey::from_ec_der(key.raw())
        };
        let verifier = (DEFAULT_PROVIDER.verifier_factory)(&alg, &decoding).map_err(|_| {
            JwtError::KeyAlgorithmMismatch {
                alg: self,
                key_type: key.key_type(),
            }
        })?;
        verifier
            .verify(message, &sig.to_vec())
            .map_err(|_| JwtError::BadSignature)
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwtAlgorithm {
    type Err = JwtError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "RS256" => JwtAlgorithm::RS256,
            "RS384" => JwtAlgorithm::RS384,
            "RS512" => JwtAlgorithm::RS512,
            "ES256" => JwtAlgorithm::ES256,
            "ES384" => JwtAlgorithm::ES384,
            "ES512" => JwtAlgorithm::ES512,
            "PS256" => JwtAlgorithm::PS256,
            "PS384" => JwtAlgorithm::PS384,
            "PS512" => JwtAlgorithm::PS512,
            other => {
                return Err(JwtError::AlgorithmNotAllowed {
                    alg: other.to_owned(),
                });
            }
        })
    }
}
