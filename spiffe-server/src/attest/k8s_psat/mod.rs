//! [`K8sPsatAttestor`]: agents in Kubernetes attest with a projected service account token,
//! as with SPIRE's `k8s_psat` node attestor.
//!
//! The agent sends `{"cluster": "<name>", "token": "<projected token>"}` (type `k8s_psat`).
//! For the named cluster the server:
//!
//! 1. asks the cluster's API server to review the token (`POST
//!    /apis/authentication.k8s.io/v1/tokenreviews` with the configured audiences) and requires
//!    it authenticated for one of them;
//! 2. requires the user `system:serviceaccount:<ns>:<sa>` to be on the allow list as `<ns>:<sa>`;
//! 3. reads the pod the token is bound to (`authentication.kubernetes.io/pod-name` and
//!    `pod-uid` in the review's `extra`) and requires the UIDs to agree;
//! 4. reads the pod's node.
//!
//! The agent becomes `spiffe://<td>/spire/agent/k8s_psat/<cluster>/<node UID>` (or
//! `.../<cluster>/pod/<pod UID>` with `use_pod_uid_for_agent_id`) with the selectors
//! `k8s_psat:cluster:<cluster>`, `agent_ns`, `agent_sa`, `agent_pod_name`, `agent_pod_uid`,
//! `agent_node_ip`, `agent_node_name`, `agent_node_uid`, and `agent_node_label:<k>:<v>` /
//! `agent_pod_label:<k>:<v>` for the allowed label keys. It may attest again (a fresh token
//! proves the same node), so an evicted agent comes back by itself.

mod client;
mod error;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, TokenReviewStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::PostParams;
use kube::{Api, Client};
use serde::{Deserialize, Serialize};
use spiffe_core::{Selector, SpiffeId, TrustDomain};
use tonic::Status;
use tracing::{Instrument, info, info_span, warn};

pub use error::{PsatError, PsatSetupError};

use super::{NodeAttestation, NodeAttestor};
use crate::config::K8sPsatConfig;
use crate::state::ServerState;

/// The attestation type and selector type.
pub const K8S_PSAT: &str = "k8s_psat";
/// The `extra` key of a TokenReview naming the pod a projected token is bound to.
pub const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
/// The `extra` key of a TokenReview holding that pod's UID.
pub const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
/// How long one request to an API server may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);

/// The attestation payload, as SPIRE's `PSATAttestationData` (JSON).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PsatAttestationData {
    /// The cluster's name, as configured on both sides.
    #[serde(default)]
    pub cluster: String,
    /// The projected service account token.
    #[serde(default)]
    pub token: String,
}

impl std::fmt::Debug for PsatAttestationData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("PsatAttestationData")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

/// One configured cluster.
struct Cluster {
    service_accounts: HashSet<String>,
    audience: Vec<String>,
    client: Client,
    node_labels: BTreeSet<String>,
    pod_labels: BTreeSet<String>,
    use_pod_uid: bool,
}

/// The `k8s_psat` node attestor.
pub struct K8sPsatAttestor {
    clusters: HashMap<String, Cluster>,
}

impl std::fmt::Debug for K8sPsatAttestor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.clusters.keys().collect();
        names.sort();
        f.debug_struct("K8sPsatAttestor")
            .field("clusters", &names)
            .finish()
    }
}

