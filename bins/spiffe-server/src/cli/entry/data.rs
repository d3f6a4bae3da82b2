//! `-data`: SPIRE's registration JSON (`{"entries":[...]}` of `spire.common.RegistrationEntry`
//! with Go's `encoding/json` rules: snake_case names matched without regard to case, unknown
//! keys ignored, IDs as strings, `entryExpiry` for the expiry).

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Map, Value};
use spiffe_core::{SpiffeId, TrustDomain};
use spiffe_proto::spire::api::types as pb;

/// Reads the entries of the file at `path` (`-`: standard input).
pub(crate) fn read(path: &str) -> Result<Vec<pb::Entry>> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading -data from standard input")?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| format!("reading -data {path}"))?;
    }
    parse(&text).map_err(|e| anyhow!("-data {path}: {e:#}"))
}

/// Parses the JSON document.
pub(crate) fn parse(text: &str) -> Result<Vec<pb::Entry>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| anyhow!("invalid JSON: {e}"))?;
    let Value::Object(top) = &doc else {
        bail!("expected an object with \"entries\"");
    };
    let entries = match field(top, "entries") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => bail!("\"entries\" must be an array"),
    };
    if entries.is_empty() {
        bail!("no entries (expected {{\"entries\":[...]}})");
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| entry(e).with_context(|| format!("entries[{i}]")))
        .collect()
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

fn boolean(obj: &Map<String, Value>, name: &str) -> Result<bool> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => bail!("{name}: expected true or false"),
    }
}

fn integer(obj: &Map<String, Value>, name: &str) -> Result<i64> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| anyhow!("{name}: {n} is not a 64-bit integer")),
        Some(_) => bail!("{name}: expected a number"),
    }
}

fn int32(obj: &Map<String, Value>, name: &str) -> Result<i32> {
    let v = integer(obj, name)?;
    i32::try_from(v).map_err(|_| anyhow!("{name}: {v} does not fit in a 32-bit integer"))
}

fn strings(obj: &Map<String, Value>, name: &str) -> Result<Vec<String>> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(anyhow!("{name}: expected an array of strings")),
            })
            .collect(),
        Some(_) => bail!("{name}: expected an array of strings"),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    match v {
        Value::Object(o) => Ok(o),
        _ => bail!("{what}: expected an object"),
    }
}

fn id(flag: &str, s: &str) -> Result<pb::Spiffeid> {
    let id = SpiffeId::parse_normalized(s).map_err(|e| anyhow!("invalid {flag}: {s:?}: {e}"))?;
    Ok(spiffe_server::convert::id_to_pb(&id))
}

/// One `RegistrationEntry`, converted as SPIRE's `RegistrationEntryToProto` does.
fn entry(v: &Value) -> Result<pb::Entry> {
    let o = object(v, "entry")?;
    let selectors = match field(o, "selectors") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|s| {
                let s = object(s, "selectors")?;
                Ok(pb::Selector {
                    r#type: string(s, "type")?,
                    value: string(s, "value")?,
                })
            })
            .collect::<Result<_>>()?,
        Some(_) => bail!("selectors: expected an array"),
    };
    let additional_attributes = match field(o, "additional_attributes") {
        None | Some(Value::Null) => None,
        Some(a) => {
            let a = object(a, "additional_attributes")?;
            Some(pb::entry::AdditionalAttributes {
                disable_x509_svid_prefetch: boolean(a, "disable_x509_svid_prefetch")?,
                jwt_svid_include_jti: boolean(a, "jwt_svid_include_jti")?,
            })
        }
    };
    let federates_with = strings(o, "federates_with")?
        .iter()
        .map(|td| {
            TrustDomain::parse_normalized(td)
                .map(|t| t.name().to_owned())
                .map_err(|e| anyhow!("invalid federated trust domain: {td:?}: {e}"))
        })
        .collect::<Result<_>>()?;
    Ok(pb::Entry {
        id: string(o, "entry_id")?,
        spiffe_id: Some(id("SPIFFE ID", &string(o, "spiffe_id")?)?),
        parent_id: Some(id("parent ID", &string(o, "parent_id")?)?),
        selectors,
        x509_svid_ttl: int32(o, "x509_svid_ttl")?,
        federates_with,
        admin: boolean(o, "admin")?,
        downstream: boolean(o, "downstream")?,
        expires_at: integer(o, "entryExpiry")?,
        dns_names: strings(o, "dns_names")?,
        revision_number: integer(o, "revision_number")?,
        store_svid: boolean(o, "store_svid")?,
        jwt_svid_ttl: int32(o, "jwt_svid_ttl")?,
        hint: string(o, "hint")?,
        created_at: integer(o, "created_at")?,
        additional_attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spire_registration_json() {
        let entries = parse(
            r#"{"entries":[{
              "entry_id":"blog", "spiffe_id":"spiffe://example.org/Blog",
              "parent_id":"spiffe://example.org/spire/agent/join_token/TokenBlog",
              "selectors":[{"type":"unix","value":"uid:1111"}],
              "x509_svid_ttl":200, "jwt_svid_ttl":30, "federates_with":["spiffe://domain.test"],
              "Admin":true, "downstream":false, "entryExpiry":1552410266, "dns_names":["a.example"],
              "store_svid":false, "hint":"internal", "unknown": 1,
              "additional_attributes":{"disable_x509_svid_prefetch":true}}]}"#,
        );
        let entries = entries.ok().unwrap_or_default();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.id, "blog");
        assert_eq!(e.spiffe_id.as_ref().map(|i| i.path.as_str()), Some("/Blog"));
        assert_eq!(e.selectors[0].value, "uid:1111");
        assert_eq!(e.federates_with, ["domain.test"]);
        assert!(e.admin);
        assert_eq!(e.expires_at, 1_552_410_266);
        assert_eq!(e.x509_svid_ttl, 200);
        assert!(
            e.additional_attributes
                .is_some_and(|a| a.disable_x509_svid_prefetch && !a.jwt_svid_include_jti)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let msg = |s: &str| parse(s).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert_eq!(
            msg(r#"{"entries":[{"spiffe_id":"spiffe://a/b","parent_id":"x"}]}"#),
            "entries[0]: invalid parent ID: \"x\": SPIFFE ID must start with the scheme `spiffe://` (byte 0)"
        );
        assert_eq!(
            msg(
                r#"{"entries":[{"spiffe_id":"spiffe://a/b","parent_id":"spiffe://a/c","x509_svid_ttl":4294967296}]}"#
            ),
            "entries[0]: x509_svid_ttl: 4294967296 does not fit in a 32-bit integer"
        );
        assert!(msg("{}").starts_with("no entries"));
        assert!(msg("[").starts_with("invalid JSON"));
    }
}
