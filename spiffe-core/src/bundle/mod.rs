//! Trust bundles (SPIFFE_Trust_Domain_and_Bundle.md): X.509 authorities, JWT keys, the SPIFFE
//! bundle document (a JWK Set), and sets of bundles keyed by trust domain.

mod document;
mod jwk;
mod jwt;
mod set;
mod x509;

pub use document::Bundle;
pub use jwt::{JwtAuthority, JwtBundle};
pub use set::BundleSet;
pub use x509::X509Bundle;

use thiserror::Error;

use crate::id::IdError;
use crate::key::KeyError;
use crate::x509::X509Error;

/// Why a bundle, or one of its keys, was refused.
///
/// `index` is the position of a JWK in the `keys` array of the document.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The document is not valid JSON or not a JWK Set of the expected shape (including a
    /// document without `keys` and an object with a duplicate member).
    #[error("bundle document is not a valid SPIFFE bundle: {0}")]
    Json(String),
    /// An `x509-svid` JWK that breaks X509-SVID.md 6.1.
    #[error("keys[{index}] (x509-svid): {reason}")]
    X509Entry {
        /// Position in `keys`.
        index: usize,
        /// The rule broken.
        reason: String,
    },
    /// A `jwt-svid` JWK that breaks JWT-SVID.md 6.1.
    #[error("keys[{index}] (jwt-svid): {reason}")]
    JwtEntry {
        /// Position in `keys`.
        index: usize,
        /// The rule broken.
        reason: String,
    },
    /// An X.509 authority that cannot be a trust anchor.
    #[error("X.509 authority {index}: {source}")]
    Authority {
        /// Position of the authority.
        index: usize,
        /// Why it was refused.
        #[source]
        source: X509Error,
    },
    /// A key that cannot be used.
    #[error("key {kid:?}: {source}")]
    Key {
        /// The key ID.
        kid: String,
        /// Why it was refused.
        #[source]
        source: KeyError,
    },
    /// A bundle map keyed by something that is not a trust domain.
    #[error("bundle map key {key:?} is not a trust domain: {source}")]
    TrustDomain {
        /// The key.
        key: String,
        /// Why it was refused.
        #[source]
        source: IdError,
    },
    /// A bundle map that names one trust domain twice.
    #[error("bundle map names trust domain {0} more than once")]
    DuplicateTrustDomain(String),
    /// A bundle stored under another trust domain than its own.
    #[error("bundle of {bundle} cannot be stored as the bundle of {expected}")]
    TrustDomainMismatch {
        /// Trust domain of the bundle.
        bundle: String,
        /// Trust domain it was to be stored under.
        expected: String,
    },
    /// PEM input that could not be read.
    #[error("PEM: {0}")]
    Pem(String),
}
