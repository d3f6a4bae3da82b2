//! rustls integration (feature `rustls`): SPIFFE certificate verifiers, resolvers that present
//! the current SVID of an [`SvidSource`](crate::SvidSource) at every handshake, and builders for
//! mTLS client and server configurations.
//!
//! Verification checks the chain against the bundle of the peer's own trust domain first and
//! asks the [`Authorizer`](crate::Authorizer) second. The DNS name a client dials is ignored:
//! SPIFFE identities are URIs, and the authorizer is what decides who the server must be.

mod config;
pub mod danger;
mod resolver;
mod signatures;
mod verifier;

pub use config::MtlsConfig;
pub use resolver::SvidResolver;
pub use verifier::{PeerRefused, SpiffeClientCertVerifier, SpiffeServerCertVerifier};

/// The rustls crate this module builds on (and [`crate::handshake_signature_methods`] names).
pub use rustls;

use rustls_pki_types::CertificateDer;

use crate::SpiffeId;
use crate::x509::X509Error;

/// The SPIFFE ID of a TLS peer, from the certificates a finished handshake verified
/// (`conn.peer_certificates()`).
pub fn peer_spiffe_id(
    peer_certificates: Option<&[CertificateDer<'_>]>,
) -> Result<SpiffeId, X509Error> {
    let leaf = peer_certificates
        .and_then(<[_]>::first)
        .ok_or(X509Error::EmptyChain)?;
    crate::x509::leaf_spiffe_id(leaf)
}
