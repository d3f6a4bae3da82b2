//! [`K8sConfig`]: the k8s workload attestor's settings, named and defaulted as in SPIRE's
//! `WorkloadAttestor "k8s"` plugin.

use std::path::PathBuf;
use std::time::Duration;

/// The kubelet's secure (HTTPS) port (SPIRE's `kubelet_secure_port` default).
pub const DEFAULT_SECURE_PORT: u16 = 10250;
/// The kubelet's conventional read-only (plain HTTP) port.
pub const DEFAULT_READ_ONLY_PORT: u16 = 10255;
/// The cluster CA bundle mounted into every pod (SPIRE's `kubelet_ca_path` default).
pub const DEFAULT_KUBELET_CA_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
/// The pod's service account token (SPIRE's `token_path` default).
pub const DEFAULT_TOKEN_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// The environment variable holding the node name (SPIRE's `node_name_env` default), set from
/// `spec.nodeName` by the agent's DaemonSet.
pub const DEFAULT_NODE_NAME_ENV: &str = "MY_NODE_NAME";
/// How many pod lists are searched for a container before giving up (SPIRE's
/// `max_poll_attempts` default).
pub const DEFAULT_MAX_POLL_ATTEMPTS: u32 = 60;
/// How long a pod list is reused, and the least time between two kubelet requests (SPIRE's
/// `poll_retry_interval` default).
pub const DEFAULT_POLL_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// How the kubelet's serving certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeletVerification {
    /// Against the CA certificates in this PEM file (SPIRE's `kubelet_ca_path`). With a
    /// [`K8sConfig::node_name`], the certificate must also be valid for that name; without one
    /// (the kubelet reached at `127.0.0.1`), only its chain is checked, as in SPIRE.
    CaFile(PathBuf),
    /// Not at all (SPIRE's `skip_kubelet_verification`): anyone able to answer on the kubelet's
    /// address can then choose every workload's selectors. Logged loudly at start.
    Skip,
}

/// How the agent authenticates to the kubelet's secure port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeletAuth {
    /// A bearer token read from this file at every request, so a rotated projected token is
    /// picked up (SPIRE's `token_path`). The kubelet checks it with a TokenReview, which needs
    /// `--authentication-token-webhook`.
    Token(PathBuf),
    /// No credentials (SPIRE's `use_anonymous_authentication`).
    Anonymous,
    /// A client certificate and its key, PEM files read for every new connection so a renewed
    /// pair is picked up (SPIRE's `certificate_path` and `private_key_path`). The kubelet
    /// checks the certificate against its `--client-ca-file`.
    ClientCertificate {
        /// The certificate, then any intermediates (PEM `CERTIFICATE` blocks).
        certificate: PathBuf,
        /// Its private key (PEM: PKCS#8, SEC1 or PKCS#1).
        private_key: PathBuf,
    },
}

/// Where the pod list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kubelet {
    /// HTTPS on the secure port (SPIRE's `kubelet_secure_port`), the default.
    Secure {
        /// The port (default [`DEFAULT_SECURE_PORT`]).
        port: u16,
        /// How the kubelet's certificate is checked.
        verification: KubeletVerification,
        /// How the agent authenticates.
        auth: KubeletAuth,
    },
    /// Plain HTTP on the read-only port (SPIRE's `kubelet_read_only_port`): unauthenticated and
    /// unencrypted, disabled on most clusters.
    ReadOnly {
        /// The port (conventionally [`DEFAULT_READ_ONLY_PORT`]).
        port: u16,
    },
}

impl Default for Kubelet {
    fn default() -> Self {
        Kubelet::Secure {
            port: DEFAULT_SECURE_PORT,
            verification: KubeletVerification::CaFile(PathBuf::from(DEFAULT_KUBELET_CA_PATH)),
            auth: KubeletAuth::Token(PathBuf::from(DEFAULT_TOKEN_PATH)),
        }
    }
}

/// Settings of [`crate::k8s::K8sAttestor`]; the default is SPIRE's (secure port 10250, the
/// service account's CA and token, 60 attempts 500 ms apart, the kubelet at `127.0.0.1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sConfig {
    /// The kubelet's port, verification and credentials.
    pub kubelet: Kubelet,
    /// The node's name (SPIRE's `node_name`, or the variable named by `node_name_env`): the host
    /// the kubelet is reached at, and the name its certificate must hold. `None`: `127.0.0.1`
    /// (the agent needs host networking), with only the certificate's chain checked.
    pub node_name: Option<String>,
    /// How many pod lists are searched for the workload's container before attestation fails
    /// (SPIRE's `max_poll_attempts`); at least 1.
    pub max_poll_attempts: u32,
    /// How long one pod list answers every attestation, and the least time between two kubelet
    /// requests (SPIRE's `poll_retry_interval`); more than zero.
    pub poll_retry_interval: Duration,
    /// Emit only pod selectors, and accept a workload whose pod is known from its cgroup but
    /// whose container is not in the pod's status yet (SPIRE's `disable_container_selectors`).
    pub disable_container_selectors: bool,
}

impl Default for K8sConfig {
    fn default() -> Self {
        K8sConfig {
            kubelet: Kubelet::default(),
            node_name: None,
            max_poll_attempts: DEFAULT_MAX_POLL_ATTEMPTS,
            poll_retry_interval: DEFAULT_POLL_RETRY_INTERVAL,
            disable_container_selectors: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spire_defaults() {
        let c = K8sConfig::default();
        assert_eq!(c.max_poll_attempts, 60);
        assert_eq!(c.poll_retry_interval, Duration::from_millis(500));
        assert_eq!(c.node_name, None);
        assert_eq!(
            c.kubelet,
            Kubelet::Secure {
                port: 10250,
                verification: KubeletVerification::CaFile(
                    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt".into()
                ),
                auth: KubeletAuth::Token(
                    "/var/run/secrets/kubernetes.io/serviceaccount/token".into()
                ),
            }
        );
    }
}
