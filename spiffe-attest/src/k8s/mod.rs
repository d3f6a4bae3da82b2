//! Kubernetes workload attestation: [`K8sAttestor`], selectors of type `k8s` compatible with
//! SPIRE's k8s workload attestor.
//!
//! How a process is placed in a pod:
//!
//! 1. [`cgroup`]: `/proc/<pid>/cgroup` (written by the kernel) gives the container ID and, on
//!    most set-ups, the pod UID. A process in no container gets no `k8s` selectors (it may
//!    still match `unix` ones).
//! 2. The kubelet's `GET /pods` (HTTPS on port 10250 with the agent's service account token, or
//!    plain HTTP on the read-only port) lists the node's pods with their containers' IDs. One
//!    pod list serves every attestation for `poll_retry_interval`, and concurrent attestations
//!    share one request.
//! 3. The container is looked up in the pod the cgroup file names (or, without a pod UID, in
//!    every pod). A container that is not in the list yet (just started) is looked for again
//!    in newer lists, `max_poll_attempts` times in all, then attestation fails with
//!    [`K8sError::ContainerNotFound`].
//!
//! Selectors, as SPIRE forms them (values after `k8s:`):
//!
//! | selector | value |
//! |---|---|
//! | `ns:<namespace>` | the pod's namespace |
//! | `sa:<name>` | `spec.serviceAccountName` |
//! | `node-name:<name>` | `spec.nodeName` |
//! | `pod-uid:<uid>`, `pod-name:<name>` | the pod's UID and name |
//! | `pod-label:<key>:<value>` | each label |
//! | `pod-owner:<Kind>:<name>`, `pod-owner-uid:<Kind>:<uid>` | each owner reference |
//! | `pod-image:<image>` | each container's `image` and `imageID` |
//! | `pod-image-count:<n>` | the number of container statuses |
//! | `pod-init-image:<image>`, `pod-init-image-count:<n>` | the same for init containers |
//! | `container-name:<name>` | the workload's container (not with `disable_container_selectors`) |
//! | `container-image:<image>` | its `image` and `imageID` (likewise) |

mod cache;
pub mod cgroup;
mod config;
mod error;
mod kubelet;
pub(crate) mod pods;
pub(crate) mod selectors;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use spiffe_core::Selector;
use tracing::{Instrument, debug, debug_span};

pub use config::{
    DEFAULT_KUBELET_CA_PATH, DEFAULT_MAX_POLL_ATTEMPTS, DEFAULT_NODE_NAME_ENV,
    DEFAULT_POLL_RETRY_INTERVAL, DEFAULT_READ_ONLY_PORT, DEFAULT_SECURE_PORT, DEFAULT_TOKEN_PATH,
    K8sConfig, Kubelet, KubeletAuth, KubeletVerification,
};
pub use error::K8sError;
pub use kubelet::{MAX_POD_LIST_BYTES, REQUEST_TIMEOUT};

use crate::attest::WorkloadAttestor;
use crate::error::AttestError;
use crate::proc;
use cache::PodListCache;
use cgroup::PodContainer;
use pods::Lookup;
use selectors::Selectors;

/// The selector type, and the attestor's name.
pub const K8S: &str = "k8s";

/// The k8s workload attestor. Cheap to clone; clones share the pod list. Needs a tokio runtime.
#[derive(Debug, Clone)]
pub struct K8sAttestor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: K8sConfig,
    proc_root: PathBuf,
    pods: Arc<PodListCache>,
}

impl K8sAttestor {
    /// An attestor reading the host's `/proc`. Fails if a setting is out of range or, on the
    /// secure port with a CA file, if the CA file cannot be read.
    pub fn new(config: K8sConfig) -> Result<Self, K8sError> {
        if config.max_poll_attempts == 0 {
            return Err(K8sError::Config {
                field: "max_poll_attempts",
                rule: "must be at least 1",
            });
        }
        if config.poll_retry_interval.is_zero() {
            return Err(K8sError::Config {
                field: "poll_retry_interval",
                rule: "must be longer than zero",
            });
        }
        let client = kubelet::KubeletClient::new(&config)?;
        let pods = Arc::new(PodListCache::new(client, config.poll_retry_interval));
        Ok(K8sAttestor {
            inner: Arc::new(Inner {
                config,
                proc_root: proc::default_proc_root(),
                pods,
            }),
        })
    }

    /// The same attestor reading the proc filesystem at `proc_root` instead (`/host/proc` in a
    /// container, or a fake tree in tests).
    pub fn with_proc_root(self, proc_root: impl Into<PathBuf>) -> Self {
        K8sAttestor {
            inner: Arc::new(Inner {
                config: self.inner.config.clone(),
                proc_root: proc_root.into(),
                pods: Arc::clone(&self.inner.pods),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &K8sConfig {
        &self.inner.config
    }

    /// The proc root read.
    pub fn proc_root(&self) -> &Path {
        &self.inner.proc_root
    }

    /// The `k8s` selectors of process `pid`: none for a process in no container.
    pub async fn selectors(&self, pid: i32) -> Result<Vec<Selector>, AttestError> {
        if pid <= 0 {
            return Err(AttestError::InvalidPid { pid });
        }
        let proc_root = self.inner.proc_root.clone();
        let found = proc::run_blocking(K8S, move || {
            cgroup::for_pid(&proc_root, pid).map_err(AttestError::from)
        })
        .await?;
        let Some(wanted) = found else {
            debug!(pid, "not in a container: no k8s selectors");
            return Ok(Vec::new());
        };
        self.selectors_of(pid, &wanted).await
    }

    /// The selectors of the pod and container `wanted`, looked for in up to
    /// `max_poll_attempts` pod lists.
    async fn selectors_of(
        &self,
        pid: i32,
        wanted: &PodContainer,
    ) -> Result<Vec<Selector>, AttestError> {
        let config = &self.inner.config;
        let pod_only = config.disable_container_selectors;
        let mut seen = 0;
        let mut last_error = None;
        for attempt in 1..=config.max_poll_attempts {
            match self.inner.pods.fetch_newer(seen).await {
                Ok(list) => {
                    seen = list.version;
                    last_error = None;
                    if let Lookup::Found(pod, container) = list.find(pid, wanted, pod_only)? {
                        let mut out = Selectors::default();
                        out.pod(pod)?;
                        if let (Some(container), false) = (container, pod_only) {
                            out.container(container)?;
                        }
                        debug!(
                            pid,
                            attempt,
                            pod_uid = %pod.metadata.uid,
                            namespace = %pod.metadata.namespace,
                            pod = %pod.metadata.name,
                            "workload placed in its pod"
                        );
                        return Ok(out.into_vec());
                    }
                    debug!(
                        pid,
                        attempt,
                        version = seen,
                        "container not in the pod list yet"
                    );
                }
                Err(err) => {
                    debug!(pid, attempt, error = %err, "no pod list");
                    last_error = Some(err);
                }
            }
        }
        let attempts = config.max_poll_attempts;
        Err(match last_error {
            Some(source) => K8sError::PodList {
                pid,
                attempts,
                source,
            },
            None => K8sError::ContainerNotFound {
                pid,
                container_id: wanted.container_id.clone(),
                pod_uid: wanted.pod_uid.clone(),
                attempts,
            },
        }
        .into())
    }
}

impl WorkloadAttestor for K8sAttestor {
    fn name(&self) -> &str {
        K8S
    }

    fn attest(&self, pid: i32) -> BoxFuture<'_, Result<Vec<Selector>, AttestError>> {
        let span = debug_span!("k8s_attest", pid);
        Box::pin(self.selectors(pid).instrument(span))
    }
}
