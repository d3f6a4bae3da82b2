//! The typed errors of the signing authority: [`CaError`], and the failures it groups by
//! concern ([`RotationError`], [`CryptoError`], [`CertificateError`], [`UpstreamError`]), each a
//! variant callers
//! can match.

mod certificate;
mod crypto;
mod rotation;
mod upstream;

pub use certificate::CertificateError;
pub use crypto::CryptoError;
pub use rotation::RotationError;
pub use upstream::UpstreamError;

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

use spiffe_core::key::KeyType;
use spiffe_core::x509::CsrError;
use spiffe_core::{BundleError, IdError, JwtError};

use crate::rotation::AuthorityKind;

/// Why the authority could not do what was asked.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaError {
    /// A CSR that does not parse or whose signature does not verify.
    #[error("CSR refused: {0}")]
    Csr(#[from] CsrError),
    /// A subject key of a type the authority does not sign for.
    #[error("key type {key_type} is not allowed for X509-SVIDs (allowed: {allowed})")]
    KeyTypeNotAllowed {
        /// The key type presented.
        key_type: KeyType,
        /// What the authority allows.
        allowed: String,
    },
    /// An RSA subject key outside the allowed sizes.
    #[error("RSA key of {bits} bits is not allowed (2048 to 4096 bits)")]
    RsaKeySize {
        /// The modulus size.
        bits: usize,
    },
    /// A SPIFFE ID outside the authority's trust domain.
    #[error("{id} is not in trust domain {trust_domain}; this authority signs only for its own")]
    ForeignTrustDomain {
        /// The ID asked for.
        id: String,
        /// The authority's trust domain.
        trust_domain: String,
    },
    /// A leaf SVID for an ID with no path.
    #[error("{id} has no path; a workload SVID must name more than the trust domain")]
    RootId {
        /// The ID asked for.
        id: String,
    },
    /// A TTL of zero.
    #[error("TTL must be greater than zero")]
    ZeroTtl,
    /// A TTL that would outlive the signing authority, with the refusing policy.
    #[error(
        "TTL of {requested:?} runs past the signing authority's expiry ({available:?} left); \
         a shorter TTL is required"
    )]
    TtlBeyondAuthority {
        /// The TTL asked for.
        requested: Duration,
        /// What the authority has left.
        available: Duration,
    },
    /// A JWT-SVID with no audience.
    #[error("a JWT-SVID needs at least one non-empty audience")]
    NoAudience,
    /// A DNS name that cannot go into a certificate.
    #[error("DNS name {name:?} is not valid: {reason}")]
    DnsName {
        /// The name.
        name: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// No active authority (nothing prepared and activated yet).
    #[error("no active {kind}")]
    NoActiveAuthority {
        /// Which kind of authority.
        kind: AuthorityKind,
    },
    /// A manual rotation step (activate, taint, revoke) that the authority's state does not
    /// allow, or that names an authority that is not known.
    #[error(transparent)]
    Rotation(#[from] RotationError),
    /// Key generation, loading or signing failed, or a key does not suit its use.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// The upstream CA could not be used.
    #[error("upstream CA: {0}")]
    Upstream(#[from] UpstreamError),
    /// A certificate above this trust domain's CA whose Basic Constraints `pathLenConstraint`
    /// does not allow the CA certificates that would sit below it (RFC 5280, section 4.2.1.9):
    /// a `pathLenConstraint` of `n` allows at most `n` CA certificates between it and a leaf.
    #[error(
        "upstream CA: {certificate} has pathLenConstraint {path_len}, but the chain would put \
         {required} CA certificate(s) (this trust domain's CA included) between it and the SVIDs; \
         RFC 5280 4.2.1.9 allows at most {path_len}. Use an upstream CA whose chain allows a \
         subordinate CA"
    )]
    UpstreamPathLen {
        /// Which certificate: its place in the upstream files and its subject.
        certificate: String,
        /// Its `pathLenConstraint`.
        path_len: u32,
        /// How many CA certificates would follow it before a leaf.
        required: u32,
    },
    /// Building, signing or reading back a certificate failed.
    #[error("certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// The local trust bundle could not be assembled from the published authorities.
    #[error("local bundle: {what}: {source}")]
    Bundle {
        /// What was being added: `X.509 authority <id>`, `JWT key <kid>`, or `X.509 and JWT
        /// parts`.
        what: String,
        /// Why the bundle refused it.
        #[source]
        source: BundleError,
    },
    /// A SPIFFE ID or trust domain name that does not parse (the `testing` trust domain's
    /// inputs).
    #[error("{input:?} is not a valid {what}: {source}")]
    InvalidId {
        /// The text given.
        input: String,
        /// `SPIFFE ID` or `trust domain`.
        what: &'static str,
        /// The rule broken.
        #[source]
        source: IdError,
    },
    /// A minted JWT-SVID that does not parse back (the `testing` trust domain checks its
    /// tokens).
    #[error("minted JWT-SVID does not parse: {0}")]
    JwtSvid(#[source] JwtError),
    /// A file of the key store or journal could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Stored state that does not read back.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl CaError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CaError::Io {
            path: path.into(),
            source,
        }
    }
}

/// rcgen failures that no more specific [`CertificateError`] variant names (loading the upstream
/// CA as an issuer).
impl From<rcgen::Error> for CaError {
    fn from(e: rcgen::Error) -> Self {
        CaError::Certificate(CertificateError::Rcgen(e))
    }
}
