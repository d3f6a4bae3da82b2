//! The relationships of `federation create|update`: from flags, or from `-data` in SPIRE's JSON
//! (`{"federationRelationships":[{"trustDomain", "bundleEndpointURL", "bundleEndpointProfile",
//! "endpointSPIFFEID", "trustDomainBundle", "trustDomainBundleFormat"}]}`, keys matched without
//! regard to case and unknown keys ignored, as Go's `encoding/json` reads them).

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};
use spiffe_core::{SpiffeId, TrustDomain};
use spiffe_proto::spire::api::types as pb;
use spiffe_proto::spire::api::types::federation_relationship::BundleEndpointProfile as P;

use crate::cli::bundle::format::{self as bundle_format, BundleFormat};

/// The largest `-data` document read, in bytes (a relationship with a bundle is a few KiB;
/// the server takes at most 500 per request).
pub(crate) const MAX_DATA_SIZE: u64 = 16 * 1024 * 1024;

/// One relationship as flags or a JSON item give it (SPIRE's `federationRelationshipConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RelationshipConfig {
    /// `-trustDomain` / `trustDomain`.
    pub(crate) trust_domain: String,
    /// `-bundleEndpointURL` / `bundleEndpointURL`.
    pub(crate) bundle_endpoint_url: String,
    /// `-bundleEndpointProfile` / `bundleEndpointProfile`.
    pub(crate) bundle_endpoint_profile: String,
    /// `-endpointSpiffeID` / `endpointSPIFFEID`.
    pub(crate) endpoint_spiffe_id: String,
    /// `-trustDomainBundlePath` (flags only).
    pub(crate) trust_domain_bundle_path: String,
    /// `trustDomainBundle` (JSON only): a PEM string or a SPIFFE bundle object.
    pub(crate) trust_domain_bundle: Option<Value>,
    /// `-trustDomainBundleFormat` (default `pem`) / `trustDomainBundleFormat` (no default).
    pub(crate) trust_domain_bundle_format: String,
}

impl RelationshipConfig {
    /// Whether no relationship field was given by flags (the format at its default), as
    /// `-data` requires.
    pub(crate) fn is_empty(&self) -> bool {
        self.trust_domain.is_empty()
            && self.bundle_endpoint_url.is_empty()
            && self.bundle_endpoint_profile.is_empty()
            && self.endpoint_spiffe_id.is_empty()
            && self.trust_domain_bundle_path.is_empty()
            && self.trust_domain_bundle_format == "pem"
    }

    /// The relationship as the API carries it, checked as SPIRE's CLI checks it.
    pub(crate) fn to_pb(&self) -> Result<pb::FederationRelationship> {
        if self.trust_domain.is_empty() {
            bail!("trust domain is required");
        }
        if self.bundle_endpoint_url.is_empty() {
            bail!("bundle endpoint URL is required");
        }
        let mut bundle_td = self.trust_domain.clone();
        let profile = match self.bundle_endpoint_profile.as_str() {
            "https_web" => P::HttpsWeb(pb::HttpsWebProfile {}),
            "https_spiffe" => {
                if self.endpoint_spiffe_id.is_empty() {
                    bail!(
                        "endpoint SPIFFE ID is required if 'https_spiffe' endpoint profile is set"
                    );
                }
                let id = SpiffeId::parse(&self.endpoint_spiffe_id)
                    .map_err(|e| anyhow!("cannot parse bundle endpoint SPIFFE ID: {e}"))?;
                // The bundle given is the endpoint ID's trust domain's (SPIRE's rule; the
                // server refuses it unless that is the relationship's trust domain).
                bundle_td = id.trust_domain().name().to_owned();
                P::HttpsSpiffe(pb::HttpsspiffeProfile {
                    endpoint_spiffe_id: self.endpoint_spiffe_id.clone(),
                })
            }
            other => bail!("unknown bundle endpoint profile type: {other:?}"),
        };
        let trust_domain_bundle = if !self.trust_domain_bundle_path.is_empty() {
            let data = std::fs::read(&self.trust_domain_bundle_path)
                .map_err(|e| anyhow!("cannot read bundle file: {e}"))?;
            Some(
                parse_bundle(&bundle_td, &data, &self.trust_domain_bundle_format)
                    .context("cannot parse bundle file")?,
            )
        } else if let Some(raw) = self.trust_domain_bundle.as_ref().filter(|v| !v.is_null()) {
            Some(
                bundle_from_raw(&bundle_td, raw, &self.trust_domain_bundle_format)
                    .context("cannot parse bundle raw message")?,
            )
        } else {
            None
        };
        Ok(pb::FederationRelationship {
            trust_domain: self.trust_domain.clone(),
            bundle_endpoint_url: self.bundle_endpoint_url.clone(),
            bundle_endpoint_profile: Some(profile),
            trust_domain_bundle,
        })
    }
}

