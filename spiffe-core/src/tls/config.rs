//! Building rustls configurations for SPIFFE mTLS.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig};

use super::{SpiffeClientCertVerifier, SpiffeServerCertVerifier, SvidResolver};
use crate::authorize::Authorizer;
use crate::source::{BundleSource, SvidSource};

/// Builds mTLS `ClientConfig`s and `ServerConfig`s that present the SVID of an [`SvidSource`]
/// and admit the peers an [`Authorizer`] admits among those that verify against a
/// [`BundleSource`].
///
/// TLS session resumption is off unless [`MtlsConfig::allow_resumption`] turns it on: a resumed
/// session skips certificate verification, so a peer whose SVID expired or whose trust domain was
/// dropped from the bundle could come back without being checked again.
///
/// The crypto provider is aws-lc-rs unless another is given; the process-wide default provider is
/// never consulted, so building a config cannot panic for want of one.
#[derive(Clone)]
pub struct MtlsConfig {
    svid: Arc<dyn SvidSource>,
    bundles: Arc<dyn BundleSource>,
    authorizer: Arc<dyn Authorizer>,
    provider: Arc<CryptoProvider>,
    resumption: bool,
}

impl std::fmt::Debug for MtlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsConfig")
            .field("authorizer", &self.authorizer)
            .field("resumption", &self.resumption)
            .finish_non_exhaustive()
    }
}

impl MtlsConfig {
    /// Presents the SVID of `svid`, trusts `bundles`, admits what `authorizer` admits.
    pub fn new(
        svid: Arc<dyn SvidSource>,
        bundles: Arc<dyn BundleSource>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Self {
        MtlsConfig {
            svid,
            bundles,
            authorizer,
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            resumption: false,
        }
    }

    /// Uses another crypto provider (for example a FIPS build of aws-lc-rs).
    pub fn with_provider(mut self, provider: Arc<CryptoProvider>) -> Self {
        self.provider = provider;
        self
    }

    /// Allows TLS session resumption (off by default; see the type's documentation).
    pub fn allow_resumption(mut self, allow: bool) -> Self {
        self.resumption = allow;
        self
    }

    /// Replaces the authorizer.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = authorizer;
        self
    }

    /// The resolver presenting the source's current SVID.
    pub fn resolver(&self) -> Arc<SvidResolver> {
        Arc::new(SvidResolver::new(Arc::clone(&self.svid)))
    }

    /// A client config: presents the SVID, verifies and authorizes the server.
    pub fn client_config(&self) -> Result<ClientConfig, rustls::Error> {
        let verifier = SpiffeServerCertVerifier::new(
            Arc::clone(&self.bundles),
            Arc::clone(&self.authorizer),
            &self.provider,
        );
        let mut config = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_cert_resolver(self.resolver());
        if !self.resumption {
            config.resumption = Resumption::disabled();
        }
        Ok(config)
    }

    /// A server config: presents the SVID, requires a client SVID, verifies and authorizes it.
    pub fn server_config(&self) -> Result<ServerConfig, rustls::Error> {
        let verifier = SpiffeClientCertVerifier::new(
            Arc::clone(&self.bundles),
            Arc::clone(&self.authorizer),
            &self.provider,
        );
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_cert_resolver(self.resolver());
        if !self.resumption {
            config.session_storage = Arc::new(NoServerSessionStorage {});
            config.send_tls13_tickets = 0;
        }
        Ok(config)
    }
}
