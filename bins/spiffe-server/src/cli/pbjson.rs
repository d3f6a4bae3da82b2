//! SPIRE API messages as SPIRE's `-output json` prints them: protojson field names, every
//! field present, unset messages left out, 64-bit integers as strings, bytes as base64.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use spiffe_proto::spire::api::types as pb;

/// A `SPIFFEID`, or nothing when unset.
pub(crate) fn id(id: Option<&pb::Spiffeid>) -> Option<Value> {
    id.map(|i| json!({"trust_domain": i.trust_domain, "path": i.path}))
}

/// Inserts `value` under `key` when it is set (protojson's unset messages become null, and
/// SPIRE's printer drops nulls).
fn put(obj: &mut Value, key: &str, value: Option<Value>) {
    if let (Value::Object(map), Some(v)) = (obj, value) {
        map.insert(key.to_owned(), v);
    }
}

/// A `Selector`.
pub(crate) fn selector(s: &pb::Selector) -> Value {
    json!({"type": s.r#type, "value": s.value})
}

/// A per-item `Status`.
pub(crate) fn status(s: Option<&pb::Status>) -> Option<Value> {
    s.map(|s| json!({"code": s.code, "message": s.message}))
}

/// An `Entry`.
pub(crate) fn entry(e: &pb::Entry) -> Value {
    let mut v = json!({
        "id": e.id,
        "selectors": e.selectors.iter().map(selector).collect::<Vec<_>>(),
        "x509_svid_ttl": e.x509_svid_ttl,
        "federates_with": e.federates_with,
        "admin": e.admin,
        "downstream": e.downstream,
        "expires_at": e.expires_at.to_string(),
        "dns_names": e.dns_names,
        "revision_number": e.revision_number.to_string(),
        "store_svid": e.store_svid,
        "jwt_svid_ttl": e.jwt_svid_ttl,
        "hint": e.hint,
        "created_at": e.created_at.to_string(),
    });
    put(&mut v, "spiffe_id", id(e.spiffe_id.as_ref()));
    put(&mut v, "parent_id", id(e.parent_id.as_ref()));
    put(
        &mut v,
        "additional_attributes",
        e.additional_attributes.map(|a| {
            json!({
                "disable_x509_svid_prefetch": a.disable_x509_svid_prefetch,
                "jwt_svid_include_jti": a.jwt_svid_include_jti,
            })
        }),
    );
    v
}

/// A batch result carrying an entry (create, update).
pub(crate) fn entry_result(status_: Option<&pb::Status>, e: Option<&pb::Entry>) -> Value {
    let mut v = json!({});
    put(&mut v, "status", status(status_));
    put(&mut v, "entry", e.map(entry));
    v
}

/// An `Agent`.
pub(crate) fn agent(a: &pb::Agent) -> Value {
    let mut v = json!({
        "attestation_type": a.attestation_type,
        "x509svid_serial_number": a.x509svid_serial_number,
        "x509svid_expires_at": a.x509svid_expires_at.to_string(),
        "selectors": a.selectors.iter().map(selector).collect::<Vec<_>>(),
        "banned": a.banned,
        "can_reattest": a.can_reattest,
        "agent_version": a.agent_version,
    });
    put(&mut v, "id", id(a.id.as_ref()));
    v
}

/// A `Bundle`.
pub(crate) fn bundle(b: &pb::Bundle) -> Value {
    let key = |public_key: &[u8], key_id: &str, expires_at: i64, tainted: bool| {
        json!({
            "public_key": STANDARD.encode(public_key),
            "key_id": key_id,
            "expires_at": expires_at.to_string(),
            "tainted": tainted,
        })
    };
    json!({
        "trust_domain": b.trust_domain,
        "x509_authorities": b.x509_authorities.iter().map(|c| json!({
            "asn1": STANDARD.encode(&c.asn1),
            "tainted": c.tainted,
        })).collect::<Vec<_>>(),
        "jwt_authorities": b.jwt_authorities.iter()
            .map(|k| key(&k.public_key, &k.key_id, k.expires_at, k.tainted))
            .collect::<Vec<_>>(),
        "wit_authorities": b.wit_authorities.iter()
            .map(|k| key(&k.public_key, &k.key_id, k.expires_at, k.tainted))
            .collect::<Vec<_>>(),
        "refresh_hint": b.refresh_hint.to_string(),
        "sequence_number": b.sequence_number.to_string(),
    })
}

/// A batch result carrying a bundle.
pub(crate) fn bundle_result(status_: Option<&pb::Status>, b: Option<&pb::Bundle>) -> Value {
    let mut v = json!({});
    put(&mut v, "status", status(status_));
    put(&mut v, "bundle", b.map(bundle));
    v
}

/// A `JWTSVID`.
pub(crate) fn jwt_svid(s: &pb::Jwtsvid) -> Value {
    let mut v = json!({
        "token": s.token,
        "expires_at": s.expires_at.to_string(),
        "issued_at": s.issued_at.to_string(),
        "hint": s.hint,
    });
    put(&mut v, "id", id(s.id.as_ref()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::output::go_json;

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
