//! The agent's own identity: node attestation (join token), the agent SVID kept on disk, its
//! renewal at half-life, and the channels to the server.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use spiffe_core::{Bundle, BundleSet, BundleSetCell, SvidCell, X509Bundle, X509Svid};
use spiffe_proto::client::{agent_tls_config, tls_channel};
use spiffe_proto::convert::bundle_from_pb;
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1::GetBundleRequest;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::types as pb;
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::AgentError;
use crate::config::{AgentConfig, TrustBootstrap};
use crate::storage::{Storage, new_key_and_csr, read_bundle_file, svid_from_chain};

/// The agent's identity and its connection to the server.
pub struct Node {
    config: Arc<AgentConfig>,
    storage: Storage,
    /// The agent SVID, presented at every new connection.
    pub svid: Arc<SvidCell>,
    /// The bundles that verify the server (the trust domain's own).
    pub bundles: Arc<BundleSetCell>,
    reattestable: AtomicBool,
    channel: Mutex<Channel>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("agent_id", self.svid.get().spiffe_id())
            .finish_non_exhaustive()
    }
}

impl Node {
    /// Restores the agent's identity from its data directory, or attests with the join token.
    pub async fn bootstrap(config: Arc<AgentConfig>) -> Result<Self, AgentError> {
        let storage = Storage::new(&config.data_dir);
        let now = spiffe_core::x509::UnixTime::now().as_secs() as i64;
        if let Some(stored) = storage.load(&config.trust_domain)? {
            if stored.svid.expires_at_unix() > now {
                info!(agent_id = %stored.svid.spiffe_id(), "agent SVID restored from the data directory");
                return Self::assemble(
                    config,
                    storage,
                    stored.svid,
                    stored.bundle,
                    stored.reattestable,
                );
            }
            warn!("stored agent SVID expired; attesting again");
        }
        let (svid, bundle, reattestable) = attest(&config).await?;
        storage.store_svid(&svid, reattestable)?;
        storage.store_bundle(&bundle)?;
        Self::assemble(config, storage, svid, bundle, reattestable)
    }

    fn assemble(
        config: Arc<AgentConfig>,
        storage: Storage,
        svid: X509Svid,
        bundle: X509Bundle,
        reattestable: bool,
    ) -> Result<Self, AgentError> {
        let svid = Arc::new(SvidCell::new(svid));
        let bundles = Arc::new(BundleSetCell::new(
            [Bundle::from(bundle)].into_iter().collect(),
        ));
        let channel = mtls_channel(&config, &svid, &bundles)?;
        Ok(Node {
            config,
            storage,
            svid,
            bundles,
            reattestable: AtomicBool::new(reattestable),
            channel: Mutex::new(channel),
        })
    }

