//! Rendering entries: a `ClusterSPIFFEID`'s templates for one pod on its node, and a
//! `ClusterStaticEntry` as written. Everything that would make the server refuse the entry
//! (a foreign or reserved SPIFFE ID, a malformed selector or DNS name) is caught here, so
//! `render` in CI finds it too.

use k8s_openapi::api::core::v1::{Node, Pod};
use spiffe_core::{IdError, Selector, SpiffeId, TrustDomain};
use thiserror::Error;

use crate::config::ControllerConfig;
use crate::crd::{ClusterSPIFFEIDSpec, ClusterStaticEntrySpec};
use crate::data::{ClusterInfo, node_data, pod_data};
use crate::entry::DesiredEntry;
use crate::labels::{NamespaceMatcher, Selector as LabelMatcher, SelectorError};
use crate::template::{ExecError, ParseError, Template};
use crate::ttl::{TtlError, ttl_seconds};

/// Why a resource's spec cannot be used at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpecError {
    /// No SPIFFE ID template.
    #[error("empty spiffeIDTemplate")]
    EmptyTemplate,
    /// A template that does not parse.
    #[error("invalid {field}: {source}")]
    Template {
        /// `spiffeIDTemplate`, `dnsNameTemplates[0]`, ...
        field: String,
        /// Why.
        source: ParseError,
    },
    /// An invalid label selector.
    #[error("invalid {field}: {source}")]
    Selector {
        /// `podSelector` or `namespaceSelector`.
        field: &'static str,
        /// Why.
        source: SelectorError,
    },
    /// A TTL that is not a Go duration.
    #[error("invalid {field}: {source}")]
    Ttl {
        /// `ttl`, `jwtTtl`, ...
        field: &'static str,
        /// Why.
        source: TtlError,
    },
    /// A federated trust domain that is not one.
    #[error("invalid federatesWith value {value:?}: {source}")]
    FederatesWith {
        /// The value.
        value: String,
        /// Why.
        source: IdError,
    },
}

/// Why one entry did not render.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The resource's spec is not usable.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// A template failed while executing.
    #[error("{field}: {source}")]
    Template {
        /// Which template.
        field: String,
        /// Why.
        source: ExecError,
    },
    /// The rendered text is not a SPIFFE ID.
    #[error("{field}: {rendered:?} is not a valid SPIFFE ID: {source}")]
    SpiffeId {
        /// Which field.
        field: &'static str,
        /// What was rendered.
        rendered: String,
        /// Why.
        source: IdError,
    },
    /// A SPIFFE ID of another trust domain.
    #[error("{field}: {rendered:?} is not in trust domain {expected:?}")]
    ForeignTrustDomain {
        /// Which field.
        field: &'static str,
        /// What was rendered.
        rendered: String,
        /// The controller's trust domain.
        expected: String,
    },
    /// A SPIFFE ID under `/spire`, which the server keeps for itself.
    #[error("{field}: {rendered:?} is in the reserved /spire namespace")]
    ReservedPath {
        /// Which field.
        field: &'static str,
        /// What was rendered.
        rendered: String,
    },
    /// A rendered selector that is not `type:value`.
    #[error("{field}: {source}")]
    Selector {
        /// Which field.
        field: String,
        /// Why.
        source: spiffe_core::SelectorError,
    },
    /// No selectors at all (static entries).
    #[error("selectors: at least one selector is required")]
    NoSelectors,
    /// A rendered DNS name the server would refuse.
    #[error("{field}: invalid DNS name {rendered:?}: {reason}")]
    DnsName {
        /// Which field.
        field: String,
        /// What was rendered.
        rendered: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// The pod's node is not known (yet).
    #[error("node {node:?} of the pod is not known")]
    NodeNotFound {
        /// The node's name.
        node: String,
    },
    /// The node has no UID.
    #[error("node {node:?} has no UID")]
    NodeWithoutUid {
        /// The node's name.
        node: String,
    },
}

/// A `ClusterSPIFFEID` spec, checked and with its templates parsed.
#[derive(Debug, Clone)]
pub struct ParsedSpec {
    /// `spiffeIDTemplate`.
    pub spiffe_id: Template,
    /// `dnsNameTemplates`.
    pub dns_names: Vec<Template>,
    /// `workloadSelectorTemplates`.
    pub workload_selectors: Vec<Template>,
    /// `namespaceSelector`.
    pub namespaces: NamespaceMatcher,
    /// `podSelector`.
    pub pods: LabelMatcher,
    /// `ttl` in seconds.
    pub x509_svid_ttl: i32,
    /// `jwtTtl` in seconds.
    pub jwt_svid_ttl: i32,
    /// `federatesWith`.
    pub federates_with: Vec<TrustDomain>,
    /// `admin`.
    pub admin: bool,
    /// `downstream`.
    pub downstream: bool,
    /// `hint`.
    pub hint: String,
    /// `fallback`.
    pub fallback: bool,
}

