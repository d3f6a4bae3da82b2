//! The agent's own identity: node attestation (join token, or a Kubernetes projected service
//! account token with `k8s_psat`), the agent SVID kept on disk, its renewal at half-life,
//! re-attestation after an eviction, and the channels to the server.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use spiffe_core::id::LogId;
use spiffe_core::tls::danger::AcceptAnyServerCert;

use crate::backoff::{pushback, retry_backoff};
use spiffe_core::{Bundle, BundleSet, BundleSetCell, SvidCell, X509Bundle, X509Svid};
use spiffe_proto::convert::bundle_from_pb;
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1::GetBundleRequest;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::types as pb;
use tonic::transport::Channel;
use tracing::{info, warn};

use crate::channel::{agent_tls_config, tls_channel};
use crate::config::{AgentConfig, K8sPsatConfig, TrustBootstrap};
use crate::storage::{Storage, new_key_and_csr, read_bundle_file, svid_from_chain};
use crate::{AgentError, ProtocolError};

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
    ///
    /// # Errors
    ///
    /// [`AgentError::Storage`] if the data directory cannot be used, [`AgentError::NoJoinToken`]
    /// without a stored identity or a way to attest, and the errors of attestation (the server's
    /// refusal, a malformed answer, a TLS or channel setup failure).
    pub async fn bootstrap(config: Arc<AgentConfig>) -> Result<Self, AgentError> {
        let storage = Storage::new(&config.data_dir);
        let now = spiffe_core::x509::UnixTime::now().as_secs() as i64;
        if let Some(stored) = storage.load(&config.trust_domain)? {
            if stored.svid.expires_at_unix() > now {
                info!(agent_id = %LogId(stored.svid.spiffe_id()), "agent SVID restored from the data directory");
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
        let (svid, bundle, reattestable) = attest_retrying(&config, Purpose::First).await?;
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
    ///
    /// # Errors
    ///
    /// [`AgentError::Server`] if the server refuses, [`AgentError::Protocol`] if its answer carries
    /// no valid SVID for the new key, [`AgentError::Storage`] if the SVID cannot be stored.
    pub async fn renew(&self) -> Result<(), AgentError> {
        let (key, csr) = new_key_and_csr()?;
        let resp = AgentClient::new(self.channel())
            .renew_agent(agent_api::RenewAgentRequest {
                params: Some(agent_api::AgentX509svidParams { csr }),
            })
            .await?
            .into_inner();
        let svid = resp.svid.ok_or(ProtocolError::MissingSvid {
            response: "renewal response",
        })?;
        let svid = svid_from_chain(svid.cert_chain, key).map_err(ProtocolError::from)?;
        self.storage.store_svid(&svid, self.reattestable())?;
        info!(agent_id = %LogId(svid.spiffe_id()), expires_at = svid.expires_at_unix(), "agent SVID renewed");
        self.svid.set(svid);
        // New connections present the new SVID; the old one stays valid until it expires.
        let channel = mtls_channel(&self.config, &self.svid, &self.bundles)?;
        *self.channel.lock().unwrap_or_else(PoisonError::into_inner) = channel;
        Ok(())
    }

    /// Attests again (after an eviction), if the attestation method allows it: with a fresh
    /// projected token when `k8s_psat` is configured, else with the join token (which the
    /// server accepts only if it was never used).
    ///
    /// # Errors
    ///
    /// [`AgentError::Evicted`] if the agent has no way to attest again, else the errors of
    /// attestation and storage as in [`Node::bootstrap`].
    pub async fn reattest(&self) -> Result<(), AgentError> {
        if !self.reattestable()
            && self.config.join_token.is_none()
            && self.config.k8s_psat.is_none()
        {
            return Err(AgentError::Evicted);
        }
        let (svid, bundle, reattestable) = attest_retrying(&self.config, Purpose::Again).await?;
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
    )?;
    Ok(tls_channel(&config.server_address, Arc::new(tls))?)
}

/// Why the agent attests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// No identity yet: a join token wins over `k8s_psat`, as in SPIRE.
    First,
    /// After an eviction: `k8s_psat` (a fresh token) wins over a join token, which is single use.
    Again,
}

/// Why the agent's node attestation data could not be gathered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeEvidenceError {
    /// The projected service account token could not be read.
    #[error("k8s_psat: cannot read the service account token {path:?}: {source}")]
    ReadToken {
        /// The token file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The token file is empty.
    #[error("k8s_psat: the service account token file {path:?} is empty")]
    EmptyToken {
        /// The token file.
        path: PathBuf,
    },
    /// The cluster name is empty.
    #[error("k8s_psat: cluster must be configured (the name the server knows the cluster by)")]
    NoCluster,
}

/// SPIRE's `PSATAttestationData`: the payload of a `k8s_psat` attestation.
#[derive(Serialize)]
struct PsatAttestationData<'a> {
    cluster: &'a str,
    token: &'a str,
}

