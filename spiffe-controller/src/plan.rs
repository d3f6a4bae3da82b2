//! From a snapshot of the cluster to the entries it should have: which pods each
//! `ClusterSPIFFEID` selects, their rendered entries, the `ClusterStaticEntry` entries, which
//! declaration wins when two declare the same entry (the oldest resource; the others are
//! "masked"), and the counters for each resource's status. A pure function: the reconcile loop
//! and the `render` subcommand share it.
//!
//! As spire-controller-manager: `fallback` resources are applied last, and only to the pods
//! that no non-fallback resource rendered an entry for; `autoPopulateDNSNames` appends the
//! names of the services the pod is an endpoint of ([`crate::services`]). Unlike it, pods that
//! are not scheduled yet or have finished (`Succeeded`, `Failed`) get no entry and are not
//! counted as selected: no workload runs in them yet, or any more.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use spiffe_core::SpiffeId;

use crate::config::ControllerConfig;
use crate::crd::{
    ClusterSPIFFEID, ClusterSPIFFEIDStats, ClusterStaticEntry, ClusterStaticEntryStatus,
};
use crate::entry::DesiredEntry;
use crate::render::{ParsedSpec, RenderError, parse_selectors, pod_entry, static_entry};
use crate::services::{PodServices, append_dns_names};

/// Everything the plan looks at.
#[derive(Debug, Clone, Default)]
pub struct ClusterSnapshot {
    /// All pods.
    pub pods: Vec<Arc<Pod>>,
    /// All nodes.
    pub nodes: Vec<Arc<Node>>,
    /// All namespaces.
    pub namespaces: Vec<Arc<Namespace>>,
    /// All `ClusterSPIFFEID`s.
    pub cluster_spiffe_ids: Vec<Arc<ClusterSPIFFEID>>,
    /// All `ClusterStaticEntry`s.
    pub static_entries: Vec<Arc<ClusterStaticEntry>>,
    /// All services (for `autoPopulateDNSNames`).
    pub services: Vec<Arc<Service>>,
    /// All `EndpointSlice`s (for `autoPopulateDNSNames`).
    pub endpoint_slices: Vec<Arc<EndpointSlice>>,
}

/// A resource that declares entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name")]
pub enum ResourceRef {
    /// A `ClusterSPIFFEID`, by name.
    ClusterSPIFFEID(String),
    /// A `ClusterStaticEntry`, by name.
    ClusterStaticEntry(String),
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceRef::ClusterSPIFFEID(n) => write!(f, "ClusterSPIFFEID/{n}"),
            ResourceRef::ClusterStaticEntry(n) => write!(f, "ClusterStaticEntry/{n}"),
        }
    }
}

/// A pod, by namespace, name and UID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
}

impl fmt::Display for PodRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// An entry and who declared it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Declared {
    /// The entry.
    pub entry: DesiredEntry,
    /// The resource that declared it (the preferred one when several did).
    pub by: ResourceRef,
    /// The pod it is for (`ClusterSPIFFEID` entries).
    pub pod: Option<PodRef>,
}

/// An entry that did not render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderFailure {
    /// The resource.
    pub resource: ResourceRef,
    /// The pod, for `ClusterSPIFFEID` entries.
    pub pod: Option<PodRef>,
    /// Why.
    pub error: RenderError,
}

impl fmt::Display for RenderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pod {
            Some(p) => write!(f, "{}: pod {p}: {}", self.resource, self.error),
            None => write!(f, "{}: {}", self.resource, self.error),
        }
    }
}

/// The desired state.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The entries to have, by entry ID.
    pub entries: BTreeMap<String, Declared>,
    /// Counters of each reconciled `ClusterSPIFFEID`, by name (`entryFailures` and
    /// `entrySuccess` are filled in once the server has answered).
    pub spiffe_id_stats: BTreeMap<String, ClusterSPIFFEIDStats>,
    /// Status of each reconciled `ClusterStaticEntry`, by name (`set` filled in later).
    pub static_status: BTreeMap<String, ClusterStaticEntryStatus>,
    /// What did not render.
    pub failures: Vec<RenderFailure>,
}

