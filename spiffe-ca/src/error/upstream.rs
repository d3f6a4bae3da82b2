//! [`UpstreamError`]: why an upstream CA's files could not be used.

use thiserror::Error;

use spiffe_core::{KeyError, X509Error};

/// Why an upstream CA (its certificate file, key file or bundle file) could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// A file whose PEM could not be read.
    #[error("{file}: {reason}")]
    Pem {
        /// `upstream certificate file` or `upstream bundle file`.
        file: &'static str,
        /// What the PEM reader said.
        reason: String,
    },
    /// A file with no `CERTIFICATE` block.
    #[error("{file}: no CERTIFICATE block")]
    NoCertificate {
        /// `upstream certificate file` or `upstream bundle file`.
        file: &'static str,
    },
    /// A certificate that does not parse.
    #[error("{certificate}: not a valid certificate: {source}")]
    Certificate {
        /// Which certificate: its place in the upstream files.
        certificate: String,
        /// Why it does not parse.
        #[source]
        source: X509Error,
    },
    /// The key file does not hold a usable PKCS#8 key.
    #[error("upstream key file: {0}")]
    Key(#[source] KeyError),
    /// The upstream certificate is not a CA.
    #[error("upstream certificate is not a CA (Basic Constraints cA=true required)")]
    NotCa,
    /// The key is not the upstream certificate's.
    #[error("upstream key does not match the upstream certificate")]
    KeyMismatch,
}
