//! A fake kubelet for the k8s attestor's tests and bench: `GET /pods` answered with a PodList in
//! the kubelet's own JSON (`tests/fixtures/kubelet_pods.json`, or pods a test adds), over HTTPS
//! with a certificate from a CA made up with rcgen (or plain HTTP, like the read-only port).
//! It checks the bearer token as a kubelet with `--authentication-token-webhook` does (401
//! without it), counts requests, and can be made slow.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use spiffe_attest::k8s::{K8sConfig, Kubelet, KubeletAuth, KubeletVerification};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The fixture: three pods as a kind node's kubelet lists them.
pub const PODS_FIXTURE: &str = include_str!("../fixtures/kubelet_pods.json");

/// The payment-service pod of the fixture.
pub const PAYMENT_POD_UID: &str = "9a3c1f2e-5b7d-4e8a-b1c2-3d4e5f6a7b8c";
/// Its `payment` container.
pub const PAYMENT_CONTAINER: &str =
    "3333333333333333333333333333333333333333333333333333333333333333";
/// Its `envoy` container.
pub const ENVOY_CONTAINER: &str =
    "2222222222222222222222222222222222222222222222222222222222222222";
/// Its init container.
pub const INIT_CONTAINER: &str = "1111111111111111111111111111111111111111111111111111111111111111";
/// The static pod of the fixture (32-hex UID, the manifest's hash).
pub const STATIC_POD_UID: &str = "7c3b8a6d5e4f3a2b1c0d9e8f7a6b5c4d";
/// Its container.
pub const STATIC_CONTAINER: &str =
    "4444444444444444444444444444444444444444444444444444444444444444";
/// The pending user-service pod (its container has no ID yet).
pub const PENDING_POD_UID: &str = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";

/// The service account token the fake accepts.
pub const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.agent-sa-token.sig";

