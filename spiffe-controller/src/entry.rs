//! The entries the controller declares, their deterministic IDs, and how they compare with
//! what the server holds.

use aws_lc_rs::digest;
use serde::Serialize;
use spiffe_core::{Selector, SpiffeId, TrustDomain};
use spiffe_proto::convert::{id_to_pb, selector_to_pb};
use spiffe_proto::spire::api::types as pb;

/// An entry as the controller wants it on the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredEntry {
    /// The deterministic entry ID: prefix + a hash of SPIFFE ID, parent ID and selectors.
    pub id: String,
    /// The SPIFFE ID granted.
    pub spiffe_id: SpiffeId,
    /// The parent ID.
    pub parent_id: SpiffeId,
    /// The selectors, sorted, without repeats.
    pub selectors: Vec<Selector>,
    /// X509-SVID TTL in seconds (0: the server's default).
    pub x509_svid_ttl: i32,
    /// JWT-SVID TTL in seconds (0: the server's default).
    pub jwt_svid_ttl: i32,
    /// DNS names, in order (the first becomes the CN), without repeats.
    pub dns_names: Vec<String>,
    /// Federated trust domains, sorted.
    pub federates_with: Vec<TrustDomain>,
    /// Admin flag.
    pub admin: bool,
    /// Downstream flag.
    pub downstream: bool,
    /// The hint.
    pub hint: String,
    /// SPIRE's `store_svid`.
    pub store_svid: bool,
}

/// The identity of an entry: what the server treats as "similar" (same SPIFFE ID, parent and
/// selector set). Equal keys give equal IDs.
pub fn entry_key(spiffe_id: &SpiffeId, parent_id: &SpiffeId, selectors: &[Selector]) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(spiffe_id.as_str().as_bytes());
    ctx.update(b"\n");
    ctx.update(parent_id.as_str().as_bytes());
    let mut sorted: Vec<&Selector> = selectors.iter().collect();
    sorted.sort();
    sorted.dedup();
    for s in sorted {
        ctx.update(b"\n");
        ctx.update(s.kind().as_bytes());
        ctx.update(b":");
        ctx.update(s.value().as_bytes());
    }
    let digest = ctx.finish();
    hex::encode(digest.as_ref().get(..16).unwrap_or_default())
}

impl DesiredEntry {
    /// A new entry with defaults; sets the ID from `prefix` and the key.
    pub fn new(
        prefix: &str,
        spiffe_id: SpiffeId,
        parent_id: SpiffeId,
        mut selectors: Vec<Selector>,
    ) -> Self {
        selectors.sort();
        selectors.dedup();
        let id = format!("{prefix}{}", entry_key(&spiffe_id, &parent_id, &selectors));
        DesiredEntry {
            id,
            spiffe_id,
            parent_id,
            selectors,
            x509_svid_ttl: 0,
            jwt_svid_ttl: 0,
            dns_names: Vec::new(),
            federates_with: Vec::new(),
            admin: false,
            downstream: false,
            hint: String::new(),
            store_svid: false,
        }
    }

    /// SPIRE's `Entry` message for create and update.
    pub fn to_pb(&self) -> pb::Entry {
        pb::Entry {
            id: self.id.clone(),
            spiffe_id: Some(id_to_pb(&self.spiffe_id)),
            parent_id: Some(id_to_pb(&self.parent_id)),
            selectors: self.selectors.iter().map(selector_to_pb).collect(),
            x509_svid_ttl: self.x509_svid_ttl,
            jwt_svid_ttl: self.jwt_svid_ttl,
            dns_names: self.dns_names.clone(),
            federates_with: self
                .federates_with
                .iter()
                .map(|td| td.name().to_owned())
                .collect(),
            admin: self.admin,
            downstream: self.downstream,
            hint: self.hint.clone(),
            store_svid: self.store_svid,
            ..Default::default()
        }
    }

    /// Whether the server's `current` entry differs in any field the controller sets.
    pub fn differs_from(&self, current: &pb::Entry) -> bool {
        let want = self.to_pb();
        let mut have_sel: Vec<(&str, &str)> = current
            .selectors
            .iter()
            .map(|s| (s.r#type.as_str(), s.value.as_str()))
            .collect();
        have_sel.sort_unstable();
        have_sel.dedup();
        let want_sel: Vec<(&str, &str)> = want
            .selectors
            .iter()
            .map(|s| (s.r#type.as_str(), s.value.as_str()))
            .collect();
        let mut have_fed: Vec<&str> = current
            .federates_with
            .iter()
            .map(|t| t.strip_prefix("spiffe://").unwrap_or(t))
            .collect();
        have_fed.sort_unstable();
        let want_fed: Vec<&str> = want.federates_with.iter().map(String::as_str).collect();
        current.spiffe_id != want.spiffe_id
            || current.parent_id != want.parent_id
            || have_sel != want_sel
            || current.x509_svid_ttl != want.x509_svid_ttl
            || current.jwt_svid_ttl != want.jwt_svid_ttl
            || current.dns_names != want.dns_names
            || have_fed != want_fed
            || current.admin != want.admin
            || current.downstream != want.downstream
            || current.hint != want.hint
            || current.store_svid != want.store_svid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> DesiredEntry {
        DesiredEntry::new(
            "p.",
            SpiffeId::parse("spiffe://td/ns/prod/sa/x").unwrap(),
            SpiffeId::parse("spiffe://td/spire/agent/k8s_psat/c/n").unwrap(),
            vec![
                Selector::parse("k8s:pod-uid:1").unwrap(),
                Selector::parse("k8s:ns:prod").unwrap(),
            ],
        )
    }

    #[test]
    fn ids_are_deterministic_and_order_free() {
        let a = entry();
        let mut sel = a.selectors.clone();
        sel.reverse();
        let b = DesiredEntry::new("p.", a.spiffe_id.clone(), a.parent_id.clone(), sel);
        assert_eq!(a.id, b.id);
        assert!(a.id.starts_with("p."));
        assert_eq!(a.id.len(), 2 + 32);
        let c = DesiredEntry::new(
            "p.",
            SpiffeId::parse("spiffe://td/other").unwrap(),
            a.parent_id.clone(),
            a.selectors.clone(),
        );
        assert_ne!(a.id, c.id);
    }

    #[test]
    fn differences() {
        let a = entry();
        let mut current = a.to_pb();
        assert!(!a.differs_from(&current));
        current.selectors.reverse();
        current.revision_number = 7;
        current.created_at = 99;
        assert!(!a.differs_from(&current), "order and server fields ignored");
        let mut ttl = current.clone();
        ttl.x509_svid_ttl = 60;
        assert!(a.differs_from(&ttl));
        let mut dns = current.clone();
        dns.dns_names = vec!["x.example".into()];
        assert!(a.differs_from(&dns));
        let mut admin = current;
        admin.admin = true;
        assert!(a.differs_from(&admin));
    }
}
