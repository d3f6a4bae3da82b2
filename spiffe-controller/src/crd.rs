//! The custom resources, with SPIRE controller manager's group, version, kinds and field
//! names, so its manifests apply unchanged: `ClusterSPIFFEID` (a template applied to selected
//! pods), `ClusterStaticEntry` (one literal entry) and `ClusterFederatedTrustDomain` (a
//! federation relationship). All are cluster-scoped and have a status subresource.
//!
//! Extensions over SPIRE's CRDs: `namespaceSelector.matchNames` and
//! `status.stats.entrySuccess`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::labels::{LabelSelector, NamespaceSelector};

/// The API group.
pub const GROUP: &str = "spire.spiffe.io";
/// The API version.
pub const VERSION: &str = "v1alpha1";

/// `ClusterSPIFFEID`: which pods get which SPIFFE ID, as templates over pod and node data.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "spire.spiffe.io",
    version = "v1alpha1",
    kind = "ClusterSPIFFEID",
    plural = "clusterspiffeids",
    singular = "clusterspiffeid",
    status = "ClusterSPIFFEIDStatus",
    doc = "ClusterSPIFFEID: entries for the pods it selects, rendered from templates"
)]
pub struct ClusterSPIFFEIDSpec {
    /// The SPIFFE ID template, e.g.
    /// `spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}`.
    #[serde(rename = "spiffeIDTemplate")]
    pub spiffe_id_template: String,
    /// Upper bound of the X509-SVID TTL (a Go duration such as `1h`); unset: the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Upper bound of the JWT-SVID TTL (a Go duration).
    #[serde(default, rename = "jwtTtl", skip_serializing_if = "Option::is_none")]
    pub jwt_ttl: Option<String>,
    /// Templates of extra DNS names for the X509-SVID (the first becomes the CN).
    #[serde(
        default,
        rename = "dnsNameTemplates",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns_name_templates: Vec<String>,
    /// Templates of extra workload selectors (`type:value`, e.g.
    /// `k8s:container-name:app`), all of which the workload must present.
    #[serde(
        default,
        rename = "workloadSelectorTemplates",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub workload_selector_templates: Vec<String>,
    /// Trust domains whose bundles the workloads also get.
    #[serde(
        default,
        rename = "federatesWith",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub federates_with: Vec<String>,
    /// The namespaces whose pods are considered (unset: all but the ignored ones).
    #[serde(
        default,
        rename = "namespaceSelector",
        skip_serializing_if = "Option::is_none"
    )]
    pub namespace_selector: Option<NamespaceSelector>,
    /// The pods selected in those namespaces (unset: all).
    #[serde(
        default,
        rename = "podSelector",
        skip_serializing_if = "Option::is_none"
    )]
    pub pod_selector: Option<LabelSelector>,
    /// Whether the SVID may call the server's admin APIs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub admin: bool,
    /// Whether the entry describes a downstream server.
    #[serde(default, skip_serializing_if = "is_false")]
    pub downstream: bool,
    /// Whether to add the DNS names of the services the pod is an endpoint of (`<svc>`,
    /// `<svc>.<ns>`, `<svc>.<ns>.svc`, `<svc>.<ns>.svc.<cluster domain>`) after those of
    /// `dnsNameTemplates`.
    #[serde(
        default,
        rename = "autoPopulateDNSNames",
        skip_serializing_if = "is_false"
    )]
    pub auto_populate_dns_names: bool,
    /// Which controller class acts on this object (empty: controllers that watch classless
    /// objects).
    #[serde(default, rename = "className", skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Apply only to pods no other, non-fallback ClusterSPIFFEID applies to.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fallback: bool,
    /// The hint passed to workloads with the SVID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// The status of a `ClusterSPIFFEID`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterSPIFFEIDStatus {
    /// Counters of the last reconcile.
    #[serde(default)]
    pub stats: ClusterSPIFFEIDStats,
}

/// What the last reconcile did for a `ClusterSPIFFEID` (SPIRE's counters, plus
/// `entrySuccess`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSPIFFEIDStats {
    /// Namespaces selected.
    #[serde(default)]
    pub namespaces_selected: i64,
    /// Selected namespaces that are ignored by configuration.
    #[serde(default)]
    pub namespaces_ignored: i64,
    /// Pods selected in the namespaces.
    #[serde(default)]
    pub pods_selected: i64,
    /// Selected pods whose entry failed to render (bad template, or data that does not make
    /// a valid entry).
    #[serde(default)]
    pub pod_entry_render_failures: i64,
    /// Entries masked by an identical entry of an older resource.
    #[serde(default)]
    pub entries_masked: i64,
    /// Entries this resource should have on the server.
    #[serde(default)]
    pub entries_to_set: i64,
    /// Entries the server refused to create or update.
    #[serde(default)]
    pub entry_failures: i64,
    /// Entries in place on the server after the reconcile (an extension over SPIRE).
    #[serde(default)]
    pub entry_success: i64,
}