/// Every `k8s` selector of the payment container, as SPIRE forms them.
pub fn payment_selectors() -> Vec<String> {
    let mut v: Vec<String> = [
        "k8s:sa:payment-sa",
        "k8s:ns:prod",
        "k8s:node-name:kind-worker",
        "k8s:pod-uid:9a3c1f2e-5b7d-4e8a-b1c2-3d4e5f6a7b8c",
        "k8s:pod-name:payment-service-7d9f8b6c5d-x2x7q",
        "k8s:pod-image-count:2",
        "k8s:pod-init-image-count:1",
        "k8s:pod-image:docker.io/envoyproxy/envoy:v1.30.1",
        "k8s:pod-image:docker.io/envoyproxy/envoy@sha256:bf862e5f5eca0a73e7e538224578c5cf867ce2be91b5eaed22afc153c00363eb",
        "k8s:pod-image:registry.example.com/payment-service:1.4.2",
        "k8s:pod-image:registry.example.com/payment-service@sha256:4b1d7c3e9f0a2b5c8d6e1f3a7b9c0d2e4f6a8b1c3d5e7f9a0b2c4d6e8f1a3b5c",
        "k8s:pod-init-image:docker.io/library/busybox:1.36",
        "k8s:pod-init-image:docker.io/library/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
        "k8s:pod-label:app:payment-service",
        "k8s:pod-label:pod-template-hash:7d9f8b6c5d",
        "k8s:pod-owner:ReplicaSet:payment-service-7d9f8b6c5d",
        "k8s:pod-owner-uid:ReplicaSet:c4d5e6f7-0a1b-4c2d-8e3f-405162738495",
        "k8s:container-name:payment",
        "k8s:container-image:registry.example.com/payment-service:1.4.2",
        "k8s:container-image:registry.example.com/payment-service@sha256:4b1d7c3e9f0a2b5c8d6e1f3a7b9c0d2e4f6a8b1c3d5e7f9a0b2c4d6e8f1a3b5c",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.sort();
    v
}

/// A CA and a serving certificate it signed.
pub struct TlsMaterial {
    pub ca_pem: String,
    pub cert: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TlsMaterial {
    /// A CA, and a kubelet serving certificate for `names` (DNS names or IP addresses).
    pub fn new(names: &[&str]) -> Self {
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kind-worker-ca@1715500000");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "kind-worker@1715500000");
        let cert = params.signed_by(&key, &issuer).unwrap();
        TlsMaterial {
            ca_pem: ca_cert.pem(),
            cert: vec![cert.der().clone()],
            key: PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).unwrap(),
        }
    }
}

/// What the fake does.
#[derive(Default)]
struct Behaviour {
    pods: Mutex<String>,
    delay: Mutex<Duration>,
    requests: AtomicUsize,
    authorizations: Mutex<Vec<Option<String>>>,
    expected_token: Option<String>,
}

/// A fake kubelet on 127.0.0.1.
pub struct FakeKubelet {
    pub addr: SocketAddr,
    /// Holds `ca.pem` (the fake's CA), `other-ca.pem` (an unrelated CA) and `token`.
    pub dir: tempfile::TempDir,
    tls: bool,
    behaviour: Arc<Behaviour>,
    task: JoinHandle<()>,
}

impl Drop for FakeKubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeKubelet {
    /// HTTPS like the secure port: a certificate for `localhost` and the node name
    /// `kind-worker` (not for 127.0.0.1), the bearer token [`TOKEN`] required.
    pub async fn secure() -> Self {
        Self::start(true, Some(TOKEN.to_owned())).await
    }

    /// Plain HTTP like the read-only port: no authentication.
    pub async fn read_only() -> Self {
        Self::start(false, None).await
    }

    async fn start(tls: bool, expected_token: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let material = TlsMaterial::new(&["localhost", "kind-worker"]);
        std::fs::write(dir.path().join("ca.pem"), &material.ca_pem).unwrap();
        std::fs::write(
            dir.path().join("other-ca.pem"),
            TlsMaterial::new(&["localhost"]).ca_pem,
        )
        .unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let behaviour = Arc::new(Behaviour {
            pods: Mutex::new(PODS_FIXTURE.to_owned()),
            expected_token,
            ..Behaviour::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tls.then(|| {
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(material.cert.clone(), material.key.clone_key())
            .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let b = Arc::clone(&behaviour);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let b = Arc::clone(&b);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(Arc::clone(&b), req));
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        Some(acceptor) => {
                            // A client that refuses the certificate ends the handshake.
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                let _ = http.serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        FakeKubelet {
            addr,
            dir,
            tls,
            behaviour,
            task,
        }
    }

    /// The fake's CA file.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA file the fake's certificate does not chain to.
    pub fn other_ca_path(&self) -> PathBuf {
        self.dir.path().join("other-ca.pem")
    }

    /// The token file.
    pub fn token_path(&self) -> PathBuf {
        self.dir.path().join("token")
    }

    /// An attestor configuration for this fake: CA-checked with the token on HTTPS (the node
    /// name is the host), or the read-only port; short retries.
    pub fn config(&self, node_name: Option<&str>) -> K8sConfig {
        let kubelet = if self.tls {
            Kubelet::Secure {
                port: self.addr.port(),
                verification: KubeletVerification::CaFile(self.ca_path()),
                auth: KubeletAuth::Token(self.token_path()),
            }
        } else {
            Kubelet::ReadOnly {
                port: self.addr.port(),
            }
        };
        K8sConfig {
            kubelet,
            node_name: node_name.map(str::to_owned),
            max_poll_attempts: 5,
            poll_retry_interval: Duration::from_millis(50),
            disable_container_selectors: false,
        }
    }

    /// How many `GET /pods` were answered.
    pub fn requests(&self) -> usize {
        self.behaviour.requests.load(Ordering::SeqCst)
    }

    /// The `Authorization` headers seen, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.behaviour.authorizations.lock().unwrap().clone()
    }

    /// Answers slowly from now on.
    pub fn set_delay(&self, delay: Duration) {
        *self.behaviour.delay.lock().unwrap() = delay;
    }

    /// Replaces the pod list.
    pub fn set_pods(&self, list: &Value) {
        *self.behaviour.pods.lock().unwrap() = list.to_string();
    }

    /// The pod list served now.
    pub fn pods(&self) -> Value {
        serde_json::from_str(&self.behaviour.pods.lock().unwrap()).unwrap()
    }

    /// Adds a running pod with one container (`containerd://<container_id>`).
    pub fn add_pod(&self, namespace: &str, name: &str, uid: &str, container_id: &str) {
        let mut list = self.pods();
        let items = list["items"].as_array_mut().unwrap();
        items.push(running_pod(namespace, name, uid, container_id));
        self.set_pods(&list);
    }
}

/// A running pod as the kubelet lists it, with one container `app`.
pub fn running_pod(namespace: &str, name: &str, uid: &str, container_id: &str) -> Value {
    json!({
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": "1",
            "creationTimestamp": "2025-05-12T10:00:00Z",
            "labels": {"app": name},
            "annotations": {"kubernetes.io/config.source": "api"}
        },
        "spec": {
            "containers": [{"name": "app", "image": "docker.io/library/app:1"}],
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "nodeName": "kind-worker"
        },
        "status": {
            "phase": "Running",
            "hostIP": "172.18.0.3",
            "podIP": "10.244.1.99",
            "containerStatuses": [{
                "name": "app",
                "state": {"running": {"startedAt": "2025-05-12T10:00:01Z"}},
                "lastState": {},
                "ready": true,
                "restartCount": 0,
                "image": "docker.io/library/app:1",
                "imageID": "docker.io/library/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "containerID": format!("containerd://{container_id}"),
                "started": true
            }],
            "qosClass": "BestEffort"
        }
    })
}

async fn handle(
    b: Arc<Behaviour>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    b.authorizations.lock().unwrap().push(auth.clone());
    let reply = |status: StatusCode, body: String| {
        Ok(Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap())
    };
    if let Some(expected) = &b.expected_token
        && auth.as_deref() != Some(&format!("Bearer {expected}"))
    {
        return reply(StatusCode::UNAUTHORIZED, "Unauthorized".into());
    }
    if req.uri().path() != "/pods" {
        return reply(StatusCode::NOT_FOUND, "404 page not found".into());
    }
    let delay = *b.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    b.requests.fetch_add(1, Ordering::SeqCst);
    let body = b.pods.lock().unwrap().clone();
    reply(StatusCode::OK, body)
}
