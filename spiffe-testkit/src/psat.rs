//! A cluster for the `k8s_psat` node attestor's tests: the fake API server ([`FakeApiServer`])
//! over HTTPS (a CA made up with rcgen), a bearer token required of its client, holding an
//! agent's pod and node (`fixtures/psat`), and answering the three requests the attestor makes
//! in the API server's wire format:
//!
//! - `POST /apis/authentication.k8s.io/v1/tokenreviews` (201 with the review's `status`: the
//!   service account user, its groups, and the `extra` naming the pod the token is bound to;
//!   for a token it does not know, or for the wrong audience, `authenticated` left out and an
//!   `error` as kube-apiserver words it);
//! - `GET /api/v1/namespaces/{ns}/pods/{name}` and `GET /api/v1/nodes/{name}` (the objects,
//!   or a 404 `Status`), from the API server's REST surface.
//!
//! A real API server cannot run here (no container runtime, no etcd, no network): this fake is
//! what the attestor's real HTTP client (kube's) talks to.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::Method;
use serde_json::{Value, json};

use crate::apiserver::{ApiRequest, ApiResponse, FakeApiServer, ObjectStore, Options};
use crate::tls::TlsMaterial;
use crate::{BoxError, lock};

/// The agent's pod, as the API server returns it.
pub const AGENT_POD: &str = include_str!("../fixtures/psat/agent_pod.json");
/// Its node.
pub const NODE: &str = include_str!("../fixtures/psat/node.json");
/// The fixture pod's UID.
pub const AGENT_POD_UID: &str = "56857f33-36a9-11e9-860c-080027b25557";
/// The fixture node's UID.
pub const NODE_UID: &str = "5dbb7b21-65fe-11e9-b1b0-0800277ac80f";
/// The API server's own audience (a token review without audiences is checked against it).
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// The fixture pod's namespace and name.
const AGENT_POD_NS: &str = "spire";
const AGENT_POD_NAME: &str = "spire-agent-5d84p";

/// A projected token the fake has issued: what a review of it says.
#[derive(Debug, Clone)]
pub struct Issued {
    /// Its audiences.
    pub audiences: Vec<String>,
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
    /// The pod it is bound to.
    pub pod_name: String,
    /// That pod's UID.
    pub pod_uid: String,
    /// The pod's node.
    pub node_name: String,
}

impl Issued {
    /// A token of `spire:spire-agent` bound to the fixture pod, for `spire-server`.
    pub fn agent() -> Self {
        Issued {
            audiences: vec!["spire-server".into()],
            namespace: AGENT_POD_NS.into(),
            service_account: "spire-agent".into(),
            pod_name: AGENT_POD_NAME.into(),
            pod_uid: AGENT_POD_UID.into(),
            node_name: "kind-worker".into(),
        }
    }
}

#[derive(Default)]
struct Reviews {
    tokens: Mutex<HashMap<String, Issued>>,
    ignore_audiences: AtomicBool,
    /// The username reviews report instead of `system:serviceaccount:<ns>:<sa>`.
    username: Mutex<Option<String>>,
    next: AtomicU64,
}

/// A fake cluster's API server on 127.0.0.1.
pub struct FakeCluster {
    api: FakeApiServer,
    /// `ca.pem`, `token` (the attesting server's own credentials), `kubeconfig`.
    dir: tempfile::TempDir,
    reviews: Arc<Reviews>,
}

impl std::fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCluster")
            .field("url", &self.api.url())
            .finish_non_exhaustive()
    }
}

impl FakeCluster {
    /// A cluster holding the fixture pod and node. `name` tells its tokens apart from another
    /// cluster's.
    pub async fn start(name: &str) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let tls = TlsMaterial::new(
            "kubernetes",
            "kube-apiserver",
            &["127.0.0.1", "localhost", "kubernetes.default.svc"],
        )?;
        std::fs::write(dir.path().join("ca.pem"), &tls.ca_pem)?;
        let client_token = format!("spiffe-server-sa-token-{name}");
        std::fs::write(dir.path().join("token"), format!("{client_token}\n"))?;

        let api = FakeApiServer::start_with(Options {
            tls: Some(tls.server_config()?),
            bearer_token: Some(client_token.clone()),
            ..Options::default()
        })
        .await?;
        api.apply(serde_json::from_str(AGENT_POD)?)?;
        api.apply(serde_json::from_str(NODE)?)?;
        let reviews = Arc::new(Reviews::default());
        let r = Arc::clone(&reviews);
        api.route(move |req: &ApiRequest, _: &ObjectStore| token_review(&r, req));

