//! `ClusterFederatedTrustDomain` resources to federation relationships, as spire-controller-manager
//! decides them: each valid resource of the controller's class names one relationship (the
//! oldest resource wins a trust domain named twice), and the server should hold exactly those.
//! Every relationship in the server's datastore that no such resource names is deleted, as in
//! SCM (relationships of the server's configuration file are not listed by the TrustDomain API,
//! so they are never touched). A relationship is rewritten when its bundle endpoint URL or
//! profile differs; `trustDomainBundle` only seeds the bundle when the relationship is created
//! or rewritten (the server keeps it fresh from the endpoint afterwards), so a difference in
//! it alone is no reason to rewrite.

use std::collections::BTreeMap;
use std::sync::Arc;

use spiffe_core::{Bundle, BundleError, IdError, SpiffeId, TrustDomain};
use spiffe_proto::convert::bundle_to_pb;
use spiffe_proto::spire::api::types as pb;
use thiserror::Error;

use crate::config::ControllerConfig;
use crate::crd::{
    BundleEndpointProfileType, ClusterFederatedTrustDomain, ClusterFederatedTrustDomainSpec,
};

/// Why a `ClusterFederatedTrustDomain` names no relationship. Each variant names the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpecError {
    /// `trustDomain` is not a trust domain name.
    #[error("invalid trustDomain value {value:?}: {source}")]
    TrustDomain {
        /// The value.
        value: String,
        /// Why it is not a trust domain name.
        source: IdError,
    },
    /// `bundleEndpointURL` is not an `https` URL with a host and no user information.
    #[error("invalid bundleEndpointURL value {value:?}: {rule}")]
    BundleEndpointUrl {
        /// The value.
        value: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// `bundleEndpointProfile.endpointSPIFFEID` is missing for `https_spiffe`.
    #[error("bundleEndpointProfile.endpointSPIFFEID is required for the \"https_spiffe\" profile")]
    EndpointSpiffeIdMissing,
    /// `bundleEndpointProfile.endpointSPIFFEID` is given for `https_web`.
    #[error(
        "bundleEndpointProfile.endpointSPIFFEID is not applicable to the \"https_web\" profile"
    )]
    EndpointSpiffeIdNotApplicable,
    /// `bundleEndpointProfile.endpointSPIFFEID` is not a SPIFFE ID.
    #[error("invalid bundleEndpointProfile.endpointSPIFFEID value {value:?}: {source}")]
    EndpointSpiffeId {
        /// The value.
        value: String,
        /// Why it is not a SPIFFE ID.
        source: IdError,
    },
    /// `trustDomainBundle` is not a SPIFFE bundle document.
    #[error("invalid trustDomainBundle value: {source}")]
    TrustDomainBundle {
        /// Why it does not parse.
        source: BundleError,
    },
}

/// How a bundle endpoint is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointProfile {
    /// Web PKI.
    HttpsWeb,
    /// The endpoint presents an SVID with this SPIFFE ID.
    HttpsSpiffe(SpiffeId),
}

/// The federation relationship a valid `ClusterFederatedTrustDomain` names.
#[derive(Debug, Clone)]
pub struct Relationship {
    /// The foreign trust domain.
    pub trust_domain: TrustDomain,
    /// Its bundle endpoint URL.
    pub bundle_endpoint_url: String,
    /// How the endpoint is authenticated.
    pub profile: EndpointProfile,
    /// The bundle to start from, if given.
    pub bundle: Option<Bundle>,
}

impl Relationship {
    /// The relationship as SPIRE's `FederationRelationship` message.
    pub fn to_pb(&self) -> pb::FederationRelationship {
        pb::FederationRelationship {
            trust_domain: self.trust_domain.name().to_owned(),
            bundle_endpoint_url: self.bundle_endpoint_url.clone(),
            bundle_endpoint_profile: Some(match &self.profile {
                EndpointProfile::HttpsWeb => {
                    pb::federation_relationship::BundleEndpointProfile::HttpsWeb(
                        pb::HttpsWebProfile {},
                    )
                }
                EndpointProfile::HttpsSpiffe(id) => {
                    pb::federation_relationship::BundleEndpointProfile::HttpsSpiffe(
                        pb::HttpsspiffeProfile {
                            endpoint_spiffe_id: id.to_string(),
                        },
                    )
                }
            }),
            trust_domain_bundle: self.bundle.as_ref().map(bundle_to_pb),
        }
    }

