//! A test Kubernetes API server, for tests and benchmarks of code that talks to Kubernetes
//! through kube's real HTTP client.
//!
//! A real API server (with etcd) cannot run on the machines this project builds and tests on,
//! so this is the next best thing: an HTTP/1.1 server on `127.0.0.1` that speaks the real wire
//! format, reached by a [`kube::Client`] built from a [`kube::Config`] pointing at it, with no
//! mocked client trait in between.
//!
//! - Objects are JSON, as the API server stores them, each with `apiVersion`, `kind`,
//!   `metadata.uid`, `creationTimestamp`, `generation` and a `resourceVersion` from one counter.
//! - `GET` lists (`{kind}List` with `metadata.resourceVersion`, `limit`/`continue` paging,
//!   `labelSelector`, `fieldSelector`) and objects; `POST`, `PUT`, `PATCH` (merge, strategic and
//!   apply patches are applied as merge patches; the `status` subresource only changes
//!   `status`), `DELETE`; errors are `Status` objects with the real reasons and codes.
//! - `?watch=1` (or `watch=true`) streams `ADDED`/`MODIFIED`/`DELETED` events from a
//!   `resourceVersion` (replayed from history, `410 Expired` when too old) or from now (the
//!   current objects first); `BOOKMARK`s when `allowWatchBookmarks` is set; `sendInitialEvents`
//!   (streaming lists) with the `k8s.io/initial-events-end` bookmark; `timeoutSeconds`.
//! - Seeded from fixtures in the real format ([`FakeApiServer::load_dir`], YAML or JSON,
//!   multi-document or `kind: List`), and changed from the test through [`ObjectStore`], so
//!   watchers see the change as events.
//!
//! More resource types: [`FakeApiServer::register`] (any group/version/plural/kind, namespaced
//! or not, then all verbs work). Other verbs or endpoints (TokenReview, SubjectAccessReview,
//! an endpoint that fails): [`FakeApiServer::route`] with a closure that answers the requests it
//! recognizes. For example, a TokenReview that accepts one token:
//!
//! ```ignore
//! server.route(|req: &ApiRequest, _: &ObjectStore| {
//!     (req.method == http::Method::POST
//!         && req.path == "/apis/authentication.k8s.io/v1/tokenreviews")
//!         .then(|| {
//!             let token = req.json()?.pointer("/spec/token")?.as_str()?.to_owned();
//!             Some(ApiResponse::created(serde_json::json!({
//!                 "apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
//!                 "status": { "authenticated": token == "good" }
//!             })))
//!         })
//!         .flatten()
//! });
//! ```

mod fixtures;
mod patch;
mod query;
mod resources;
mod routes;
mod store;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use fixtures::FixtureError;
pub use patch::merge as merge_patch;
pub use query::Query;
pub use resources::ResourceType;
pub use routes::{ApiRequest, ApiResponse, Route};
pub use store::{Change, ChangeKind, ObjectStore, StoreError};

type Body = BoxBody<Bytes, Infallible>;

