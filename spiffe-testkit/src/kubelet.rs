//! A fake kubelet, for the k8s workload attestor's tests and benchmarks: `GET /pods` answered
//! with a `PodList` in the kubelet's own JSON (the list it is started with, or pods a test
//! adds), over HTTPS with a certificate from a CA made up with rcgen (or plain HTTP, like the
//! read-only port). It checks the bearer token as a kubelet with
//! `--authentication-token-webhook` does (401 without it), counts requests, and can be made
//! slow.
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

/// A fake kubelet on 127.0.0.1.
pub struct FakeKubelet {
    http: HttpServer,
    /// Holds `ca.pem` (the fake's CA), `other-ca.pem` (an unrelated CA) and `token`.
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
        Self::start(pods, Some(token)).await
    }

    /// Plain HTTP like the read-only port, serving `pods`: no authentication.
    pub async fn start_read_only(pods: &str) -> Result<Self, BoxError> {
        Self::start(pods, None).await
    }

    async fn start(pods: &str, token: Option<&str>) -> Result<Self, BoxError> {
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
        if let Some(token) = token {
            std::fs::write(dir.path().join("token"), format!("{token}\n"))?;
        }
        let behaviour = Arc::new(Behaviour {
            pods: Mutex::new(pods.to_owned()),
            expected: token.map(|t| format!("Bearer {t}")),
            ..Behaviour::default()
        });
        let tls = match token {
            Some(_) => Some(material.server_config()?),
            None => None,
        };
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
