//! What to change on the server: the entries the plan wants against the entries the server
//! has under the controller's ID prefix. Entries without the prefix are never looked at.

use std::collections::{BTreeMap, HashMap};

use spiffe_proto::spire::api::types as pb;

use crate::plan::Declared;

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
}

impl Changes {
    /// Whether nothing needs to be written.
    pub fn is_empty(&self) -> bool {
        self.create.is_empty() && self.update.is_empty() && self.delete.is_empty()
    }
}

/// Compares `desired` with the server's `current` entries; only those whose ID starts with
/// `prefix` count.
pub fn diff(desired: &BTreeMap<String, Declared>, current: &[pb::Entry], prefix: &str) -> Changes {
    let owned: HashMap<&str, &pb::Entry> = current
        .iter()
        .filter(|e| e.id.starts_with(prefix))
        .map(|e| (e.id.as_str(), e))
        .collect();
    let mut out = Changes::default();
    for (id, d) in desired {
        match owned.get(id.as_str()) {
            None => out.create.push(id.clone()),
            Some(have) if d.entry.differs_from(have) => out.update.push(id.clone()),
            Some(_) => out.unchanged.push(id.clone()),
        }
    }
    let mut delete: Vec<String> = owned
        .keys()
        .filter(|id| !desired.contains_key(**id))
        .map(|id| (*id).to_owned())
        .collect();
    delete.sort();
    out.delete = delete;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::DesiredEntry;
    use crate::plan::ResourceRef;
    use spiffe_core::{Selector, SpiffeId};

    fn declared(path: &str) -> Declared {
        Declared {
            entry: DesiredEntry::new(
                "own.",
                SpiffeId::parse(&format!("spiffe://td/{path}")).unwrap(),
                SpiffeId::parse("spiffe://td/spire/agent/x").unwrap(),
                vec![Selector::parse("k8s:ns:a").unwrap()],
            ),
            by: ResourceRef::ClusterStaticEntry("x".into()),
            pod: None,
        }
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
}
