//! Writing what a reconcile found back to the cluster: each resource's status (only when it
//! changed) and Warning events for render and entry failures (each distinct message once while
//! it lasts, a few per resource per reconcile).

use std::collections::{BTreeMap, HashMap, HashSet};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource};
use serde_json::json;
use tracing::{debug, warn};

use crate::crd::{ClusterSPIFFEID, ClusterSPIFFEIDStatus, ClusterStaticEntry};
use crate::plan::{ClusterSnapshot, Plan, ResourceRef};

/// Most new events published for one resource in one reconcile.
const EVENTS_PER_RESOURCE: usize = 5;

/// A Warning to publish.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Warning {
    pub(crate) resource: ResourceRef,
    pub(crate) reason: &'static str,
    pub(crate) note: String,
}

/// What persists between reconciles.
#[derive(Default)]
pub(crate) struct StatusWriter {
    published: HashSet<Warning>,
}

impl StatusWriter {
    /// Patches the statuses that differ from the plan's.
    pub(crate) async fn write_statuses(
        &self,
        client: &Client,
        snap: &ClusterSnapshot,
        plan: &Plan,
    ) {
        let ids: Api<ClusterSPIFFEID> = Api::all(client.clone());
        for c in &snap.cluster_spiffe_ids {
            let Some(name) = c.metadata.name.as_deref() else {
                continue;
            };
            let Some(stats) = plan.spiffe_id_stats.get(name) else {
                continue;
            };
            let want = ClusterSPIFFEIDStatus {
                stats: stats.clone(),
            };
            if c.status.as_ref() == Some(&want) {
                continue;
            }
            let patch = json!({ "status": want });
            match ids
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => debug!(cluster_spiffe_id = name, "status updated"),
                Err(e) => warn!(cluster_spiffe_id = name, error = %e, "could not update status"),
            }
        }
        let statics: Api<ClusterStaticEntry> = Api::all(client.clone());
        for c in &snap.static_entries {
            let Some(name) = c.metadata.name.as_deref() else {
                continue;
            };
            let Some(want) = plan.static_status.get(name) else {
                continue;
            };
            if c.status.as_ref() == Some(want) {
                continue;
            }
            let patch = json!({ "status": want });
            match statics
                .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => debug!(cluster_static_entry = name, "status updated"),
                Err(e) => warn!(cluster_static_entry = name, error = %e, "could not update status"),
            }
        }
    }

    /// Publishes the warnings not published while they last held.
    pub(crate) async fn publish(
        &mut self,
        recorder: &Recorder,
        snap: &ClusterSnapshot,
        warnings: Vec<Warning>,
    ) {
        let mut refs: HashMap<ResourceRef, ObjectReference> = HashMap::new();
        for c in &snap.cluster_spiffe_ids {
            if let Some(n) = &c.metadata.name {
                refs.insert(ResourceRef::ClusterSPIFFEID(n.clone()), c.object_ref(&()));
            }
        }
        for c in &snap.static_entries {
            if let Some(n) = &c.metadata.name {
                refs.insert(
                    ResourceRef::ClusterStaticEntry(n.clone()),
                    c.object_ref(&()),
                );
            }
        }
        let mut next: HashSet<Warning> = HashSet::new();
        let mut per_resource: BTreeMap<ResourceRef, usize> = BTreeMap::new();
        for w in warnings {
            if self.published.contains(&w) {
                next.insert(w);
                continue;
            }
            let n = per_resource.entry(w.resource.clone()).or_default();
            if *n >= EVENTS_PER_RESOURCE {
                continue;
            }
            *n += 1;
            let Some(reference) = refs.get(&w.resource) else {
                continue;
            };
            let ev = Event {
                type_: EventType::Warning,
                reason: w.reason.to_owned(),
                note: Some(truncate(&w.note, 1000)),
                action: "Reconcile".to_owned(),
                secondary: None,
            };
            if let Err(e) = recorder.publish(&ev, reference).await {
                warn!(resource = %w.resource, error = %e, "could not publish event");
            }
            next.insert(w);
        }
        self.published = next;
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}