/// The attestation data: `join_token` (the token itself) or `k8s_psat` (the cluster and the
/// token read from its file now).
async fn attestation_data(
    config: &AgentConfig,
    join_token_first: bool,
) -> Result<pb::AttestationData, AgentError> {
    let join = config.join_token.as_ref().map(|token| pb::AttestationData {
        r#type: "join_token".into(),
        payload: token.clone().into_bytes(),
    });
    match (join, &config.k8s_psat) {
        (Some(join), _) if join_token_first => Ok(join),
        (_, Some(psat)) => Ok(psat_data(psat).await?),
        (Some(join), None) => Ok(join),
        (None, None) => Err(AgentError::NoJoinToken),
    }
}

async fn psat_data(psat: &K8sPsatConfig) -> Result<pb::AttestationData, NodeEvidenceError> {
    if psat.cluster.is_empty() {
        return Err(NodeEvidenceError::NoCluster);
    }
    let text = tokio::fs::read_to_string(&psat.token_path)
        .await
        .map_err(|source| NodeEvidenceError::ReadToken {
            path: psat.token_path.clone(),
            source,
        })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(NodeEvidenceError::EmptyToken {
            path: psat.token_path.clone(),
        });
    }
    let payload = serde_json::to_vec(&PsatAttestationData {
        cluster: &psat.cluster,
        token,
    })
    .map_err(|e| NodeEvidenceError::ReadToken {
        path: psat.token_path.clone(),
        source: std::io::Error::other(e),
    })?;
    Ok(pb::AttestationData {
        r#type: "k8s_psat".into(),
        payload,
    })
}

/// [`attest`], again while the server answers RESOURCE_EXHAUSTED (its per-address attestation
/// rate limit): after the wait it asks for (`grpc-retry-pushback-ms`) or a jittered backoff.
/// Any other outcome is returned.
async fn attest_retrying(
    config: &AgentConfig,
    purpose: Purpose,
) -> Result<(X509Svid, X509Bundle, bool), AgentError> {
    let mut backoff = retry_backoff(config.max_backoff);
    loop {
        match attest(config, purpose).await {
            Err(AgentError::Server(status)) if status.code() == tonic::Code::ResourceExhausted => {
                let asked = pushback(&status, config.max_backoff).unwrap_or_default();
                let wait = backoff.next_delay_at_least(asked);
                warn!(
                    wait_ms = wait.as_millis() as u64,
                    reason = status.message(),
                    "the server limits attestation attempts; retrying"
                );
                tokio::time::sleep(wait).await;
            }
            other => return other,
        }
    }
}