    /// Whether the server's relationship `current` already says what this one says: the
    /// same trust domain, bundle endpoint URL and profile (the bundle is not compared, as in
    /// SCM).
    pub fn matches(&self, current: &pb::FederationRelationship) -> bool {
        use pb::federation_relationship::BundleEndpointProfile as P;
        if current.trust_domain != self.trust_domain.name()
            || current.bundle_endpoint_url != self.bundle_endpoint_url
        {
            return false;
        }
        match (&self.profile, &current.bundle_endpoint_profile) {
            (EndpointProfile::HttpsWeb, Some(P::HttpsWeb(_))) => true,
            (EndpointProfile::HttpsSpiffe(want), Some(P::HttpsSpiffe(have))) => {
                SpiffeId::parse(&have.endpoint_spiffe_id).is_ok_and(|have| &have == want)
            }
            _ => false,
        }
    }
}

/// Checks a bundle endpoint URL as SCM does: it parses, its scheme is `https`, it has a host,
/// and no user information.
fn check_url(value: &str) -> Result<(), SpecError> {
    let fail = |rule| SpecError::BundleEndpointUrl {
        value: value.to_owned(),
        rule,
    };
    if value.is_empty() {
        return Err(fail("bundle endpoint URL is missing"));
    }
    let scheme = value.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    if scheme.as_deref() != Some("https") {
        return Err(fail("scheme must be https"));
    }
    let uri: http::Uri = value.parse().map_err(|_| fail("not a URL"))?;
    let Some(authority) = uri.authority() else {
        return Err(fail("host must be specified"));
    };
    if authority.as_str().contains('@') {
        return Err(fail("cannot contain userinfo"));
    }
    if authority.host().is_empty() {
        return Err(fail("host must be specified"));
    }
    Ok(())
}

/// The relationship `spec` names, or why it names none (the rules of SCM's
/// `ParseClusterFederatedTrustDomainSpec`; the bundle document is read with the strict rules
/// of [`Bundle::parse_json`]).
pub fn parse_spec(spec: &ClusterFederatedTrustDomainSpec) -> Result<Relationship, SpecError> {
    let trust_domain =
        TrustDomain::parse(&spec.trust_domain).map_err(|source| SpecError::TrustDomain {
            value: spec.trust_domain.clone(),
            source,
        })?;
    check_url(&spec.bundle_endpoint_url)?;
    let endpoint_id = spec
        .bundle_endpoint_profile
        .endpoint_spiffe_id
        .as_deref()
        .filter(|s| !s.is_empty());
    let profile = match spec.bundle_endpoint_profile.type_ {
        BundleEndpointProfileType::HttpsWeb => {
            if endpoint_id.is_some() {
                return Err(SpecError::EndpointSpiffeIdNotApplicable);
            }
            EndpointProfile::HttpsWeb
        }
        BundleEndpointProfileType::HttpsSpiffe => {
            let value = endpoint_id.ok_or(SpecError::EndpointSpiffeIdMissing)?;
            EndpointProfile::HttpsSpiffe(SpiffeId::parse(value).map_err(|source| {
                SpecError::EndpointSpiffeId {
                    value: value.to_owned(),
                    source,
                }
            })?)
        }
    };
    let bundle = match spec
        .trust_domain_bundle
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        Some(json) => Some(
            Bundle::parse_json(trust_domain.clone(), json.as_bytes())
                .map_err(|source| SpecError::TrustDomainBundle { source })?,
        ),
        None => None,
    };
    Ok(Relationship {
        trust_domain,
        bundle_endpoint_url: spec.bundle_endpoint_url.clone(),
        profile,
        bundle,
    })
}

/// A relationship a resource declares.
#[derive(Debug, Clone)]
pub struct DeclaredRelationship {
    /// The resource's name.
    pub by: String,
    /// The relationship.
    pub relationship: Relationship,
}

/// A resource that names no relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Its spec is invalid.
    Invalid(SpecError),
    /// An older resource names the same trust domain (its name).
    Conflict(String),
}

/// The relationships the controller's resources declare, by trust domain, and the resources
/// that declare none, by name.
#[derive(Debug, Clone, Default)]
pub struct FederationPlan {
    /// The declared relationships, by trust domain name.
    pub relationships: BTreeMap<String, DeclaredRelationship>,
    /// The resources of the controller's class that declare none, and why.
    pub refused: BTreeMap<String, Refusal>,
}

