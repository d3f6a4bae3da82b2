//! Real servers and agents for the load driver, on temp directories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use spiffe_agent::{AgentConfig, RunningAgent, TrustBootstrap};
use spiffe_core::TrustDomain;
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1::GetBundleRequest;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::client::admin_channel;
use spiffe_server::{RunningServer, ServerConfig};
use tonic::transport::Channel;

/// The trust domain of every run.
pub const TD: &str = "bench.example";

/// A server (and optionally an agent) on a temp directory.
pub struct Stack {
    /// The temp directory (kept while the stack lives).
    pub dir: tempfile::TempDir,
    /// The server.
    pub server: RunningServer,
    /// The agent, once started.
    pub agent: Option<RunningAgent>,
    /// The join token the agent used.
    pub token: String,
}

/// A server config on `dir`.
pub fn server_config(dir: &Path, name: &str, datastore: Option<String>) -> ServerConfig {
    let mut c = ServerConfig::new(TrustDomain::parse(TD).unwrap(), dir.join(name));
    c.bind_address = "127.0.0.1:0".parse().unwrap();
    c.socket_path = dir.join(format!("{name}-admin")).join("api.sock");
    c.datastore = datastore;
    c
}

impl Stack {
    /// Starts a server on SQLite (or `datastore`).
    pub async fn server(datastore: Option<String>) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let server = spiffe_server::start(server_config(dir.path(), "server", datastore))
            .await
            .unwrap();
        Stack {
            dir,
            server,
            agent: None,
            token: String::new(),
        }
    }

    /// The admin channel.
    pub fn admin(&self) -> Channel {
        admin_channel(self.dir.path().join("server-admin").join("api.sock")).unwrap()
    }

    /// Creates a join token and writes the bootstrap bundle; returns the token.
    pub async fn prepare_agent(&mut self) -> (String, PathBuf) {
        let admin = self.admin();
        let bundle = BundleClient::new(admin.clone())
            .get_bundle(GetBundleRequest::default())
            .await
            .unwrap()
            .into_inner();
        let pem = spiffe_proto::convert::bundle_from_pb(&bundle)
            .unwrap()
            .x509()
            .to_pem();
        let path = self.dir.path().join("bootstrap.pem");
        std::fs::write(&path, pem).unwrap();
        let token = AgentClient::new(admin)
            .create_join_token(agent_api::CreateJoinTokenRequest {
                ttl: 600,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .value;
        self.token = token.clone();
        (token, path)
    }

    /// The agent config for this stack.
    pub fn agent_config(&self, token: &str, bootstrap: &Path) -> AgentConfig {
        let mut c = AgentConfig::new(
            TrustDomain::parse(TD).unwrap(),
            self.server.agent_address.to_string(),
            self.dir.path().join("agent"),
        );
        c.socket_path = self.dir.path().join("public").join("api.sock");
        c.join_token = Some(token.to_owned());
        c.trust_bootstrap = TrustBootstrap::BundleFile(bootstrap.to_owned());
        c.max_backoff = Duration::from_millis(500);
        c
    }

    /// Starts an in-process agent.
    pub async fn start_agent(&mut self) {
        let (token, bootstrap) = self.prepare_agent().await;
        let config = self.agent_config(&token, &bootstrap);
        self.agent = Some(spiffe_agent::start(config).await.unwrap());
    }

    /// The Workload API address of the agent.
    pub fn workload_address(&self) -> String {
        format!(
            "unix://{}",
            self.dir.path().join("public").join("api.sock").display()
        )
    }

    /// The agent's SPIFFE ID message.
    pub fn agent_id(&self) -> pb::Spiffeid {
        pb::Spiffeid {
            trust_domain: TD.into(),
            path: format!("/spire/agent/join_token/{}", self.token),
        }
    }

    /// Creates entries under the agent for `selector`, `batch` per call.
    pub async fn create_entries(
        &self,
        client: &mut EntryClient<Channel>,
        paths: &[String],
        selector: (&str, &str),
    ) {
        let entries = paths
            .iter()
            .map(|p| pb::Entry {
                spiffe_id: Some(pb::Spiffeid {
                    trust_domain: TD.into(),
                    path: p.clone(),
                }),
                parent_id: Some(self.agent_id()),
                selectors: vec![pb::Selector {
                    r#type: selector.0.into(),
                    value: selector.1.into(),
                }],
                ..Default::default()
            })
            .collect();
        let r = client
            .batch_create_entry(entry_api::BatchCreateEntryRequest {
                entries,
                output_mask: None,
            })
            .await
            .unwrap()
            .into_inner();
        for res in r.results {
            let status = res.status.unwrap_or_default();
            assert_eq!(status.code, 0, "{}", status.message);
        }
    }

    /// Stops everything.
    pub async fn stop(self) {
        if let Some(a) = self.agent {
            a.stop().await;
        }
        self.server.stop().await;
    }
}

/// Percentiles of a sample, in the sample's unit.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Resident set size of a process, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
