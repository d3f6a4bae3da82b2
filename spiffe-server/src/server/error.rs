//! [`ServerError`]: why a server could not start.

use thiserror::Error;

use crate::config::LimitsError;
use crate::datastore::DatastoreError;
use spiffe_ca::CaError;

/// Why the server could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The datastore failed.
    #[error("datastore: {0}")]
    Datastore(#[from] DatastoreError),
    /// The signing authority failed.
    #[error("signing authority: {0}")]
    Ca(#[from] CaError),
    /// A directory or socket is not safe to use (another user controls it), or could not be
    /// created or bound.
    #[error("{0}")]
    Files(#[from] spiffe_fs::FsError),
    /// A file or socket could not be set up.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being set up.
        what: &'static str,
        /// The path or address.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be configured (no protocol version the crypto provider supports).
    #[error("TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// The key of the server's own SVID does not load back.
    #[error("server SVID key: {0}")]
    ServerSvidKey(#[source] spiffe_core::KeyError),
    /// The server's own SVID, as minted, is not a valid X509-SVID.
    #[error("server SVID: {0}")]
    ServerSvid(#[source] spiffe_core::X509Error),
    /// The SPIFFE bundle endpoint cannot be set up (its serving certificate, its address).
    #[error("{0}")]
    BundleEndpoint(#[from] crate::federation::EndpointError),
    /// A configured federation relationship cannot hold (one with the server's own trust
    /// domain).
    #[error("federation: {0}")]
    Federation(#[from] crate::federation::RelationshipError),
    /// A connection limit cannot work.
    #[error("connection limits: {0}")]
    Limits(#[from] LimitsError),
    /// The `k8s_psat` node attestor could not be set up (a refused setting, or an API server
    /// configuration that cannot be loaded).
    #[cfg(feature = "k8s-psat")]
    #[error("node attestor k8s_psat: {0}")]
    K8sPsat(#[source] crate::attest::k8s_psat::PsatSetupError),
    /// A node attestor could not be set up.
    #[error("node attestor {attestor}: {detail}")]
    NodeAttestor {
        /// The attestor (`k8s_psat`).
        attestor: &'static str,
        /// What is wrong.
        detail: String,
    },
}

pub(super) fn io_err(
    what: &'static str,
    path: impl std::fmt::Display,
) -> impl FnOnce(std::io::Error) -> ServerError {
    let path = path.to_string();
    move |source| ServerError::Io { what, path, source }
}
