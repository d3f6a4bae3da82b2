//! A fake Kubernetes API server, for tests and benchmarks of code that talks to Kubernetes
//! through kube's real HTTP client.
//!
//! A real API server (with etcd) cannot run on the machines this project builds and tests on,
//! so this is the next best thing: an HTTP/1.1 server on `127.0.0.1` (plain, or HTTPS with a
//! bearer token required, [`Options`]) that speaks the real wire format, reached by a
//! [`kube::Client`] built from a [`kube::Config`] pointing at it, with no mocked client trait
//! in between.
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
//! ```
//! # use spiffe_testkit::apiserver::{ApiRequest, ApiResponse, FakeApiServer, ObjectStore};
//! # fn add(server: &FakeApiServer) {
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
//! # }
//! ```
//!
//! [`crate::psat`] is such a cluster, for the `k8s_psat` node attestor.

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

use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::Value;

pub use fixtures::FixtureError;
pub use patch::merge as merge_patch;
pub use query::Query;
pub use resources::ResourceType;
pub use routes::{ApiRequest, ApiResponse, Route};
pub use store::{Change, ChangeKind, ObjectStore, StoreError};

use crate::http::{Body, HttpServer, Request, json};
use crate::lock;

/// The running server. Dropping it stops it (and ends open watches).
pub struct FakeApiServer {
    http: HttpServer,
    store: Arc<ObjectStore>,
    routes: Arc<RwLock<Vec<Arc<dyn Route>>>>,
    log: Arc<Log>,
}

impl std::fmt::Debug for FakeApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeApiServer")
            .field("addr", &self.http.addr())
            .finish_non_exhaustive()
    }
}

/// Settings of the server.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often watches that allow bookmarks get one.
    pub bookmark_interval: Duration,
    /// Serve HTTPS with this configuration (plain HTTP when `None`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Require `Authorization: Bearer <token>` of every request (a `401 Unauthorized` `Status`
    /// otherwise), as an API server does of a client with a service account token.
    pub bearer_token: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bookmark_interval: Duration::from_secs(1),
            tls: None,
            bearer_token: None,
        }
    }
}

/// The requests served so far.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    requests: Mutex<Vec<ApiRequest>>,
}

/// What every connection shares.
struct Shared {
    store: Arc<ObjectStore>,
    routes: Arc<RwLock<Vec<Arc<dyn Route>>>>,
    log: Arc<Log>,
    bookmark_every: Duration,
    bearer: Option<String>,
}

impl FakeApiServer {
    /// Starts a server on an ephemeral port of `127.0.0.1`.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(Options::default()).await
    }

    /// Starts a server with `options`.
    pub async fn start_with(options: Options) -> std::io::Result<Self> {
        let store = Arc::new(ObjectStore::default());
        let routes: Arc<RwLock<Vec<Arc<dyn Route>>>> = Arc::default();
        let log: Arc<Log> = Arc::default();
        let shared = Arc::new(Shared {
            store: Arc::clone(&store),
            routes: Arc::clone(&routes),
            log: Arc::clone(&log),
            bookmark_every: options.bookmark_interval,
            bearer: options.bearer_token.map(|t| format!("Bearer {t}")),
        });
        let http = HttpServer::start(options.tls, move |req| {
            let shared = Arc::clone(&shared);
            async move { serve(req, &shared).await }
        })
        .await?;
        Ok(FakeApiServer {
            http,
            store,
            routes,
            log,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// `http://127.0.0.1:<port>` (`https://` with TLS).
    pub fn url(&self) -> String {
        self.http.url()
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
        lock(&self.log.lines).clone()
    }

    /// The requests served so far, whole (with their `Authorization` header and body).
    pub fn seen(&self) -> Vec<ApiRequest> {
        lock(&self.log.requests).clone()
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

async fn serve(req: Request, shared: &Shared) -> http::Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let e = routes::ApiResponse::error(400, "BadRequest", e.to_string());
            return json(e.status, &e.body);
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
    lock(&shared.log.lines).push(format!(
        "{} {}{}",
        parts.method,
        parts.uri.path(),
        parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    ));
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
        authorization: crate::http::authorization(&parts.headers),
        body,
    };
    lock(&shared.log.requests).push(api_req.clone());
    if let Some(expected) = &shared.bearer
        && api_req.authorization.as_ref() != Some(expected)
    {
        let e = ApiResponse::error(401, "Unauthorized", "Unauthorized");
        return json(e.status, &e.body);
    }
    let routes: Vec<Arc<dyn Route>> = shared.routes.read().map(|r| r.clone()).unwrap_or_default();
    match routes::handle(&shared.store, &routes, &api_req, shared.bookmark_every) {
        routes::Reply::Plain(r) => json(r.status, &r.body),
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
