//! [`CertificateError`]: why a certificate could not be built, signed or read back.

use thiserror::Error;

use spiffe_core::X509Error;

/// Why a certificate could not be built, signed or read back.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// A URI that cannot be a certificate's URI SAN.
    #[error("{uri:?} cannot be a URI SAN: {source}")]
    UriSan {
        /// The URI (a SPIFFE ID).
        uri: String,
        /// rcgen's reason.
        #[source]
        source: rcgen::Error,
    },
    /// A validity bound outside what a certificate can hold.
    #[error("{field} {unix_secs} (seconds since the Unix epoch) is out of range")]
    TimeOutOfRange {
        /// `notBefore` or `notAfter`.
        field: &'static str,
        /// The time asked for.
        unix_secs: i64,
    },
    /// Signing a new CA certificate failed.
    #[error("signing the CA certificate failed: {0}")]
    SignCa(#[source] rcgen::Error),
    /// Signing an X509-SVID failed.
    #[error("signing the X509-SVID failed: {0}")]
    SignSvid(#[source] rcgen::Error),
    /// A stored CA certificate that cannot be used as an issuer.
    #[error("the CA certificate cannot be used as an issuer: {0}")]
    Issuer(#[source] rcgen::Error),
    /// An authority certificate that does not parse.
    #[error("the authority certificate does not parse: {0}")]
    Unreadable(#[source] X509Error),
    /// An authority certificate whose public key is not its signing key's.
    #[error("the authority certificate does not match its key")]
    KeyMismatch,
    /// A minted chain that is not a valid X509-SVID (the `testing` trust domain checks its
    /// SVIDs).
    #[error("the minted chain is not a valid X509-SVID: {0}")]
    NotAnSvid(#[source] X509Error),
    /// Another failure of the certificate library (loading the upstream CA as an issuer).
    #[error("{0}")]
    Rcgen(#[source] rcgen::Error),
}
