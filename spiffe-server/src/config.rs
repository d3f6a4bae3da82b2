//! The server's configuration: SPIRE's settings and defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use spiffe_ca::{CaKeyType, CaSubject};
use spiffe_core::TrustDomain;
use spiffe_core::jwt::JwtAlgorithm;

use crate::federation::FederationConfig;

/// The default admin socket (SPIRE's is `/tmp/spire-server/private/api.sock`).
pub const DEFAULT_SOCKET_PATH: &str = "/tmp/spiffe-server/private/api.sock";
/// The default agent API address.
pub const DEFAULT_BIND_ADDRESS: &str = "0.0.0.0:8081";

/// An upstream CA on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Certificate file (the upstream CA first, then the certificates above it).
    pub cert_path: PathBuf,
    /// Its PKCS#8 key.
    pub key_path: PathBuf,
    /// Roots, if not the last certificate of `cert_path`.
    pub bundle_path: Option<PathBuf>,
}

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The trust domain.
    pub trust_domain: TrustDomain,
    /// Where the SQLite datastore, CA keys and journal live.
    pub data_dir: PathBuf,
    /// Datastore URL; `None` means SQLite at `<data_dir>/datastore.sqlite3`.
    pub datastore: Option<String>,
    /// Agent API address (TCP, TLS).
    pub bind_address: SocketAddr,
    /// Admin API socket (UNIX; access by file permissions).
    pub socket_path: PathBuf,
    /// HTTP health address (`/live`, `/ready`), if enabled.
    pub health_address: Option<SocketAddr>,
    /// CA lifetime.
    pub ca_ttl: Duration,
    /// CA key type.
    pub ca_key_type: CaKeyType,
    /// JWT-SVID algorithm.
    pub jwt_algorithm: JwtAlgorithm,
    /// CA subject.
    pub ca_subject: CaSubject,
    /// Default X509-SVID TTL (entries with TTL 0).
    pub default_x509_svid_ttl: Duration,
    /// Default JWT-SVID TTL.
    pub default_jwt_svid_ttl: Duration,
    /// Agent SVID TTL (`None`: the default X509-SVID TTL).
    pub agent_ttl: Option<Duration>,
    /// `iss` of JWT-SVIDs, if set.
    pub jwt_issuer: Option<String>,
    /// An upstream CA.
    pub upstream: Option<UpstreamConfig>,
    /// How often the CA rotation runs.
    pub rotation_interval: Duration,
    /// The `k8s_psat` node attestor, if agents may attest with projected service account
    /// tokens (`join_token` is always on).
    pub k8s_psat: Option<K8sPsatConfig>,
    /// Accept operator-supplied join tokens (`CreateJoinToken` with `token` set) estimated
    /// below [`MIN_JOIN_TOKEN_BITS`] bits of entropy (`allow_weak_join_tokens`). Default off.
    pub allow_weak_join_tokens: bool,
    /// What one peer of the agent API (TCP) may hold: streams, connections, time.
    pub limits: ConnectionLimits,
    /// Federation: the server's bundle endpoint and the trust domains it federates with.
    pub federation: FederationConfig,
}

/// The least estimated entropy, in bits, of an operator-supplied join token, unless
/// [`ServerConfig::allow_weak_join_tokens`] is set. Generated tokens carry exactly this many
/// random bits.
pub const MIN_JOIN_TOKEN_BITS: u32 = 128;

