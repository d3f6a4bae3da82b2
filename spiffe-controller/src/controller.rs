//! The reconcile loop. Level-triggered: every watch event (pods, nodes, namespaces, services,
//! `EndpointSlice`s, `ClusterSPIFFEID`s, `ClusterStaticEntry`s) wakes it, a short debounce gathers bursts, and a
//! full reconcile runs from the watch caches: plan, list the server's entries, write the
//! difference, update statuses, publish events. A periodic resync runs even without events, so
//! entries changed behind the controller's back are put right. Only entries under the
//! controller's ID prefix are ever written, and never a join-token entry ([`crate::diff`]).

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use spiffe_core::backoff::Backoff;
use thiserror::Error;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::ControllerConfig;
use crate::crd::{ClusterSPIFFEID, ClusterStaticEntry};
use crate::diff::{KeptEntry, diff};
use crate::plan::{ClusterSnapshot, Declared, Plan, ResourceRef, plan};
use crate::registry::{EntryStore, ItemError, RegistryError};
use crate::status::{StatusWriter, Warning};

/// Why the controller stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ControllerError {
    /// A watch ended (its task stopped), so the caches would go stale.
    #[error("the {0} watch stopped")]
    WatchStopped(&'static str),
}

/// What one reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// How many reconciles have run (this one included).
    pub generation: u64,
    /// Entries the cluster declares.
    pub desired: usize,
    /// Entries created.
    pub created: usize,
    /// Entries updated.
    pub updated: usize,
    /// Entries deleted.
    pub deleted: usize,
    /// Entries already as wanted.
    pub unchanged: usize,
    /// Join-token entries left alone where they would otherwise have been deleted or
    /// rewritten ([`crate::diff::is_join_token_entry`]).
    pub kept: usize,
    /// Entry writes the server refused.
    pub failed: usize,
    /// Entries that did not render.
    pub render_failures: usize,
    /// How long it took.
    pub duration: Duration,
    /// Set when the reconcile could not run (the server did not answer).
    pub error: Option<String>,
}

/// Aborts the watch tasks when dropped.
struct Tasks(Vec<(&'static str, JoinHandle<()>)>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for (_, t) in &self.0 {
            t.abort();
        }
    }
}

/// The caches of the seven watched kinds.
struct Caches {
    pods: Store<Pod>,
    nodes: Store<Node>,
    namespaces: Store<Namespace>,
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    ids: Store<ClusterSPIFFEID>,
    statics: Store<ClusterStaticEntry>,
}

impl Caches {
    fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            pods: self.pods.state(),
            nodes: self.nodes.state(),
            namespaces: self.namespaces.state(),
            cluster_spiffe_ids: self.ids.state(),
            static_entries: self.statics.state(),
            services: self.services.state(),
            endpoint_slices: self.slices.state(),
        }
    }

    async fn ready(&self) -> Result<(), ControllerError> {
        let stopped = |k| move |_| ControllerError::WatchStopped(k);
        self.pods.wait_until_ready().await.map_err(stopped("pod"))?;
        self.nodes
            .wait_until_ready()
            .await
            .map_err(stopped("node"))?;
        self.namespaces
            .wait_until_ready()
            .await
            .map_err(stopped("namespace"))?;
        self.services
            .wait_until_ready()
            .await
            .map_err(stopped("service"))?;
        self.slices
            .wait_until_ready()
            .await
            .map_err(stopped("EndpointSlice"))?;
        self.ids
            .wait_until_ready()
            .await
            .map_err(stopped("ClusterSPIFFEID"))?;
        self.statics
            .wait_until_ready()
            .await
            .map_err(stopped("ClusterStaticEntry"))
    }
}

/// Watches `api` into a cache; every change wakes `notify`.
pub(crate) fn spawn_watch<K>(
    api: Api<K>,
    notify: Arc<Notify>,
    kind: &'static str,
) -> (Store<K>, JoinHandle<()>)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector::reflector(
        writer,
        watcher(api, watcher::Config::default()).default_backoff(),
    );
    let task = tokio::spawn(
        async move {
            futures::pin_mut!(stream);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_))
                    | Ok(watcher::Event::InitDone) => notify.notify_one(),
                    Ok(_) => {}
                    Err(e) => warn!(error = %e, "watch failed; retrying with backoff"),
                }
            }
        }
        .instrument(info_span!("watch", kind)),
    );
    (reader, task)
}

/// The controller: a Kubernetes client, an entry store and the settings.
pub struct Controller<S> {
    config: ControllerConfig,
    client: Client,
    store: S,
    recorder: Recorder,
    reports: watch::Sender<ReconcileReport>,
}

