//! `autoPopulateDNSNames`: the services a pod is an endpoint of, from the cluster's
//! `EndpointSlice`s (`discovery.k8s.io/v1`), and the DNS names they give the pod's entry.
//!
//! As spire-controller-manager does: a service counts for a pod when one of its endpoints in
//! the pod's namespace targets the pod (`targetRef` of kind `Pod` with the pod's UID), ready
//! or not; each such service `<svc>` in namespace `<ns>` gives `<svc>`, `<svc>.<ns>`,
//! `<svc>.<ns>.svc` and, when the cluster domain is set, `<svc>.<ns>.svc.<cluster domain>`.
//! All those names are sorted together and appended after the names of `dnsNameTemplates`,
//! each name once (the first occurrence stays).
//!
//! Where this differs on purpose: the slice must belong to a `Service` that exists and is not
//! of type `ExternalName` (a slice left behind by a deleted service, or a name that resolves
//! elsewhere, gives nothing), and an endpoint counts whatever its conditions, `terminating`
//! included (spire-controller-manager reads the older `Endpoints`, which drop a pod as soon as
//! it starts terminating, so the entry and the SVID of a pod still draining its connections
//! were rewritten without the service names).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;

use crate::entry::DesiredEntry;
use crate::render::{RenderError, check_dns_name};

/// The label that names an `EndpointSlice`'s service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The field named in errors about the names this module adds.
pub const FIELD: &str = "autoPopulateDNSNames";

/// Which services each pod is an endpoint of.
#[derive(Debug, Clone, Default)]
pub struct PodServices {
    /// (namespace, pod UID) to the names of the services in that namespace.
    by_pod: HashMap<(String, String), BTreeSet<String>>,
}

impl PodServices {
    /// Indexes `slices` by the pods their endpoints target, keeping only slices of services
    /// in `services` that are not `ExternalName` services.
    pub fn index(services: &[Arc<Service>], slices: &[Arc<EndpointSlice>]) -> Self {
        let known: HashSet<(&str, &str)> = services
            .iter()
            .filter(|s| {
                s.spec.as_ref().and_then(|spec| spec.type_.as_deref()) != Some("ExternalName")
            })
            .filter_map(|s| {
                Some((
                    s.metadata.namespace.as_deref()?,
                    s.metadata.name.as_deref()?,
                ))
            })
            .collect();
        let mut by_pod: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
        for slice in slices {
            let Some(ns) = slice.metadata.namespace.as_deref() else {
                continue;
            };
            let Some(service) = slice
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
            else {
                continue;
            };
            if !known.contains(&(ns, service.as_str())) {
                continue;
            }
            for endpoint in &slice.endpoints {
                let Some(target) = &endpoint.target_ref else {
                    continue;
                };
                if target.kind.as_deref() != Some("Pod") {
                    continue;
                }
                if target.namespace.as_deref().is_some_and(|t| t != ns) {
                    continue;
                }
                let Some(uid) = target.uid.as_deref().filter(|u| !u.is_empty()) else {
                    continue;
                };
                by_pod
                    .entry((ns.to_owned(), uid.to_owned()))
                    .or_default()
                    .insert(service.clone());
            }
        }
        PodServices { by_pod }
    }