impl K8sPsatAttestor {
    /// The attestor for the configured clusters, with a Kubernetes client for each. Fails on a
    /// refused setting or an API server configuration that cannot be loaded (nothing is sent
    /// to the API servers yet).
    ///
    /// # Errors
    ///
    /// A [`PsatSetupError`] for a refused setting, or a cluster whose API server configuration
    /// (kubeconfig or in-cluster) cannot be loaded.
    pub async fn new(config: &K8sPsatConfig) -> Result<Self, PsatSetupError> {
        config.validate()?;
        if config.clusters.is_empty() {
            warn!("k8s_psat has no clusters configured: no agent can attest with it");
        }
        let mut clusters = HashMap::new();
        for (name, c) in &config.clusters {
            let client = client::client(name, &c.api_server).await?;
            clusters.insert(
                name.clone(),
                Cluster {
                    service_accounts: c.service_account_allow_list.iter().cloned().collect(),
                    audience: c.audience.clone(),
                    client,
                    node_labels: c.allowed_node_label_keys.clone(),
                    pod_labels: c.allowed_pod_label_keys.clone(),
                    use_pod_uid: c.use_pod_uid_for_agent_id,
                },
            );
        }
        Ok(K8sPsatAttestor { clusters })
    }

    /// Verifies a payload and names the agent of trust domain `td`.
    ///
    /// # Errors
    ///
    /// A [`PsatError`]: a payload that is not `{"cluster", "token"}` or lacks either, a cluster
    /// not configured, a TokenReview that fails, times out or does not authenticate the token
    /// for a configured audience, a user that is not an allowed service account, a bound pod
    /// that cannot be read, does not match the token or is not scheduled, a node without a UID,
    /// or an agent ID that cannot be formed.
    pub async fn verify(
        &self,
        td: &TrustDomain,
        payload: &[u8],
    ) -> Result<NodeAttestation, PsatError> {
        let data: PsatAttestationData =
            serde_json::from_slice(payload).map_err(PsatError::Payload)?;
        if data.cluster.is_empty() {
            return Err(PsatError::MissingCluster);
        }
        if data.token.is_empty() {
            return Err(PsatError::MissingToken);
        }
        let name = data.cluster.as_str();
        let cluster = self
            .clusters
            .get(name)
            .ok_or_else(|| PsatError::UnknownCluster {
                cluster: name.to_owned(),
            })?;
        let span = info_span!("k8s_psat_attest", cluster = %name);
        cluster.verify(td, name, data.token).instrument(span).await
    }
}

impl NodeAttestor for K8sPsatAttestor {
    fn kind(&self) -> &str {
        K8S_PSAT
    }

    fn attest<'a>(
        &'a self,
        state: &'a ServerState,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<NodeAttestation, Status>> {
        Box::pin(async move {
            self.verify(&state.config.trust_domain, payload)
                .await
                .map_err(|e| {
                    warn!(error = %e, "k8s_psat attestation refused");
                    Status::from(e)
                })
        })
    }
}

impl Cluster {
    async fn verify(
        &self,
        td: &TrustDomain,
        name: &str,
        token: String,
    ) -> Result<NodeAttestation, PsatError> {
        let status = self.review(name, token).await?;
        let username = status
            .user
            .as_ref()
            .and_then(|u| u.username.clone())
            .unwrap_or_default();
        let (namespace, service_account) =
            service_account(&username).ok_or_else(|| PsatError::Username {
                cluster: name.to_owned(),
                username: username.clone(),
            })?;
        let qualified = format!("{namespace}:{service_account}");
        if !self.service_accounts.contains(&qualified) {
            return Err(PsatError::ServiceAccountNotAllowed {
                cluster: name.to_owned(),
                service_account: qualified,
            });
        }
        let extra = status
            .user
            .as_ref()
            .and_then(|u| u.extra.as_ref())
            .cloned()
            .unwrap_or_default();
        let pod_name = bound(&extra, name, POD_NAME_KEY, "pod name")?;
        let pod_uid = bound(&extra, name, POD_UID_KEY, "pod UID")?;

        let pod_ref = format!("{namespace}/{pod_name}");
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let pod = call(name, format!("get pod {pod_ref}"), pods.get(&pod_name)).await?;
        let actual_uid = pod.metadata.uid.clone().unwrap_or_default();
        if actual_uid != pod_uid {
            return Err(PsatError::PodUidMismatch {
                cluster: name.to_owned(),
                pod: pod_ref,
                token_uid: pod_uid,
                pod_uid: actual_uid,
            });
        }
        let spec = pod.spec.as_ref();
        let node_name = spec
            .and_then(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| PsatError::NotScheduled {
                cluster: name.to_owned(),
                pod: pod_ref.clone(),
            })?;
        let nodes: Api<Node> = Api::all(self.client.clone());
        let node = call(name, format!("get node {node_name}"), nodes.get(&node_name)).await?;
        let node_uid = node
            .metadata
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| PsatError::EmptyNodeUid {
                cluster: name.to_owned(),
                node: node_name.clone(),
            })?;