/// Orders declarations as spire-controller-manager does: the oldest resource first; then
/// resources not being deleted, then those whose deletion was asked for later; then by UID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Preference {
    created: Option<Timestamp>,
    deleting: Option<Reverse<Timestamp>>,
    uid: String,
    by: ResourceRef,
}

fn preference(meta: &ObjectMeta, by: ResourceRef) -> Preference {
    Preference {
        created: meta.creation_timestamp.as_ref().map(|t| t.0),
        deleting: meta.deletion_timestamp.as_ref().map(|t| Reverse(t.0)),
        uid: meta.uid.clone().unwrap_or_default(),
        by,
    }
}

fn pod_ref(pod: &Pod) -> PodRef {
    PodRef {
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        name: pod.metadata.name.clone().unwrap_or_default(),
        uid: pod.metadata.uid.clone().unwrap_or_default(),
    }
}

/// Whether a pod can run a workload that needs an entry: scheduled, not finished.
fn pod_is_live(pod: &Pod) -> bool {
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|p| p == "Succeeded" || p == "Failed");
    scheduled && !finished
}

/// Computes the desired state.
pub fn plan(config: &ControllerConfig, snap: &ClusterSnapshot) -> Plan {
    let info = config.cluster_info();
    let mut out = Plan::default();
    let nodes: HashMap<&str, &Node> = snap
        .nodes
        .iter()
        .filter_map(|n| n.metadata.name.as_deref().map(|name| (name, n.as_ref())))
        .collect();
    let mut pods_by_ns: HashMap<&str, Vec<&Pod>> = HashMap::new();
    for p in &snap.pods {
        if pod_is_live(p) {
            let ns = p.metadata.namespace.as_deref().unwrap_or("default");
            pods_by_ns.entry(ns).or_default().push(p);
        }
    }
    let mut namespaces: Vec<&Namespace> = snap.namespaces.iter().map(AsRef::as_ref).collect();
    namespaces.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let mut parents: HashMap<&str, Result<SpiffeId, RenderError>> = HashMap::new();
    let services = PodServices::index(&snap.services, &snap.endpoint_slices);

    let mut declared: HashMap<String, Vec<(Preference, Declared)>> = HashMap::new();

    // Non-fallback resources first, so fallbacks see which pods are taken.
    let mut ids: Vec<&ClusterSPIFFEID> = snap
        .cluster_spiffe_ids
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| config.reconciles_class(c.spec.class_name.as_deref()))
        .collect();
    ids.sort_by(|a, b| {
        (a.spec.fallback, &a.metadata.name).cmp(&(b.spec.fallback, &b.metadata.name))
    });
    let mut taken: HashSet<&str> = HashSet::new();

    for csid in ids {
        let name = csid.metadata.name.clone().unwrap_or_default();
        let by = ResourceRef::ClusterSPIFFEID(name.clone());
        let stats = out.spiffe_id_stats.entry(name).or_default();
        let auto_dns = csid.spec.auto_populate_dns_names;
        let (ns_matcher, pod_matcher) = match parse_selectors(&csid.spec) {
            Ok(m) => m,
            Err(e) => {
                out.failures.push(RenderFailure {
                    resource: by,
                    pod: None,
                    error: e.into(),
                });
                continue;
            }
        };
        // A spec whose templates are bad still selects pods: each counts as a failure.
        let parsed = ParsedSpec::parse(&csid.spec);
        if let Err(e) = &parsed {
            out.failures.push(RenderFailure {
                resource: by.clone(),
                pod: None,
                error: e.clone().into(),
            });
        }
        let fallback = csid.spec.fallback;
        let pref = preference(&csid.metadata, by.clone());
        for ns in &namespaces {
            let ns_name = ns.metadata.name.as_deref().unwrap_or_default();
            if !ns_matcher.matches(ns_name, ns.metadata.labels.as_ref()) {
                continue;
            }
            stats.namespaces_selected += 1;
            if config.ignored_namespaces.contains(ns_name) {
                stats.namespaces_ignored += 1;
                continue;
            }
            for pod in pods_by_ns.get(ns_name).into_iter().flatten() {
                if !pod_matcher.matches(pod.metadata.labels.as_ref()) {
                    continue;
                }
                stats.pods_selected += 1;
                let uid = pod.metadata.uid.as_deref().unwrap_or_default();
                if fallback && taken.contains(uid) {
                    continue;
                }
                let spec = match &parsed {
                    Ok(s) => s,
                    Err(_) => {
                        stats.pod_entry_render_failures += 1;
                        continue;
                    }
                };
                let node_name = pod
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or_default();
                let rendered = match nodes.get(node_name) {
                    None => Err(RenderError::NodeNotFound {
                        node: node_name.to_owned(),
                    }),
                    Some(node) => {
                        let parent = parents
                            .entry(node_name)
                            .or_insert_with(|| crate::render::parent_id(config, node));
                        match parent {
                            Err(e) => Err(e.clone()),
                            Ok(parent) => pod_entry(config, &info, spec, pod, node, parent),
                        }
                    }
                };
                let rendered = rendered.and_then(|mut entry| {
                    if auto_dns {
                        append_dns_names(
                            &mut entry,
                            services.dns_names(pod, &config.cluster_domain),
                        )?;
                    }
                    Ok(entry)
                });
                match rendered {
                    Ok(entry) => {
                        if !fallback {
                            taken.insert(uid);
                        }
                        declared.entry(entry.id.clone()).or_default().push((
                            pref.clone(),
                            Declared {
                                entry,
                                by: by.clone(),
                                pod: Some(pod_ref(pod)),
                            },
                        ));
                    }
                    Err(error) => {
                        stats.pod_entry_render_failures += 1;
                        out.failures.push(RenderFailure {
                            resource: by.clone(),
                            pod: Some(pod_ref(pod)),
                            error,
                        });
                    }
                }
            }
        }
    }

    for cse in &snap.static_entries {
        if !config.reconciles_class(cse.spec.class_name.as_deref()) {
            continue;
        }
        let name = cse.metadata.name.clone().unwrap_or_default();
        let by = ResourceRef::ClusterStaticEntry(name.clone());
        let status = out.static_status.entry(name).or_default();
        match static_entry(config, &cse.spec) {
            Ok(entry) => {
                status.rendered = true;
                declared.entry(entry.id.clone()).or_default().push((
                    preference(&cse.metadata, by.clone()),
                    Declared {
                        entry,
                        by,
                        pod: None,
                    },
                ));
            }
            Err(error) => out.failures.push(RenderFailure {
                resource: by,
                pod: None,
                error,
            }),
        }
    }

    for (id, mut list) in declared {
        list.sort_by(|a, b| a.0.cmp(&b.0));
        let mut it = list.into_iter();
        let Some((_, first)) = it.next() else {
            continue;
        };
        if let ResourceRef::ClusterSPIFFEID(n) = &first.by
            && let Some(s) = out.spiffe_id_stats.get_mut(n)
        {
            s.entries_to_set += 1;
        }
        for (_, other) in it {
            match &other.by {
                ResourceRef::ClusterSPIFFEID(n) => {
                    if let Some(s) = out.spiffe_id_stats.get_mut(n) {
                        s.entries_masked += 1;
                    }
                }
                ResourceRef::ClusterStaticEntry(n) => {
                    if let Some(s) = out.static_status.get_mut(n) {
                        s.masked = true;
                    }
                }
            }
        }
        out.entries.insert(id, first);
    }
    out
}
