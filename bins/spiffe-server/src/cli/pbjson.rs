//! SPIRE API messages as SPIRE's `-output json` prints them, through the protojson serde impls
//! pbjson generates in `spiffe-proto` (feature `json`): proto field names, every field present,
//! unset messages left out, 64-bit integers as strings, bytes as base64. SPIRE's printer then
//! drops nulls and sorts keys, which [`crate::cli::output::go_json`] does.

use serde::Serialize;
use serde_json::{Map, Value};
use spiffe_proto::spire::api::types as pb;

/// A message as protojson, or `null` for one that does not serialize (the generated impls only
/// fail on enum values out of range, which these messages do not have).
fn protojson<T: Serialize>(msg: &T) -> Value {
    serde_json::to_value(msg).unwrap_or(Value::Null)
}

/// An object of the fields that are set, as a batch result prints them.
fn object(fields: [(&str, Option<Value>); 2]) -> Value {
    let map: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect();
    Value::Object(map)
}

/// A per-item `Status`, or nothing when unset.
pub(crate) fn status(s: Option<&pb::Status>) -> Option<Value> {
    s.map(protojson)
}

/// An `Entry`.
pub(crate) fn entry(e: &pb::Entry) -> Value {
    protojson(e)
}

/// A batch result carrying an entry (create, update).
pub(crate) fn entry_result(status_: Option<&pb::Status>, e: Option<&pb::Entry>) -> Value {
    object([("status", status(status_)), ("entry", e.map(entry))])
}

/// `msg` as protojson without `field`: a field our protos have that SPIRE 1.13's API types
/// (spire-api-sdk of 2025-01) have not, so that the CLI this one matches never prints it.
fn without<T: Serialize>(msg: &T, field: &str) -> Value {
    let mut v = protojson(msg);
    if let Value::Object(map) = &mut v {
        map.remove(field);
    }
    v
}

/// An `Agent` (without `agent_version`, which came after SPIRE 1.13).
pub(crate) fn agent(a: &pb::Agent) -> Value {
    without(a, "agent_version")
}

/// A `Bundle` (without `wit_authorities`, which came after SPIRE 1.13).
pub(crate) fn bundle(b: &pb::Bundle) -> Value {
    without(b, "wit_authorities")
}

/// A batch result carrying a bundle.
pub(crate) fn bundle_result(status_: Option<&pb::Status>, b: Option<&pb::Bundle>) -> Value {
    object([("status", status(status_)), ("bundle", b.map(bundle))])
}

/// A `FederationRelationship` (its bundle without `wit_authorities`, which came after
/// SPIRE 1.13).
pub(crate) fn federation_relationship(fr: &pb::FederationRelationship) -> Value {
    let mut v = protojson(fr);
    if let (Value::Object(map), Some(b)) = (&mut v, fr.trust_domain_bundle.as_ref()) {
        map.insert("trust_domain_bundle".into(), bundle(b));
    }
    v
}

/// A batch result carrying a federation relationship (create, update).
pub(crate) fn federation_relationship_result(
    status_: Option<&pb::Status>,
    fr: Option<&pb::FederationRelationship>,
) -> Value {
    object([
        ("status", status(status_)),
        ("federation_relationship", fr.map(federation_relationship)),
    ])
}

/// A `JWTSVID`.
pub(crate) fn jwt_svid(s: &pb::Jwtsvid) -> Value {
    protojson(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::go_json;

    #[test]
    fn bundle_and_agent_like_spire() {
        let b = pb::Bundle {
            trust_domain: "example.org".into(),
            x509_authorities: vec![pb::X509Certificate {
                asn1: vec![1, 2, 3],
                tainted: false,
            }],
            jwt_authorities: vec![pb::JwtKey {
                public_key: vec![4, 5],
                key_id: "k1".into(),
                expires_at: 1_700_000_000,
                tainted: true,
            }],
            refresh_hint: 300,
            sequence_number: 7,
            ..Default::default()
        };
        assert_eq!(
            go_json(&bundle(&b)),
            "{\"jwt_authorities\":[{\"expires_at\":\"1700000000\",\"key_id\":\"k1\",\"public_key\":\"BAU=\",\"tainted\":true}],\"refresh_hint\":\"300\",\"sequence_number\":\"7\",\"trust_domain\":\"example.org\",\"x509_authorities\":[{\"asn1\":\"AQID\",\"tainted\":false}]}\n"
        );
        let a = pb::Agent {
            attestation_type: "join_token".into(),
            x509svid_expires_at: 5,
            ..Default::default()
        };
        assert_eq!(
            go_json(&agent(&a)),
            "{\"attestation_type\":\"join_token\",\"banned\":false,\"can_reattest\":false,\"selectors\":[],\"x509svid_expires_at\":\"5\",\"x509svid_serial_number\":\"\"}\n"
        );
        let empty = entry_result(None, None);
        assert_eq!(go_json(&empty), "{}\n");
    }

    #[test]
    fn entry_like_spire() {
        let e = pb::Entry {
            id: "x".into(),
            spiffe_id: Some(pb::Spiffeid {
                trust_domain: "example.org".into(),
                path: "/son".into(),
            }),
            parent_id: Some(pb::Spiffeid {
                trust_domain: "example.org".into(),
                path: "/father".into(),
            }),
            selectors: vec![pb::Selector {
                r#type: "foo".into(),
                value: "bar".into(),
            }],
            created_at: 1_547_583_197,
            ..Default::default()
        };
        assert_eq!(
            go_json(&entry(&e)),
            "{\"admin\":false,\"created_at\":\"1547583197\",\"dns_names\":[],\"downstream\":false,\"expires_at\":\"0\",\"federates_with\":[],\"hint\":\"\",\"id\":\"x\",\"jwt_svid_ttl\":0,\"parent_id\":{\"path\":\"/father\",\"trust_domain\":\"example.org\"},\"revision_number\":\"0\",\"selectors\":[{\"type\":\"foo\",\"value\":\"bar\"}],\"spiffe_id\":{\"path\":\"/son\",\"trust_domain\":\"example.org\"},\"store_svid\":false,\"x509_svid_ttl\":0}\n"
        );
    }
}
