//! A fake Kubernetes API server for the `k8s_psat` attestor's tests: HTTPS (a CA made up with
//! rcgen), a bearer token required of its client, and the three requests the attestor makes,
//! answered in the API server's wire format:
//!
//! - `POST /apis/authentication.k8s.io/v1/tokenreviews` (201 with the review's `status`: the
//!   service account user, its groups, and the `extra` naming the pod the token is bound to;
//!   for a token it does not know, or for the wrong audience, `authenticated` left out and an
//!   `error` as kube-apiserver words it);
//! - `GET /api/v1/namespaces/{ns}/pods/{name}` and `GET /api/v1/nodes/{name}` (the objects
//!   from `tests/fixtures/k8s`, or a 404 `Status`).
//!
//! A real API server cannot run here (no container runtime, no etcd, no network): this fake is
//! what the attestor's real HTTP client (kube's) talks to.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The agent's pod, as the API server returns it.
pub const AGENT_POD: &str = include_str!("../fixtures/k8s/agent_pod.json");
/// Its node.
pub const NODE: &str = include_str!("../fixtures/k8s/node.json");
/// The fixture pod's UID.
pub const AGENT_POD_UID: &str = "56857f33-36a9-11e9-860c-080027b25557";
/// The fixture node's UID.
pub const NODE_UID: &str = "5dbb7b21-65fe-11e9-b1b0-0800277ac80f";
/// The API server's own audience (a token review without audiences is checked against it).
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

/// A projected token the fake has issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub audiences: Vec<String>,
    pub namespace: String,
    pub service_account: String,
    pub pod_name: String,
    pub pod_uid: String,
    pub node_name: String,
}

impl Issued {
    /// A token of `spire:spire-agent` bound to the fixture pod, for `spire-server`.
    pub fn agent() -> Self {
        Issued {
            audiences: vec!["spire-server".into()],
            namespace: "spire".into(),
            service_account: "spire-agent".into(),
            pod_name: "spire-agent-5d84p".into(),
            pod_uid: AGENT_POD_UID.into(),
            node_name: "kind-worker".into(),
        }
    }
}

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Option<Value>,
}

#[derive(Default)]
struct State {
    client_token: String,
    tokens: Mutex<HashMap<String, Issued>>,
    pods: Mutex<HashMap<(String, String), Value>>,
    nodes: Mutex<HashMap<String, Value>>,
    seen: Mutex<Vec<Seen>>,
    ignore_audiences: AtomicBool,
    /// The username reviews report instead of `system:serviceaccount:<ns>:<sa>`.
    username: Mutex<Option<String>>,
    next: AtomicU64,
}

/// A fake API server on 127.0.0.1.
pub struct FakeApiServer {
    pub url: String,
    /// `ca.pem`, `token` (the spiffe-server's own credentials), `kubeconfig`.
    pub dir: tempfile::TempDir,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeApiServer {
    /// A fake holding the fixture pod and node. `name` tells its tokens apart from another
    /// fake's (another cluster).
    pub async fn start(name: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kubernetes");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
            "kubernetes.default.svc".to_owned(),
        ])
        .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        let cert = params.signed_by(&key, &issuer).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        let client_token = format!("spiffe-server-sa-token-{name}");
        std::fs::write(dir.path().join("token"), format!("{client_token}\n")).unwrap();

