//! The federation reconcile loop, beside the entry loop as spire-controller-manager runs its
//! federation relationship reconciler: every `ClusterFederatedTrustDomain` watch event wakes
//! it, a short debounce gathers bursts, then it plans ([`crate::federation`]), lists the
//! server's relationships through the TrustDomain API and writes the difference. A periodic
//! resync puts right what was changed behind its back. A resource that names no relationship
//! (invalid, or a trust domain an older resource already names) changes nothing on the server
//! and gets a `Warning` event saying why.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource};
use spiffe_core::backoff::Backoff;
use tokio::sync::{Notify, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::ControllerConfig;
use crate::controller::{ControllerError, spawn_watch};
use crate::crd::ClusterFederatedTrustDomain;
use crate::federation::{FederationPlan, Refusal, diff_federation, plan_federation};
use crate::registry::{ItemError, RegistryError, RelationshipStore};

/// What one federation reconcile did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FederationReport {
    /// How many reconciles have run (this one included).
    pub generation: u64,
    /// Relationships the resources declare.
    pub desired: usize,
    /// Relationships created.
    pub created: usize,
    /// Relationships rewritten.
    pub updated: usize,
    /// Relationships deleted.
    pub deleted: usize,
    /// Relationships already as declared.
    pub unchanged: usize,
    /// Writes the server refused.
    pub failed: usize,
    /// Resources of the controller's class that declare no relationship.
    pub refused: usize,
    /// How long it took.
    pub duration: Duration,
    /// Set when the reconcile could not run (the server did not answer).
    pub error: Option<String>,
}

/// A Warning to publish about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Warning {
    resource: String,
    reason: &'static str,
    note: String,
}

/// The federation controller: a Kubernetes client, a relationship store and the settings
/// (`className`, `watchClassless`, the resync interval and debounce of [`ControllerConfig`]).
pub struct FederationController<F> {
    config: ControllerConfig,
    client: Client,
    store: F,
    recorder: Recorder,
    reports: watch::Sender<FederationReport>,
    published: HashSet<Warning>,
}

impl<F: RelationshipStore> FederationController<F> {
    /// A controller over `client` writing to `store`. Events are reported as
    /// `spiffe-controller`.
    pub fn new(config: ControllerConfig, client: Client, store: F) -> Self {
        let reporter = Reporter {
            controller: "spiffe-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        FederationController {
            recorder: Recorder::new(client.clone(), reporter),
            config,
            client,
            store,
            reports: watch::channel(FederationReport::default()).0,
            published: HashSet::new(),
        }
    }

    /// The report of the latest reconcile (generation 0 before the first).
    pub fn reports(&self) -> watch::Receiver<FederationReport> {
        self.reports.subscribe()
    }