/// Plans the relationships of `resources`: those of the controller's class, oldest first
/// (creation time, then UID), each trust domain taken by the first valid resource naming it.
pub fn plan_federation(
    config: &ControllerConfig,
    resources: &[Arc<ClusterFederatedTrustDomain>],
) -> FederationPlan {
    let mut mine: Vec<&ClusterFederatedTrustDomain> = resources
        .iter()
        .map(AsRef::as_ref)
        .filter(|r| config.reconciles_class(r.spec.class_name.as_deref()))
        .collect();
    mine.sort_by(|a, b| {
        (&a.metadata.creation_timestamp, &a.metadata.uid)
            .cmp(&(&b.metadata.creation_timestamp, &b.metadata.uid))
    });
    let mut out = FederationPlan::default();
    for r in mine {
        let name = r.metadata.name.clone().unwrap_or_default();
        match parse_spec(&r.spec) {
            Err(e) => {
                out.refused.insert(name, Refusal::Invalid(e));
            }
            Ok(rel) => {
                let td = rel.trust_domain.name().to_owned();
                if let Some(first) = out.relationships.get(&td) {
                    out.refused
                        .insert(name, Refusal::Conflict(first.by.clone()));
                } else {
                    out.relationships.insert(
                        td,
                        DeclaredRelationship {
                            by: name,
                            relationship: rel,
                        },
                    );
                }
            }
        }
    }
    out
}

/// What to change on the server, by trust domain name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FederationChanges {
    /// Declared and missing.
    pub create: Vec<String>,
    /// Declared and different.
    pub update: Vec<String>,
    /// On the server and not declared.
    pub delete: Vec<String>,
    /// Declared and as wanted.
    pub unchanged: Vec<String>,
}

