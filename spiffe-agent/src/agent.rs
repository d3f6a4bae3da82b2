//! Starting an agent: restore or attest the node, start the sync and minting, serve the
//! Workload API on its socket.

use std::future::Future;
use std::sync::Arc;

use spiffe_attest::{K8sAttestor, UnixAttestor, UnixConfig, WorkloadAttestor};
use spiffe_core::id::LogId;
use spiffe_workload::server::{UdsEndpoint, WorkloadApiService};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::info;

use crate::AgentError;
use crate::cache::Cache;
use crate::config::AgentConfig;
use crate::manager::Manager;
use crate::node::Node;
use crate::provider::AgentProvider;

/// A running agent.
#[derive(Debug)]
pub struct RunningAgent {
    /// The agent's identity.
    pub node: Arc<Node>,
    /// The cache (for embedding and tests).
    pub cache: Arc<Cache>,
    /// Whether the push stream from the server is connected.
    pub connected: watch::Receiver<bool>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    server: JoinHandle<()>,
}

impl RunningAgent {
    /// Stops serving and the background work.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Starts an agent; returns once the Workload API socket is listening.
///
/// # Errors
///
/// [`AgentError`] if the agent cannot restore or attest its identity, a workload attestor
/// refuses its configuration, or the Workload API socket cannot be bound.
pub async fn start(config: AgentConfig) -> Result<RunningAgent, AgentError> {
    let config = Arc::new(config);
    let node = Arc::new(Node::bootstrap(Arc::clone(&config)).await?);
    info!(agent_id = %LogId(node.svid.get().spiffe_id()), "agent identity ready");
    let cache = Arc::new(Cache::default());
    let (connected_tx, connected_rx) = watch::channel(false);
    let manager = Arc::new(Manager {
        config: Arc::clone(&config),
        node: Arc::clone(&node),
        cache: Arc::clone(&cache),
        mint_now: Arc::new(Notify::new()),
        connected: connected_tx,
    });
    let attestors = workload_attestors(&config)?;
    let provider = AgentProvider::new(Arc::clone(&manager), attestors);

    let tasks = vec![
        tokio::spawn(Arc::clone(&manager).sync_loop()),
        tokio::spawn(Arc::clone(&manager).mint_loop()),
        tokio::spawn(Arc::clone(&manager).renewal_loop()),
        tokio::spawn(Arc::clone(&provider).refresh_loop()),
        tokio::spawn(crate::sinks::sink_loop(
            Arc::clone(&cache),
            config.sinks.clone(),
            Arc::clone(&manager.mint_now),
        )),
    ];

    let endpoint = UdsEndpoint::bind(&config.socket_path).await?;
    let service = WorkloadApiService::from_arc(provider);
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown_rx.wait_for(|s| *s).await;
        };
        if let Err(e) = endpoint.serve(service, stop).await {
            tracing::error!(error = %e, "Workload API endpoint failed");
        }
    });
    info!(socket = %config.socket_path.display(), "Workload API listening");
    Ok(RunningAgent {
        node,
        cache,
        connected: connected_rx,
        shutdown: shutdown_tx,
        tasks,
        server,
    })
}

/// The workload attestors: `unix` always, `k8s` when configured.
fn workload_attestors(config: &AgentConfig) -> Result<Vec<Arc<dyn WorkloadAttestor>>, AgentError> {
    let mut attestors: Vec<Arc<dyn WorkloadAttestor>> =
        vec![Arc::new(UnixAttestor::new(UnixConfig {
            discover_workload_path: config.discover_workload_path,
            ..UnixConfig::default()
        }))];
    if let Some(k8s) = &config.k8s_workload {
        let attestor = K8sAttestor::new(k8s.clone())?;
        info!(
            node_name = k8s.node_name.as_deref().unwrap_or("127.0.0.1"),
            "k8s workload attestor enabled"
        );
        attestors.push(Arc::new(attestor));
    }
    Ok(attestors)
}

/// Runs an agent until `shutdown` completes.
///
/// # Errors
///
/// As [`start`]; once started, the agent keeps retrying the server and only stops with
/// `shutdown`.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let agent = start(config).await?;
    shutdown.await;
    info!("agent stopping");
    agent.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use spiffe_attest::k8s::{Kubelet, KubeletAuth, KubeletVerification};
    use spiffe_core::TrustDomain;

    fn config() -> AgentConfig {
        AgentConfig::new(
            TrustDomain::parse("example.org").unwrap(),
            "127.0.0.1:8081",
            "/nonexistent",
        )
    }

    #[tokio::test]
    async fn k8s_attestor_next_to_unix_when_configured() {
        let names = |c: &AgentConfig| {
            workload_attestors(c)
                .map(|a| a.iter().map(|a| a.name().to_owned()).collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        };
        let mut c = config();
        assert_eq!(names(&c), Ok(vec!["unix".to_owned()]));
        c.k8s_workload = Some(crate::config::K8sWorkloadConfig {
            kubelet: Kubelet::Secure {
                port: 10250,
                verification: KubeletVerification::Skip,
                auth: KubeletAuth::Anonymous,
            },
            ..Default::default()
        });
        assert_eq!(names(&c), Ok(vec!["unix".to_owned(), "k8s".to_owned()]));
        // A kubelet CA file that is not there stops the agent from starting.
        c.k8s_workload = Some(crate::config::K8sWorkloadConfig {
            kubelet: Kubelet::Secure {
                port: 10250,
                verification: KubeletVerification::CaFile("/nonexistent/ca.crt".into()),
                auth: KubeletAuth::Anonymous,
            },
            ..Default::default()
        });
        let err = names(&c).unwrap_err();
        assert!(err.starts_with("k8s workload attestor: "), "{err}");
        assert!(err.contains("/nonexistent/ca.crt"), "{err}");
    }
}
