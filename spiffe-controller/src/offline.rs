//! Kubernetes YAML in, a [`ClusterSnapshot`] out: what `spiffe-controller render` reads.
//! Multi-document YAML (and `kind: List`) of `ClusterSPIFFEID`, `ClusterStaticEntry`, `Pod`,
//! `Namespace`, `Node`, `Service` and `EndpointSlice`, and `ClusterFederatedTrustDomain`s
//! beside the snapshot; other kinds are skipped with a note.
//! What a hand-written manifest usually leaves out is filled in with visible placeholders (and
//! a note for each): a namespace a pod names but no document defines, a pod's UID, an
//! unscheduled pod's node, a node no document defines, and the `EndpointSlice` of a service
//! with a selector that no document gives one (the pods its selector matches, as the
//! EndpointSlice controller would list them), so `autoPopulateDNSNames` can be tried on a
//! `Service` manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Node, ObjectReference, Pod};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::crd::ClusterFederatedTrustDomain;
use crate::plan::ClusterSnapshot;
use crate::services::SERVICE_NAME_LABEL;

/// The node unscheduled pods are placed on.
pub const PLACEHOLDER_NODE: &str = "unscheduled";

/// Why the input could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OfflineError {
    /// Not YAML.
    #[error("{source_name}: document {index}: {error}")]
    Yaml {
        /// File name (or `-`).
        source_name: String,
        /// 1-based document number.
        index: usize,
        /// Why.
        error: serde_yaml::Error,
    },
    /// YAML, but not a valid object of its kind.
    #[error("{source_name}: document {index} ({kind}): {error}")]
    Object {
        /// File name.
        source_name: String,
        /// 1-based document number.
        index: usize,
        /// The kind.
        kind: String,
        /// Why.
        error: serde_json::Error,
    },
}

/// A snapshot and what was assumed to build it.
#[derive(Debug, Clone, Default)]
pub struct OfflineInput {
    /// The objects.
    pub snapshot: ClusterSnapshot,
    /// The `ClusterFederatedTrustDomain`s.
    pub federated_trust_domains: Vec<Arc<ClusterFederatedTrustDomain>>,
    /// What was skipped or filled in.
    pub notes: Vec<String>,
}

