//! What to change on the server: the entries the plan wants against the entries the server
//! has under the controller's ID prefix. Entries without the prefix are never deleted or
//! rewritten, and neither are join-token entries ([`is_join_token_entry`]), whatever their ID.

use std::collections::{BTreeMap, HashMap, HashSet};

use spiffe_proto::spire::api::types as pb;

use crate::plan::Declared;

/// The path prefix of the agent IDs the server gives agents it admitted with a join token
/// (`spiffe://<trust domain>/spire/agent/join_token/<token>`).
pub const JOIN_TOKEN_PARENT_PREFIX: &str = "/spire/agent/join_token/";

/// The selector type of the node alias entry the server makes for a join token created with
/// an agent ID (`spiffe_id:<the join-token agent's ID>`).
pub const JOIN_TOKEN_SELECTOR_TYPE: &str = "spiffe_id";

/// Whether `entry` is a join-token entry: its parent ID's path starts with
/// [`JOIN_TOKEN_PARENT_PREFIX`] and it has a selector of type [`JOIN_TOKEN_SELECTOR_TYPE`].
/// That is the entry the server creates when a join token is made with an agent ID, and the
/// test spire-controller-manager applies before it deletes an entry. The controller never
/// deletes or updates such an entry, whatever its ID.
pub fn is_join_token_entry(entry: &pb::Entry) -> bool {
    entry
        .parent_id
        .as_ref()
        .is_some_and(|p| p.path.starts_with(JOIN_TOKEN_PARENT_PREFIX))
        && entry
            .selectors
            .iter()
            .any(|s| s.r#type == JOIN_TOKEN_SELECTOR_TYPE)
}

/// A join-token entry the reconcile leaves as the server holds it, where it would otherwise
/// have deleted or rewritten it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptEntry {
    /// The server's entry ID.
    pub id: String,
    /// The declared entry it stands for (same SPIFFE ID, parent ID and selectors), by the
    /// controller's entry ID; `None` for an entry under the prefix that nothing declares any
    /// more (it would have been deleted).
    pub declared: Option<String>,
    /// Whether the declared entry's other fields (TTLs, DNS names, ...) differ from the
    /// server's (it would have been updated).
    pub differs: bool,
}

/// The changes, by entry ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Entries to create.
    pub create: Vec<String>,
    /// Entries to update (present, but some field differs).
    pub update: Vec<String>,
    /// Owned entries no resource declares any more.
    pub delete: Vec<String>,
    /// Entries already as wanted.
    pub unchanged: Vec<String>,
    /// Join-token entries left alone, sorted by the server's entry ID.
    pub kept: Vec<KeptEntry>,
}

impl Changes {
    /// Whether nothing needs to be written.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// What makes two entries "similar" to the server: SPIFFE ID, parent ID and selector set.
type Similarity<'a> = (
    Option<&'a pb::Spiffeid>,
    Option<&'a pb::Spiffeid>,
    Vec<(&'a str, &'a str)>,
);

