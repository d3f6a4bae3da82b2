//! The fake server's objects: JSON values by type, namespace and name, one resource version
//! counter for all of them (as etcd has), and a bounded history of changes that watches replay
//! from a resource version and then follow live.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::patch;
use super::resources::{ResourceType, builtin};

/// Changes kept for watches that resume from an older resource version.
const HISTORY: usize = 50_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created.
    Added,
    /// Replaced or patched.
    Modified,
    /// Deleted.
    Deleted,
}

impl ChangeKind {
    /// The watch event type (`ADDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        }
    }
}

/// One change, as watches deliver it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resource version of the change.
    pub rv: u64,
    /// The type's key ([`ResourceType::key`]).
    pub type_key: String,
    /// What happened.
    pub kind: ChangeKind,
    /// The object after the change (before it, for deletions, with the new resource version).
    pub object: Arc<Value>,
}

/// Why a write was refused, as the API server says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} ({code}): {message}")]
pub struct StoreError {
    /// HTTP status.
    pub code: u16,
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `BadRequest`.
    pub reason: &'static str,
    /// The message.
    pub message: String,
}

impl StoreError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        StoreError {
            code,
            reason,
            message: message.into(),
        }
    }

    /// The `Status` object the API server sends for it.
    pub fn status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }
}

/// (type key, namespace, name)
type Key = (String, String, String);

struct Inner {
    rv: u64,
    types: Vec<ResourceType>,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Change>,
}

/// The objects, shared by the server's connections and the test that drives it.
pub struct ObjectStore {
    inner: Mutex<Inner>,
    changes: broadcast::Sender<Change>,
    uid_counter: AtomicU64,
}

impl std::fmt::Debug for ObjectStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStore").finish_non_exhaustive()
    }
}

fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl Default for ObjectStore {
    fn default() -> Self {
        ObjectStore {
            inner: Mutex::new(Inner {
                rv: 1,
                types: builtin(),
                objects: BTreeMap::new(),
                history: VecDeque::new(),
            }),
            changes: broadcast::channel(HISTORY).0,
            uid_counter: AtomicU64::new(1),
        }
    }
}

impl ObjectStore {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock only happens in a failing test; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a resource type.
    pub fn register(&self, t: ResourceType) {
        let mut inner = self.lock();
        if !inner.types.contains(&t) {
            inner.types.push(t);
        }
    }

    /// The type at `group`/`version`/`plural`.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Option<ResourceType> {
        self.lock()
            .types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    /// The type of objects with `apiVersion` and `kind`.
    pub fn resource_for(&self, api_version: &str, kind: &str) -> Option<ResourceType> {
        self.lock()
            .types
            .iter()
            .find(|t| t.api_version() == api_version && t.kind == kind)
            .cloned()
    }

    /// The current resource version.
    pub fn resource_version(&self) -> u64 {
        self.lock().rv
    }

    fn new_uid(&self) -> String {
        let n = self.uid_counter.fetch_add(1, Ordering::Relaxed);
        let salt = u64::from(std::process::id());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (salt & 0xffff_ffff) as u32,
            (n >> 32) & 0xffff,
            (n >> 20) & 0xfff,
            (n >> 8) & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }

    fn record(&self, inner: &mut Inner, t: &ResourceType, kind: ChangeKind, object: Arc<Value>) {
        let change = Change {
            rv: inner.rv,
            type_key: t.key(),
            kind,
            object,
        };
        if inner.history.len() >= HISTORY {
            inner.history.pop_front();
        }
        inner.history.push_back(change.clone());
        // No receivers is fine.
        let _ = self.changes.send(change);
    }

    fn key(t: &ResourceType, namespace: &str, name: &str) -> Key {
        let ns = if t.namespaced { namespace } else { "" };
        (t.key(), ns.to_owned(), name.to_owned())
    }

