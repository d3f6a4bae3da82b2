//! The server's own identity: its X509-SVID (`spiffe://<td>/spire/server`), minted by its own
//! authority, and the TLS configuration that presents it and verifies client certificates.

use std::sync::Arc;

use rustls::ServerConfig as TlsServerConfig;
use rustls::server::NoServerSessionStorage;
use spiffe_ca::{CaKeyType, Signer, SoftSigner, X509SvidParams};
use spiffe_core::tls::{SpiffeClientCertVerifier, SvidResolver};
use spiffe_core::{PrivateKey, SvidCell, X509Svid, authorize};

use super::error::ServerError;
use crate::entry::server_id;
use crate::state::{ServerState, StateBundles};

/// Mints `spiffe://<td>/spire/server` with a fresh key.
pub(super) fn mint_server_svid(state: &ServerState) -> Result<X509Svid, ServerError> {
    let key = SoftSigner::generate(CaKeyType::EcP256)?;
    let chain = state.ca.mint_x509_svid(
        key.public_key(),
        &X509SvidParams {
            spiffe_id: server_id(&state.config.trust_domain),
            ttl: state.config.default_x509_svid_ttl,
            dns_names: Vec::new(),
        },
    )?;
    let private =
        PrivateKey::from_pkcs8_der(key.pkcs8_der()).map_err(ServerError::ServerSvidKey)?;
    X509Svid::new(chain, private).map_err(ServerError::ServerSvid)
}

pub(super) fn tls_config(
    state: &Arc<ServerState>,
    svid: Arc<SvidCell>,
) -> Result<TlsServerConfig, ServerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Client certificates are optional at the TLS level: attestation has none. A presented
    // one must verify against the trust domain's bundle; the APIs decide what it may do.
    let verifier = SpiffeClientCertVerifier::new(
        Arc::new(StateBundles(Arc::clone(state))),
        Arc::new(authorize::member_of(state.config.trust_domain.clone())),
        &provider,
    )
    .optional();
    let mut config = TlsServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ServerError::Tls)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(SvidResolver::new(svid)));
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}
