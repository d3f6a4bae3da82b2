//! The typed error of JWT-SVID parsing and validation.

use thiserror::Error;

use super::JwtAlgorithm;
use crate::id::IdError;
use crate::key::KeyType;

/// Why a JWT-SVID was refused; each variant names the rule of JWT-SVID.md (or RFC 7519) broken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three dot-separated parts (a JWE has five; JSON serialization has none).
    #[error("token is not a compact JWS: expected 3 dot-separated parts, found {parts}")]
    NotCompactJws {
        /// How many parts were found.
        parts: usize,
    },
    /// A part is not unpadded base64url.
    #[error("token {part} is not unpadded base64url")]
    Base64 {
        /// `"header"`, `"payload"` or `"signature"`.
        part: &'static str,
    },
    /// The header is not a JSON object of strings.
    #[error("token header is not valid: {0}")]
    Header(String),
    /// A header member other than `alg`, `kid`, `typ` (JWT-SVID.md 2).
    #[error("token header member {name:?} is not allowed in a JWT-SVID (only alg, kid, typ)")]
    UnsupportedHeader {
        /// The member.
        name: String,
    },
    /// No `alg` header.
    #[error("token header has no \"alg\"")]
    MissingAlgorithm,
    /// An `alg` outside RS/ES/PS 256/384/512 (`none` and HS* included).
    #[error("token algorithm {alg:?} is not allowed for JWT-SVIDs (RS/ES/PS 256/384/512 only)")]
    AlgorithmNotAllowed {
        /// The `alg` given.
        alg: String,
    },
    /// A `typ` other than `JWT` or `JOSE`.
    #[error("token type {typ:?} is not allowed (JWT or JOSE)")]
    BadType {
        /// The `typ` given.
        typ: String,
    },
    /// No `kid`, so no key can be chosen.
    #[error("token header has no \"kid\" to select a bundle key")]
    MissingKeyId,
    /// The claims are not a JSON object of the expected shape.
    #[error("token claims are not valid: {0}")]
    Claims(String),
    /// No `sub`.
    #[error("token has no \"sub\" claim")]
    MissingSubject,
    /// A `sub` that is not a SPIFFE ID.
    #[error("token \"sub\" is not a SPIFFE ID: {0}")]
    InvalidSubject(IdError),
    /// No `aud` (JWT-SVID.md 3.2).
    #[error("token has no \"aud\" claim")]
    MissingAudience,
    /// An empty `aud`.
    #[error("token \"aud\" claim is empty")]
    EmptyAudience,
    /// Validation was asked with no expected audience.
    #[error("an expected audience is required to validate a JWT-SVID")]
    NoExpectedAudience,
    /// The expected audience is not in `aud`.
    #[error("token audience {actual:?} does not include {expected:?}")]
    AudienceMismatch {
        /// The audience expected.
        expected: String,
        /// The token's `aud`.
        actual: Vec<String>,
    },
    /// No `exp` (JWT-SVID.md 3.3).
    #[error("token has no \"exp\" claim")]
    MissingExpiry,
    /// `exp` has passed.
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The validation time.
        now: i64,
    },
    /// `nbf` is not reached.
    #[error("token is not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The validation time.
        now: i64,
    },
    /// No JWT bundle for the `sub`'s trust domain.
    #[error("trust domain {trust_domain} is not trusted (no JWT bundle)")]
    UntrustedTrustDomain {
        /// The trust domain of `sub`.
        trust_domain: String,
    },
    /// The `kid` is not in that bundle.
    #[error("key {kid:?} is not in the JWT bundle of {trust_domain}")]
    KeyNotFound {
        /// The `kid`.
        kid: String,
        /// The trust domain of `sub`.
        trust_domain: String,
    },
    /// The key cannot verify the header's `alg`.
    #[error("key of type {key_type} cannot verify algorithm {alg}")]
    KeyAlgorithmMismatch {
        /// The `alg`.
        alg: JwtAlgorithm,
        /// The key's type.
        key_type: KeyType,
    },
    /// The signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
}
