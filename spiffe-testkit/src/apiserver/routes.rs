//! The REST surface: `/api/v1/...` and `/apis/<group>/<version>/...` paths to list, get,
//! create, replace, patch (merge, strategic merge and apply are all applied as merge patches),
//! delete and watch objects, plus the routes a test adds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::query::{Query, field, label};
use super::resources::ResourceType;
use super::store::{Change, ObjectStore, StoreError};

/// A request, as routes see it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The method.
    pub method: Method,
    /// The path (no query).
    pub path: String,
    /// The query parameters.
    pub query: BTreeMap<String, String>,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The body.
    pub body: Bytes,
}

impl ApiRequest {
    /// The body as JSON (YAML bodies, as `kubectl apply` may send, are read too).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body)
            .ok()
            .or_else(|| serde_yaml::from_slice(&self.body).ok())
    }
}

/// A plain (not streaming) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    /// The status code.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
}

impl ApiResponse {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        ApiResponse {
            status: StatusCode::OK,
            body,
        }
    }

    /// 201 with `body`.
    pub fn created(body: Value) -> Self {
        ApiResponse {
            status: StatusCode::CREATED,
            body,
        }
    }

    /// An error `Status`.
    pub fn error(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        let e = StoreError {
            code,
            reason,
            message: message.into(),
        };
        Self::from(e)
    }
}

impl From<StoreError> for ApiResponse {
    fn from(e: StoreError) -> Self {
        ApiResponse {
            status: StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: e.status(),
        }
    }
}

/// A route a test adds (TokenReview, SubjectAccessReview, a failing endpoint, ...): it answers
/// the requests it recognizes and returns `None` for the others. Closures of the right shape
/// are routes.
pub trait Route: Send + Sync + 'static {
    /// The answer to `req`, if this route takes it.
    fn handle(&self, req: &ApiRequest, store: &ObjectStore) -> Option<ApiResponse>;
}

impl<F> Route for F
where
    F: Fn(&ApiRequest, &ObjectStore) -> Option<ApiResponse> + Send + Sync + 'static,
{
    fn handle(&self, req: &ApiRequest, store: &ObjectStore) -> Option<ApiResponse> {
        self(req, store)
    }
}

/// What the server sends back.
pub(crate) enum Reply {
    /// A JSON answer.
    Plain(ApiResponse),
    /// A watch: lines of JSON events until the channel closes.
    Stream(mpsc::Receiver<Bytes>),
}

/// A parsed resource path.
#[derive(Debug)]
struct Target {
    rt: ResourceType,
    namespace: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(store: &ObjectStore, path: &str) -> Option<Target> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    if let ["namespaces", ns, plural, tail @ ..] = rest
        && let Some(rt) = store
            .resource(group, version, plural)
            .filter(|t| t.namespaced)
    {
        return Some(Target {
            rt,
            namespace: (*ns).to_owned(),
            name: tail.first().map(|s| (*s).to_owned()),
            subresource: tail.get(1).map(|s| (*s).to_owned()),
        });
    }
    let [plural, tail @ ..] = rest else {
        return None;
    };
    let rt = store.resource(group, version, plural)?;
    Some(Target {
        rt,
        namespace: String::new(),
        name: tail.first().map(|s| (*s).to_owned()),
        subresource: tail.get(1).map(|s| (*s).to_owned()),
    })
}

fn truthy(q: &BTreeMap<String, String>, k: &str) -> bool {
    q.get(k).is_some_and(|v| v == "true" || v == "1")
}

/// The filters of a list or watch.
struct Filter {
    namespace: String,
    labels: Query,
    fields: Query,
}

impl Filter {
    fn from(req: &ApiRequest, namespace: &str) -> Result<Filter, ApiResponse> {
        let parse = |k: &str| match req.query.get(k) {
            None => Ok(Query::default()),
            Some(s) => Query::parse(s)
                .ok_or_else(|| ApiResponse::error(400, "BadRequest", format!("invalid {k} {s:?}"))),
        };
        Ok(Filter {
            namespace: namespace.to_owned(),
            labels: parse("labelSelector")?,
            fields: parse("fieldSelector")?,
        })
    }

