//! Starting an agent: restore or attest the node, start the sync and minting, serve the
//! Workload API on its socket.

use std::future::Future;
use std::sync::Arc;

use spiffe_attest::{UnixAttestor, UnixConfig, WorkloadAttestor};
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
pub async fn start(config: AgentConfig) -> Result<RunningAgent, AgentError> {
    let config = Arc::new(config);
    let node = Arc::new(Node::bootstrap(Arc::clone(&config)).await?);
    info!(agent_id = %node.svid.get().spiffe_id(), "agent identity ready");
    let cache = Arc::new(Cache::default());
    let (connected_tx, connected_rx) = watch::channel(false);
    let manager = Arc::new(Manager {
        config: Arc::clone(&config),
        node: Arc::clone(&node),
        cache: Arc::clone(&cache),
        mint_now: Arc::new(Notify::new()),
        connected: connected_tx,
    });
    let attestors: Vec<Arc<dyn WorkloadAttestor>> = vec![Arc::new(UnixAttestor::new(UnixConfig {
        discover_workload_path: config.discover_workload_path,
        ..UnixConfig::default()
    }))];
    let provider = AgentProvider::new(Arc::clone(&manager), attestors);

    let tasks = vec![
        tokio::spawn(Arc::clone(&manager).sync_loop()),
        tokio::spawn(Arc::clone(&manager).mint_loop()),
        tokio::spawn(Arc::clone(&manager).renewal_loop()),
        tokio::spawn(Arc::clone(&provider).refresh_loop()),
        tokio::spawn(crate::sinks::sink_loop(
            Arc::clone(&cache),
            config.sinks.clone(),
        )),
    ];

    let endpoint = UdsEndpoint::bind(&config.socket_path)
        .await
        .map_err(|e| AgentError::Socket(e.to_string()))?;
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

/// Runs an agent until `shutdown` completes.
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