fn format_of(name: &str) -> Result<BundleFormat> {
    match name {
        "pem" => Ok(BundleFormat::Pem),
        "spiffe" => Ok(BundleFormat::Spiffe),
        other => bail!("bundle format {other:?} is unsupported"),
    }
}

/// Bundle data of trust domain `td` in `format` (`pem` or `spiffe`).
fn parse_bundle(td: &str, data: &[u8], format: &str) -> Result<pb::Bundle> {
    let format = format_of(format)?;
    let td = TrustDomain::parse(td).map_err(|e| anyhow!("trust domain {td:?}: {e}"))?;
    bundle_format::parse(&td, data, format)
}

/// `trustDomainBundle` of a JSON item: a string of PEM, or a SPIFFE bundle document.
fn bundle_from_raw(td: &str, raw: &Value, format: &str) -> Result<pb::Bundle> {
    match format_of(format)? {
        BundleFormat::Pem => {
            let Value::String(pem) = raw else {
                bail!("failed to unmarshal json: a PEM bundle must be a JSON string");
            };
            parse_bundle(td, pem.as_bytes(), "pem")
        }
        BundleFormat::Spiffe => parse_bundle(td, raw.to_string().as_bytes(), "spiffe"),
    }
}

/// The relationships to send: those of `-data` (a file, or `-` for standard input), or the
/// one the flags describe.
pub(crate) fn relationships(
    config: &RelationshipConfig,
    data: Option<&str>,
) -> Result<Vec<pb::FederationRelationship>> {
    match data.filter(|p| !p.is_empty()) {
        Some(path) => {
            if !config.is_empty() {
                bail!(
                    "cannot use other flags to specify relationship fields when 'data' flag is set"
                );
            }
            parse(&read(path)?)
        }
        None => Ok(vec![config.to_pb()?]),
    }
}

fn read(path: &str) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    if path == "-" {
        std::io::stdin()
            .take(MAX_DATA_SIZE + 1)
            .read_to_end(&mut data)
            .context("reading -data from standard input")?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_DATA_SIZE + 1).read_to_end(&mut data))
            .map_err(|e| anyhow!("open {path}: {e}"))?;
    }
    if data.len() as u64 > MAX_DATA_SIZE {
        bail!("-data {path}: larger than {MAX_DATA_SIZE} bytes");
    }
    Ok(data)
}

/// Go's field lookup: the exact key, else one equal without regard to case.
fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn string(obj: &Map<String, Value>, name: &str) -> Result<String> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => bail!("{name}: expected a string"),
    }
}

/// Parses a `-data` document.
pub(crate) fn parse(data: &[u8]) -> Result<Vec<pb::FederationRelationship>> {
    let doc: Value =
        serde_json::from_slice(data).map_err(|e| anyhow!("failed to parse JSON: {e}"))?;
    let Value::Object(top) = &doc else {
        bail!("failed to parse JSON: expected an object with \"federationRelationships\"");
    };
    let items = match field(top, "federationRelationships") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => bail!("failed to parse JSON: \"federationRelationships\" must be an array"),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item_config(item)
                .and_then(|c| c.to_pb())
                .with_context(|| format!("could not parse item {i}"))
        })
        .collect()
}