        let url = api.url();
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\n\
             users:\n- name: spiffe-server\n  user:\n    token: {client_token}\n\
             contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: spiffe-server\ncurrent-context: {name}\n",
            ca = dir.path().join("ca.pem").display()
        );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig)?;
        Ok(FakeCluster { api, dir, reviews })
    }

    /// The API server's URL (`https://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        self.api.url()
    }

    /// The API server, to change its objects or add routes.
    pub fn api(&self) -> &FakeApiServer {
        &self.api
    }

    /// The directory of the cluster's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA file of the API server's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The token file of the attesting server's own service account.
    pub fn token_path(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    /// A kubeconfig file for the cluster (the CA and that token).
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Issues a projected token with these claims.
    pub fn issue(&self, claims: Issued) -> String {
        let n = self.reviews.next.fetch_add(1, Ordering::SeqCst);
        let token = format!(
            "eyJhbGciOiJSUzI1NiJ9.{}-{}-{n}.c2ln",
            claims.namespace, claims.service_account
        );
        lock(&self.reviews.tokens).insert(token.clone(), claims);
        token
    }

    /// Forgets a token (it expired).
    pub fn revoke(&self, token: &str) {
        lock(&self.reviews.tokens).remove(token);
    }

    /// Deletes the fixture pod and creates it again under its name with `uid`.
    pub fn recreate_agent_pod(&self, uid: &str) -> Result<(), BoxError> {
        let old = self.api.delete("v1", "Pod", AGENT_POD_NS, AGENT_POD_NAME)?;
        let mut pod = (*old).clone();
        if let Some(meta) = pod.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            meta.insert("uid".into(), json!(uid));
        }
        self.api.apply(pod)?;
        Ok(())
    }

    /// Answers token reviews as if audiences did not matter (an API server that is not
    /// audience aware).
    pub fn ignore_audiences(&self) {
        self.reviews.ignore_audiences.store(true, Ordering::SeqCst);
    }

    /// Answers token reviews of authenticated tokens with this username instead of the
    /// service account's `system:serviceaccount:<ns>:<sa>`.
    pub fn review_username(&self, username: &str) {
        *lock(&self.reviews.username) = Some(username.to_owned());
    }

    /// The requests answered so far.
    pub fn seen(&self) -> Vec<ApiRequest> {
        self.api.seen()
    }
}

/// The route of token reviews: the request's spec, and the status kube-apiserver would give.
fn token_review(r: &Reviews, req: &ApiRequest) -> Option<ApiResponse> {
    if req.method != Method::POST || req.path != "/apis/authentication.k8s.io/v1/tokenreviews" {
        return None;
    }
    let Some(review) = req.json() else {
        return Some(ApiResponse::error(
            400,
            "BadRequest",
            "the body is not JSON",
        ));
    };
    let token = review["spec"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let wanted: Vec<String> = review["spec"]["audiences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let issued = lock(&r.tokens).get(&token).cloned();
    let status = match issued {
        None => json!({
            "user": {},
            "error": "[invalid bearer token, square/go-jose: error in cryptographic primitive, token lookup failed]"
        }),
        Some(claims) => {
            let targets = if wanted.is_empty() {
                vec![API_AUDIENCE.to_owned()]
            } else {
                wanted.clone()
            };
            let matched: Vec<String> = claims
                .audiences
                .iter()
                .filter(|a| targets.contains(a))
                .cloned()
                .collect();
            if matched.is_empty() && !r.ignore_audiences.load(Ordering::SeqCst) {
                json!({
                    "user": {},
                    "error": format!(
                        "[invalid bearer token, token audiences {:?} is invalid for the target audiences {:?}, unknown]",
                        claims.audiences, targets
                    )
                })
            } else {
                let audiences = if matched.is_empty() {
                    claims.audiences.clone()
                } else {
                    matched
                };
                let username = lock(&r.username).clone().unwrap_or_else(|| {
                    format!(
                        "system:serviceaccount:{}:{}",
                        claims.namespace, claims.service_account
                    )
                });
                json!({
                    "authenticated": true,
                    "user": {
                        "username": username,
                        "uid": "ca29bd95-36a8-11e9-b8af-080027b25557",
                        "groups": [
                            "system:serviceaccounts",
                            format!("system:serviceaccounts:{}", claims.namespace),
                            "system:authenticated"
                        ],
                        "extra": {
                            "authentication.kubernetes.io/credential-id": ["JTI=4b0f3c8e-7c1f-4a8e-9a52-2d0c8e1f5b6a"],
                            "authentication.kubernetes.io/node-name": [claims.node_name],
                            "authentication.kubernetes.io/node-uid": [NODE_UID],
                            "authentication.kubernetes.io/pod-name": [claims.pod_name],
                            "authentication.kubernetes.io/pod-uid": [claims.pod_uid]
                        }
                    },
                    "audiences": audiences
                })
            }
        }
    };
    Some(ApiResponse::created(json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review["spec"].clone(),
        "status": status
    })))
}
