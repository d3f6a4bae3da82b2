//! The agent's configuration: SPIRE's settings and defaults.

use std::path::PathBuf;
use std::time::Duration;

use spiffe_core::{Selector, SpiffeId, TrustDomain};

/// The default Workload API socket (SPIRE's is `/tmp/spire-agent/public/api.sock`).
pub const DEFAULT_SOCKET_PATH: &str = "/tmp/spiffe-agent/public/api.sock";

/// How the agent first trusts its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustBootstrap {
    /// A PEM file of the trust domain's root CAs (`-trustBundle`).
    BundleFile(PathBuf),
    /// Trust whatever server answers at first contact (`insecure_bootstrap`): dangerous, logged
    /// loudly; only for test set-ups.
    Insecure,
}

/// Where to write a workload's SVID as files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSink {
    /// The SPIFFE ID whose SVID is written.
    pub spiffe_id: Option<SpiffeId>,
    /// Or: the SVIDs of entries matching these selectors (the first one found).
    pub selectors: Vec<Selector>,
    /// The directory (`svid.pem`, `key.pem`, `bundle.pem`).
    pub dir: PathBuf,
}

/// Everything the agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The trust domain.
    pub trust_domain: TrustDomain,
    /// The server's agent API, `host:port`.
    pub server_address: String,
    /// Where the agent keeps its SVID, key and last bundle.
    pub data_dir: PathBuf,
    /// The Workload API socket.
    pub socket_path: PathBuf,
    /// A join token, for the first attestation.
    pub join_token: Option<String>,
    /// How the server is trusted before the agent holds a bundle.
    pub trust_bootstrap: TrustBootstrap,
    /// `unix:path` and `unix:sha256` selectors.
    pub discover_workload_path: bool,
    /// Most X509-SVIDs kept for entries no workload is watching.
    pub svid_cache_max_size: usize,
    /// File sinks.
    pub sinks: Vec<FileSink>,
    /// How long to wait between reconnection attempts, at most.
    pub max_backoff: Duration,
}

impl AgentConfig {
    /// SPIRE's defaults.
    pub fn new(
        trust_domain: TrustDomain,
        server_address: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> Self {
        AgentConfig {
            trust_domain,
            server_address: server_address.into(),
            data_dir: data_dir.into(),
            socket_path: PathBuf::from(DEFAULT_SOCKET_PATH),
            join_token: None,
            trust_bootstrap: TrustBootstrap::Insecure,
            discover_workload_path: false,
            svid_cache_max_size: 1000,
            sinks: Vec::new(),
            max_backoff: Duration::from_secs(30),
        }
    }
}
