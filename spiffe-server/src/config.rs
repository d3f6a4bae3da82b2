//! The server's configuration: SPIRE's settings and defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use spiffe_ca::{CaKeyType, CaSubject};
use spiffe_core::TrustDomain;
use spiffe_core::jwt::JwtAlgorithm;

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