/// Limits of the agent API's TCP endpoint, so that no peer, least of all one without an
/// agent or admin SVID, can make the server hold memory or tasks without bound.
///
/// A connection is *authenticated* when its client certificate, at the handshake, is the
/// current SVID of an attested agent or the SVID of an unexpired admin entry; any other
/// connection (no certificate, a workload SVID) is *anonymous*: it can only attest, so it gets
/// few streams and a short life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Streams an authenticated connection may have open at once (HTTP/2
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`; streams beyond it are refused). Default 100.
    pub max_concurrent_streams: u32,
    /// The same for anonymous connections. Default 4.
    pub anonymous_max_concurrent_streams: u32,
    /// The largest request message an anonymous connection may send, in bytes (authenticated
    /// ones: 4 MiB). With the stream and connection limits this bounds what anonymous peers
    /// can make the server buffer: by default 256 connections x 4 streams x 64 KiB = 64 MiB,
    /// for at most `attestation_message_timeout`. Default 64 KiB.
    pub anonymous_max_message_size: usize,
    /// TLS handshakes in progress at once; further connections wait in the listen backlog.
    /// Default 128.
    pub max_concurrent_handshakes: usize,
    /// How long a TLS handshake may take. Default 10 s.
    pub handshake_timeout: Duration,
    /// Anonymous connections open at once; one more is closed right after its handshake.
    /// Default 256.
    pub max_anonymous_connections: usize,
    /// How long an anonymous connection may live, busy or not (it is told to go away, then
    /// closed 5 s later). Default 30 s.
    pub anonymous_connection_lifetime: Duration,
    /// An authenticated connection with no open stream for this long is closed. Default 5 min.
    pub idle_timeout: Duration,
    /// HTTP/2 PING interval on every connection (zero: no pings). Default 60 s.
    pub keepalive_interval: Duration,
    /// How long a PING may go unanswered before the connection is closed. Default 20 s.
    pub keepalive_timeout: Duration,
    /// TCP keepalive idle time (probes every quarter of it after that, three at most; zero:
    /// off). Default 60 s.
    pub tcp_keepalive: Duration,
    /// How long a call may take to produce its response headers: the whole of a unary call
    /// (including a request body that never arrives), the opening of a stream. Streams that
    /// answer (the sync stream) are not cut. Default 30 s.
    pub request_timeout: Duration,
    /// How long `AttestAgent` waits for the agent's first message (and for each challenge
    /// response). Default 10 s.
    pub attestation_message_timeout: Duration,
    /// Attestation attempts per second from one source address (IPv6: one /64), sustained;
    /// more are answered `RESOURCE_EXHAUSTED` with a retry hint (zero: no limit). Default 1.
    pub attestation_rate_limit: u32,
    /// Attempts one source address may make at once before the rate applies. Default 20.
    pub attestation_burst: u32,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_concurrent_streams: 100,
            anonymous_max_concurrent_streams: 4,
            anonymous_max_message_size: 64 * 1024,
            max_concurrent_handshakes: 128,
            handshake_timeout: Duration::from_secs(10),
            max_anonymous_connections: 256,
            anonymous_connection_lifetime: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            tcp_keepalive: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            attestation_message_timeout: Duration::from_secs(10),
            attestation_rate_limit: 1,
            attestation_burst: 20,
        }
    }
}

/// A connection limit that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LimitsError {
    /// A count or duration that must be positive is zero.
    #[error("{setting} must be greater than zero")]
    Zero {
        /// The setting's configuration key.
        setting: &'static str,
    },
}

impl ConnectionLimits {
    /// Checks that every limit that must be positive is.
    pub fn validate(&self) -> Result<(), LimitsError> {
        let counts = [
            ("max_concurrent_streams", self.max_concurrent_streams > 0),
            (
                "anonymous_max_concurrent_streams",
                self.anonymous_max_concurrent_streams > 0,
            ),
            (
                "anonymous_max_message_size",
                self.anonymous_max_message_size > 0,
            ),
            (
                "max_concurrent_handshakes",
                self.max_concurrent_handshakes > 0,
            ),
            (
                "max_anonymous_connections",
                self.max_anonymous_connections > 0,
            ),
            (
                "attestation_burst",
                self.attestation_rate_limit == 0 || self.attestation_burst > 0,
            ),
        ];
        let durations = [
            ("handshake_timeout", self.handshake_timeout),
            (
                "anonymous_connection_lifetime",
                self.anonymous_connection_lifetime,
            ),
            ("idle_timeout", self.idle_timeout),
            ("keepalive_timeout", self.keepalive_timeout),
            ("request_timeout", self.request_timeout),
            (
                "attestation_message_timeout",
                self.attestation_message_timeout,
            ),
        ];
        let zero = counts
            .into_iter()
            .find(|(_, ok)| !ok)
            .map(|(k, _)| k)
            .or_else(|| {
                durations
                    .into_iter()
                    .find(|(_, d)| d.is_zero())
                    .map(|(k, _)| k)
            });
        match zero {
            Some(setting) => Err(LimitsError::Zero { setting }),
            None => Ok(()),
        }
    }
}

impl ServerConfig {
    /// SPIRE's defaults for a trust domain and data directory.
    pub fn new(trust_domain: TrustDomain, data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            trust_domain,
            data_dir: data_dir.into(),
            datastore: None,
            bind_address: SocketAddr::from(([0, 0, 0, 0], 8081)),
            socket_path: PathBuf::from(DEFAULT_SOCKET_PATH),
            health_address: None,
            ca_ttl: Duration::from_secs(24 * 3600),
            ca_key_type: CaKeyType::EcP256,
            jwt_algorithm: JwtAlgorithm::ES256,
            ca_subject: CaSubject::default(),
            default_x509_svid_ttl: Duration::from_secs(3600),
            default_jwt_svid_ttl: Duration::from_secs(300),
            agent_ttl: None,
            jwt_issuer: None,
            upstream: None,
            rotation_interval: Duration::from_secs(10),
            k8s_psat: None,
            allow_weak_join_tokens: false,
            limits: ConnectionLimits::default(),
            federation: FederationConfig::default(),
        }
    }

    /// The datastore URL to open.
    pub fn datastore_url(&self) -> String {
        self.datastore.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("datastore.sqlite3").display()
            )
        })
    }

    /// The agent SVID TTL.
    pub fn agent_svid_ttl(&self) -> Duration {
        self.agent_ttl.unwrap_or(self.default_x509_svid_ttl)
    }
}

/// The audience a projected token must be for, unless configured (SPIRE's default).
pub const DEFAULT_PSAT_AUDIENCE: &str = "spire-server";

/// The `k8s_psat` node attestor's settings: SPIRE's `NodeAttestor "k8s_psat"` plugin data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct K8sPsatConfig {
    /// The clusters agents may attest from, by the name agents send (`cluster` in their
    /// config). The name is part of the agent's SPIFFE ID, so it must be a valid path segment.
    /// No cluster: no agent can attest with `k8s_psat`.
    pub clusters: BTreeMap<String, PsatCluster>,
}

/// How agents of one cluster are checked (SPIRE's per-cluster settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsatCluster {
    /// Service accounts, as `<namespace>:<name>`, whose tokens may attest an agent
    /// (`service_account_allow_list`); at least one.
    pub service_account_allow_list: Vec<String>,
    /// The audiences the token must be for (`audience`); empty: the API server's own audience.
    /// Default `["spire-server"]`.
    pub audience: Vec<String>,
    /// How the server reaches the cluster's API server.
    pub api_server: KubeApiServer,
    /// Node label keys turned into `agent_node_label` selectors (`allowed_node_label_keys`).
    pub allowed_node_label_keys: BTreeSet<String>,
    /// Pod label keys turned into `agent_pod_label` selectors (`allowed_pod_label_keys`).
    pub allowed_pod_label_keys: BTreeSet<String>,
    /// Name agents `.../k8s_psat/<cluster>/pod/<pod UID>` instead of by their node's UID
    /// (`use_pod_uid_for_agent_id`).
    pub use_pod_uid_for_agent_id: bool,
}

impl PsatCluster {
    /// A cluster allowing these service accounts, with SPIRE's defaults otherwise (audience
    /// `spire-server`, the in-cluster API server).
    pub fn new(service_account_allow_list: Vec<String>) -> Self {
        PsatCluster {
            service_account_allow_list,
            audience: vec![DEFAULT_PSAT_AUDIENCE.to_owned()],
            api_server: KubeApiServer::InCluster,
            allowed_node_label_keys: BTreeSet::new(),
            allowed_pod_label_keys: BTreeSet::new(),
            use_pod_uid_for_agent_id: false,
        }
    }
}

/// Where a cluster's API server is and how the server authenticates to it. The server needs
/// `create` on `tokenreviews` and `get` on `pods` and `nodes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeApiServer {
    /// The cluster the server runs in: `KUBERNETES_SERVICE_HOST`/`_PORT` and the pod's service
    /// account (SPIRE's default, an empty `kube_config_file`).
    InCluster,
    /// The current context of a kubeconfig file (`kube_config_file`).
    Kubeconfig(PathBuf),
    /// An explicit API server: `https://host:port`, the CA certificates (PEM) its serving
    /// certificate must chain to, and a file holding the bearer token (read again as it
    /// rotates).
    Explicit {
        /// `https://host:port`.
        url: String,
        /// PEM file of the CA certificates.
        ca_file: PathBuf,
        /// File holding the bearer token.
        token_file: PathBuf,
    },
}