/// Only the selectors of a spec (so the pods are known even when a template is bad).
pub fn parse_selectors(
    spec: &ClusterSPIFFEIDSpec,
) -> Result<(NamespaceMatcher, LabelMatcher), SpecError> {
    let namespaces = NamespaceMatcher::new(spec.namespace_selector.as_ref()).map_err(|source| {
        SpecError::Selector {
            field: "namespaceSelector",
            source,
        }
    })?;
    let pods = match &spec.pod_selector {
        Some(s) => LabelMatcher::try_from(s).map_err(|source| SpecError::Selector {
            field: "podSelector",
            source,
        })?,
        None => LabelMatcher::everything(),
    };
    Ok((namespaces, pods))
}

fn federates(values: &[String]) -> Result<Vec<TrustDomain>, SpecError> {
    let mut out = values
        .iter()
        .map(|v| {
            TrustDomain::parse(v).map_err(|source| SpecError::FederatesWith {
                value: v.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

impl ParsedSpec {
    /// Checks `spec` and parses its templates.
    pub fn parse(spec: &ClusterSPIFFEIDSpec) -> Result<Self, SpecError> {
        if spec.spiffe_id_template.trim().is_empty() {
            return Err(SpecError::EmptyTemplate);
        }
        // Named as SCM names them (`{{ template "spiffeIDTemplate" }}` is the template itself).
        let template = |name: &str, field: String, src: &str| {
            Template::parse_named(name, src).map_err(|source| SpecError::Template { field, source })
        };
        let (namespaces, pods) = parse_selectors(spec)?;
        Ok(ParsedSpec {
            spiffe_id: template(
                "spiffeIDTemplate",
                "spiffeIDTemplate".into(),
                &spec.spiffe_id_template,
            )?,
            dns_names: spec
                .dns_name_templates
                .iter()
                .enumerate()
                .map(|(i, t)| template("dnsNameTemplate", format!("dnsNameTemplates[{i}]"), t))
                .collect::<Result<_, _>>()?,
            workload_selectors: spec
                .workload_selector_templates
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    template(
                        "workloadSelectorTemplate",
                        format!("workloadSelectorTemplates[{i}]"),
                        t,
                    )
                })
                .collect::<Result<_, _>>()?,
            namespaces,
            pods,
            x509_svid_ttl: ttl_seconds(spec.ttl.as_deref()).map_err(|source| SpecError::Ttl {
                field: "ttl",
                source,
            })?,
            jwt_svid_ttl: ttl_seconds(spec.jwt_ttl.as_deref()).map_err(|source| {
                SpecError::Ttl {
                    field: "jwtTtl",
                    source,
                }
            })?,
            federates_with: federates(&spec.federates_with)?,
            admin: spec.admin,
            downstream: spec.downstream,
            hint: spec.hint.clone().unwrap_or_default(),
            fallback: spec.fallback,
        })
    }
}

/// A SPIFFE ID in the trust domain, outside `/spire` unless `allow_reserved` (parent IDs).
fn checked_id(
    field: &'static str,
    rendered: String,
    td: &TrustDomain,
    allow_reserved: bool,
) -> Result<SpiffeId, RenderError> {
    let id = SpiffeId::parse(&rendered).map_err(|source| RenderError::SpiffeId {
        field,
        rendered: rendered.clone(),
        source,
    })?;
    if !id.is_member_of(td) {
        return Err(RenderError::ForeignTrustDomain {
            field,
            rendered,
            expected: td.name().to_owned(),
        });
    }
    let path = id.path();
    if !allow_reserved && (path == "/spire" || path.starts_with("/spire/")) {
        return Err(RenderError::ReservedPath { field, rendered });
    }
    if id.is_root() {
        return Err(RenderError::SpiffeId {
            field,
            rendered,
            source: IdError::Empty,
        });
    }
    Ok(id)
}

/// A DNS name as the server accepts it ([`spiffe_core::dns::check_dns_name`]).
///
/// # Errors
///
/// The rule the name breaks, as [`spiffe_core::DnsNameError::reason`] words it.
pub fn check_dns_name(name: &str) -> Result<(), &'static str> {
    spiffe_core::dns::check_dns_name(name).map_err(|e| e.reason)
}

/// The parent ID of entries for pods on `node`.
pub fn parent_id(config: &ControllerConfig, node: &Node) -> Result<SpiffeId, RenderError> {
    let name = node.metadata.name.clone().unwrap_or_default();
    if node.metadata.uid.as_deref().unwrap_or("").is_empty() {
        return Err(RenderError::NodeWithoutUid { node: name });
    }
    let rendered = config
        .parent_id_template
        .render(&node_data(&config.cluster_info(), node))
        .map_err(|source| RenderError::Template {
            field: "parentIDTemplate".into(),
            source,
        })?;
    checked_id("parent ID", rendered, &config.trust_domain, true)
}

/// The entry of `pod` (on `node`, whose agent is `parent`) under `spec`.
pub fn pod_entry(
    config: &ControllerConfig,
    info: &ClusterInfo,
    spec: &ParsedSpec,
    pod: &Pod,
    node: &Node,
    parent: &SpiffeId,
) -> Result<DesiredEntry, RenderError> {
    let data = pod_data(info, pod, node);
    let exec = |field: &str, t: &Template| {
        t.render(&data).map_err(|source| RenderError::Template {
            field: field.to_owned(),
            source,
        })
    };
    let spiffe_id = checked_id(
        "spiffeIDTemplate",
        exec("spiffeIDTemplate", &spec.spiffe_id)?,
        &config.trust_domain,
        false,
    )?;
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let mut selectors = vec![
        Selector::new("k8s", format!("pod-uid:{uid}")).map_err(|source| RenderError::Selector {
            field: "k8s:pod-uid".into(),
            source,
        })?,
    ];
    for (i, t) in spec.workload_selectors.iter().enumerate() {
        let field = format!("workloadSelectorTemplates[{i}]");
        let rendered = exec(&field, t)?;
        selectors.push(
            Selector::parse(&rendered).map_err(|source| RenderError::Selector { field, source })?,
        );
    }
    let mut dns_names: Vec<String> = Vec::new();
    for (i, t) in spec.dns_names.iter().enumerate() {
        let field = format!("dnsNameTemplates[{i}]");
        let rendered = exec(&field, t)?;
        check_dns_name(&rendered).map_err(|reason| RenderError::DnsName {
            field,
            rendered: rendered.clone(),
            reason,
        })?;
        if !dns_names.contains(&rendered) {
            dns_names.push(rendered);
        }
    }
    let mut e = DesiredEntry::new(
        &config.entry_id_prefix,
        spiffe_id,
        parent.clone(),
        selectors,
    );
    e.x509_svid_ttl = spec.x509_svid_ttl;
    e.jwt_svid_ttl = spec.jwt_svid_ttl;
    e.dns_names = dns_names;
    e.federates_with = spec.federates_with.clone();
    e.admin = spec.admin;
    e.downstream = spec.downstream;
    e.hint = spec.hint.clone();
    Ok(e)
}

/// The entry of a `ClusterStaticEntry`.
pub fn static_entry(
    config: &ControllerConfig,
    spec: &ClusterStaticEntrySpec,
) -> Result<DesiredEntry, RenderError> {
    let spiffe_id = checked_id(
        "spiffeID",
        spec.spiffe_id.clone(),
        &config.trust_domain,
        false,
    )?;
    let parent = checked_id(
        "parentID",
        spec.parent_id.clone(),
        &config.trust_domain,
        true,
    )?;
    let selectors = spec
        .selectors
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Selector::parse(s).map_err(|source| RenderError::Selector {
                field: format!("selectors[{i}]"),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if selectors.is_empty() {
        return Err(RenderError::NoSelectors);
    }
    let mut dns_names: Vec<String> = Vec::new();
    for (i, d) in spec.dns_names.iter().enumerate() {
        check_dns_name(d).map_err(|reason| RenderError::DnsName {
            field: format!("dnsNames[{i}]"),
            rendered: d.clone(),
            reason,
        })?;
        if !dns_names.contains(d) {
            dns_names.push(d.clone());
        }
    }
    let mut e = DesiredEntry::new(&config.entry_id_prefix, spiffe_id, parent, selectors);
    e.x509_svid_ttl =
        ttl_seconds(spec.x509_svid_ttl.as_deref()).map_err(|source| SpecError::Ttl {
            field: "x509SVIDTTL",
            source,
        })?;
    e.jwt_svid_ttl =
        ttl_seconds(spec.jwt_svid_ttl.as_deref()).map_err(|source| SpecError::Ttl {
            field: "jwtSVIDTTL",
            source,
        })?;
    e.dns_names = dns_names;
    e.federates_with = federates(&spec.federates_with)?;
    e.admin = spec.admin;
    e.downstream = spec.downstream;
    e.hint = spec.hint.clone().unwrap_or_default();
    e.store_svid = spec.store_svid;
    Ok(e)
}
