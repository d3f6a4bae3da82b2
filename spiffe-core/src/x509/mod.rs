//! X.509 SVIDs (X509-SVID.md): parsing, the leaf and signing-certificate rules, verification.

mod cert;
mod csr;
mod info;
mod rules;
mod svid;
mod verify;

pub use cert::{ExtKeyUsage, KeyUsage};
pub use csr::{CertificateRequest, CsrError};
pub use info::CertificateInfo;
pub use rustls_pki_types::{CertificateDer, UnixTime};
pub use svid::X509Svid;
pub use verify::{Usage, VerifiedSvid, X509VerifyError, verify_chain, verify_chain_with};

pub(crate) use cert::Cert;
pub(crate) use svid::{split_der_certificates as svid_split_der, unix_to_system};
#[cfg(feature = "rustls")]
pub(crate) use verify::verify_split;

/// The SPIFFE ID of a leaf certificate, after checking the leaf rules of X509-SVID.md (use it on
/// a peer certificate that a handshake has verified already).
pub fn leaf_spiffe_id(
    leaf: &rustls_pki_types::CertificateDer<'_>,
) -> Result<crate::SpiffeId, X509Error> {
    let cert = Cert::parse(leaf).map_err(|e| e.in_chain(0))?;
    rules::leaf(&cert)
}

use thiserror::Error;

use crate::asn1::DecodeError;
use crate::id::IdError;
use crate::key::KeyError;

/// Why a certificate or a chain does not meet X509-SVID.md.
///
/// `index` is the position in the chain as presented: 0 is the leaf, 1 the first intermediate.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum X509Error {
    /// A chain with no certificate.
    #[error("certificate chain is empty")]
    EmptyChain,
    /// A certificate (or chain) that does not decode.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
    /// A certificate whose public key cannot be used.
    #[error("certificate public key: {0}")]
    PublicKey(KeyError),
    /// Certificate `index` of the chain could not be parsed.
    #[error("certificate {index} of the chain: {source}")]
    InChain {
        /// Position in the chain.
        index: usize,
        /// The problem.
        #[source]
        source: Box<X509Error>,
    },
    /// The leaf has no URI SAN.
    #[error(
        "leaf certificate has no URI SAN (an X509-SVID carries its SPIFFE ID as exactly one URI SAN)"
    )]
    NoUriSan,
    /// The leaf has several URI SANs.
    #[error("leaf certificate has {count} URI SANs; an X509-SVID must have exactly one")]
    MultipleUriSans {
        /// How many URI SANs.
        count: usize,
    },
    /// The URI SAN is not a SPIFFE ID.
    #[error("leaf URI SAN is not a valid SPIFFE ID: {0}")]
    InvalidUriSan(IdError),
    /// The leaf's SPIFFE ID has no path.
    #[error("leaf SPIFFE ID {id} has no path; a leaf X509-SVID must have a non-root path")]
    RootPathId {
        /// The ID found.
        id: String,
    },
    /// The leaf has no Basic Constraints extension.
    #[error("leaf certificate has no Basic Constraints extension (cA=false is required)")]
    MissingBasicConstraints,
    /// The leaf says cA=true.
    #[error("leaf certificate has Basic Constraints cA=true; a leaf X509-SVID must not be a CA")]
    LeafIsCa,
    /// The leaf has no Key Usage extension.
    #[error("leaf certificate has no Key Usage extension")]
    MissingKeyUsage,
    /// The leaf's Key Usage is not marked critical.
    #[error("leaf certificate's Key Usage extension is not marked critical")]
    KeyUsageNotCritical,
    /// The leaf lacks `digitalSignature`.
    #[error("leaf certificate's Key Usage lacks digitalSignature")]
    MissingDigitalSignature,
    /// The leaf has `keyCertSign`.
    #[error(
        "leaf certificate's Key Usage has keyCertSign, which only signing certificates may set"
    )]
    LeafKeyCertSign,
    /// The leaf has `cRLSign`.
    #[error("leaf certificate's Key Usage has cRLSign, which only signing certificates may set")]
    LeafCrlSign,
    /// The leaf's EKU lacks serverAuth.
    #[error("leaf certificate's Extended Key Usage lacks id-kp-serverAuth")]
    EkuMissingServerAuth,
    /// The leaf's EKU lacks clientAuth.
    #[error("leaf certificate's Extended Key Usage lacks id-kp-clientAuth")]
    EkuMissingClientAuth,
    /// A signing certificate that is not a CA.
    #[error(
        "certificate {index} of the chain signs others but is not a CA (Basic Constraints cA=true is required)"
    )]
    SigningCertNotCa {
        /// Position in the chain.
        index: usize,
    },
    /// A signing certificate without `keyCertSign`.
    #[error("certificate {index} of the chain signs others but its Key Usage lacks keyCertSign")]
    SigningCertNoKeyCertSign {
        /// Position in the chain.
        index: usize,
    },
    /// The private key does not belong to the leaf.
    #[error("private key does not match the leaf certificate's public key")]
    KeyMismatch,
    /// The private key could not be read.
    #[error("private key: {0}")]
    PrivateKey(KeyError),
    /// PEM input that could not be read.
    #[error("PEM: {0}")]
    Pem(String),
}

impl X509Error {
    pub(crate) fn in_chain(self, index: usize) -> Self {
        X509Error::InChain {
            index,
            source: Box::new(self),
        }
    }
}