        let state = Arc::new(State {
            client_token: client_token.clone(),
            ..State::default()
        });
        let pod: Value = serde_json::from_str(AGENT_POD).unwrap();
        state
            .pods
            .lock()
            .unwrap()
            .insert(("spire".into(), "spire-agent-5d84p".into()), pod);
        let node: Value = serde_json::from_str(NODE).unwrap();
        state
            .nodes
            .lock()
            .unwrap()
            .insert("kind-worker".into(), node);

        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (s, acceptor) = (Arc::clone(&s), acceptor.clone());
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        let service = service_fn(move |req| handle(Arc::clone(&s), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                });
            }
        });
        let url = format!("https://127.0.0.1:{}", addr.port());
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {name}\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\n\
             users:\n- name: spiffe-server\n  user:\n    token: {client_token}\n\
             contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: spiffe-server\ncurrent-context: {name}\n",
            ca = dir.path().join("ca.pem").display()
        );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).unwrap();
        FakeApiServer {
            url,
            dir,
            state,
            task,
        }
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn token_path(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    pub fn kubeconfig_path(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// Issues a projected token with these claims.
    pub fn issue(&self, claims: Issued) -> String {
        let n = self.state.next.fetch_add(1, Ordering::SeqCst);
        let token = format!(
            "eyJhbGciOiJSUzI1NiJ9.{}-{}-{n}.c2ln",
            claims.namespace, claims.service_account
        );
        self.state
            .tokens
            .lock()
            .unwrap()
            .insert(token.clone(), claims);
        token
    }

    /// Forgets a token (it expired).
    pub fn revoke(&self, token: &str) {
        self.state.tokens.lock().unwrap().remove(token);
    }

    /// Replaces the fixture pod's UID (the pod was deleted and recreated under its name).
    pub fn recreate_agent_pod(&self, uid: &str) {
        let mut pods = self.state.pods.lock().unwrap();
        let pod = pods
            .get_mut(&("spire".to_owned(), "spire-agent-5d84p".to_owned()))
            .unwrap();
        pod["metadata"]["uid"] = json!(uid);
    }

    /// Answers token reviews as if audiences did not matter (an API server that is not audience
    /// aware).
    pub fn ignore_audiences(&self) {
        self.state.ignore_audiences.store(true, Ordering::SeqCst);
    }

    /// Answers token reviews of authenticated tokens with this username instead of the
    /// service account's `system:serviceaccount:<ns>:<sa>`.
    pub fn review_username(&self, username: &str) {
        *self.state.username.lock().unwrap() = Some(username.to_owned());
    }

    /// The requests answered so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }
}

fn reply(status: StatusCode, body: &Value) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("audit-id", "6a6f3d2c-0b0e-4b8a-9d55-1f1c0c2b7e11")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap())
}

/// A `metav1.Status` failure, as the API server sends it.
fn failure(code: u16, reason: &str, message: String, details: Option<Value>) -> Value {
    let mut v = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

async fn handle(
    s: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let authorization = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = req.into_body().collect().await.unwrap().to_bytes();
    let body: Option<Value> = serde_json::from_slice(&bytes).ok();
    s.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
    });
    if authorization.as_deref() != Some(&format!("Bearer {}", s.client_token)) {
        return reply(
            StatusCode::UNAUTHORIZED,
            &failure(401, "Unauthorized", "Unauthorized".into(), None),
        );
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::POST, ["apis", "authentication.k8s.io", "v1", "tokenreviews"]) => {
            let Some(review) = body else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    &failure(400, "BadRequest", "the body is not JSON".into(), None),
                );
            };
            reply(StatusCode::CREATED, &token_review(&s, review))
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods", name]) => {
            let pod = s
                .pods
                .lock()
                .unwrap()
                .get(&((*ns).to_owned(), (*name).to_owned()))
                .cloned();
            match pod {
                Some(pod) => reply(StatusCode::OK, &pod),
                None => reply(
                    StatusCode::NOT_FOUND,
                    &failure(
                        404,
                        "NotFound",
                        format!("pods \"{name}\" not found"),
                        Some(json!({"name": name, "kind": "pods"})),
                    ),
                ),
            }
        }
        (&Method::GET, ["api", "v1", "nodes", name]) => {
            let node = s.nodes.lock().unwrap().get(*name).cloned();
            match node {
                Some(node) => reply(StatusCode::OK, &node),
                None => reply(
                    StatusCode::NOT_FOUND,
                    &failure(
                        404,
                        "NotFound",
                        format!("nodes \"{name}\" not found"),
                        Some(json!({"name": name, "kind": "nodes"})),
                    ),
                ),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            &failure(
                404,
                "NotFound",
                "the server could not find the requested resource".into(),
                None,
            ),
        ),
    }
}

/// The reviewed TokenReview: the request's spec, and the status kube-apiserver would give.
fn token_review(s: &State, review: Value) -> Value {
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
    let issued = s.tokens.lock().unwrap().get(&token).cloned();
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
            if matched.is_empty() && !s.ignore_audiences.load(Ordering::SeqCst) {
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
                json!({
                    "authenticated": true,
                    "user": {
                        "username": s.username.lock().unwrap().clone().unwrap_or_else(|| {
                            format!("system:serviceaccount:{}:{}", claims.namespace, claims.service_account)
                        }),
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
    json!({
        "kind": "TokenReview",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"creationTimestamp": null},
        "spec": review["spec"].clone(),
        "status": status
    })
}
