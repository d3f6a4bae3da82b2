//! [`K8sError`]: why the k8s attestor could not be set up, reach the kubelet, or place a
//! workload in a pod.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::error::AttestError;
use crate::k8s::K8S;

/// Why the k8s attestor failed. Reaches callers of [`crate::attest_process`] as
/// [`AttestError::Other`] with attestor `k8s` (downcast the source to read it).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum K8sError {
    /// A setting breaks a rule.
    #[error("k8s attestor: {field} {rule}")]
    Config {
        /// The setting (SPIRE's name).
        field: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// A file the kubelet client needs could not be read.
    #[error("cannot read the kubelet {what} file {path:?}: {source}")]
    ReadFile {
        /// `CA`, `token`, `client certificate` or `client private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("kubelet CA file {path:?}: {detail}")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The client certificate or its key cannot be used.
    #[error("kubelet client {what} file {path:?}: {detail}")]
    BadClientCertificate {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The token file is empty.
    #[error("kubelet token file {path:?} is empty")]
    EmptyToken {
        /// The file.
        path: PathBuf,
    },
    /// The token file holds characters an HTTP header cannot carry.
    #[error("kubelet token file {path:?} holds characters not allowed in an HTTP header")]
    BadToken {
        /// The file.
        path: PathBuf,
    },
    /// The node name is not a valid TLS server name (or HTTP host).
    #[error(
        "node name {name:?} is not a valid DNS name or IP address for the kubelet's certificate"
    )]
    BadNodeName {
        /// The node name.
        name: String,
    },
    /// TLS could not be set up.
    #[error("kubelet TLS configuration: {0}")]
    TlsConfig(#[source] rustls::Error),
    /// No TCP connection to the kubelet.
    #[error("cannot connect to the kubelet at {address}: {source}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake with the kubelet failed (its certificate did not verify, for one).
    #[error("TLS handshake with the kubelet at {address} failed: {source}")]
    Handshake {
        /// `host:port`.
        address: String,
        /// The error, as rustls reports it.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange with the kubelet failed.
    #[error("HTTP exchange with the kubelet at {address} failed: {source}")]
    Http {
        /// `host:port`.
        address: String,
        /// The error.
        #[source]
        source: hyper::Error,
    },
    /// The kubelet answered `GET /pods` with an error status.
    #[error("kubelet at {address} answered GET /pods with HTTP {status}: {body}")]
    Status {
        /// `host:port`.
        address: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The pod list is larger than the attestor reads.
    #[error("kubelet at {address}: pod list larger than {limit} bytes")]
    TooLarge {
        /// `host:port`.
        address: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The kubelet did not answer in time.
    #[error("kubelet at {address} did not answer GET /pods within {timeout:?}")]
    Timeout {
        /// `host:port`.
        address: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The answer is not a `PodList`.
    #[error("kubelet pod list does not parse: {0}")]
    Parse(#[source] serde_json::Error),
    /// The answer is not a JSON object.
    #[error("kubelet pod list is not a JSON object")]
    NotAnObject,
    /// Two pods claim the workload's container.
    #[error("process {pid}: container {container_id} is in two pods ({first}, {second})")]
    DuplicateContainer {
        /// The PID.
        pid: i32,
        /// The container ID.
        container_id: String,
        /// One pod's UID.
        first: String,
        /// The other's.
        second: String,
    },
    /// The workload's container never showed up in the pod list.
    #[error(
        "process {pid}: container {container_id} (pod {}) is not in the kubelet's pod list after {attempts} attempts; is the container running?",
        pod_uid.as_deref().unwrap_or("unknown")
    )]
    ContainerNotFound {
        /// The PID.
        pid: i32,
        /// The container ID, from the cgroup file.
        container_id: String,
        /// The pod UID, if the cgroup file names it.
        pod_uid: Option<String>,
        /// How many pod lists were searched.
        attempts: u32,
    },
    /// The last of the attempts could not get a pod list.
    #[error("process {pid}: no pod list from the kubelet after {attempts} attempts: {source}")]
    PodList {
        /// The PID.
        pid: i32,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        #[source]
        source: Arc<K8sError>,
    },
    /// The task fetching the pod list was cancelled or panicked.
    #[error("the kubelet pod list fetch did not complete")]
    FetchTask,
}

impl From<K8sError> for AttestError {
    fn from(err: K8sError) -> Self {
        AttestError::Other {
            attestor: K8S.to_owned(),
            source: Box::new(err),
        }
    }
}