/// The running server. Dropping it stops it (and ends open watches).
pub struct FakeApiServer {
    addr: SocketAddr,
    store: Arc<ObjectStore>,
    routes: Arc<RwLock<Vec<Arc<dyn Route>>>>,
    requests: Arc<Mutex<Vec<String>>>,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Settings of the server.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

impl FakeApiServer {
    /// Starts a server on an ephemeral port of `127.0.0.1`.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts a server with `options`.
    pub async fn start_with(options: Options) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(ObjectStore::default());
        let routes: Arc<RwLock<Vec<Arc<dyn Route>>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&store),
            Arc::clone(&routes),
            Arc::clone(&requests),
            shutdown_rx,
            options,
        ));
        Ok(FakeApiServer {
            addr,
            store,
            routes,
            requests,
            shutdown,
            accept,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kube configuration pointing at the server (no credentials, default namespace
    /// `default`).
    pub fn config(&self) -> kube::Config {
        let uri = http::Uri::try_from(self.url()).unwrap_or_default();
        let mut c = kube::Config::new(uri);
        c.default_namespace = "default".into();
        c
    }

    /// A kube client for the server.
    pub fn client(&self) -> Result<kube::Client, kube::Error> {
        kube::Client::try_from(self.config())
    }

    /// The objects (to change them from the test; watchers see the changes).
    pub fn store(&self) -> &Arc<ObjectStore> {
        &self.store
    }

    /// Serves another resource type.
    pub fn register(&self, t: ResourceType) {
        self.store.register(t);
    }

    /// Adds a route, tried before the REST surface (in the order added).
    pub fn route(&self, r: impl Route) {
        if let Ok(mut routes) = self.routes.write() {
            routes.push(Arc::new(r));
        }
    }

    /// The requests served so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Adds the objects of a YAML or JSON text.
    pub fn load_text(&self, origin: &str, text: &str) -> Result<usize, FixtureError> {
        fixtures::load_text(&self.store, origin, text)
    }

    /// Adds the objects of a file.
    pub fn load_file(&self, path: &Path) -> Result<usize, FixtureError> {
        fixtures::load_file(&self.store, path)
    }

    /// Adds the objects of every YAML and JSON file in a directory.
    pub fn load_dir(&self, dir: &Path) -> Result<usize, FixtureError> {
        fixtures::load_dir(&self.store, dir)
    }

    /// Creates or replaces an object (its `apiVersion` and `kind` pick the type).
    pub fn apply(&self, obj: Value) -> Result<Arc<Value>, FixtureError> {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let t = self.store.resource_for(api_version, kind).ok_or_else(|| {
            FixtureError::UnknownKind {
                path: "apply".into(),
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            }
        })?;
        self.store
            .upsert(&t, obj)
            .map_err(|source| FixtureError::Store {
                path: "apply".into(),
                source,
            })
    }

    /// Deletes an object by `apiVersion`, `kind`, namespace (`""` for cluster-scoped) and name.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, FixtureError> {
        let t = self.store.resource_for(api_version, kind).ok_or_else(|| {
            FixtureError::UnknownKind {
                path: "delete".into(),
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
            }
        })?;
        self.store
            .delete(&t, namespace, name)
            .map_err(|source| FixtureError::Store {
                path: "delete".into(),
                source,
            })
    }

    /// The object, if any.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        let t = self.store.resource_for(api_version, kind)?;
        self.store.get(&t, namespace, name)
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.accept.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    store: Arc<ObjectStore>,
    routes: Arc<RwLock<Vec<Arc<dyn Route>>>>,
    requests: Arc<Mutex<Vec<String>>>,
    shutdown: watch::Receiver<bool>,
    options: Options,
) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let store = Arc::clone(&store);
        let routes = Arc::clone(&routes);
        let requests = Arc::clone(&requests);
        let mut shutdown = shutdown.clone();
        let bookmark_every = options.bookmark_interval;
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<Incoming>| {
                let store = Arc::clone(&store);
                let routes = Arc::clone(&routes);
                let requests = Arc::clone(&requests);
                async move {
                    Ok::<_, Infallible>(
                        serve(req, &store, &routes, &requests, bookmark_every).await,
                    )
                }
            });
            let conn =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc);
            futures::pin_mut!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
        });
    }
}

fn full(status: http::StatusCode, body: &Value) -> http::Response<Body> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = http::Response::new(Full::new(Bytes::from(bytes)).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn serve(
    req: http::Request<Incoming>,
    store: &Arc<ObjectStore>,
    routes: &RwLock<Vec<Arc<dyn Route>>>,
    requests: &Mutex<Vec<String>>,
    bookmark_every: Duration,
) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return full(
                http::StatusCode::BAD_REQUEST,
                &routes::ApiResponse::error(400, "BadRequest", e.to_string()).body,
            );
        }
    };
    let query: BTreeMap<String, String> = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    Some((percent_decode(k)?, percent_decode(v)?))
                })
                .collect()
        })
        .unwrap_or_default();
    if let Ok(mut r) = requests.lock() {
        r.push(format!(
            "{} {}{}",
            parts.method,
            parts.uri.path(),
            parts
                .uri
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default()
        ));
    }
    let api_req = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query,
        content_type: parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
        body,
    };
    let routes: Vec<Arc<dyn Route>> = routes.read().map(|r| r.clone()).unwrap_or_default();
    match routes::handle(store, &routes, &api_req, bookmark_every) {
        routes::Reply::Plain(r) => full(r.status, &r.body),
        routes::Reply::Stream(rx) => {
            let stream = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
            });
            let mut resp = http::Response::new(StreamBody::new(stream).boxed());
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            resp
        }
    }
}

/// `%XX` and `+` decoding of a query component.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