/// `ClusterStaticEntry`: one entry, written out in full.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "spire.spiffe.io",
    version = "v1alpha1",
    kind = "ClusterStaticEntry",
    plural = "clusterstaticentries",
    singular = "clusterstaticentry",
    status = "ClusterStaticEntryStatus",
    doc = "ClusterStaticEntry: one registration entry, declared literally"
)]
pub struct ClusterStaticEntrySpec {
    /// The SPIFFE ID granted.
    #[serde(rename = "spiffeID")]
    pub spiffe_id: String,
    /// The parent ID (an agent, a node alias or the server).
    #[serde(rename = "parentID")]
    pub parent_id: String,
    /// The selectors (`type:value`).
    pub selectors: Vec<String>,
    /// Trust domains whose bundles the workloads also get.
    #[serde(
        default,
        rename = "federatesWith",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub federates_with: Vec<String>,
    /// X509-SVID TTL (a Go duration).
    #[serde(
        default,
        rename = "x509SVIDTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub x509_svid_ttl: Option<String>,
    /// JWT-SVID TTL (a Go duration).
    #[serde(
        default,
        rename = "jwtSVIDTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub jwt_svid_ttl: Option<String>,
    /// DNS names.
    #[serde(default, rename = "dnsNames", skip_serializing_if = "Vec::is_empty")]
    pub dns_names: Vec<String>,
    /// The hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Whether the SVID may call the admin APIs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub admin: bool,
    /// Whether the entry describes a downstream server.
    #[serde(default, skip_serializing_if = "is_false")]
    pub downstream: bool,
    /// Whether the SVID is stored by the agent's SVIDStore plugins.
    #[serde(default, rename = "storeSVID", skip_serializing_if = "is_false")]
    pub store_svid: bool,
    /// Which controller class acts on this object.
    #[serde(default, rename = "className", skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
}

/// The status of a `ClusterStaticEntry`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterStaticEntryStatus {
    /// Whether the entry rendered.
    #[serde(default)]
    pub rendered: bool,
    /// Whether an identical entry of an older resource masks it.
    #[serde(default)]
    pub masked: bool,
    /// Whether it is in place on the server.
    #[serde(default)]
    pub set: bool,
}

/// `ClusterFederatedTrustDomain`: a trust domain to federate with, as a federation
/// relationship on the server (SPIRE's `spire.api.server.trustdomain.v1`).
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "spire.spiffe.io",
    version = "v1alpha1",
    kind = "ClusterFederatedTrustDomain",
    plural = "clusterfederatedtrustdomains",
    singular = "clusterfederatedtrustdomain",
    status = "ClusterFederatedTrustDomainStatus",
    printcolumn = r#"{"name":"Trust Domain","type":"string","jsonPath":".spec.trustDomain"}"#,
    printcolumn = r#"{"name":"Endpoint URL","type":"string","jsonPath":".spec.bundleEndpointURL"}"#,
    doc = "ClusterFederatedTrustDomain: a federation relationship with another trust domain"
)]
pub struct ClusterFederatedTrustDomainSpec {
    /// The trust domain to federate with (e.g. `partner.org`).
    #[serde(rename = "trustDomain")]
    pub trust_domain: String,
    /// The `https` URL of its SPIFFE bundle endpoint (no user information).
    #[serde(rename = "bundleEndpointURL")]
    pub bundle_endpoint_url: String,
    /// How the bundle endpoint is authenticated.
    #[serde(rename = "bundleEndpointProfile")]
    pub bundle_endpoint_profile: BundleEndpointProfile,
    /// The trust domain's bundle as a SPIFFE bundle document (JSON), to start from; the
    /// server then keeps it fresh from the endpoint.
    #[serde(
        default,
        rename = "trustDomainBundle",
        skip_serializing_if = "Option::is_none"
    )]
    pub trust_domain_bundle: Option<String>,
    /// Which controller class acts on this object.
    #[serde(default, rename = "className", skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
}

/// The bundle endpoint profile of a `ClusterFederatedTrustDomain`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BundleEndpointProfile {
    /// `https_spiffe` (the endpoint presents an SVID) or `https_web` (a Web PKI certificate).
    #[serde(rename = "type")]
    pub type_: BundleEndpointProfileType,
    /// The SPIFFE ID the endpoint presents; required for `https_spiffe`, refused for
    /// `https_web`.
    #[serde(
        default,
        rename = "endpointSPIFFEID",
        skip_serializing_if = "Option::is_none"
    )]
    pub endpoint_spiffe_id: Option<String>,
}

/// A bundle endpoint profile type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BundleEndpointProfileType {
    /// The endpoint is authenticated by its SPIFFE ID.
    #[default]
    #[serde(rename = "https_spiffe")]
    HttpsSpiffe,
    /// The endpoint is authenticated with Web PKI.
    #[serde(rename = "https_web")]
    HttpsWeb,
}

/// The status of a `ClusterFederatedTrustDomain` (empty, as in SPIRE's controller manager:
/// invalid resources are reported by `Warning` events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterFederatedTrustDomainStatus {}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The three `CustomResourceDefinition`s.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        ClusterSPIFFEID::crd(),
        ClusterStaticEntry::crd(),
        ClusterFederatedTrustDomain::crd(),
    ]
}

/// The definitions as a multi-document YAML stream (what `spiffe-controller crd` prints and
/// `deploy/crds.yaml` holds).
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    let mut out = String::from(
        "# Generated by `spiffe-controller crd` from the Rust types in spiffe-controller/src/crd.rs.\n\
         # Do not edit; regenerate with: cargo run -p spiffe-controller-bin -- crd > deploy/crds.yaml\n",
    );
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