impl<S: EntryStore> Controller<S> {
    /// A controller over `client` writing to `store`. Events are reported as
    /// `spiffe-controller`.
    pub fn new(config: ControllerConfig, client: Client, store: S) -> Self {
        let reporter = Reporter {
            controller: "spiffe-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Controller {
            recorder: Recorder::new(client.clone(), reporter),
            config,
            client,
            store,
            reports: watch::channel(ReconcileReport::default()).0,
        }
    }

    /// The report of the latest reconcile (generation 0 before the first).
    pub fn reports(&self) -> watch::Receiver<ReconcileReport> {
        self.reports.subscribe()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        let notify = Arc::new(Notify::new());
        let c = &self.client;
        let (pods, t1) = spawn_watch(Api::<Pod>::all(c.clone()), Arc::clone(&notify), "pod");
        let (nodes, t2) = spawn_watch(Api::<Node>::all(c.clone()), Arc::clone(&notify), "node");
        let (namespaces, t3) = spawn_watch(
            Api::<Namespace>::all(c.clone()),
            Arc::clone(&notify),
            "namespace",
        );
        let (services, t6) = spawn_watch(
            Api::<Service>::all(c.clone()),
            Arc::clone(&notify),
            "service",
        );
        let (slices, t7) = spawn_watch(
            Api::<EndpointSlice>::all(c.clone()),
            Arc::clone(&notify),
            "EndpointSlice",
        );
        let (ids, t4) = spawn_watch(
            Api::<ClusterSPIFFEID>::all(c.clone()),
            Arc::clone(&notify),
            "ClusterSPIFFEID",
        );
        let (statics, t5) = spawn_watch(
            Api::<ClusterStaticEntry>::all(c.clone()),
            Arc::clone(&notify),
            "ClusterStaticEntry",
        );
        let tasks = Tasks(vec![
            ("pod", t1),
            ("node", t2),
            ("namespace", t3),
            ("ClusterSPIFFEID", t4),
            ("ClusterStaticEntry", t5),
            ("service", t6),
            ("EndpointSlice", t7),
        ]);
        let caches = Caches {
            pods,
            nodes,
            namespaces,
            services,
            slices,
            ids,
            statics,
        };
        futures::pin_mut!(shutdown);
        tokio::select! {
            r = caches.ready() => r?,
            () = &mut shutdown => return Ok(()),
        }
        info!(
            trust_domain = %self.config.trust_domain,
            cluster = %self.config.cluster_name,
            prefix = %self.config.entry_id_prefix,
            "caches synced; reconciling"
        );
        let mut writer = StatusWriter::default();
        let mut generation = 0u64;
        // After a failed reconcile: 200 ms, doubling, at most the resync interval. One
        // controller talks to the server, so there is no crowd to spread: no jitter.
        let mut retry =
            Backoff::new(Duration::from_millis(200), self.config.resync_interval).with_jitter(0.0);
        loop {
            if let Some((kind, _)) = tasks.0.iter().find(|(_, t)| t.is_finished()) {
                return Err(ControllerError::WatchStopped(kind));
            }
            generation += 1;
            let snap = caches.snapshot();
            let report = self
                .reconcile(&snap, &mut writer, generation)
                .instrument(info_span!("reconcile", generation))
                .await;
            let wait = if report.error.is_some() {
                retry.next_delay().min(self.config.resync_interval)
            } else {
                retry.reset();
                self.config.resync_interval
            };
            self.reports.send_replace(report);
            tokio::select! {
                () = notify.notified() => {
                    tokio::select! {
                        () = tokio::time::sleep(self.config.debounce) => {}
                        () = &mut shutdown => break,
                    }
                }
                () = tokio::time::sleep(wait) => {}
                () = &mut shutdown => break,
            }
        }
        drop(tasks);
        Ok(())
    }

