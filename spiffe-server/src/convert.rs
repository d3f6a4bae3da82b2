//! Conversions between the server's types and SPIRE's API types (`spire.api.types`).

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use spiffe_core::{Bundle, JwtBundle, PublicKey, Selector, SpiffeId, TrustDomain, X509Bundle};
use spiffe_proto::spire::api::types as pb;
use thiserror::Error;

use crate::datastore::AttestedNode;
use crate::entry::Entry;

/// Why an API message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct ConvertError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn err(field: &'static str, reason: impl ToString) -> ConvertError {
    ConvertError {
        field,
        reason: reason.to_string(),
    }
}

/// SPIRE's `SPIFFEID` message to a SPIFFE ID.
pub fn id_from_pb(
    field: &'static str,
    id: Option<&pb::Spiffeid>,
) -> Result<SpiffeId, ConvertError> {
    let id = id.ok_or_else(|| err(field, "is required"))?;
    let td = TrustDomain::parse(&id.trust_domain).map_err(|e| err(field, e))?;
    SpiffeId::from_path(&td, &id.path).map_err(|e| err(field, e))
}

/// A SPIFFE ID to SPIRE's `SPIFFEID` message.
pub fn id_to_pb(id: &SpiffeId) -> pb::Spiffeid {
    pb::Spiffeid {
        trust_domain: id.trust_domain_name().to_owned(),
        path: id.path().to_owned(),
    }
}

