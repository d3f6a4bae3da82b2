//! hyper and tower helpers: SPIFFE mTLS on both sides of an HTTP connection, and JWT-SVID
//! bearer tokens.
//!
//! - Server: [`MtlsAcceptor`] runs the handshake with an [`spiffe_core::tls::MtlsConfig`]
//!   server config and yields the client's verified SPIFFE ID; [`serve_connection`] drives
//!   hyper on the connection and gives each request a [`PeerId`] extension; [`serve`] is the
//!   accept loop.
//! - Client: [`MtlsConnector`] is a connector for `hyper_util::client::legacy::Client`: it
//!   dials TCP, presents the current SVID, and admits the server only if its SPIFFE ID
//!   satisfies the authorizer. Responses carry the server's [`PeerId`].
//! - JWT: [`BearerLayer`] adds `Authorization: Bearer <JWT-SVID>`; [`JwtAuthLayer`] refuses
//!   requests without a valid one; [`validate_bearer`] and [`validate_bearer_remote`] are the
//!   building blocks.
//!
//! Configs built from an [`crate::X509Source`] follow rotation: the next handshake presents
//! the new SVID and trusts the new bundles.

mod client;
mod jwt;
mod server;

pub use client::{ConnectError, MtlsConnector, MtlsStream};
pub use jwt::{
    Bearer, BearerError, BearerLayer, JwtAuth, JwtAuthLayer, JwtPeer, JwtValidator, bearer_token,
    set_bearer, validate_bearer, validate_bearer_remote,
};
pub use server::{Accepted, DEFAULT_HANDSHAKE_TIMEOUT, MtlsAcceptor, serve, serve_connection};

use std::time::Duration;

use spiffe_core::SpiffeId;
use thiserror::Error;

/// A boxed error (what hyper and tower pass around).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The SPIFFE ID of the TLS peer, verified and authorized during the handshake: a request
/// extension on the server, a response extension on the client.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerId(pub SpiffeId);

/// Why an incoming mTLS handshake failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The handshake took too long.
    #[error("TLS handshake not finished within {0:?}")]
    Timeout(Duration),
    /// The handshake failed; a refused client's error names its SPIFFE ID and why.
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// The client's certificate carries no SPIFFE ID (cannot happen after verification).
    #[error("client presented no SPIFFE ID: {0}")]
    PeerId(#[source] spiffe_core::X509Error),
}

/// ALPN protocols offered on both sides: HTTP/2 first, then HTTP/1.1.
pub(crate) fn alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}