    fn keeps(&self, obj: &Value) -> bool {
        (self.namespace.is_empty()
            || obj.pointer("/metadata/namespace").and_then(Value::as_str)
                == Some(self.namespace.as_str()))
            && self.labels.matches(|k| label(obj, k))
            && self.fields.matches(|k| field(obj, k))
    }
}

/// Answers a request: the test's routes first, then the REST surface.
pub(crate) fn handle(
    store: &Arc<ObjectStore>,
    routes: &[Arc<dyn Route>],
    req: &ApiRequest,
    bookmark_every: Duration,
) -> Reply {
    for r in routes {
        if let Some(resp) = r.handle(req, store) {
            return Reply::Plain(resp);
        }
    }
    if req.path == "/version" {
        return Reply::Plain(ApiResponse::ok(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-spiffe-testkit",
            "platform": "linux/amd64"
        })));
    }
    let Some(t) = parse_target(store, &req.path) else {
        return Reply::Plain(ApiResponse::error(
            404,
            "NotFound",
            format!(
                "the server could not find the requested resource ({})",
                req.path
            ),
        ));
    };
    let body = || {
        req.json()
            .ok_or_else(|| ApiResponse::error(400, "BadRequest", "the request body is not JSON"))
    };
    let status_only = match t.subresource.as_deref() {
        None => false,
        Some("status") => true,
        Some(other) => {
            return Reply::Plain(ApiResponse::error(
                404,
                "NotFound",
                format!("subresource {other:?} is not served"),
            ));
        }
    };
    let ns = t.namespace.as_str();
    let result: Result<ApiResponse, ApiResponse> = match (&req.method, &t.name) {
        (&Method::GET, None) => {
            let filter = match Filter::from(req, ns) {
                Ok(f) => f,
                Err(e) => return Reply::Plain(e),
            };
            if truthy(&req.query, "watch") {
                return Reply::Stream(watch(Arc::clone(store), t.rt, filter, req, bookmark_every));
            }
            Ok(list(store, &t.rt, &filter, req))
        }
        (&Method::GET, Some(name)) => store
            .get(&t.rt, ns, name)
            .map(|o| ApiResponse::ok((*o).clone()))
            .ok_or_else(|| {
                ApiResponse::error(
                    404,
                    "NotFound",
                    format!("{} \"{name}\" not found", t.rt.plural),
                )
            }),
        (&Method::POST, None) => body().and_then(|b| {
            store
                .create(&t.rt, ns, b)
                .map(|o| ApiResponse::created((*o).clone()))
                .map_err(ApiResponse::from)
        }),
        (&Method::PUT, Some(name)) => body().and_then(|b| {
            store
                .update(&t.rt, ns, name, |old| {
                    if status_only {
                        let mut new = (*old).clone();
                        new["status"] = b.get("status").cloned().unwrap_or(Value::Null);
                        if let Some(rv) = b.pointer("/metadata/resourceVersion") {
                            new["metadata"]["resourceVersion"] = rv.clone();
                        }
                        Ok(new)
                    } else {
                        let mut new = b.clone();
                        if let Some(s) = old.get("status") {
                            new["status"] = s.clone();
                        }
                        Ok(new)
                    }
                })
                .map(|o| ApiResponse::ok((*o).clone()))
                .map_err(ApiResponse::from)
        }),
        (&Method::PATCH, Some(name)) => {
            if req.content_type.starts_with("application/json-patch+json") {
                Err(ApiResponse::error(
                    415,
                    "UnsupportedMediaType",
                    "JSON patch is not supported by the test API server; use a merge patch",
                ))
            } else {
                body().and_then(|b| {
                    let apply = req.content_type.starts_with("application/apply-patch");
                    match store.patch(&t.rt, ns, name, &b, status_only) {
                        Err(e) if e.code == 404 && apply && !status_only => store
                            .create(&t.rt, ns, b)
                            .map(|o| ApiResponse::created((*o).clone()))
                            .map_err(ApiResponse::from),
                        other => other
                            .map(|o| ApiResponse::ok((*o).clone()))
                            .map_err(ApiResponse::from),
                    }
                })
            }
        }
        (&Method::DELETE, Some(name)) => store
            .delete(&t.rt, ns, name)
            .map(|o| ApiResponse::ok((*o).clone()))
            .map_err(ApiResponse::from),
        (m, _) => Err(ApiResponse::error(
            405,
            "MethodNotAllowed",
            format!("{m} is not supported on {}", req.path),
        )),
    };
    Reply::Plain(result.unwrap_or_else(|e| e))
}