/// SPIRE's `Selector` message to a selector.
pub fn selector_from_pb(s: &pb::Selector) -> Result<Selector, ConvertError> {
    Selector::new(s.r#type.clone(), s.value.clone()).map_err(|e| err("selectors", e))
}

/// A selector to SPIRE's `Selector` message.
pub fn selector_to_pb(s: &Selector) -> pb::Selector {
    pb::Selector {
        r#type: s.kind().to_owned(),
        value: s.value().to_owned(),
    }
}

/// A federated trust domain as the API carries it (`spiffe://td` or `td`).
pub fn trust_domain_from_api(field: &'static str, s: &str) -> Result<TrustDomain, ConvertError> {
    TrustDomain::parse(s).map_err(|e| err(field, e))
}

/// SPIRE's `Entry` message to an entry (the server fills ID, revision and creation time).
pub fn entry_from_pb(e: &pb::Entry) -> Result<Entry, ConvertError> {
    let mut entry = Entry::new(
        id_from_pb("spiffe_id", e.spiffe_id.as_ref())?,
        id_from_pb("parent_id", e.parent_id.as_ref())?,
        e.selectors
            .iter()
            .map(selector_from_pb)
            .collect::<Result<_, _>>()?,
    );
    entry.id = e.id.clone();
    entry.x509_svid_ttl = e.x509_svid_ttl;
    entry.jwt_svid_ttl = e.jwt_svid_ttl;
    entry.dns_names = e.dns_names.clone();
    entry.federates_with = e
        .federates_with
        .iter()
        .map(|td| trust_domain_from_api("federates_with", td))
        .collect::<Result<_, _>>()?;
    entry.admin = e.admin;
    entry.downstream = e.downstream;
    entry.expires_at = e.expires_at;
    entry.hint = e.hint.clone();
    entry.store_svid = e.store_svid;
    if let Some(attrs) = &e.additional_attributes {
        entry.disable_x509_svid_prefetch = attrs.disable_x509_svid_prefetch;
        entry.jwt_svid_include_jti = attrs.jwt_svid_include_jti;
    }
    entry.revision_number = e.revision_number;
    entry.created_at = e.created_at;
    entry.normalize();
    Ok(entry)
}

/// An entry to SPIRE's `Entry` message.
pub fn entry_to_pb(e: &Entry) -> pb::Entry {
    pb::Entry {
        id: e.id.clone(),
        spiffe_id: Some(id_to_pb(&e.spiffe_id)),
        parent_id: Some(id_to_pb(&e.parent_id)),
        selectors: e.selectors.iter().map(selector_to_pb).collect(),
        x509_svid_ttl: e.x509_svid_ttl,
        federates_with: e
            .federates_with
            .iter()
            .map(|td| td.name().to_owned())
            .collect(),
        admin: e.admin,
        downstream: e.downstream,
        expires_at: e.expires_at,
        dns_names: e.dns_names.clone(),
        revision_number: e.revision_number,
        store_svid: e.store_svid,
        jwt_svid_ttl: e.jwt_svid_ttl,
        hint: e.hint.clone(),
        created_at: e.created_at,
        additional_attributes: (e.disable_x509_svid_prefetch || e.jwt_svid_include_jti).then_some(
            pb::entry::AdditionalAttributes {
                disable_x509_svid_prefetch: e.disable_x509_svid_prefetch,
                jwt_svid_include_jti: e.jwt_svid_include_jti,
            },
        ),
    }
}

/// An attested node to SPIRE's `Agent` message.
pub fn agent_to_pb(n: &AttestedNode) -> pb::Agent {
    pb::Agent {
        id: Some(id_to_pb(&n.spiffe_id)),
        attestation_type: n.attestation_type.clone(),
        x509svid_serial_number: n.serial_number.clone(),
        x509svid_expires_at: n.expires_at,
        selectors: n.selectors.iter().map(selector_to_pb).collect(),
        banned: n.banned,
        can_reattest: n.can_reattest,
        agent_version: n.agent_version.clone(),
    }
}

/// A bundle to SPIRE's `Bundle` message.
pub fn bundle_to_pb(b: &Bundle) -> pb::Bundle {
    pb::Bundle {
        trust_domain: b.trust_domain().name().to_owned(),
        x509_authorities: b
            .x509()
            .authorities()
            .iter()
            .map(|c| pb::X509Certificate {
                asn1: c.as_ref().to_vec(),
                tainted: false,
            })
            .collect(),
        jwt_authorities: b
            .jwt()
            .authorities()
            .map(|(kid, key)| pb::JwtKey {
                public_key: key.spki_der().to_vec(),
                key_id: kid.to_owned(),
                expires_at: 0,
                tainted: false,
            })
            .collect(),
        refresh_hint: b
            .refresh_hint()
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        sequence_number: b.sequence().unwrap_or(0),
        wit_authorities: Vec::new(),
    }
}

/// SPIRE's `Bundle` message to a bundle (checking every certificate and key).
pub fn bundle_from_pb(b: &pb::Bundle) -> Result<Bundle, ConvertError> {
    let td = trust_domain_from_api("trust_domain", &b.trust_domain)?;
    let x509 = X509Bundle::from_authorities(
        td.clone(),
        b.x509_authorities
            .iter()
            .map(|c| CertificateDer::from(c.asn1.clone())),
    )
    .map_err(|e| err("x509_authorities", e))?;
    let mut jwt = JwtBundle::new(td);
    for k in &b.jwt_authorities {
        let key = PublicKey::from_spki_der(&k.public_key).map_err(|e| err("jwt_authorities", e))?;
        jwt.add_authority(k.key_id.clone(), key)
            .map_err(|e| err("jwt_authorities", e))?;
    }
    let mut bundle = Bundle::from_parts(x509, jwt).map_err(|e| err("trust_domain", e))?;
    bundle.set_sequence(Some(b.sequence_number));
    if b.refresh_hint > 0 {
        bundle.set_refresh_hint(Some(Duration::from_secs(
            u64::try_from(b.refresh_hint).unwrap_or(0),
        )));
    }
    Ok(bundle)
}

/// Big-endian serial bytes as the decimal string SPIRE stores and prints.
pub fn serial_to_decimal(bytes: &[u8]) -> String {
    // Repeated division by 10 of the big-endian magnitude.
    let mut digits: Vec<u8> = Vec::new();
    let mut n: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    while !n.is_empty() {
        let mut rem = 0u32;
        let mut next = Vec::with_capacity(n.len());
        for &b in &n {
            let cur = rem * 256 + u32::from(b);
            let q = (cur / 10) as u8;
            rem = cur % 10;
            if !(next.is_empty() && q == 0) {
                next.push(q);
            }
        }
        digits.push(b'0' + rem as u8);
        n = next;
    }
    if digits.is_empty() {
        return "0".into();
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_in_decimal() {
        assert_eq!(serial_to_decimal(&[]), "0");
        assert_eq!(serial_to_decimal(&[0, 0]), "0");
        assert_eq!(serial_to_decimal(&[1, 0]), "256");
        assert_eq!(serial_to_decimal(&[0xff; 8]), u64::MAX.to_string());
        assert_eq!(
            serial_to_decimal(&[0x40; 16]),
            u128::from_be_bytes([0x40; 16]).to_string()
        );
    }

    #[test]
    fn entries_round_trip() {
        let mut e = Entry::new(
            SpiffeId::parse("spiffe://td/a").unwrap(),
            SpiffeId::parse("spiffe://td/spire/server").unwrap(),
            vec![Selector::parse("k8s:ns:prod").unwrap()],
        );
        e.id = "x".into();
        e.jwt_svid_include_jti = true;
        e.federates_with = vec![TrustDomain::parse("other.org").unwrap()];
        let back = entry_from_pb(&entry_to_pb(&e)).unwrap();
        assert_eq!(back, e);
        let mut bad = entry_to_pb(&e);
        bad.spiffe_id = None;
        assert_eq!(entry_from_pb(&bad).unwrap_err().field, "spiffe_id");
    }
}