    /// Creates an object (filling `apiVersion`, `kind`, namespace, `uid`,
    /// `creationTimestamp`, `resourceVersion`, and a name from `generateName`).
    pub fn create(
        &self,
        t: &ResourceType,
        namespace: &str,
        mut obj: Value,
    ) -> Result<Arc<Value>, StoreError> {
        if !obj.is_object() {
            return Err(StoreError::new(
                400,
                "BadRequest",
                "object must be a JSON object",
            ));
        }
        let mut inner = self.lock();
        obj["apiVersion"] = json!(t.api_version());
        obj["kind"] = json!(t.kind);
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let meta = &mut obj["metadata"];
        let mut name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if name.is_empty() {
            let Some(prefix) = meta.get("generateName").and_then(Value::as_str) else {
                return Err(StoreError::new(
                    422,
                    "Invalid",
                    format!("{} is invalid: metadata.name: Required value", t.kind),
                ));
            };
            name = format!(
                "{prefix}{:05x}",
                self.uid_counter.fetch_add(1, Ordering::Relaxed) & 0xfffff
            );
            meta["name"] = json!(name);
        }
        if t.namespaced {
            let ns = meta
                .get("namespace")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or(namespace)
                .to_owned();
            if !namespace.is_empty() && ns != namespace {
                return Err(StoreError::new(
                    400,
                    "BadRequest",
                    "the namespace of the object does not match the namespace of the request",
                ));
            }
            meta["namespace"] = json!(if ns.is_empty() {
                "default".to_owned()
            } else {
                ns
            });
        }
        let ns = meta
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let key = Self::key(t, &ns, &name);
        if inner.objects.contains_key(&key) {
            return Err(StoreError::new(
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", t.plural),
            ));
        }
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            meta["uid"] = json!(self.new_uid());
        }
        if meta.get("creationTimestamp").is_none_or(Value::is_null) {
            meta["creationTimestamp"] = json!(now_rfc3339());
        }
        if meta.get("generation").is_none() {
            meta["generation"] = json!(1);
        }
        inner.rv += 1;
        meta["resourceVersion"] = json!(inner.rv.to_string());
        let obj = Arc::new(obj);
        inner.objects.insert(key, Arc::clone(&obj));
        self.record(&mut inner, t, ChangeKind::Added, Arc::clone(&obj));
        Ok(obj)
    }

    /// Creates or replaces (seeding and test edits).
    pub fn upsert(&self, t: &ResourceType, obj: Value) -> Result<Arc<Value>, StoreError> {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if self.get(t, &ns, &name).is_some() {
            self.update(t, &ns, &name, |old| {
                let mut new = obj.clone();
                // Keep server-set fields unless given.
                for f in ["uid", "creationTimestamp"] {
                    if new.pointer(&format!("/metadata/{f}")).is_none()
                        && let Some(v) = old.pointer(&format!("/metadata/{f}"))
                    {
                        new["metadata"][f] = v.clone();
                    }
                }
                if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                Ok(new)
            })
        } else {
            self.create(t, &ns, obj)
        }
    }

    /// The object, if any.
    pub fn get(&self, t: &ResourceType, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.lock()
            .objects
            .get(&Self::key(t, namespace, name))
            .cloned()
    }

    /// Objects of a type (in `namespace`, or all when empty), ordered by namespace and name,
    /// with the current resource version.
    pub fn list(&self, t: &ResourceType, namespace: &str) -> (Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let tk = t.key();
        let items = inner
            .objects
            .iter()
            .filter(|((k, ns, _), _)| *k == tk && (namespace.is_empty() || ns == namespace))
            .map(|(_, v)| Arc::clone(v))
            .collect();
        (items, inner.rv)
    }

    /// Replaces an object with what `f` makes of it. A `resourceVersion` in the result must
    /// match the current one (optimistic concurrency); `uid` and `creationTimestamp` stay.
    pub fn update(
        &self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
        f: impl FnOnce(&Value) -> Result<Value, StoreError>,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.lock();
        let key = Self::key(t, namespace, name);
        let Some(old) = inner.objects.get(&key).cloned() else {
            return Err(StoreError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", t.plural),
            ));
        };
        let mut new = f(&old)?;
        if !new.is_object() {
            return Err(StoreError::new(
                400,
                "BadRequest",
                "object must be a JSON object",
            ));
        }
        let old_rv = old.pointer("/metadata/resourceVersion").cloned();
        if let Some(rv) = new
            .pointer("/metadata/resourceVersion")
            .filter(|v| !v.is_null())
            && Some(rv) != old_rv.as_ref()
        {
            return Err(StoreError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    t.plural
                ),
            ));
        }
        new["apiVersion"] = json!(t.api_version());
        new["kind"] = json!(t.kind);
        if !new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"] = json!({});
        }
        for f in ["name", "namespace", "uid", "creationTimestamp"] {
            if let Some(v) = old.pointer(&format!("/metadata/{f}")) {
                new["metadata"][f] = v.clone();
            }
        }
        if new == *old {
            return Ok(old);
        }
        let spec_changed = new.get("spec") != old.get("spec");
        if spec_changed {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            new["metadata"]["generation"] = json!(g + 1);
        }
        inner.rv += 1;
        new["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        let new = Arc::new(new);
        inner.objects.insert(key, Arc::clone(&new));
        self.record(&mut inner, t, ChangeKind::Modified, Arc::clone(&new));
        Ok(new)
    }

    /// Merge-patches an object; with `status_only`, only its `status` changes (the status
    /// subresource).
    pub fn patch(
        &self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
        patch_body: &Value,
        status_only: bool,
    ) -> Result<Arc<Value>, StoreError> {
        self.update(t, namespace, name, |old| {
            let mut new = (*old).clone();
            patch::merge(&mut new, patch_body);
            if status_only {
                let status = new.get("status").cloned();
                new = (*old).clone();
                match status {
                    Some(s) => new["status"] = s,
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            } else if let Some(s) = old.get("status") {
                // The main resource does not change the status (CRDs with a status subresource).
                new["status"] = s.clone();
            }
            if let Some(m) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            Ok(new)
        })
    }

    /// Deletes an object; returns it.
    pub fn delete(
        &self,
        t: &ResourceType,
        namespace: &str,
        name: &str,
    ) -> Result<Arc<Value>, StoreError> {
        let mut inner = self.lock();
        let key = Self::key(t, namespace, name);
        let Some(old) = inner.objects.remove(&key) else {
            return Err(StoreError::new(
                404,
                "NotFound",
                format!("{} \"{name}\" not found", t.plural),
            ));
        };
        inner.rv += 1;
        let mut gone = (*old).clone();
        gone["metadata"]["resourceVersion"] = json!(inner.rv.to_string());
        let gone = Arc::new(gone);
        self.record(&mut inner, t, ChangeKind::Deleted, Arc::clone(&gone));
        Ok(gone)
    }

    /// For a watch from `since`: the live receiver and the retained changes after `since`
    /// (`None` when `since` is older than the history: the client must list again).
    pub fn follow(&self, since: u64) -> (broadcast::Receiver<Change>, Option<Vec<Change>>) {
        let inner = self.lock();
        let rx = self.changes.subscribe();
        let oldest = inner.history.front().map_or(inner.rv, |c| c.rv);
        if since + 1 < oldest && since < inner.rv {
            return (rx, None);
        }
        let replay = inner
            .history
            .iter()
            .filter(|c| c.rv > since)
            .cloned()
            .collect();
        (rx, Some(replay))
    }

    /// For a watch from now: the live receiver, the current objects of a type and the
    /// resource version they are at.
    pub fn follow_now(
        &self,
        t: &ResourceType,
    ) -> (broadcast::Receiver<Change>, Vec<Arc<Value>>, u64) {
        let inner = self.lock();
        let rx = self.changes.subscribe();
        let tk = t.key();
        let items = inner
            .objects
            .iter()
            .filter(|((k, _, _), _)| *k == tk)
            .map(|(_, v)| Arc::clone(v))
            .collect();
        (rx, items, inner.rv)
    }
}