fn list(store: &ObjectStore, t: &ResourceType, filter: &Filter, req: &ApiRequest) -> ApiResponse {
    let (all, rv) = store.list(t, &filter.namespace);
    let items: Vec<&Value> = all
        .iter()
        .map(AsRef::as_ref)
        .filter(|o| filter.keeps(o))
        .collect();
    // `continue` is "<resourceVersion>:<offset>".
    let (list_rv, offset) = req
        .query
        .get("continue")
        .and_then(|c| c.split_once(':'))
        .and_then(|(r, o)| Some((r.parse::<u64>().ok()?, o.parse::<usize>().ok()?)))
        .unwrap_or((rv, 0));
    let limit = req
        .query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(usize::MAX);
    let page: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|v| (*v).clone())
        .collect();
    let next = offset.saturating_add(page.len());
    let mut metadata = json!({ "resourceVersion": list_rv.to_string() });
    if next < items.len() {
        metadata["continue"] = json!(format!("{list_rv}:{next}"));
        metadata["remainingItemCount"] = json!(items.len() - next);
    }
    ApiResponse::ok(json!({
        "kind": format!("{}List", t.kind),
        "apiVersion": t.api_version(),
        "metadata": metadata,
        "items": page,
    }))
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line =
        serde_json::to_vec(&json!({ "type": kind, "object": object })).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn bookmark(t: &ResourceType, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({ "resourceVersion": rv.to_string() });
    if initial_end {
        meta["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    event_line(
        "BOOKMARK",
        &json!({ "kind": t.kind, "apiVersion": t.api_version(), "metadata": meta }),
    )
}

/// Starts a watch: replays from `resourceVersion` (or sends the current objects as `ADDED`),
/// then follows changes, with bookmarks when asked for, until `timeoutSeconds`.
fn watch(
    store: Arc<ObjectStore>,
    t: ResourceType,
    filter: Filter,
    req: &ApiRequest,
    bookmark_every: Duration,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let bookmarks = truthy(&req.query, "allowWatchBookmarks");
    let initial_events = truthy(&req.query, "sendInitialEvents");
    let since = req
        .query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v > 0);
    let timeout = req
        .query
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let tk = t.key();
    tokio::spawn(async move {
        let (mut rx_live, mut last) = match since.filter(|_| !initial_events) {
            Some(since) => {
                let (rx_live, replay) = store.follow(since);
                let Some(replay) = replay else {
                    let gone = json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("too old resource version: {since}"),
                        "reason": "Expired", "code": 410
                    });
                    let _ = tx.send(event_line("ERROR", &gone)).await;
                    return;
                };
                let mut last = since;
                for c in replay {
                    last = c.rv;
                    if c.type_key == tk
                        && filter.keeps(&c.object)
                        && tx
                            .send(event_line(c.kind.as_str(), &c.object))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
                (rx_live, last)
            }
            None => {
                let (rx_live, items, rv) = store.follow_now(&t);
                for o in items.iter().filter(|o| filter.keeps(o)) {
                    if tx.send(event_line("ADDED", o)).await.is_err() {
                        return;
                    }
                }
                if initial_events && tx.send(bookmark(&t, rv, true)).await.is_err() {
                    return;
                }
                (rx_live, rv)
            }
        };
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticker = tokio::time::interval(bookmark_every);
        ticker.tick().await;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return,
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(bookmark(&t, last.max(store.resource_version()), false)).await.is_err() {
                        return;
                    }
                }
                r = rx_live.recv() => match r {
                    Ok(Change { rv, .. }) if rv <= last => {}
                    Ok(c) => {
                        last = c.rv;
                        if c.type_key == tk && filter.keeps(&c.object) {
                            let kind = c.kind;
                            if tx.send(event_line(kind.as_str(), &c.object)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let gone = json!({
                            "kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": "watch fell behind; list again",
                            "reason": "Expired", "code": 410
                        });
                        let _ = tx.send(event_line("ERROR", &gone)).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = tx.closed() => return,
            }
        }
    });
    rx
}