fn item_config(item: &Value) -> Result<RelationshipConfig> {
    let Value::Object(obj) = item else {
        bail!("expected an object");
    };
    Ok(RelationshipConfig {
        trust_domain: string(obj, "trustDomain")?,
        bundle_endpoint_url: string(obj, "bundleEndpointURL")?,
        bundle_endpoint_profile: string(obj, "bundleEndpointProfile")?,
        endpoint_spiffe_id: string(obj, "endpointSPIFFEID")?,
        trust_domain_bundle_path: String::new(),
        trust_domain_bundle: field(obj, "trustDomainBundle").cloned(),
        trust_domain_bundle_format: string(obj, "trustDomainBundleFormat")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(data: &str) -> String {
        parse(data.as_bytes())
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default()
    }

    #[test]
    fn items_as_spire_reads_them() {
        let got = parse(
            br#"{"federationRelationships":[
                {"trustDomain":"a.org","bundleEndpointURL":"https://a/","bundleEndpointProfile":"https_web","unknown":1},
                {"TRUSTDOMAIN":"b.org","bundleendpointurl":"https://b/","bundleEndpointProfile":"https_spiffe","endpointSPIFFEID":"spiffe://b.org/s"}
            ]}"#,
        )
        .ok()
        .unwrap_or_default();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].trust_domain, "a.org");
        assert!(matches!(
            got[0].bundle_endpoint_profile,
            Some(P::HttpsWeb(_))
        ));
        assert_eq!(got[1].bundle_endpoint_url, "https://b/");
        assert!(matches!(
            &got[1].bundle_endpoint_profile,
            Some(P::HttpsSpiffe(p)) if p.endpoint_spiffe_id == "spiffe://b.org/s"
        ));
        assert_eq!(parse(b"{}").ok().map(|v| v.len()), Some(0));
    }

    #[test]
    fn refusals_name_the_item_and_rule() {
        assert_eq!(
            err(r#"{"federationRelationships":[{"bundleEndpointURL":"https://a"}]}"#),
            "could not parse item 0: trust domain is required"
        );
        assert_eq!(
            err(r#"{"federationRelationships":[{"trustDomain":"a.org"}]}"#),
            "could not parse item 0: bundle endpoint URL is required"
        );
        assert_eq!(
            err(
                r#"{"federationRelationships":[{"trustDomain":"a.org","bundleEndpointURL":"https://a","bundleEndpointProfile":"acme"}]}"#
            ),
            "could not parse item 0: unknown bundle endpoint profile type: \"acme\""
        );
        assert_eq!(
            err(
                r#"{"federationRelationships":[{"trustDomain":"a.org","bundleEndpointURL":"https://a","bundleEndpointProfile":"https_spiffe"}]}"#
            ),
            "could not parse item 0: endpoint SPIFFE ID is required if 'https_spiffe' endpoint profile is set"
        );
        assert_eq!(
            err(
                r#"{"federationRelationships":[{"trustDomain":"a.org","bundleEndpointURL":"https://a","bundleEndpointProfile":"https_web","trustDomainBundle":"x"}]}"#
            ),
            "could not parse item 0: cannot parse bundle raw message: bundle format \"\" is unsupported"
        );
        assert!(err("[").starts_with("failed to parse JSON: "));
    }

    #[test]
    fn data_excludes_relationship_flags() {
        let flags = RelationshipConfig {
            trust_domain: "a.org".into(),
            trust_domain_bundle_format: "pem".into(),
            ..Default::default()
        };
        assert_eq!(
            relationships(&flags, Some("x.json"))
                .err()
                .map(|e| e.to_string()),
            Some(
                "cannot use other flags to specify relationship fields when 'data' flag is set"
                    .into()
            )
        );
    }
}
