//! What templates see, with the field names of SPIRE's controller manager (Go's names):
//!
//! | field | content |
//! |---|---|
//! | `.TrustDomain`, `.ClusterName`, `.ClusterDomain` | the controller's settings |
//! | `.PodMeta` | `Name`, `GenerateName`, `Namespace`, `UID`, `ResourceVersion`, `Labels`, `Annotations` |
//! | `.PodSpec` | `ServiceAccountName`, `NodeName`, `Hostname`, `Subdomain`, `SchedulerName`, `PriorityClassName`, `HostNetwork` |
//! | `.NodeMeta` | like `.PodMeta`, of the pod's node |
//! | `.NodeSpec` | `PodCIDR`, `ProviderID`, `Unschedulable` |
//! | `.Pod` | short forms: `Name`, `Namespace`, `UID`, `ServiceAccount`, `NodeName`, `Labels`, `Annotations` |
//!
//! Labels and annotations are maps: `{{ index .PodMeta.Labels "app" }}` (empty when absent) or
//! `{{ .PodMeta.Labels.app }}`.

use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::template::{Struct, Value};

/// The controller settings templates see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The trust domain's name.
    pub trust_domain: String,
    /// The cluster's name (as the agents' `k8s_psat` attestor knows it).
    pub cluster_name: String,
    /// The cluster's DNS domain (`cluster.local`).
    pub cluster_domain: String,
}

fn meta(type_name: &'static str, m: &ObjectMeta) -> Struct {
    Struct::new(type_name)
        .field("Name", m.name.clone())
        .field("GenerateName", m.generate_name.clone())
        .field("Namespace", m.namespace.clone())
        .field("UID", m.uid.clone())
        .field("ResourceVersion", m.resource_version.clone())
        .field("Labels", m.labels.clone().unwrap_or_default())
        .field("Annotations", m.annotations.clone().unwrap_or_default())
}

fn base(info: &ClusterInfo) -> Struct {
    Struct::new("spireentry.templateData")
        .field("TrustDomain", info.trust_domain.as_str())
        .field("ClusterName", info.cluster_name.as_str())
        .field("ClusterDomain", info.cluster_domain.as_str())
}

fn node_parts(s: Struct, node: &Node) -> Struct {
    let spec = node.spec.clone().unwrap_or_default();
    s.field("NodeMeta", meta("v1.ObjectMeta", &node.metadata))
        .field(
            "NodeSpec",
            Struct::new("v1.NodeSpec")
                .field("PodCIDR", spec.pod_cidr)
                .field("ProviderID", spec.provider_id)
                .field("Unschedulable", spec.unschedulable.unwrap_or(false)),
        )
}

/// The data for a node-only template (the parent ID template): no pod fields.
pub fn node_data(info: &ClusterInfo, node: &Node) -> Value {
    Value::Struct(node_parts(base(info), node))
}

/// The data for a pod's templates.
pub fn pod_data(info: &ClusterInfo, pod: &Pod, node: &Node) -> Value {
    let spec = pod.spec.clone().unwrap_or_default();
    let m = &pod.metadata;
    let short = Struct::new("spiffecontroller.pod")
        .field("Name", m.name.clone())
        .field("Namespace", m.namespace.clone())
        .field("UID", m.uid.clone())
        .field("ServiceAccount", service_account(pod))
        .field("NodeName", spec.node_name.clone())
        .field("Labels", m.labels.clone().unwrap_or_default())
        .field("Annotations", m.annotations.clone().unwrap_or_default());
    let s = base(info)
        .field("PodMeta", meta("v1.ObjectMeta", m))
        .field(
            "PodSpec",
            Struct::new("v1.PodSpec")
                .field("ServiceAccountName", spec.service_account_name.clone())
                .field("NodeName", spec.node_name.clone())
                .field("Hostname", spec.hostname.clone())
                .field("Subdomain", spec.subdomain.clone())
                .field("SchedulerName", spec.scheduler_name.clone())
                .field("PriorityClassName", spec.priority_class_name.clone())
                .field("HostNetwork", spec.host_network.unwrap_or(false)),
        )
        .field("Pod", short);
    Value::Struct(node_parts(s, node))
}

/// The pod's service account: `serviceAccountName`, else the deprecated `serviceAccount`,
/// else `default` (what the API server fills in).
pub fn service_account(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| {
            s.service_account_name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| s.service_account.clone().filter(|n| !n.is_empty()))
        })
        .unwrap_or_else(|| "default".to_owned())
}
