//! The server's configuration: SPIRE's settings and defaults.

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
