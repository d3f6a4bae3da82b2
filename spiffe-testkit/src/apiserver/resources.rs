//! The resource types the fake server knows: built-in ones and the controller's CRDs. Add
//! more with [`super::FakeApiServer::register`].

/// A REST resource type: where it lives in the URL space and what its objects are called.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceType {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version (`v1`).
    pub version: String,
    /// Plural, as in URLs (`pods`).
    pub plural: String,
    /// Kind (`Pod`).
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

impl ResourceType {
    /// A resource type.
    pub fn new(group: &str, version: &str, plural: &str, kind: &str, namespaced: bool) -> Self {
        ResourceType {
            group: group.to_owned(),
            version: version.to_owned(),
            plural: plural.to_owned(),
            kind: kind.to_owned(),
            namespaced,
        }
    }

    /// `apiVersion` of its objects (`v1`, `apps/v1`).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// A key naming the type (`/v1/pods`, `spire.spiffe.io/v1alpha1/clusterspiffeids`).
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.group, self.version, self.plural)
    }
}

/// The types known from the start.
pub(crate) fn builtin() -> Vec<ResourceType> {
    vec![
        ResourceType::new("", "v1", "pods", "Pod", true),
        ResourceType::new("", "v1", "nodes", "Node", false),
        ResourceType::new("", "v1", "namespaces", "Namespace", false),
        ResourceType::new("", "v1", "serviceaccounts", "ServiceAccount", true),
        ResourceType::new("", "v1", "configmaps", "ConfigMap", true),
        ResourceType::new("", "v1", "services", "Service", true),
        ResourceType::new(
            "discovery.k8s.io",
            "v1",
            "endpointslices",
            "EndpointSlice",
            true,
        ),
        ResourceType::new("", "v1", "events", "Event", true),
        ResourceType::new("events.k8s.io", "v1", "events", "Event", true),
        ResourceType::new("apps", "v1", "daemonsets", "DaemonSet", true),
        ResourceType::new("apps", "v1", "statefulsets", "StatefulSet", true),
        ResourceType::new("apps", "v1", "deployments", "Deployment", true),
        ResourceType::new(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
            "CustomResourceDefinition",
            false,
        ),
        ResourceType::new(
            "spire.spiffe.io",
            "v1alpha1",
            "clusterspiffeids",
            "ClusterSPIFFEID",
            false,
        ),
        ResourceType::new(
            "spire.spiffe.io",
            "v1alpha1",
            "clusterstaticentries",
            "ClusterStaticEntry",
            false,
        ),
        ResourceType::new(
            "spire.spiffe.io",
            "v1alpha1",
            "clusterfederatedtrustdomains",
            "ClusterFederatedTrustDomain",
            false,
        ),
    ]
}