impl OfflineInput {
    /// Adds the documents of one YAML text (`source_name` is for messages).
    pub fn add_yaml(&mut self, source_name: &str, text: &str) -> Result<(), OfflineError> {
        for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let index = i + 1;
            let value = Value::deserialize(doc).map_err(|error| OfflineError::Yaml {
                source_name: source_name.to_owned(),
                index,
                error,
            })?;
            self.add_value(source_name, index, value)?;
        }
        Ok(())
    }

    fn add_value(
        &mut self,
        source_name: &str,
        index: usize,
        value: Value,
    ) -> Result<(), OfflineError> {
        if value.is_null() {
            return Ok(());
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let object = |error| OfflineError::Object {
            source_name: source_name.to_owned(),
            index,
            kind: kind.clone(),
            error,
        };
        let s = &mut self.snapshot;
        match kind.as_str() {
            "List" => {
                let items = value
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for item in items {
                    self.add_value(source_name, index, item)?;
                }
            }
            "Pod" => s.pods.push(decode(value, object)?),
            "Node" => s.nodes.push(decode(value, object)?),
            "Namespace" => s.namespaces.push(decode(value, object)?),
            "ClusterSPIFFEID" => s.cluster_spiffe_ids.push(decode(value, object)?),
            "ClusterStaticEntry" => s.static_entries.push(decode(value, object)?),
            "ClusterFederatedTrustDomain" => {
                let r = decode(value, object)?;
                self.federated_trust_domains.push(r);
            }
            "Service" => s.services.push(decode(value, object)?),
            "EndpointSlice" => s.endpoint_slices.push(decode(value, object)?),
            other => self.notes.push(format!(
                "{source_name}: document {index}: kind {other:?} is not used, skipped"
            )),
        }
        Ok(())
    }

    /// Fills in what the documents leave out (see the module docs), noting each assumption.
    pub fn complete(&mut self) {
        let s = &mut self.snapshot;
        let mut pods = Vec::with_capacity(s.pods.len());
        for p in s.pods.drain(..) {
            let mut pod = Arc::unwrap_or_clone(p);
            let ns = pod
                .metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned())
                .clone();
            let name = pod.metadata.name.clone().unwrap_or_default();
            if pod.metadata.uid.as_deref().unwrap_or("").is_empty() {
                let uid = format!("uid-of-{ns}-{name}");
                self.notes.push(format!(
                    "pod {ns}/{name} has no metadata.uid; using placeholder {uid:?}"
                ));
                pod.metadata.uid = Some(uid);
            }
            let spec = pod.spec.get_or_insert_with(Default::default);
            if spec.node_name.as_deref().unwrap_or("").is_empty() {
                self.notes.push(format!(
                    "pod {ns}/{name} is not scheduled (no spec.nodeName); placing it on node {PLACEHOLDER_NODE:?}"
                ));
                spec.node_name = Some(PLACEHOLDER_NODE.to_owned());
            }
            pods.push(Arc::new(pod));
        }
        s.pods = pods;
        let known_ns: BTreeSet<String> = s
            .namespaces
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        let wanted_ns: BTreeSet<String> = s
            .pods
            .iter()
            .filter_map(|p| p.metadata.namespace.clone())
            .collect();
        for ns in wanted_ns.difference(&known_ns) {
            self.notes.push(format!(
                "namespace {ns:?} has no Namespace document; assuming one without labels"
            ));
            s.namespaces.push(Arc::new(Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.clone()),
                    ..Default::default()
                },
                ..Default::default()
            }));
        }
        let known_nodes: BTreeSet<String> = s
            .nodes
            .iter()
            .filter_map(|n| n.metadata.name.clone())
            .collect();
        let wanted_nodes: BTreeSet<String> = s
            .pods
            .iter()
            .filter_map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
            .collect();
        for node in wanted_nodes.difference(&known_nodes) {
            let uid = format!("uid-of-node-{node}");
            self.notes.push(format!(
                "node {node:?} has no Node document; its agent ID uses placeholder UID {uid:?}"
            ));
            s.nodes.push(Arc::new(Node {
                metadata: ObjectMeta {
                    name: Some(node.clone()),
                    uid: Some(uid),
                    ..Default::default()
                },
                ..Default::default()
            }));
        }
        self.complete_endpoint_slices();
    }

    /// Gives each service with a selector and no `EndpointSlice` document one, listing the
    /// pods of its namespace that its selector matches.
    fn complete_endpoint_slices(&mut self) {
        let s = &mut self.snapshot;
        for e in &mut s.endpoint_slices {
            if e.metadata.namespace.is_none() {
                Arc::make_mut(e).metadata.namespace = Some("default".into());
            }
        }
        let sliced: BTreeSet<(String, String)> = s
            .endpoint_slices
            .iter()
            .filter_map(|e| {
                let ns = e.metadata.namespace.clone()?;
                let svc = e.metadata.labels.as_ref()?.get(SERVICE_NAME_LABEL)?.clone();
                Some((ns, svc))
            })
            .collect();
        let mut made = Vec::new();
        for svc in &mut s.services {
            if svc.metadata.namespace.is_none() {
                Arc::make_mut(svc).metadata.namespace = Some("default".into());
            }
            let ns = svc.metadata.namespace.clone().unwrap_or_default();
            let name = svc.metadata.name.clone().unwrap_or_default();
            let Some(spec) = svc.spec.as_ref() else {
                continue;
            };
            let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
                continue;
            };
            if spec.type_.as_deref() == Some("ExternalName")
                || sliced.contains(&(ns.clone(), name.clone()))
            {
                continue;
            }
            let pods: Vec<&Pod> = s
                .pods
                .iter()
                .map(AsRef::as_ref)
                .filter(|p| p.metadata.namespace.as_deref() == Some(ns.as_str()))
                .filter(|p| selects(selector, p.metadata.labels.as_ref()))
                .collect();
            self.notes.push(format!(
                "service {ns}/{name} has no EndpointSlice document; assuming one with the {} pod(s) its selector matches",
                pods.len()
            ));
            made.push(Arc::new(EndpointSlice {
                metadata: ObjectMeta {
                    name: Some(format!("{name}-assumed")),
                    namespace: Some(ns.clone()),
                    labels: Some(BTreeMap::from([(
                        SERVICE_NAME_LABEL.to_owned(),
                        name.clone(),
                    )])),
                    ..Default::default()
                },
                address_type: "IPv4".into(),
                endpoints: pods
                    .iter()
                    .map(|p| Endpoint {
                        target_ref: Some(ObjectReference {
                            kind: Some("Pod".into()),
                            namespace: p.metadata.namespace.clone(),
                            name: p.metadata.name.clone(),
                            uid: p.metadata.uid.clone(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .collect(),
                ports: None,
            }));
        }
        s.endpoint_slices.extend(made);
    }
}

/// Whether a service's `selector` (equality on every label) selects a pod with `labels`.
fn selects(selector: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// Reads YAML texts (name, text) into a completed snapshot.
pub fn read_documents<'a>(
    inputs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<OfflineInput, OfflineError> {
    let mut input = OfflineInput::default();
    for (name, text) in inputs {
        input.add_yaml(name, text)?;
    }
    input.complete();
    Ok(input)
}

/// An object decoded from its JSON document, shared; `object` words a decoding error.
fn decode<T: serde::de::DeserializeOwned>(
    value: Value,
    object: impl FnOnce(serde_json::Error) -> OfflineError,
) -> Result<Arc<T>, OfflineError> {
    serde_json::from_value(value).map(Arc::new).map_err(object)
}
