//! The agent's configuration: SPIRE's settings and defaults; [`file`](mod@file) reads them from a
//! SPIRE-style configuration file.

pub mod file;

use std::path::PathBuf;
use std::time::Duration;

pub use spiffe_attest::K8sConfig as K8sWorkloadConfig;
use spiffe_core::{Selector, SpiffeId, TrustDomain};

/// The default Workload API socket (SPIRE's is `/tmp/spire-agent/public/api.sock`).
pub const DEFAULT_SOCKET_PATH: &str = "/tmp/spiffe-agent/public/api.sock";
/// Where the agent keeps its state unless told otherwise (not SPIRE's `.`: a root agent
/// started from `/` must not take `/` for its data directory).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/spiffe-agent";
/// Where the projected service account token for `k8s_psat` is mounted by default (SPIRE's).
pub const DEFAULT_PSAT_TOKEN_PATH: &str = "/var/run/secrets/tokens/spire-agent";

/// Node attestation with a projected service account token (SPIRE's agent-side
/// `NodeAttestor "k8s_psat"`): the token file is read at every attestation, so a re-attestation
/// after an eviction presents the kubelet's freshly rotated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sPsatConfig {
    /// The cluster's name, as configured on the server (`cluster`).
    pub cluster: String,
    /// The token file (`token_path`, default [`DEFAULT_PSAT_TOKEN_PATH`]); the token's audience
    /// must be one the server accepts (`spire-server` by default).
    pub token_path: PathBuf,
}

impl K8sPsatConfig {
    /// Attestation as `cluster` with the token at the default path.
    pub fn new(cluster: impl Into<String>) -> Self {
        K8sPsatConfig {
            cluster: cluster.into(),
            token_path: PathBuf::from(DEFAULT_PSAT_TOKEN_PATH),
        }
    }
}

/// How the agent first trusts its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustBootstrap {
    /// A PEM file of the trust domain's root CAs (`-trustBundle`).
    BundleFile(PathBuf),
    /// Trust whatever server answers at first contact (`insecure_bootstrap`): dangerous, logged
    /// loudly; only for test set-ups.
    Insecure,
}

/// Where to write a workload's SVID as files (`svid.pem`, `key.pem`, `bundle.pem`), again on
/// every rotation.
///
/// Which entry's SVID is written:
/// - with `spiffe_id`: an entry with that SPIFFE ID (the first by entry ID holding an SVID);
/// - with `selectors`: the entry whose selectors are *exactly* these, compared as sets (order
///   and repeats do not matter). The sink stands for a workload with exactly these selectors:
///   an entry with more selectors, or fewer, is never chosen. Among several entries with
///   exactly this set, the first by SPIFFE ID, then entry ID (the Workload API's order for the
///   default identity) is written, and the agent logs which one and which it passed over. If
///   no entry has exactly this set, nothing is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSink {
    /// The SPIFFE ID whose SVID is written.
    pub spiffe_id: Option<SpiffeId>,
    /// Or: the selectors an entry must have exactly (as a set) for its SVID to be written.
    pub selectors: Vec<Selector>,
    /// The directory (`svid.pem`, `key.pem`, `bundle.pem`).
    pub dir: PathBuf,
}

/// A rate: so many a second on average, so many at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// The sustained rate, per second (at least 1).
    pub per_second: u32,
    /// The burst (at least 1).
    pub burst: u32,
}

/// Everything the agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The trust domain.
    pub trust_domain: TrustDomain,
    /// The server's agent API, `host:port`.
    pub server_address: String,
    /// Where the agent keeps its SVID, key and last bundle: created with mode 0700 if missing;
    /// an existing directory keeps its mode, and is refused if another user controls it.
    pub data_dir: PathBuf,
    /// The Workload API socket.
    pub socket_path: PathBuf,
    /// A join token, for the first attestation (it wins over `k8s_psat`, as in SPIRE).
    pub join_token: Option<String>,
    /// Node attestation with a projected service account token; also used to attest again
    /// after an eviction.
    pub k8s_psat: Option<K8sPsatConfig>,
    /// How the server is trusted before the agent holds a bundle.
    pub trust_bootstrap: TrustBootstrap,
    /// `unix:path` and `unix:sha256` selectors.
    pub discover_workload_path: bool,
    /// The k8s workload attestor (`k8s:` selectors from the kubelet), if configured.
    pub k8s_workload: Option<K8sWorkloadConfig>,
    /// Most X509-SVIDs kept for entries no workload is watching.
    pub svid_cache_max_size: usize,
    /// Most JWT-SVIDs kept (least recently used go first; SPIRE's `jwt_svid_cache_max_size`).
    pub jwt_svid_cache_max_size: usize,
    /// JWT-SVIDs one uid may have signed (cache misses) per second, and as a burst; past it
    /// its callers get ResourceExhausted.
    pub jwt_svid_rate_limit: RateLimit,
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
            k8s_psat: None,
            trust_bootstrap: TrustBootstrap::Insecure,
            discover_workload_path: false,
            k8s_workload: None,
            svid_cache_max_size: 1000,
            jwt_svid_cache_max_size: 1000,
            jwt_svid_rate_limit: RateLimit {
                per_second: 50,
                burst: 100,
            },
            sinks: Vec::new(),
            max_backoff: Duration::from_secs(30),
        }
    }
}