/// Node attestation (join token or `k8s_psat`). Returns the agent SVID, the trust bundle, and
/// whether the agent may attest again.
async fn attest(
    config: &AgentConfig,
    purpose: Purpose,
) -> Result<(X509Svid, X509Bundle, bool), AgentError> {
    let data = attestation_data(config, purpose == Purpose::First).await?;
    let method = data.r#type.clone();
    let (channel, bootstrap_bundle) = match &config.trust_bootstrap {
        TrustBootstrap::BundleFile(path) => {
            let bundle = read_bundle_file(&config.trust_domain, path)?;
            let set: BundleSet = [Bundle::from(bundle.clone())].into_iter().collect();
            let tls = agent_tls_config(&config.trust_domain, Arc::new(set), None)?;
            (
                tls_channel(&config.server_address, Arc::new(tls))?,
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
    let (key, csr) = new_key_and_csr()?;
    let request = agent_api::AttestAgentRequest {
        step: Some(agent_api::attest_agent_request::Step::Params(
            agent_api::attest_agent_request::Params {
                data: Some(data),
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
        .ok_or(ProtocolError::NoAttestationResult)?;
    let Some(agent_api::attest_agent_response::Step::Result(result)) = message.step else {
        return Err(ProtocolError::UnexpectedChallenge { method }.into());
    };
    let svid = result.svid.ok_or(ProtocolError::MissingSvid {
        response: "attestation result",
    })?;
    let svid = svid_from_chain(svid.cert_chain, key).map_err(ProtocolError::from)?;
    let bundle = match bootstrap_bundle {
        Some(b) => b,
        None => {
            let b = BundleClient::new(channel)
                .get_bundle(GetBundleRequest::default())
                .await?
                .into_inner();
            bundle_from_pb(&b)
                .map_err(|source| ProtocolError::Bundle {
                    what: "server bundle",
                    source,
                })?
                .x509()
                .clone()
        }
    };
    // The SVID must chain to the bundle we will trust from now on.
    spiffe_core::x509::verify_chain(svid.chain(), &Bundle::from(bundle.clone()))
        .map_err(ProtocolError::from)?;
    info!(
        agent_id = %svid.spiffe_id(),
        method = %method,
        reattestable = result.reattestable,
        "node attested"
    );
    Ok((svid, bundle, result.reattestable))
}

/// A channel that trusts any server certificate (insecure bootstrap only).
fn insecure_channel(address: &str) -> Result<Channel, AgentError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert::new(provider)))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(tls_channel(address, Arc::new(config))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spiffe_core::TrustDomain;

    fn config(join: Option<&str>, psat: Option<K8sPsatConfig>) -> AgentConfig {
        let mut c = AgentConfig::new(
            TrustDomain::parse("example.org").unwrap(),
            "127.0.0.1:8081",
            "/nonexistent",
        );
        c.join_token = join.map(str::to_owned);
        c.k8s_psat = psat;
        c
    }

    #[tokio::test]
    async fn psat_payload_is_spires_json_with_the_token_read_now() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spire-agent");
        std::fs::write(&path, "first.token\n").unwrap();
        let psat = K8sPsatConfig {
            cluster: "c1".into(),
            token_path: path.clone(),
        };
        let c = config(None, Some(psat.clone()));
        let data = attestation_data(&c, true).await.unwrap();
        assert_eq!(data.r#type, "k8s_psat");
        let json: serde_json::Value = serde_json::from_slice(&data.payload).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cluster": "c1", "token": "first.token"})
        );
        // Rotated by the kubelet: the next attestation sends the new token.
        std::fs::write(&path, "second.token").unwrap();
        let data = attestation_data(&c, false).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&data.payload).unwrap();
        assert_eq!(json["token"], "second.token");

        // A join token wins the first time; k8s_psat after an eviction.
        let both = config(Some("jt"), Some(psat));
        let first = attestation_data(&both, true).await.unwrap();
        assert_eq!(
            (first.r#type.as_str(), first.payload.as_slice()),
            ("join_token", &b"jt"[..])
        );
        assert_eq!(
            attestation_data(&both, false).await.unwrap().r#type,
            "k8s_psat"
        );
        assert!(matches!(
            attestation_data(&config(None, None), true).await,
            Err(AgentError::NoJoinToken)
        ));
    }

    #[tokio::test]
    async fn unusable_token_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spire-agent");
        let psat = |cluster: &str| K8sPsatConfig {
            cluster: cluster.into(),
            token_path: path.clone(),
        };
        let err = psat_data(&psat("c1")).await.unwrap_err();
        assert!(matches!(err, NodeEvidenceError::ReadToken { .. }), "{err}");
        assert!(err.to_string().contains("spire-agent"), "{err}");
        std::fs::write(&path, " \n").unwrap();
        assert!(matches!(
            psat_data(&psat("c1")).await,
            Err(NodeEvidenceError::EmptyToken { .. })
        ));
        std::fs::write(&path, "t").unwrap();
        assert!(matches!(
            psat_data(&psat("")).await,
            Err(NodeEvidenceError::NoCluster)
        ));
    }
}
