//! The agent's mTLS channel to a server's agent API over TCP: the server must present
//! `spiffe://<td>/spire/server`, the agent presents its SVID (none while it attests).

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

/// The server's own ID, `spiffe://<td>/spire/server`, which agents require the server to present.
fn server_id(td: &spiffe_core::TrustDomain) -> spiffe_core::SpiffeId {
    spiffe_core::SpiffeId::from_segments(td, &["spire", "server"]).unwrap_or_else(|_| td.id())
}

/// A TLS client configuration for talking to a server of `trust_domain` as an agent: the server
/// must present `spiffe://<td>/spire/server` under `bundles`; the agent presents the SVID of
/// `svid` (none during attestation). Session resumption is off.
///
/// # Errors
///
/// If the crypto provider supports none of rustls' safe default protocol versions.
pub fn agent_tls_config(
    trust_domain: &spiffe_core::TrustDomain,
    bundles: std::sync::Arc<dyn spiffe_core::BundleSource>,
    svid: Option<std::sync::Arc<dyn spiffe_core::SvidSource>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = spiffe_core::tls::SpiffeServerCertVerifier::new(
        bundles,
        Arc::new(spiffe_core::authorize::id(server_id(trust_domain))),
        &provider,
    );
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match svid {
        Some(svid) => {
            builder.with_client_cert_resolver(Arc::new(spiffe_core::tls::SvidResolver::new(svid)))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

/// A gRPC channel to a server's agent API at `address` (`host:port`) over TLS with `config`.
/// The connection is made lazily and again after a failure; every new connection reads the
/// current SVID (so a renewed agent SVID is used without a new channel).
///
/// # Errors
///
/// If `address` does not make a valid URI authority.
pub fn tls_channel(
    address: &str,
    config: std::sync::Arc<rustls::ClientConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let endpoint = Endpoint::try_from(format!("http://{address}"))?
        .connect_timeout(std::time::Duration::from_secs(5))
        .tcp_nodelay(true);
    let address = address.to_owned();
    Ok(
        endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let address = address.clone();
            let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::clone(&config));
            async move {
                let tcp = tokio::net::TcpStream::connect(&address).await?;
                tcp.set_nodelay(true)?;
                // The name is not what is checked: the SPIFFE verifier authorizes the server's ID.
                let name = rustls_pki_types::ServerName::try_from("spiffe-server")
                    .map_err(std::io::Error::other)?;
                let tls = connector.connect(name, tcp).await?;
                Ok::<_, std::io::Error>(TokioIo::new(tls))
            }
        })),
    )
}