/// The changes that make `current` (the server's relationships) what `plan` declares.
pub fn diff_federation(
    plan: &FederationPlan,
    current: &[pb::FederationRelationship],
) -> FederationChanges {
    let current: BTreeMap<&str, &pb::FederationRelationship> = current
        .iter()
        .map(|r| (r.trust_domain.as_str(), r))
        .collect();
    let mut out = FederationChanges::default();
    for (td, d) in &plan.relationships {
        match current.get(td.as_str()) {
            None => out.create.push(td.clone()),
            Some(c) if d.relationship.matches(c) => out.unchanged.push(td.clone()),
            Some(_) => out.update.push(td.clone()),
        }
    }
    out.delete = current
        .keys()
        .filter(|td| !plan.relationships.contains_key(**td))
        .map(|td| (*td).to_owned())
        .collect();
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use spiffe_core::{JwtBundle, X509Bundle};

    use super::*;
    use crate::crd::BundleEndpointProfile;

    fn bundle_json(td: &str) -> String {
        let tls = spiffe_testkit::tls::TlsMaterial::new("partner CA", "endpoint", &["localhost"])
            .unwrap();
        let td = TrustDomain::parse(td).unwrap();
        let x509 = X509Bundle::parse_pem(td.clone(), tls.ca_pem.as_bytes()).unwrap();
        Bundle::from_parts(x509, JwtBundle::new(td))
            .unwrap()
            .to_json()
    }

    fn spiffe_spec(td: &str, url: &str, id: Option<&str>) -> ClusterFederatedTrustDomainSpec {
        ClusterFederatedTrustDomainSpec {
            trust_domain: td.into(),
            bundle_endpoint_url: url.into(),
            bundle_endpoint_profile: BundleEndpointProfile {
                type_: BundleEndpointProfileType::HttpsSpiffe,
                endpoint_spiffe_id: id.map(Into::into),
            },
            trust_domain_bundle: None,
            class_name: None,
        }
    }

    fn web_spec(td: &str, url: &str) -> ClusterFederatedTrustDomainSpec {
        ClusterFederatedTrustDomainSpec {
            bundle_endpoint_profile: BundleEndpointProfile {
                type_: BundleEndpointProfileType::HttpsWeb,
                endpoint_spiffe_id: None,
            },
            ..spiffe_spec(td, url, None)
        }
    }

    fn config() -> ControllerConfig {
        ControllerConfig::new(TrustDomain::parse("mycompany.com").unwrap(), "demo").unwrap()
    }

    fn resource(
        name: &str,
        uid: &str,
        created_secs: i64,
        spec: ClusterFederatedTrustDomainSpec,
    ) -> Arc<ClusterFederatedTrustDomain> {
        let mut r = ClusterFederatedTrustDomain::new(name, spec);
        r.metadata = ObjectMeta {
            name: Some(name.into()),
            uid: Some(uid.into()),
            creation_timestamp: Some(Time(
                k8s_openapi::jiff::Timestamp::from_second(created_secs).unwrap(),
            )),
            ..Default::default()
        };
        Arc::new(r)
    }

    #[test]
    fn https_spiffe_spec_maps_to_its_relationship_with_the_bundle() {
        let mut spec = spiffe_spec(
            "partner.org",
            "https://partner.example:8443",
            Some("spiffe://partner.org/spire/server"),
        );
        spec.trust_domain_bundle = Some(bundle_json("partner.org"));
        let r = parse_spec(&spec).unwrap();
        let pb = r.to_pb();
        assert_eq!(pb.trust_domain, "partner.org");
        assert_eq!(pb.bundle_endpoint_url, "https://partner.example:8443");
        match pb.bundle_endpoint_profile {
            Some(pb::federation_relationship::BundleEndpointProfile::HttpsSpiffe(p)) => {
                assert_eq!(p.endpoint_spiffe_id, "spiffe://partner.org/spire/server")
            }
            other => panic!("profile {other:?}"),
        }
        let b = pb.trust_domain_bundle.unwrap();
        assert_eq!(b.trust_domain, "partner.org");
        assert_eq!(b.x509_authorities.len(), 1);
    }

    #[test]
    fn https_web_spec_maps_without_bundle() {
        let pb = parse_spec(&web_spec("web.org", "https://bundle.web.example/"))
            .unwrap()
            .to_pb();
        assert!(matches!(
            pb.bundle_endpoint_profile,
            Some(pb::federation_relationship::BundleEndpointProfile::HttpsWeb(_))
        ));
        assert!(pb.trust_domain_bundle.is_none());
    }

    #[test]
    fn invalid_specs_are_refused_naming_the_field() {
        let id = Some("spiffe://partner.org/spire/server");
        let cases: Vec<(ClusterFederatedTrustDomainSpec, &str)> = vec![
            (
                spiffe_spec("Partner.org", "https://p.example", id),
                "invalid trustDomain value \"Partner.org\"",
            ),
            (
                spiffe_spec("spiffe://partner.org/x", "https://p.example", id),
                "invalid trustDomain value",
            ),
            (
                spiffe_spec("partner.org", "http://p.example", id),
                "invalid bundleEndpointURL value \"http://p.example\": scheme must be https",
            ),
            (
                spiffe_spec("partner.org", "", id),
                "invalid bundleEndpointURL value \"\": bundle endpoint URL is missing",
            ),
            (
                spiffe_spec("partner.org", "https://user:pw@p.example", id),
                "cannot contain userinfo",
            ),
            (
                spiffe_spec("partner.org", "p.example/bundle", id),
                "invalid bundleEndpointURL value \"p.example/bundle\": scheme must be https",
            ),
            (
                spiffe_spec("partner.org", "https://p.example", None),
                "bundleEndpointProfile.endpointSPIFFEID is required for the \"https_spiffe\" profile",
            ),
            (
                spiffe_spec(
                    "partner.org",
                    "https://p.example",
                    Some("partner.org/server"),
                ),
                "invalid bundleEndpointProfile.endpointSPIFFEID value \"partner.org/server\"",
            ),
            (
                ClusterFederatedTrustDomainSpec {
                    bundle_endpoint_profile: BundleEndpointProfile {
                        type_: BundleEndpointProfileType::HttpsWeb,
                        endpoint_spiffe_id: id.map(Into::into),
                    },
                    ..web_spec("web.org", "https://w.example")
                },
                "not applicable to the \"https_web\" profile",
            ),
            (
                ClusterFederatedTrustDomainSpec {
                    trust_domain_bundle: Some("{\"keys\": 3}".into()),
                    ..web_spec("web.org", "https://w.example")
                },
                "invalid trustDomainBundle value",
            ),
        ];
        for (spec, want) in cases {
            let e = parse_spec(&spec).unwrap_err();
            assert!(
                e.to_string().contains(want),
                "{spec:?}: {e} does not contain {want:?}"
            );
        }
    }

    #[test]
    fn spec_type_parses_from_scm_manifests_and_unknown_types_are_refused() {
        let yaml = "trustDomain: partner.org\nbundleEndpointURL: https://p.example\n\
                    bundleEndpointProfile:\n  type: https_spiffe\n  endpointSPIFFEID: spiffe://partner.org/spire/server\n\
                    className: blue\n";
        let spec: ClusterFederatedTrustDomainSpec = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(
            spec.bundle_endpoint_profile.type_,
            BundleEndpointProfileType::HttpsSpiffe
        );
        assert_eq!(spec.class_name.as_deref(), Some("blue"));
        let bad = yaml.replace("https_spiffe", "acme");
        assert!(serde_yaml::from_str::<ClusterFederatedTrustDomainSpec>(&bad).is_err());
    }

    #[test]
    fn oldest_resource_wins_a_trust_domain_and_class_filters() {
        let config = ControllerConfig {
            class_name: Some("blue".into()),
            ..config()
        };
        let mut other_class = web_spec("c.org", "https://c.example");
        other_class.class_name = Some("green".into());
        let mut blue = web_spec("d.org", "https://d.example");
        blue.class_name = Some("blue".into());
        let mut young = web_spec("a.org", "https://young.example");
        young.class_name = Some("blue".into());
        let mut old = web_spec("a.org", "https://old.example");
        old.class_name = Some("blue".into());
        let mut bad = web_spec("b.org", "http://b.example");
        bad.class_name = Some("blue".into());
        let resources = vec![
            resource("young", "u1", 200, young),
            resource("old", "u2", 100, old),
            resource("bad", "u3", 100, bad),
            resource("other-class", "u4", 100, other_class),
            resource(
                "classless",
                "u5",
                100,
                web_spec("e.org", "https://e.example"),
            ),
            resource("blue", "u6", 300, blue),
        ];
        let plan = plan_federation(&config, &resources);
        let tds: Vec<&str> = plan.relationships.keys().map(String::as_str).collect();
        assert_eq!(tds, ["a.org", "d.org"]);
        assert_eq!(plan.relationships["a.org"].by, "old");
        assert_eq!(
            plan.relationships["a.org"].relationship.bundle_endpoint_url,
            "https://old.example"
        );
        assert_eq!(plan.refused["young"], Refusal::Conflict("old".into()));
        assert!(matches!(
            plan.refused["bad"],
            Refusal::Invalid(SpecError::BundleEndpointUrl { .. })
        ));
        assert_eq!(plan.refused.len(), 2);

        // With watchClassless the classless one is taken too.
        let config = ControllerConfig {
            watch_classless: true,
            ..config
        };
        let plan = plan_federation(&config, &resources);
        assert!(plan.relationships.contains_key("e.org"));
    }

    #[test]
    fn diff_creates_updates_and_deletes_every_undeclared_relationship() {
        let resources = vec![
            resource(
                "same",
                "u1",
                1,
                spiffe_spec(
                    "same.org",
                    "https://same.example",
                    Some("spiffe://same.org/spire/server"),
                ),
            ),
            resource(
                "moved",
                "u2",
                1,
                spiffe_spec(
                    "moved.org",
                    "https://new.example",
                    Some("spiffe://moved.org/spire/server"),
                ),
            ),
            resource(
                "reprofiled",
                "u3",
                1,
                web_spec("reprofiled.org", "https://r.example"),
            ),
            resource(
                "new-id",
                "u4",
                1,
                spiffe_spec(
                    "newid.org",
                    "https://n.example",
                    Some("spiffe://newid.org/other"),
                ),
            ),
            resource("fresh", "u5", 1, web_spec("fresh.org", "https://f.example")),
        ];
        let plan = plan_federation(&config(), &resources);
        let mut current: Vec<pb::FederationRelationship> = plan
            .relationships
            .values()
            .filter(|d| d.by != "fresh")
            .map(|d| d.relationship.to_pb())
            .collect();
        for c in &mut current {
            // The server's own bundle for it never matters.
            c.trust_domain_bundle = Some(pb::Bundle::default());
            match c.trust_domain.as_str() {
                "moved.org" => c.bundle_endpoint_url = "https://old.example".into(),
                "reprofiled.org" => {
                    c.bundle_endpoint_profile = Some(
                        pb::federation_relationship::BundleEndpointProfile::HttpsSpiffe(
                            pb::HttpsspiffeProfile {
                                endpoint_spiffe_id: "spiffe://reprofiled.org/x".into(),
                            },
                        ),
                    )
                }
                "newid.org" => {
                    c.bundle_endpoint_profile = Some(
                        pb::federation_relationship::BundleEndpointProfile::HttpsSpiffe(
                            pb::HttpsspiffeProfile {
                                endpoint_spiffe_id: "spiffe://newid.org/spire/server".into(),
                            },
                        ),
                    )
                }
                _ => {}
            }
        }
        current.push(
            parse_spec(&web_spec("manual.org", "https://m.example"))
                .unwrap()
                .to_pb(),
        );
        let changes = diff_federation(&plan, &current);
        assert_eq!(changes.create, ["fresh.org"]);
        assert_eq!(changes.update, ["moved.org", "newid.org", "reprofiled.org"]);
        assert_eq!(changes.unchanged, ["same.org"]);
        assert_eq!(changes.delete, ["manual.org"]);
    }
}