    /// Runs until `shutdown` completes.
    pub async fn run(
        mut self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ControllerError> {
        let notify = Arc::new(Notify::new());
        let (cache, task) = spawn_watch(
            Api::<ClusterFederatedTrustDomain>::all(self.client.clone()),
            Arc::clone(&notify),
            "ClusterFederatedTrustDomain",
        );
        let _abort = AbortOnDrop(task.abort_handle());
        futures::pin_mut!(shutdown);
        tokio::select! {
            r = cache.wait_until_ready() => {
                r.map_err(|_| ControllerError::WatchStopped("ClusterFederatedTrustDomain"))?;
            }
            () = &mut shutdown => return Ok(()),
        }
        info!(class = ?self.config.class_name, "federation cache synced; reconciling");
        let mut generation = 0u64;
        let mut retry =
            Backoff::new(Duration::from_millis(200), self.config.resync_interval).with_jitter(0.0);
        loop {
            if task.is_finished() {
                return Err(ControllerError::WatchStopped("ClusterFederatedTrustDomain"));
            }
            generation += 1;
            let report = self
                .reconcile(&cache, generation)
                .instrument(info_span!("federation_reconcile", generation))
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
        Ok(())
    }

    async fn reconcile(
        &mut self,
        cache: &Store<ClusterFederatedTrustDomain>,
        generation: u64,
    ) -> FederationReport {
        let started = Instant::now();
        let resources = cache.state();
        let plan = plan_federation(&self.config, &resources);
        let mut report = FederationReport {
            generation,
            desired: plan.relationships.len(),
            refused: plan.refused.len(),
            ..Default::default()
        };
        let failed = match self.apply(&plan, &mut report).await {
            Ok(f) => f,
            Err(e) => {
                warn!(error = %e, "federation reconcile failed; will retry");
                report.error = Some(e.to_string());
                report.duration = started.elapsed();
                return report;
            }
        };
        let mut warnings: Vec<Warning> = plan
            .refused
            .iter()
            .map(|(name, r)| match r {
                Refusal::Invalid(e) => Warning {
                    resource: name.clone(),
                    reason: "InvalidSpec",
                    note: format!("no federation relationship: {e}"),
                },
                Refusal::Conflict(first) => Warning {
                    resource: name.clone(),
                    reason: "TrustDomainConflict",
                    note: format!(
                        "no federation relationship: the older ClusterFederatedTrustDomain \
                         {first} names the same trust domain"
                    ),
                },
            })
            .collect();
        for (td, e) in &failed {
            if let Some(d) = plan.relationships.get(td) {
                warnings.push(Warning {
                    resource: d.by.clone(),
                    reason: "RelationshipFailed",
                    note: format!("the server refused the relationship with {td}: {e}"),
                });
            }
        }
        self.publish(&resources, warnings).await;
        report.duration = started.elapsed();
        if report.created + report.updated + report.deleted + report.failed > 0 {
            info!(
                desired = report.desired,
                created = report.created,
                updated = report.updated,
                deleted = report.deleted,
                failed = report.failed,
                refused = report.refused,
                elapsed_ms = report.duration.as_millis() as u64,
                "federation relationships reconciled"
            );
        } else {
            debug!(desired = report.desired, "federation relationships in sync");
        }
        report
    }

    /// Writes the difference; returns the writes the server refused, by trust domain.
    async fn apply(
        &mut self,
        plan: &FederationPlan,
        report: &mut FederationReport,
    ) -> Result<BTreeMap<String, ItemError>, RegistryError> {
        let current = self.store.list().await?;
        let changes = diff_federation(plan, &current);
        report.unchanged = changes.unchanged.len();
        let mut failed = BTreeMap::new();
        if !changes.delete.is_empty() {
            let outcome = self.store.delete(changes.delete.clone()).await?;
            for (td, r) in changes.delete.iter().zip(outcome) {
                match r {
                    Ok(()) => {
                        report.deleted += 1;
                        info!(trust_domain = %td, "deleted federation relationship");
                    }
                    Err(e) => {
                        report.failed += 1;
                        warn!(trust_domain = %td, error = %e, "could not delete federation relationship");
                    }
                }
            }
        }
        for (op, tds) in [("create", &changes.create), ("update", &changes.update)] {
            if tds.is_empty() {
                continue;
            }
            let items = tds
                .iter()
                .filter_map(|td| plan.relationships.get(td))
                .map(|d| d.relationship.to_pb())
                .collect();
            let outcome = if op == "create" {
                self.store.create(items).await?
            } else {
                self.store.update(items).await?
            };
            for (td, r) in tds.iter().zip(outcome) {
                let by = plan.relationships.get(td).map(|d| d.by.as_str());
                match r {
                    Ok(()) => {
                        if op == "create" {
                            report.created += 1;
                        } else {
                            report.updated += 1;
                        }
                        info!(trust_domain = %td, by = ?by, op, "federation relationship written");
                    }
                    Err(e) => {
                        report.failed += 1;
                        warn!(trust_domain = %td, by = ?by, error = %e, op, "server refused federation relationship");
                        failed.insert(td.clone(), e);
                    }
                }
            }
        }
        Ok(failed)
    }

    /// Publishes each warning once while it lasts.
    async fn publish(
        &mut self,
        resources: &[Arc<ClusterFederatedTrustDomain>],
        warnings: Vec<Warning>,
    ) {
        let mut next = HashSet::new();
        for w in warnings {
            if self.published.contains(&w) {
                next.insert(w);
                continue;
            }
            let Some(r) = resources
                .iter()
                .find(|r| r.metadata.name.as_deref() == Some(w.resource.as_str()))
            else {
                continue;
            };
            let ev = Event {
                type_: EventType::Warning,
                reason: w.reason.to_owned(),
                note: Some(w.note.chars().take(1000).collect()),
                action: "Reconcile".to_owned(),
                secondary: None,
            };
            if let Err(e) = self.recorder.publish(&ev, &r.object_ref(&())).await {
                warn!(resource = %w.resource, error = %e, "could not publish event");
            }
            next.insert(w);
        }
        self.published = next;
    }
}

/// Aborts the watch task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
