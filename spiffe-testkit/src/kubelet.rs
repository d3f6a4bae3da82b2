//! A fake kubelet, for the k8s workload attestor's tests and benchmarks: `GET /pods` answered
//! with a `PodList` in the kubelet's own JSON (the list it is started with, or pods a test
//! adds), over HTTPS with a certificate from a CA made up with rcgen (or plain HTTP, like the
//! read-only port). It checks the bearer token as a kubelet with
//! `--authentication-token-webhook` does (401 without it), or requires a client certificate
//! from its client CA as one with `--client-ca-file` authenticates it, counts requests, and can
//! be made slow.
//!
//! A real kubelet cannot run here (no container runtime, no node): this fake is what the
//! attestor's real HTTPS client talks to.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use crate::http::{Body, HttpServer, Request, authorization, text};
use crate::tls::TlsMaterial;
use crate::{BoxError, lock};

/// What the fake does.
#[derive(Default)]
struct Behaviour {
    /// The `PodList`, as served.
    pods: Mutex<String>,
    delay: Mutex<Duration>,
    requests: AtomicUsize,
    authorizations: Mutex<Vec<Option<String>>>,
    expected: Option<String>,
}

/// How the fake authenticates its clients.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// This bearer token (HTTPS).
    Token(&'a str),
    /// A certificate from its client CA (HTTPS).
    ClientCert,
    /// Nobody (plain HTTP).
    None,
}

/// A fake kubelet on 127.0.0.1.
pub struct FakeKubelet {
    http: HttpServer,
    /// Holds `ca.pem` (the fake's CA), `other-ca.pem` (an unrelated CA) and `token`; in
    /// client-certificate mode also `client.pem`/`client-key.pem` (a client certificate the fake
    /// accepts) and `other-client.pem`/`other-client-key.pem` (one from an unrelated CA).
    dir: tempfile::TempDir,
    behaviour: Arc<Behaviour>,
}

impl std::fmt::Debug for FakeKubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeKubelet")
            .field("addr", &self.http.addr())
            .finish_non_exhaustive()
    }
}

impl FakeKubelet {
    /// HTTPS like the secure port, serving `pods` (a `PodList` in JSON): a certificate for
    /// `localhost` and the node name `kind-worker` (not for 127.0.0.1), the bearer `token`
    /// required.
    pub async fn start_secure(pods: &str, token: &str) -> Result<Self, BoxError> {
        Self::start(pods, Auth::Token(token)).await
    }

    /// HTTPS like the secure port, serving `pods`, authenticating clients by certificate: the
    /// handshake fails without a certificate from the fake's client CA ([`Self::client_cert_path`]
    /// and [`Self::client_key_path`] hold one that passes). No token is asked for.
    pub async fn start_secure_client_cert(pods: &str) -> Result<Self, BoxError> {
        Self::start(pods, Auth::ClientCert).await
    }

    /// Plain HTTP like the read-only port, serving `pods`: no authentication.
    pub async fn start_read_only(pods: &str) -> Result<Self, BoxError> {
        Self::start(pods, Auth::None).await
    }

    async fn start(pods: &str, auth: Auth<'_>) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let material = TlsMaterial::new(
            "kind-worker-ca@1715500000",
            "kind-worker@1715500000",
            &["localhost", "kind-worker"],
        )?;
        std::fs::write(dir.path().join("ca.pem"), &material.ca_pem)?;
        let other = TlsMaterial::new(
            "kind-worker-ca@1715500000",
            "kind-worker@1715500000",
            &["localhost"],
        )?;
        std::fs::write(dir.path().join("other-ca.pem"), other.ca_pem)?;
        let mut expected = None;
        let tls = match auth {
            Auth::Token(token) => {
                std::fs::write(dir.path().join("token"), format!("{token}\n"))?;
                expected = Some(format!("Bearer {token}"));
                Some(material.server_config()?)
            }
            Auth::ClientCert => {
                let client = TlsMaterial::new(
                    "kubelet-client-ca",
                    "system:node:kind-worker",
                    &["kind-worker"],
                )?;
                std::fs::write(dir.path().join("client.pem"), &client.cert_pem)?;
                std::fs::write(dir.path().join("client-key.pem"), &client.key_pem)?;
                let stranger =
                    TlsMaterial::new("kubelet-client-ca", "system:node:kind-worker", &[])?;
                std::fs::write(dir.path().join("other-client.pem"), &stranger.cert_pem)?;
                std::fs::write(dir.path().join("other-client-key.pem"), &stranger.key_pem)?;
                Some(material.server_config_requiring_client_cert(&client.ca_pem)?)
            }
            Auth::None => None,
        };
        let behaviour = Arc::new(Behaviour {
            pods: Mutex::new(pods.to_owned()),
            expected,
            ..Behaviour::default()
        });
        let b = Arc::clone(&behaviour);
        let http = HttpServer::start(tls, move |req| handle(Arc::clone(&b), req)).await?;
        Ok(FakeKubelet {
            http,
            dir,
            behaviour,
        })
    }

    /// The fake's address.
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Whether it serves HTTPS (the secure port).
    pub fn is_tls(&self) -> bool {
        self.http.is_tls()
    }

    /// The directory of its files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
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

    /// A client certificate the fake accepts (client-certificate mode).
    pub fn client_cert_path(&self) -> PathBuf {
        self.dir.path().join("client.pem")
    }

    /// The key of [`Self::client_cert_path`].
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client-key.pem")
    }

    /// A client certificate from an unrelated CA, which the fake refuses.
    pub fn other_client_cert_path(&self) -> PathBuf {
        self.dir.path().join("other-client.pem")
    }

    /// The key of [`Self::other_client_cert_path`].
    pub fn other_client_key_path(&self) -> PathBuf {
        self.dir.path().join("other-client-key.pem")
    }

    /// How many `GET /pods` were answered.
    pub fn requests(&self) -> usize {
        self.behaviour.requests.load(Ordering::SeqCst)
    }

    /// The `Authorization` headers seen, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        lock(&self.behaviour.authorizations).clone()
    }

    /// Answers slowly from now on.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.behaviour.delay) = delay;
    }

    /// Replaces the pod list.
    pub fn set_pods(&self, list: &Value) {
        *lock(&self.behaviour.pods) = list.to_string();
    }

    /// The pod list served now.
    pub fn pods(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&lock(&self.behaviour.pods))
    }

    /// Adds a running pod with one container (`containerd://<container_id>`).
    pub fn add_pod(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        container_id: &str,
    ) -> Result<(), BoxError> {
        let mut list = self.pods()?;
        let items = list
            .get_mut("items")
            .and_then(Value::as_array_mut)
            .ok_or("the pod list has no items")?;
        items.push(running_pod(namespace, name, uid, container_id));
        self.set_pods(&list);
        Ok(())
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

async fn handle(b: Arc<Behaviour>, req: Request) -> http::Response<Body> {
    let auth = authorization(req.headers());
    lock(&b.authorizations).push(auth.clone());
    let reply = |status: StatusCode, body: String| text(status, "application/json", body);
    if let Some(expected) = &b.expected
        && auth.as_ref() != Some(expected)
    {
        return reply(StatusCode::UNAUTHORIZED, "Unauthorized".into());
    }
    if req.uri().path() != "/pods" {
        return reply(StatusCode::NOT_FOUND, "404 page not found".into());
    }
    let delay = *lock(&b.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    b.requests.fetch_add(1, Ordering::SeqCst);
    let body = lock(&b.pods).clone();
    reply(StatusCode::OK, body)
}