/// Why a `k8s_psat` setting is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PsatConfigError {
    /// The cluster name cannot be a segment of the agent's SPIFFE ID.
    #[error(
        "k8s_psat cluster {cluster:?}: the name must be a SPIFFE ID path segment (letters, digits, '.', '_', '-', not '.' or '..')"
    )]
    ClusterName {
        /// The cluster.
        cluster: String,
    },
    /// No service account may attest.
    #[error(
        "k8s_psat cluster {cluster:?}: service_account_allow_list must have at least one service account"
    )]
    EmptyAllowList {
        /// The cluster.
        cluster: String,
    },
    /// An allow-list entry is not `<namespace>:<name>`.
    #[error(
        "k8s_psat cluster {cluster:?}: service_account_allow_list entry {entry:?} must be <namespace>:<name>"
    )]
    AllowListEntry {
        /// The cluster.
        cluster: String,
        /// The entry.
        entry: String,
    },
    /// An explicit API server URL is not `https://...`.
    #[error("k8s_psat cluster {cluster:?}: api_server_url {url:?} must be an https:// URL")]
    ApiServerUrl {
        /// The cluster.
        cluster: String,
        /// The URL.
        url: String,
    },
}

impl K8sPsatConfig {
    /// Checks every cluster's settings.
    pub fn validate(&self) -> Result<(), PsatConfigError> {
        for (name, cluster) in &self.clusters {
            let segment_ok = !name.is_empty()
                && name != "."
                && name != ".."
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !segment_ok {
                return Err(PsatConfigError::ClusterName {
                    cluster: name.clone(),
                });
            }
            if cluster.service_account_allow_list.is_empty() {
                return Err(PsatConfigError::EmptyAllowList {
                    cluster: name.clone(),
                });
            }
            for entry in &cluster.service_account_allow_list {
                let well_formed = entry
                    .split_once(':')
                    .is_some_and(|(ns, sa)| !ns.is_empty() && !sa.is_empty() && !sa.contains(':'));
                if !well_formed {
                    return Err(PsatConfigError::AllowListEntry {
                        cluster: name.clone(),
                        entry: entry.clone(),
                    });
                }
            }
            if let KubeApiServer::Explicit { url, .. } = &cluster.api_server
                && !url.starts_with("https://")
            {
                return Err(PsatConfigError::ApiServerUrl {
                    cluster: name.clone(),
                    url: url.clone(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_and_validate() {
        let l = ConnectionLimits::default();
        assert_eq!(l.validate(), Ok(()));
        assert_eq!(l.max_concurrent_streams, 100);
        assert_eq!(l.anonymous_max_concurrent_streams, 4);
        let mut zero = l.clone();
        zero.request_timeout = Duration::ZERO;
        assert_eq!(
            zero.validate().map_err(|e| e.to_string()),
            Err("request_timeout must be greater than zero".into())
        );
        let mut off = l.clone();
        off.attestation_rate_limit = 0;
        off.attestation_burst = 0;
        off.keepalive_interval = Duration::ZERO;
        off.tcp_keepalive = Duration::ZERO;
        assert_eq!(
            off.validate(),
            Ok(()),
            "rate limit and keepalives may be off"
        );
        let mut no_burst = l;
        no_burst.attestation_burst = 0;
        assert!(no_burst.validate().is_err());
    }

    fn one(name: &str, cluster: PsatCluster) -> K8sPsatConfig {
        K8sPsatConfig {
            clusters: [(name.to_owned(), cluster)].into_iter().collect(),
        }
    }

    #[test]
    fn psat_settings_are_checked() {
        let ok = PsatCluster::new(vec!["spire:spire-agent".into()]);
        assert_eq!(ok.audience, vec!["spire-server".to_owned()]);
        assert_eq!(one("c1", ok.clone()).validate(), Ok(()));
        assert_eq!(
            one("c/1", ok.clone()).validate(),
            Err(PsatConfigError::ClusterName {
                cluster: "c/1".into()
            })
        );
        assert!(one("..", ok.clone()).validate().is_err());
        assert_eq!(
            one("c1", PsatCluster::new(vec![])).validate(),
            Err(PsatConfigError::EmptyAllowList {
                cluster: "c1".into()
            })
        );
        for bad in ["spire-agent", ":x", "x:", "a:b:c"] {
            assert!(
                matches!(
                    one("c1", PsatCluster::new(vec![bad.into()])).validate(),
                    Err(PsatConfigError::AllowListEntry { .. })
                ),
                "{bad}"
            );
        }
        let mut plain = ok;
        plain.api_server = KubeApiServer::Explicit {
            url: "http://10.0.0.1:6443".into(),
            ca_file: "/ca".into(),
            token_file: "/t".into(),
        };
        assert_eq!(
            one("c1", plain).validate().map_err(|e| e.to_string()),
            Err("k8s_psat cluster \"c1\": api_server_url \"http://10.0.0.1:6443\" must be an https:// URL".into())
        );
    }
}
