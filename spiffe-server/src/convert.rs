//! Conversions between the server's types and SPIRE's API types (`spire.api.types`).

pub use spiffe_proto::convert::{
    ConvertError, bundle_from_pb, bundle_to_pb, id_from_pb, id_to_pb, selector_from_pb,
    selector_to_pb, trust_domain_from_api,
};
use spiffe_proto::spire::api::types as pb;

use crate::datastore::AttestedNode;
use crate::entry::Entry;

/// SPIRE's `Entry` message to an entry (the server fills ID, revision and creation time).
///
/// # Errors
///
/// A [`ConvertError`] naming the field: a missing or invalid SPIFFE ID or parent ID, a
/// selector that does not parse, or a `federates_with` value that is not a trust domain.
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
    use spiffe_core::{Selector, SpiffeId, TrustDomain};

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