    /// The channel to the server, authenticated with the current agent SVID.
    pub fn channel(&self) -> Channel {
        self.channel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the agent may attest again (after an eviction).
    pub fn reattestable(&self) -> bool {
        self.reattestable.load(Ordering::Relaxed)
    }

    /// Takes a new trust bundle from the server (CA rollover): kept for verifying the server and
    /// written to disk for the next start.
    pub fn set_bundle(&self, bundle: &Bundle) {
        self.bundles.insert(bundle.clone());
        if let Err(e) = self.storage.store_bundle(bundle.x509()) {
            warn!(error = %e, "could not store the trust bundle");
        }
    }

    /// Renews the agent SVID with the server (mTLS with the current one).
    pub async fn renew(&self) -> Result<(), AgentError> {
        let (key, csr) = new_key_and_csr().map_err(AgentError::Internal)?;
        let resp = AgentClient::new(self.channel())
            .renew_agent(agent_api::RenewAgentRequest {
                params: Some(agent_api::AgentX509svidParams { csr }),
            })
            .await?
            .into_inner();
        let svid = resp
            .svid
            .ok_or_else(|| AgentError::Protocol("renewal response without an SVID".into()))?;
        let svid = svid_from_chain(svid.cert_chain, key).map_err(AgentError::Protocol)?;
        self.storage.store_svid(&svid, self.reattestable())?;
        info!(agent_id = %svid.spiffe_id(), expires_at = svid.expires_at_unix(), "agent SVID renewed");
        self.svid.set(svid);
        // New connections present the new SVID; the old one stays valid until it expires.
        let channel = mtls_channel(&self.config, &self.svid, &self.bundles)?;
        *self.channel.lock().unwrap_or_else(PoisonError::into_inner) = channel;
        Ok(())
    }

    /// Attests again (after an eviction), if the attestation method allows it.
    pub async fn reattest(&self) -> Result<(), AgentError> {
        if !self.reattestable() && self.config.join_token.is_none() {
            return Err(AgentError::Evicted);
        }
        let (svid, bundle, reattestable) = attest(&self.config).await?;
        self.storage.store_svid(&svid, reattestable)?;
        self.reattestable.store(reattestable, Ordering::Relaxed);
        self.set_bundle(&Bundle::from(bundle));
        self.svid.set(svid);
        let channel = mtls_channel(&self.config, &self.svid, &self.bundles)?;
        *self.channel.lock().unwrap_or_else(PoisonError::into_inner) = channel;
        Ok(())
    }
}

fn mtls_channel(
    config: &AgentConfig,
    svid: &Arc<SvidCell>,
    bundles: &Arc<BundleSetCell>,
) -> Result<Channel, AgentError> {
    let tls = agent_tls_config(
        &config.trust_domain,
        Arc::clone(bundles) as Arc<dyn spiffe_core::BundleSource>,
        Some(Arc::clone(svid) as Arc<dyn spiffe_core::SvidSource>),
    )
    .map_err(|e| AgentError::Internal(e.to_string()))?;
    tls_channel(&config.server_address, Arc::new(tls))
        .map_err(|e| AgentError::Internal(e.to_string()))
}

/// Node attestation with a join token. Returns the agent SVID, the trust bundle, and whether
/// the agent may attest again.
async fn attest(config: &AgentConfig) -> Result<(X509Svid, X509Bundle, bool), AgentError> {
    let token = config.join_token.clone().ok_or(AgentError::NoJoinToken)?;
    let (channel, bootstrap_bundle) = match &config.trust_bootstrap {
        TrustBootstrap::BundleFile(path) => {
            let bundle = read_bundle_file(&config.trust_domain, path)?;
            let set: BundleSet = [Bundle::from(bundle.clone())].into_iter().collect();
            let tls = agent_tls_config(&config.trust_domain, Arc::new(set), None)
                .map_err(|e| AgentError::Internal(e.to_string()))?;
            (
                tls_channel(&config.server_address, Arc::new(tls))
                    .map_err(|e| AgentError::Internal(e.to_string()))?,
                Some(bundle),
            )
        }
        TrustBootstrap::Insecure => {
            warn!(
                server = %config.server_address,
                "INSECURE BOOTSTRAP: the server is trusted without verification for this first \
                 contact; use -trustBundle outside tests"
            );
            (insecure_channel(&config.server_address)?, None)
        }
    };
    let (key, csr) = new_key_and_csr().map_err(AgentError::Internal)?;
    let request = agent_api::AttestAgentRequest {
        step: Some(agent_api::attest_agent_request::Step::Params(
            agent_api::attest_agent_request::Params {
                data: Some(pb::AttestationData {
                    r#type: "join_token".into(),
                    payload: token.into_bytes(),
                }),
                params: Some(agent_api::AgentX509svidParams { csr }),
            },
        )),
    };
    let mut stream = AgentClient::new(channel.clone())
        .attest_agent(futures::stream::iter([request]))
        .await?
        .into_inner();
    let message = stream
        .message()
        .await?
        .ok_or_else(|| AgentError::Protocol("attestation ended without a result".into()))?;
    let Some(agent_api::attest_agent_response::Step::Result(result)) = message.step else {
        return Err(AgentError::Protocol(
            "join token attestation does not answer with a challenge".into(),
        ));
    };
    let svid = result
        .svid
        .ok_or_else(|| AgentError::Protocol("attestation result without an SVID".into()))?;
    let svid = svid_from_chain(svid.cert_chain, key).map_err(AgentError::Protocol)?;
    let bundle = match bootstrap_bundle {
        Some(b) => b,
        None => {
            let b = BundleClient::new(channel)
                .get_bundle(GetBundleRequest::default())
                .await?
                .into_inner();
            bundle_from_pb(&b)
                .map_err(|e| AgentError::Protocol(format!("server bundle: {e}")))?
                .x509()
                .clone()
        }
    };
    // The SVID must chain to the bundle we will trust from now on.
    spiffe_core::x509::verify_chain(svid.chain(), &Bundle::from(bundle.clone()))
        .map_err(|e| AgentError::Protocol(format!("agent SVID does not verify: {e}")))?;
    info!(agent_id = %svid.spiffe_id(), "node attested with a join token");
    Ok((svid, bundle, result.reattestable))
}

/// A channel that trusts any server certificate (insecure bootstrap only).
fn insecure_channel(address: &str) -> Result<Channel, AgentError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| AgentError::Internal(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tls_channel(address, Arc::new(config)).map_err(|e| AgentError::Internal(e.to_string()))
}

/// Accepts any server certificate, still checking handshake signatures.
#[derive(Debug)]
struct AcceptAnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