    /// The names of the services `pod` is an endpoint of, sorted.
    pub fn services_of(&self, pod: &Pod) -> Vec<&str> {
        let key = (
            pod.metadata.namespace.clone().unwrap_or_default(),
            pod.metadata.uid.clone().unwrap_or_default(),
        );
        self.by_pod
            .get(&key)
            .map(|s| s.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The service DNS names of `pod`, sorted (see the module docs).
    pub fn dns_names(&self, pod: &Pod, cluster_domain: &str) -> Vec<String> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let mut names = Vec::new();
        for svc in self.services_of(pod) {
            names.push(svc.to_owned());
            names.push(format!("{svc}.{ns}"));
            names.push(format!("{svc}.{ns}.svc"));
            if !cluster_domain.is_empty() {
                names.push(format!("{svc}.{ns}.svc.{cluster_domain}"));
            }
        }
        names.sort();
        names
    }
}

/// Appends `names` to the entry's DNS names, each once, after those already there.
///
/// # Errors
///
/// [`RenderError::DnsName`] (field `autoPopulateDNSNames`) for a name the server would refuse
/// (a cluster domain that is not a DNS name, for one).
pub fn append_dns_names(entry: &mut DesiredEntry, names: Vec<String>) -> Result<(), RenderError> {
    for name in names {
        check_dns_name(&name).map_err(|reason| RenderError::DnsName {
            field: FIELD.to_owned(),
            rendered: name.clone(),
            reason,
        })?;
        if !entry.dns_names.contains(&name) {
            entry.dns_names.push(name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use spiffe_core::{Selector, SpiffeId};

    fn pod(ns: &str, uid: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": ns, "uid": uid}
        }))
        .unwrap()
    }

    fn service(ns: &str, name: &str, type_: &str) -> Arc<Service> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {"type": type_, "selector": {"app": name}}
            }))
            .unwrap(),
        )
    }

    /// A slice as the EndpointSlice controller writes it.
    fn slice(ns: &str, name: &str, service: &str, targets: &[(&str, &str)]) -> Arc<EndpointSlice> {
        let endpoints: Vec<_> = targets
            .iter()
            .map(|(kind, uid)| {
                json!({
                    "addresses": ["10.244.1.17"],
                    "conditions": {"ready": true, "serving": true, "terminating": false},
                    "targetRef": {"kind": kind, "namespace": ns, "name": "p", "uid": uid}
                })
            })
            .collect();
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {
                        SERVICE_NAME_LABEL: service,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"
                    }
                },
                "addressType": "IPv4",
                "endpoints": endpoints,
                "ports": [{"name": "https", "port": 8443, "protocol": "TCP"}]
            }))
            .unwrap(),
        )
    }

    #[test]
    fn names_of_every_service_sorted_together() {
        let services = [
            service("prod", "payments", "ClusterIP"),
            service("prod", "api", "ClusterIP"),
        ];
        let slices = [
            slice("prod", "payments-abc12", "payments", &[("Pod", "u1")]),
            // Dual stack: a second slice of the same service names the pod again.
            slice("prod", "payments-def34", "payments", &[("Pod", "u1")]),
            slice("prod", "api-xyz", "api", &[("Pod", "u2"), ("Pod", "u1")]),
        ];
        let idx = PodServices::index(&services, &slices);
        assert_eq!(idx.services_of(&pod("prod", "u1")), ["api", "payments"]);
        assert_eq!(
            idx.dns_names(&pod("prod", "u1"), "cluster.local"),
            [
                "api",
                "api.prod",
                "api.prod.svc",
                "api.prod.svc.cluster.local",
                "payments",
                "payments.prod",
                "payments.prod.svc",
                "payments.prod.svc.cluster.local",
            ]
        );
        assert_eq!(
            idx.dns_names(&pod("prod", "u2"), ""),
            ["api", "api.prod", "api.prod.svc"],
            "no cluster domain, no fourth name"
        );
        assert!(
            idx.dns_names(&pod("prod", "u3"), "cluster.local")
                .is_empty()
        );
    }

    #[test]
    fn only_pod_targets_of_existing_services_in_the_pod_namespace() {
        let services = [
            service("prod", "payments", "ClusterIP"),
            service("prod", "external", "ExternalName"),
        ];
        let mut no_label = (*slice("prod", "x", "payments", &[("Pod", "u1")])).clone();
        no_label.metadata.labels = None;
        let slices = [
            // A node as target, not a pod.
            slice("prod", "payments-1", "payments", &[("Node", "u1")]),
            // The service is gone; its slice is not yet collected.
            slice("prod", "gone-1", "gone", &[("Pod", "u1")]),
            slice("prod", "external-1", "external", &[("Pod", "u1")]),
            // Same UID, another namespace (not the pod's).
            slice("staging", "payments-1", "payments", &[("Pod", "u1")]),
            Arc::new(no_label),
        ];
        let idx = PodServices::index(&services, &slices);
        assert!(idx.services_of(&pod("prod", "u1")).is_empty());
        assert!(idx.services_of(&pod("staging", "u1")).is_empty());
    }

    #[test]
    fn appended_after_template_names_once() {
        let mut e = DesiredEntry::new(
            "p.",
            SpiffeId::parse("spiffe://td/x").unwrap(),
            SpiffeId::parse("spiffe://td/spire/agent/a").unwrap(),
            vec![Selector::parse("k8s:pod-uid:u1").unwrap()],
        );
        e.dns_names = vec!["payments.prod.svc".into(), "p.example".into()];
        append_dns_names(
            &mut e,
            vec![
                "payments".into(),
                "payments.prod".into(),
                "payments.prod.svc".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            e.dns_names,
            [
                "payments.prod.svc",
                "p.example",
                "payments",
                "payments.prod"
            ]
        );
        let err =
            append_dns_names(&mut e, vec!["payments.prod.svc.bad domain".into()]).unwrap_err();
        assert!(err.to_string().contains(FIELD), "{err}");
    }
}
