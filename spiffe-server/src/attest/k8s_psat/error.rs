//! [`PsatError`]: why an agent's `k8s_psat` attestation was refused, and [`PsatSetupError`]:
//! why the attestor could not be built.

use tonic::{Code, Status};

use crate::config::PsatConfigError;

/// Why a `k8s_psat` attestation failed. Every variant names the cluster (when known) and the
/// rule; the messages follow SPIRE's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PsatError {
    /// The payload is not `{"cluster": ..., "token": ...}`.
    #[error("failed to unmarshal data payload: {0}")]
    Payload(#[source] serde_json::Error),
    /// The payload has no cluster.
    #[error("missing cluster in attestation data")]
    MissingCluster,
    /// The payload has no token.
    #[error("missing token in attestation data")]
    MissingToken,
    /// The cluster is not configured.
    #[error("not configured for cluster {cluster:?}")]
    UnknownCluster {
        /// The cluster the agent named.
        cluster: String,
    },
    /// A request to the API server failed.
    #[error("{what} for cluster {cluster:?} failed: {source}")]
    Api {
        /// The cluster.
        cluster: String,
        /// The request (`TokenReview`, `get pod spire/agent-x`, ...).
        what: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A request to the API server took too long.
    #[error("{what} for cluster {cluster:?} did not complete within {seconds} s")]
    Timeout {
        /// The cluster.
        cluster: String,
        /// The request.
        what: String,
        /// The limit.
        seconds: u64,
    },
    /// The TokenReview did not authenticate the token.
    #[error("token not authenticated according to TokenReview API for cluster {cluster:?}{}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    NotAuthenticated {
        /// The cluster.
        cluster: String,
        /// The API server's reason, if it gave one.
        detail: Option<String>,
    },
    /// The TokenReview authenticated the token for none of the configured audiences.
    #[error(
        "token review API did not validate audience for cluster {cluster:?}: wanted one of {wanted:?} but got {got:?}"
    )]
    Audience {
        /// The cluster.
        cluster: String,
        /// The configured audiences.
        wanted: Vec<String>,
        /// The audiences of the review.
        got: Vec<String>,
    },
    /// The reviewed user is not `system:serviceaccount:<namespace>:<name>`.
    #[error(
        "failed to parse username from token review status for cluster {cluster:?}: unexpected username format: {username:?}"
    )]
    Username {
        /// The cluster.
        cluster: String,
        /// The user name of the review.
        username: String,
    },
    /// The service account is not on the allow list.
    #[error("{service_account:?} is not an allowed service account for cluster {cluster:?}")]
    ServiceAccountNotAllowed {
        /// The cluster.
        cluster: String,
        /// `<namespace>:<name>`.
        service_account: String,
    },
    /// The review's `extra` lacks the pod the token is bound to (not a projected token).
    #[error("failed to get {key} from token review status for cluster {cluster:?}: {problem}")]
    BoundPod {
        /// The cluster.
        cluster: String,
        /// The `extra` key.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The pod read from the API server is not the one the token is bound to.
    #[error(
        "pod UID mismatch for pod {pod:?} in cluster {cluster:?}: token bound to pod UID {token_uid:?}, pod has {pod_uid:?}"
    )]
    PodUidMismatch {
        /// The cluster.
        cluster: String,
        /// `<namespace>/<name>`.
        pod: String,
        /// The UID in the token.
        token_uid: String,
        /// The UID of the pod.
        pod_uid: String,
    },
    /// The agent's pod is on no node.
    #[error("pod {pod:?} in cluster {cluster:?} is not scheduled on a node")]
    NotScheduled {
        /// The cluster.
        cluster: String,
        /// `<namespace>/<name>`.
        pod: String,
    },
    /// The node has no UID.
    #[error("node UID is empty for node {node:?} in cluster {cluster:?}")]
    EmptyNodeUid {
        /// The cluster.
        cluster: String,
        /// The node.
        node: String,
    },
    /// The agent ID cannot be formed (a UID that is not a path segment).
    #[error("cannot form the agent ID for cluster {cluster:?}: {detail}")]
    AgentId {
        /// The cluster.
        cluster: String,
        /// Why.
        detail: String,
    },
}

impl PsatError {
    /// The gRPC code SPIRE answers with.
    fn code(&self) -> Code {
        match self {
            PsatError::Payload(_)
            | PsatError::MissingCluster
            | PsatError::MissingToken
            | PsatError::UnknownCluster { .. } => Code::InvalidArgument,
            PsatError::NotAuthenticated { .. }
            | PsatError::Audience { .. }
            | PsatError::ServiceAccountNotAllowed { .. }
            | PsatError::Username { .. }
            | PsatError::PodUidMismatch { .. } => Code::PermissionDenied,
            PsatError::Timeout { .. } => Code::Unavailable,
            PsatError::Api { .. }
            | PsatError::BoundPod { .. }
            | PsatError::NotScheduled { .. }
            | PsatError::EmptyNodeUid { .. }
            | PsatError::AgentId { .. } => Code::Internal,
        }
    }
}

impl From<PsatError> for Status {
    fn from(err: PsatError) -> Self {
        Status::new(err.code(), format!("failed to attest: k8s_psat: {err}"))
    }
}

/// Why the `k8s_psat` attestor could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PsatSetupError {
    /// A setting is refused.
    #[error(transparent)]
    Config(#[from] PsatConfigError),
    /// The in-cluster configuration is not there (not running in a pod?).
    #[error("k8s_psat cluster {cluster:?}: in-cluster API server configuration: {source}")]
    InCluster {
        /// The cluster.
        cluster: String,
        /// kube's error.
        #[source]
        source: kube::config::InClusterError,
    },
    /// The kubeconfig file could not be read or used.
    #[error("k8s_psat cluster {cluster:?}: kube_config_file {path:?}: {source}")]
    Kubeconfig {
        /// The cluster.
        cluster: String,
        /// The file.
        path: std::path::PathBuf,
        /// kube's error.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// The explicit API server URL does not parse.
    #[error("k8s_psat cluster {cluster:?}: api_server_url {url:?}: {detail}")]
    Url {
        /// The cluster.
        cluster: String,
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
    /// A file of the explicit API server settings cannot be read.
    #[error("k8s_psat cluster {cluster:?}: cannot read {what} {path:?}: {source}")]
    File {
        /// The cluster.
        cluster: String,
        /// `api_server_ca_file` or `api_server_token_file`.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP client could not be built.
    #[error("k8s_psat cluster {cluster:?}: Kubernetes client: {source}")]
    Client {
        /// The cluster.
        cluster: String,
        /// kube's error.
        #[source]
        source: kube::Error,
    },
}