        let host_ip = pod
            .status
            .as_ref()
            .and_then(|s| s.host_ip.clone())
            .unwrap_or_default();
        let mut values = vec![
            format!("cluster:{name}"),
            format!("agent_ns:{namespace}"),
            format!("agent_sa:{service_account}"),
            format!("agent_pod_name:{pod_name}"),
            format!("agent_pod_uid:{pod_uid}"),
            format!("agent_node_ip:{host_ip}"),
            format!("agent_node_name:{node_name}"),
            format!("agent_node_uid:{node_uid}"),
        ];
        let labels = |labels: Option<&BTreeMap<String, String>>, allowed: &BTreeSet<String>| {
            labels
                .into_iter()
                .flatten()
                .filter(|(k, _)| allowed.contains(*k))
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
        };
        for l in labels(node.metadata.labels.as_ref(), &self.node_labels) {
            values.push(format!("agent_node_label:{l}"));
        }
        for l in labels(pod.metadata.labels.as_ref(), &self.pod_labels) {
            values.push(format!("agent_pod_label:{l}"));
        }
        let selectors = values
            .into_iter()
            .map(|v| Selector::new(K8S_PSAT, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PsatError::AgentId {
                cluster: name.to_owned(),
                detail: e.to_string(),
            })?;

        let suffix: Vec<&str> = if self.use_pod_uid {
            vec!["pod", &pod_uid]
        } else {
            vec![&node_uid]
        };
        let segments: Vec<&str> = ["spire", "agent", K8S_PSAT, name]
            .into_iter()
            .chain(suffix)
            .collect();
        let agent_id = SpiffeId::from_segments(td, &segments).map_err(|e| PsatError::AgentId {
            cluster: name.to_owned(),
            detail: e.to_string(),
        })?;
        info!(
            agent_id = %agent_id,
            service_account = %qualified,
            pod = %pod_ref,
            node = %node_name,
            "k8s_psat token verified"
        );
        Ok(NodeAttestation {
            agent_id,
            selectors,
            can_reattest: true,
        })
    }

    /// The TokenReview of `token`, authenticated for one of the configured audiences.
    async fn review(&self, name: &str, token: String) -> Result<TokenReviewStatus, PsatError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token),
                audiences: (!self.audience.is_empty()).then(|| self.audience.clone()),
            },
            ..TokenReview::default()
        };
        let reviews: Api<TokenReview> = Api::all(self.client.clone());
        let reviewed = call(
            name,
            "TokenReview".to_owned(),
            reviews.create(&PostParams::default(), &review),
        )
        .await?;
        let status = reviewed.status.unwrap_or_default();
        let error = status.error.clone().filter(|e| !e.is_empty());
        if status.authenticated != Some(true) || error.is_some() {
            return Err(PsatError::NotAuthenticated {
                cluster: name.to_owned(),
                detail: error,
            });
        }
        // An API server that ignores audiences must not pass a token meant for another one.
        if !self.audience.is_empty() {
            let got = status.audiences.clone().unwrap_or_default();
            if !self.audience.iter().any(|a| got.contains(a)) {
                return Err(PsatError::Audience {
                    cluster: name.to_owned(),
                    wanted: self.audience.clone(),
                    got,
                });
            }
        }
        Ok(status)
    }
}

/// The prefix of a service account's username in a token review.
const SERVICE_ACCOUNT_USER_PREFIX: &str = "system:serviceaccount:";