    /// One reconcile of `snap` against the server.
    async fn reconcile(
        &mut self,
        snap: &ClusterSnapshot,
        writer: &mut StatusWriter,
        generation: u64,
    ) -> ReconcileReport {
        let started = Instant::now();
        let mut plan = plan(&self.config, snap);
        let mut report = ReconcileReport {
            generation,
            desired: plan.entries.len(),
            render_failures: plan.failures.len(),
            ..Default::default()
        };
        let (failed, kept) = match self.apply(&plan, &mut report).await {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "reconcile failed; will retry");
                report.error = Some(e.to_string());
                report.duration = started.elapsed();
                return report;
            }
        };
        fill_outcomes(&mut plan, &failed);
        writer.write_statuses(&self.client, snap, &plan).await;
        writer
            .publish(&self.recorder, snap, warnings(&plan, &failed, &kept))
            .await;
        report.duration = started.elapsed();
        let changed = report.created + report.updated + report.deleted;
        if changed > 0 || report.failed > 0 {
            info!(
                desired = report.desired,
                created = report.created,
                updated = report.updated,
                deleted = report.deleted,
                failed = report.failed,
                render_failures = report.render_failures,
                elapsed_ms = report.duration.as_millis() as u64,
                "reconciled"
            );
        } else {
            debug!(
                desired = report.desired,
                elapsed_ms = report.duration.as_millis() as u64,
                "in sync"
            );
        }
        report
    }

    /// Writes the difference; returns the entries the server refused, by ID, and the
    /// join-token entries left alone.
    async fn apply(
        &mut self,
        plan: &Plan,
        report: &mut ReconcileReport,
    ) -> Result<(HashMap<String, ItemError>, Vec<KeptEntry>), RegistryError> {
        let current = self.store.list().await?;
        let changes = diff(&plan.entries, &current, &self.config.entry_id_prefix);
        report.unchanged = changes.unchanged.len();
        report.kept = changes.kept.len();
        for k in &changes.kept {
            debug!(entry_id = %k.id, declared = ?k.declared, differs = k.differs, "join-token entry left as it is");
        }
        let batch = self.config.batch_size.max(1);
        let mut failed = HashMap::new();
        for ids in changes.delete.chunks(batch) {
            let outcome = self.store.delete(ids.to_vec()).await?;
            for (id, r) in ids.iter().zip(outcome) {
                match r {
                    Ok(()) => {
                        report.deleted += 1;
                        debug!(entry_id = %id, "deleted entry");
                    }
                    Err(e) => warn!(entry_id = %id, error = %e, "could not delete entry"),
                }
            }
        }
        for (op, ids) in [("create", &changes.create), ("update", &changes.update)] {
            for chunk in ids.chunks(batch) {
                let entries = chunk
                    .iter()
                    .filter_map(|id| plan.entries.get(id).map(|d| d.entry.to_pb()))
                    .collect();
                let outcome = if op == "create" {
                    self.store.create(entries).await?
                } else {
                    self.store.update(entries).await?
                };
                for (id, r) in chunk.iter().zip(outcome) {
                    match r {
                        Ok(()) => {
                            if op == "create" {
                                report.created += 1;
                            } else {
                                report.updated += 1;
                            }
                            if let Some(d) = plan.entries.get(id) {
                                debug!(entry_id = %id, spiffe_id = %d.entry.spiffe_id, by = %d.by, op, "entry written");
                            }
                        }
                        Err(e) => {
                            report.failed += 1;
                            warn!(entry_id = %id, error = %e, op, "server refused entry");
                            failed.insert(id.clone(), e);
                        }
                    }
                }
            }
        }
        Ok((failed, changes.kept))
    }
}

/// Fills `entryFailures`, `entrySuccess` and `set` from the server's answers.
fn fill_outcomes(plan: &mut Plan, failed: &HashMap<String, ItemError>) {
    for (id, d) in &plan.entries {
        let ok = !failed.contains_key(id);
        match &d.by {
            ResourceRef::ClusterSPIFFEID(n) => {
                if let Some(s) = plan.spiffe_id_stats.get_mut(n) {
                    if ok {
                        s.entry_success += 1;
                    } else {
                        s.entry_failures += 1;
                    }
                }
            }
            ResourceRef::ClusterStaticEntry(n) => {
                if let Some(s) = plan.static_status.get_mut(n) {
                    s.set = ok;
                }
            }
        }
    }
}

fn describe(d: &Declared) -> String {
    match &d.pod {
        Some(p) => format!("entry {} ({}) for pod {p}", d.entry.id, d.entry.spiffe_id),
        None => format!("entry {} ({})", d.entry.id, d.entry.spiffe_id),
    }
}

/// The events this reconcile warrants.
fn warnings(plan: &Plan, failed: &HashMap<String, ItemError>, kept: &[KeptEntry]) -> Vec<Warning> {
    let mut out: Vec<Warning> = plan
        .failures
        .iter()
        .map(|f| Warning {
            resource: f.resource.clone(),
            reason: "RenderFailed",
            note: match &f.pod {
                Some(p) => format!("pod {p}: {}", f.error),
                None => f.error.to_string(),
            },
        })
        .collect();
    for (id, e) in failed {
        if let Some(d) = plan.entries.get(id) {
            out.push(Warning {
                resource: d.by.clone(),
                reason: "EntryFailed",
                note: format!("{}: {e}", describe(d)),
            });
        }
    }
    for k in kept.iter().filter(|k| k.differs) {
        if let Some(d) = k.declared.as_ref().and_then(|id| plan.entries.get(id)) {
            out.push(Warning {
                resource: d.by.clone(),
                reason: "JoinTokenEntryKept",
                note: format!(
                    "{} is the join-token entry {} on the server, which the controller never \
                     changes; its other fields stay as the server holds them",
                    describe(d),
                    k.id
                ),
            });
        }
    }
    out
}
