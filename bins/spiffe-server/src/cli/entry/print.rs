//! SPIRE's `printEntry` block (v1.15 layout, 24-character label column) and its entry order.

use std::cmp::Ordering;
use std::fmt::Write;

use spiffe_proto::spire::api::types as pb;

use crate::cli::flags::id_string;
use crate::cli::gotime;

/// One entry, as SPIRE prints it, ending with an empty line.
pub(crate) fn entry_block(e: &pb::Entry) -> String {
    let mut s = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(s, "{label:<24}: {value}");
    };
    line("Entry ID", &if e.id.is_empty() { "(none)" } else { &e.id });
    line("SPIFFE ID", &id_string(e.spiffe_id.as_ref()));
    line("Parent ID", &id_string(e.parent_id.as_ref()));
    line("Revision", &e.revision_number);
    if e.downstream {
        line("Downstream", &true);
    }
    let ttl = |t: i32| {
        if t == 0 {
            "default".to_owned()
        } else {
            t.to_string()
        }
    };
    line("X509-SVID TTL", &ttl(e.x509_svid_ttl));
    line("JWT-SVID TTL", &ttl(e.jwt_svid_ttl));
    if e.expires_at != 0 {
        line("Expiration time", &gotime::utc_string(e.expires_at));
    }
    for sel in &e.selectors {
        line("Selector", &format_args!("{}:{}", sel.r#type, sel.value));
    }
    for td in &e.federates_with {
        line("FederatesWith", td);
    }
    for dns in &e.dns_names {
        line("DNS name", dns);
    }
    if e.admin {
        line("Admin", &true);
    }
    if e.store_svid {
        line("StoreSvid", &true);
    }
    if !e.hint.is_empty() {
        line("Hint", &e.hint);
    }
    if let Some(attrs) = &e.additional_attributes {
        if attrs.disable_x509_svid_prefetch {
            line("DisableX509SvidPrefetch", &true);
        }
        if attrs.jwt_svid_include_jti {
            line("JwtSvidIncludeJti", &true);
        }
    }
    s.push('\n');
    s
}

/// `Found N entries` (singular for one), then every entry.
pub(crate) fn entries_listing(entries: &[pb::Entry]) -> String {
    let noun = if entries.len() == 1 {
        "entry"
    } else {
        "entries"
    };
    let mut s = format!("Found {} {noun}\n", entries.len());
    for e in entries {
        s.push_str(&entry_block(e));
    }
    s
}

fn id_key(id: Option<&pb::Spiffeid>) -> (&str, &str) {
    id.map_or(("", ""), |i| (i.trust_domain.as_str(), i.path.as_str()))
}

fn selector_key(s: &pb::Selector) -> (&str, &str) {
    (s.r#type.as_str(), s.value.as_str())
}

/// SPIRE's `SortTypesEntries`: selectors of each entry by (type, value); entries by SPIFFE ID,
/// parent ID, X509-SVID TTL, JWT-SVID TTL, selector count, then selectors.
pub(crate) fn sort_entries(entries: &mut [pb::Entry]) {
    for e in entries.iter_mut() {
        e.selectors
            .sort_by(|a, b| selector_key(a).cmp(&selector_key(b)));
    }
    entries.sort_by(|a, b| {
        id_key(a.spiffe_id.as_ref())
            .cmp(&id_key(b.spiffe_id.as_ref()))
            .then_with(|| id_key(a.parent_id.as_ref()).cmp(&id_key(b.parent_id.as_ref())))
            .then_with(|| a.x509_svid_ttl.cmp(&b.x509_svid_ttl))
            .then_with(|| a.jwt_svid_ttl.cmp(&b.jwt_svid_ttl))
            .then_with(|| a.selectors.len().cmp(&b.selectors.len()))
            .then_with(|| {
                a.selectors
                    .iter()
                    .zip(&b.selectors)
                    .map(|(x, y)| selector_key(x).cmp(&selector_key(y)))
                    .find(|o| *o != Ordering::Equal)
                    .unwrap_or(Ordering::Equal)
            })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(td: &str, path: &str) -> Option<pb::Spiffeid> {
        Some(pb::Spiffeid {
            trust_domain: td.into(),
            path: path.into(),
        })
    }

    fn sel(t: &str, v: &str) -> pb::Selector {
        pb::Selector {
            r#type: t.into(),
            value: v.into(),
        }
    }

    #[test]
    fn block_layout() {
        let e = pb::Entry {
            id: "00000000-0000-4000-8000-000000000000".into(),
            spiffe_id: id("example.org", "/son"),
            parent_id: id("example.org", "/father"),
            selectors: vec![sel("unix", "uid:1000")],
            x509_svid_ttl: 3600,
            expires_at: 1_552_411_466,
            federates_with: vec!["domain.test".into()],
            dns_names: vec!["a.example".into()],
            admin: true,
            downstream: true,
            store_svid: true,
            hint: "internal".into(),
            additional_attributes: Some(pb::entry::AdditionalAttributes {
                disable_x509_svid_prefetch: true,
                jwt_svid_include_jti: true,
            }),
            ..Default::default()
        };
        assert_eq!(
            entry_block(&e),
            "Entry ID                : 00000000-0000-4000-8000-000000000000\n\
             SPIFFE ID               : spiffe://example.org/son\n\
             Parent ID               : spiffe://example.org/father\n\
             Revision                : 0\n\
             Downstream              : true\n\
             X509-SVID TTL           : 3600\n\
             JWT-SVID TTL            : default\n\
             Expiration time         : 2019-03-12 17:24:26 +0000 UTC\n\
             Selector                : unix:uid:1000\n\
             FederatesWith           : domain.test\n\
             DNS name                : a.example\n\
             Admin                   : true\n\
             StoreSvid               : true\n\
             Hint                    : internal\n\
             DisableX509SvidPrefetch : true\n\
             JwtSvidIncludeJti       : true\n\n"
        );
        assert!(entries_listing(&[]).starts_with("Found 0 entries\n"));
        assert!(entries_listing(std::slice::from_ref(&e)).starts_with("Found 1 entry\nEntry ID"));
    }

    #[test]
    fn order_like_spire() {
        let mk = |path: &str, sels: Vec<pb::Selector>| pb::Entry {
            spiffe_id: id("example.org", path),
            parent_id: id("example.org", "/p"),
            selectors: sels,
            ..Default::default()
        };
        let mut v = vec![
            mk("/b", vec![sel("a", "1")]),
            mk("/a", vec![sel("z", "1"), sel("a", "2")]),
            mk("/a", vec![sel("a", "1")]),
        ];
        sort_entries(&mut v);
        let paths: Vec<_> = v
            .iter()
            .map(|e| (id_string(e.spiffe_id.as_ref()), e.selectors.len()))
            .collect();
        assert_eq!(
            paths,
            [
                ("spiffe://example.org/a".to_owned(), 1),
                ("spiffe://example.org/a".to_owned(), 2),
                ("spiffe://example.org/b".to_owned(), 1)
            ]
        );
        assert_eq!(v[1].selectors[0].r#type, "a");
    }
}