fn similarity(e: &pb::Entry) -> Similarity<'_> {
    let mut selectors: Vec<(&str, &str)> = e
        .selectors
        .iter()
        .map(|s| (s.r#type.as_str(), s.value.as_str()))
        .collect();
    selectors.sort_unstable();
    selectors.dedup();
    (e.spiffe_id.as_ref(), e.parent_id.as_ref(), selectors)
}

/// Compares `desired` with the server's `current` entries: only those whose ID starts with
/// `prefix` may be updated or deleted, and never a join-token entry. A declared entry similar
/// to a join-token entry the server holds (under any ID) is satisfied by it: it is neither
/// created (the server would refuse a similar entry) nor written over.
pub fn diff(desired: &BTreeMap<String, Declared>, current: &[pb::Entry], prefix: &str) -> Changes {
    let owned: HashMap<&str, &pb::Entry> = current
        .iter()
        .filter(|e| e.id.starts_with(prefix))
        .map(|e| (e.id.as_str(), e))
        .collect();
    let join_tokens: Vec<&pb::Entry> = current.iter().filter(|e| is_join_token_entry(e)).collect();
    let join_token_keys: HashMap<Similarity<'_>, &pb::Entry> =
        join_tokens.iter().map(|e| (similarity(e), *e)).collect();
    let mut out = Changes::default();
    // Declared IDs whose owned entry stays: created, updated or already as wanted.
    let mut accounted: HashSet<&str> = HashSet::new();
    let mut matched: HashSet<&str> = HashSet::new();
    for (id, d) in desired {
        let want = d.entry.to_pb();
        if let Some(have) = join_token_keys.get(&similarity(&want)) {
            matched.insert(have.id.as_str());
            out.kept.push(KeptEntry {
                id: have.id.clone(),
                declared: Some(id.clone()),
                differs: d.entry.differs_from(have),
            });
            continue;
        }
        accounted.insert(id.as_str());
        match owned.get(id.as_str()) {
            None => out.create.push(id.clone()),
            Some(have) if is_join_token_entry(have) => {
                // Under the declared ID, but no longer similar to the declaration: the server
                // holds a join-token entry there, which is left as it is.
                out.kept.push(KeptEntry {
                    id: have.id.clone(),
                    declared: Some(id.clone()),
                    differs: true,
                });
                matched.insert(have.id.as_str());
            }
            Some(have) if d.entry.differs_from(have) => out.update.push(id.clone()),
            Some(_) => out.unchanged.push(id.clone()),
        }
    }
    let mut delete: Vec<String> = Vec::new();
    for (id, e) in &owned {
        if accounted.contains(id) {
            continue;
        }
        if is_join_token_entry(e) {
            if !matched.contains(id) {
                out.kept.push(KeptEntry {
                    id: (*id).to_owned(),
                    declared: None,
                    differs: false,
                });
            }
        } else {
            delete.push((*id).to_owned());
        }
    }
    delete.sort();
    out.delete = delete;
    out.kept.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::DesiredEntry;
    use crate::plan::ResourceRef;
    use spiffe_core::{Selector, SpiffeId};

    fn declared_with(spiffe_id: &str, parent: &str, selectors: &[&str]) -> Declared {
        Declared {
            entry: DesiredEntry::new(
                "own.",
                SpiffeId::parse(spiffe_id).unwrap(),
                SpiffeId::parse(parent).unwrap(),
                selectors
                    .iter()
                    .map(|s| Selector::parse(s).unwrap())
                    .collect(),
            ),
            by: ResourceRef::ClusterStaticEntry("x".into()),
            pod: None,
        }
    }

    fn declared(path: &str) -> Declared {
        declared_with(
            &format!("spiffe://td/{path}"),
            "spiffe://td/spire/agent/x",
            &["k8s:ns:a"],
        )
    }

    /// The node alias the server makes for a join token created with an agent ID.
    fn join_token_alias(token: &str, alias: &str) -> Declared {
        let agent = format!("spiffe://td/spire/agent/join_token/{token}");
        declared_with(
            &format!("spiffe://td/{alias}"),
            &agent,
            &[&format!("spiffe_id:{agent}")],
        )
    }

    fn map(entries: &[&Declared]) -> BTreeMap<String, Declared> {
        entries
            .iter()
            .map(|d| (d.entry.id.clone(), (*d).clone()))
            .collect()
    }

    #[test]
    fn create_update_delete_and_foreign_entries() {
        let a = declared("a");
        let b = declared("b");
        let c = declared("c");
        let mut b_old = b.entry.to_pb();
        b_old.x509_svid_ttl = 5;
        let stale = declared("stale").entry.to_pb();
        let mut foreign = declared("d").entry.to_pb();
        foreign.id = "manual-entry".into();
        let current = vec![c.entry.to_pb(), b_old, stale.clone(), foreign];
        let desired: BTreeMap<String, Declared> = [a.clone(), b.clone(), c.clone()]
            .into_iter()
            .map(|d| (d.entry.id.clone(), d))
            .collect();
        let ch = diff(&desired, &current, "own.");
        assert_eq!(ch.create, vec![a.entry.id]);
        assert_eq!(ch.update, vec![b.entry.id]);
        assert_eq!(ch.unchanged, vec![c.entry.id]);
        assert_eq!(ch.delete, vec![stale.id]);
        assert!(!ch.is_empty());
        let none = diff(&BTreeMap::new(), &current[3..], "own.");
        assert!(none.is_empty(), "the foreign entry is not ours to delete");
    }

    #[test]
    fn what_a_join_token_entry_is() {
        assert!(is_join_token_entry(
            &join_token_alias("abc", "node-alias").entry.to_pb()
        ));
        // A workload entry under a join-token agent (no spiffe_id selector) is not one.
        let workload = declared_with(
            "spiffe://td/app",
            "spiffe://td/spire/agent/join_token/abc",
            &["unix:uid:1000"],
        );
        assert!(!is_join_token_entry(&workload.entry.to_pb()));
        // A spiffe_id selector under another parent is not one either.
        let alias = declared_with(
            "spiffe://td/alias",
            "spiffe://td/spire/server",
            &["spiffe_id:spiffe://td/spire/agent/k8s_psat/c/n"],
        );
        assert!(!is_join_token_entry(&alias.entry.to_pb()));
        let mut bare = join_token_alias("abc", "node-alias").entry.to_pb();
        if let Some(p) = bare.parent_id.as_mut() {
            p.path = "/spire/agent/join_token".into();
        }
        assert!(!is_join_token_entry(&bare), "the token segment is required");
    }

    #[test]
    fn join_token_entries_are_never_deleted_or_updated() {
        // Under the prefix, declared by nothing: it would be stale, but it is kept.
        let mut owned_alias = join_token_alias("abc", "node-a").entry.to_pb();
        owned_alias.id = "own.jt-abc".into();
        // SPIRE's own alias entry (a UUID ID) that a static entry declares with another TTL:
        // satisfied by the server's entry, neither created nor updated.
        let declared_alias = join_token_alias("def", "node-b");
        let mut server_alias = declared_alias.entry.to_pb();
        server_alias.id = "5e7a0c8e-0d7b-4f4c-9f54-3c1b2a4d5e6f".into();
        server_alias.x509_svid_ttl = 60;
        // The same alias, declared identically, under the declared ID.
        let same = join_token_alias("ghi", "node-c");
        // Under the declared ID, a join-token entry changed behind the controller's back so it
        // is no longer similar to the declaration: left alone, not rewritten.
        let drifted_decl = join_token_alias("jkl", "node-d");
        let mut drifted = drifted_decl.entry.to_pb();
        drifted.spiffe_id = Some(spiffe_proto::convert::id_to_pb(
            &SpiffeId::parse("spiffe://td/elsewhere").unwrap(),
        ));
        // A workload entry of a join-token agent under the prefix is not a join-token entry:
        // stale, deleted.
        let mut workload = declared_with(
            "spiffe://td/app",
            "spiffe://td/spire/agent/join_token/abc",
            &["unix:uid:1000"],
        )
        .entry
        .to_pb();
        workload.id = "own.workload".into();
        let current = vec![
            owned_alias.clone(),
            server_alias.clone(),
            same.entry.to_pb(),
            drifted.clone(),
            workload.clone(),
        ];
        let desired = map(&[&declared_alias, &same, &drifted_decl]);
        let ch = diff(&desired, &current, "own.");
        assert!(ch.create.is_empty(), "{ch:?}");
        assert!(ch.update.is_empty(), "{ch:?}");
        assert!(ch.unchanged.is_empty(), "{ch:?}");
        assert_eq!(ch.delete, vec![workload.id]);
        let mut want = vec![
            KeptEntry {
                id: owned_alias.id.clone(),
                declared: None,
                differs: false,
            },
            KeptEntry {
                id: server_alias.id.clone(),
                declared: Some(declared_alias.entry.id.clone()),
                differs: true,
            },
            KeptEntry {
                id: same.entry.id.clone(),
                declared: Some(same.entry.id.clone()),
                differs: false,
            },
            KeptEntry {
                id: drifted.id.clone(),
                declared: Some(drifted_decl.entry.id.clone()),
                differs: true,
            },
        ];
        want.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(ch.kept, want);

        // Nothing declared at all, whatever the prefix (even an empty one, which takes every
        // entry as owned): join-token entries still stay.
        for prefix in ["own.", ""] {
            let ch = diff(&BTreeMap::new(), &current, prefix);
            assert_eq!(
                ch.delete,
                vec!["own.workload".to_owned()],
                "prefix {prefix:?}"
            );
            assert!(ch.kept.iter().all(|k| k.declared.is_none()));
            assert_eq!(ch.kept.len(), if prefix.is_empty() { 4 } else { 3 });
        }
    }

    #[test]
    fn a_similar_join_token_entry_stands_in_for_a_stale_owned_one() {
        // The declared entry is similar to SPIRE's alias entry; an entry under the declared ID
        // that is not a join-token entry (edited by hand) goes, and nothing is created.
        let decl = join_token_alias("abc", "node-a");
        let mut server_alias = decl.entry.to_pb();
        server_alias.id = "spire-made".into();
        let mut edited = declared("x").entry.to_pb();
        edited.id = decl.entry.id.clone();
        let ch = diff(&map(&[&decl]), &[server_alias, edited], "own.");
        assert_eq!(ch.delete, vec![decl.entry.id.clone()]);
        assert!(ch.create.is_empty() && ch.update.is_empty());
        assert_eq!(
            ch.kept,
            vec![KeptEntry {
                id: "spire-made".into(),
                declared: Some(decl.entry.id.clone()),
                differs: false,
            }]
        );
    }
}