/// `(namespace, name)` of exactly `system:serviceaccount:<namespace>:<name>`, both non-empty.
/// Any other user (a node, a human user, `a:b:<ns>:<sa>` that SPIRE's four-field split would
/// accept) is refused.
fn service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)?;
    let (ns, sa) = rest.split_once(':')?;
    (!ns.is_empty() && !sa.is_empty() && !sa.contains(':')).then_some((ns, sa))
}

/// The one value of `key` in the review's `extra`.
fn bound(
    extra: &BTreeMap<String, Vec<String>>,
    cluster: &str,
    key: &'static str,
    what: &'static str,
) -> Result<String, PsatError> {
    let problem = |problem: String| PsatError::BoundPod {
        cluster: cluster.to_owned(),
        key: what,
        problem,
    };
    match extra.get(key).map(Vec::as_slice) {
        None => Err(problem(format!("missing {what} ({key})"))),
        Some([one]) if !one.is_empty() => Ok(one.clone()),
        Some([_]) => Err(problem(format!("{what} is empty"))),
        Some(many) => Err(problem(format!(
            "expected 1 {what} but got: {}",
            many.len()
        ))),
    }
}

/// Runs one API request within [`API_TIMEOUT`].
async fn call<T>(
    cluster: &str,
    what: String,
    request: impl Future<Output = Result<T, kube::Error>>,
) -> Result<T, PsatError> {
    match tokio::time::timeout(API_TIMEOUT, request).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(source)) => Err(PsatError::Api {
            cluster: cluster.to_owned(),
            what,
            source,
        }),
        Err(_) => Err(PsatError::Timeout {
            cluster: cluster.to_owned(),
            what,
            seconds: API_TIMEOUT.as_secs(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_must_be_service_accounts() {
        assert_eq!(
            service_account("system:serviceaccount:spire:spire-agent"),
            Some(("spire", "spire-agent"))
        );
        assert_eq!(service_account("system:serviceaccount:spire:"), None);
        assert_eq!(service_account("system:serviceaccount::a"), None);
        assert_eq!(service_account("admin"), None);
        assert_eq!(service_account("system:serviceaccount:a:b:c"), None);
        // Only the service account form: not any four fields, not other user kinds.
        for other in [
            "system:node:spire:spire-agent",
            "a:b:spire:spire-agent",
            "system:serviceaccounts:spire:spire-agent",
            "System:serviceaccount:spire:spire-agent",
            ":serviceaccount:spire:spire-agent",
            "system:serviceaccount:spire",
            "system:serviceaccount:",
            "xsystem:serviceaccount:spire:spire-agent",
        ] {
            assert_eq!(service_account(other), None, "{other}");
        }
    }

    #[test]
    fn bound_pod_values() {
        let extra: BTreeMap<String, Vec<String>> = [
            (POD_NAME_KEY.to_owned(), vec!["agent-x".to_owned()]),
            (POD_UID_KEY.to_owned(), vec!["a".to_owned(), "b".to_owned()]),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            bound(&extra, "c1", POD_NAME_KEY, "pod name").ok(),
            Some("agent-x".to_owned())
        );
        assert_eq!(
            bound(&extra, "c1", POD_UID_KEY, "pod UID")
                .map_err(|e| e.to_string())
                .err(),
            Some(
                "failed to get pod UID from token review status for cluster \"c1\": expected 1 pod UID but got: 2"
                    .to_owned()
            )
        );
        assert!(bound(&BTreeMap::new(), "c1", POD_NAME_KEY, "pod name").is_err());
    }

    #[test]
    fn payload_is_spires_json_and_hides_the_token() {
        let data: PsatAttestationData =
            serde_json::from_str(r#"{"cluster":"c1","token":"secret"}"#).unwrap();
        assert_eq!(data.cluster, "c1");
        assert_eq!(data.token, "secret");
        assert!(!format!("{data:?}").contains("secret"));
    }
}
