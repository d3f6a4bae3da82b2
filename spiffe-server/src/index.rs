//! The in-memory index of entries and agents: authorized entries of an agent in time
//! proportional to the answer, updated incrementally by every write (never reloaded whole), and
//! the set of agents a change affects, so only their push streams wake up.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

use spiffe_core::{Selector, SpiffeId};

use crate::datastore::AttestedNode;
use crate::entry::Entry;

/// Entries and agents, indexed.
#[derive(Debug, Default)]
pub struct Index {
    entries: HashMap<String, Arc<Entry>, FxBuildHasher>,
    /// Children by parent ID, holding the entries themselves so a lookup touches nothing else.
    by_parent: HashMap<SpiffeId, BTreeMap<String, Arc<Entry>>, FxBuildHasher>,
    by_spiffe_id: HashMap<SpiffeId, BTreeSet<String>>,
    /// Node alias entries, each filed under one of its selectors (a node matching the alias
    /// holds all of them, so it finds the alias under that one). The selector is chosen to keep
    /// buckets small, so a lookup checks few candidates.
    aliases_by_selector: HashMap<Selector, BTreeSet<String>>,
    /// The selector each alias is filed under.
    alias_key: HashMap<String, Selector>,
    nodes: HashMap<SpiffeId, Arc<AttestedNode>>,
    nodes_by_selector: HashMap<Selector, BTreeSet<SpiffeId>>,
}

fn remove_from<K: std::hash::Hash + Eq, V: Ord>(map: &mut HashMap<K, BTreeSet<V>>, key: &K, v: &V) {
    if let Some(set) = map.get_mut(key) {
        set.remove(v);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

/// Whether every selector of `needed` is in `have` (both sorted).
fn is_subset(needed: &[Selector], have: &[Selector]) -> bool {
    needed.iter().all(|s| have.binary_search(s).is_ok())
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an index from everything stored.
    pub fn build(entries: Vec<Entry>, nodes: Vec<AttestedNode>) -> Self {
        let mut index = Index::new();
        index.entries.reserve(entries.len());
        for e in entries {
            index.upsert_entry(e);
        }
        for n in nodes {
            index.upsert_node(n);
        }
        index
    }

    /// Number of entries.
    pub fn entry_count(&self) -> usize {
        self.entries.len()
    }

    /// Number of agents.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// One entry.
    pub fn entry(&self, id: &str) -> Option<&Arc<Entry>> {
        self.entries.get(id)
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Arc<Entry>> {
        self.entries.values()
    }

    /// The entries granting `spiffe_id`, in entry ID order.
    pub fn entries_with_spiffe_id<'a>(
        &'a self,
        spiffe_id: &SpiffeId,
    ) -> impl Iterator<Item = &'a Arc<Entry>> + 'a {
        self.by_spiffe_id
            .get(spiffe_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.entries.get(id))
    }

    /// Whether an entry marked `admin` that has not expired at `now` grants `spiffe_id`: an
    /// expired admin entry, or a non-admin entry with the same ID, grants nothing.
    pub fn is_admin(&self, spiffe_id: &SpiffeId, now: i64) -> bool {
        self.entries_with_spiffe_id(spiffe_id)
            .any(|e| e.admin && (e.expires_at == 0 || e.expires_at > now))
    }

    /// One agent.
    pub fn node(&self, id: &SpiffeId) -> Option<&Arc<AttestedNode>> {
        self.nodes.get(id)
    }

    /// Every agent.
    pub fn nodes(&self) -> impl Iterator<Item = &Arc<AttestedNode>> {
        self.nodes.values()
    }

    /// Adds or replaces an entry; returns the one it replaced. An entry equal to the stored one
    /// (same revision and content) is left alone and returned as `Unchanged`.
    pub fn upsert_entry(&mut self, entry: Entry) -> Upsert<Entry> {
        if let Some(old) = self.entries.get(&entry.id)
            && **old == entry
        {
            return Upsert::Unchanged;
        }
        let old = self.remove_entry(&entry.id);
        let id = entry.id.clone();
        let entry = Arc::new(entry);
        self.by_parent
            .entry(entry.parent_id.clone())
            .or_default()
            .insert(id.clone(), Arc::clone(&entry));
        self.by_spiffe_id
            .entry(entry.spiffe_id.clone())
            .or_default()
            .insert(id.clone());
        if entry.is_node_alias()
            && let Some(key) = entry
                .selectors
                .iter()
                .min_by_key(|s| self.aliases_by_selector.get(*s).map_or(0, BTreeSet::len))
        {
            self.aliases_by_selector
                .entry(key.clone())
                .or_default()
                .insert(id.clone());
            self.alias_key.insert(id.clone(), key.clone());
        }
        self.entries.insert(id, entry);
        match old {
            Some(old) => Upsert::Replaced(old),
            None => Upsert::Added,
        }
    }

    /// Removes an entry; returns it.
    pub fn remove_entry(&mut self, id: &str) -> Option<Arc<Entry>> {
        let old = self.entries.remove(id)?;
        let key = id.to_owned();
        if let Some(children) = self.by_parent.get_mut(&old.parent_id) {
            children.remove(&key);
            if children.is_empty() {
                self.by_parent.remove(&old.parent_id);
            }
        }
        remove_from(&mut self.by_spiffe_id, &old.spiffe_id, &key);
        if let Some(s) = self.alias_key.remove(id) {
            remove_from(&mut self.aliases_by_selector, &s, &key);
        }
        Some(old)
    }

    /// Adds or replaces an agent; returns the one it replaced.
    pub fn upsert_node(&mut self, node: AttestedNode) -> Upsert<AttestedNode> {
        if let Some(old) = self.nodes.get(&node.spiffe_id)
            && **old == node
        {
            return Upsert::Unchanged;
        }
        let old = self.remove_node(&node.spiffe_id);
        for s in &node.selectors {
            self.nodes_by_selector
                .entry(s.clone())
                .or_default()
                .insert(node.spiffe_id.clone());
        }
        let mut node = node;
        node.selectors.sort();
        node.selectors.dedup();
        self.nodes.insert(node.spiffe_id.clone(), Arc::new(node));
        match old {
            Some(old) => Upsert::Replaced(old),
            None => Upsert::Added,
        }
    }

    /// Removes an agent; returns it.
    pub fn remove_node(&mut self, id: &SpiffeId) -> Option<Arc<AttestedNode>> {
        let old = self.nodes.remove(id)?;
        for s in &old.selectors {
            remove_from(&mut self.nodes_by_selector, s, id);
        }
        Some(old)
    }

    /// The node alias entries whose selectors are all among `node_selectors` (sorted).
    pub fn aliases_of(&self, node_selectors: &[Selector]) -> Vec<&Arc<Entry>> {
        // Each alias is filed once, so no alias is met twice.
        let mut out = Vec::new();
        for s in node_selectors {
            for id in self.aliases_by_selector.get(s).into_iter().flatten() {
                if let Some(e) = self.entries.get(id)
                    && is_subset(&e.selectors, node_selectors)
                {
                    out.push(e);
                }
            }
        }
        out
    }

    /// The IDs an agent answers to: its own and those of the node aliases it matches.
    pub fn agent_identities(&self, agent_id: &SpiffeId) -> Vec<SpiffeId> {
        let mut ids = vec![agent_id.clone()];
        if let Some(node) = self.nodes.get(agent_id) {
            for alias in self.aliases_of(&node.selectors) {
                if !ids.contains(&alias.spiffe_id) {
                    ids.push(alias.spiffe_id.clone());
                }
            }
        }
        ids
    }

    /// The entries an agent may obtain SVIDs for: those parented by the agent's ID or one of its
    /// node aliases, and, recursively, by the SPIFFE IDs of those entries. Entries that expired
    /// before `now` are left out. Cost is proportional to the answer.
    pub fn authorized_entries(&self, agent_id: &SpiffeId, now: i64) -> Vec<Arc<Entry>> {
        let mut queue = self.agent_identities(agent_id);
        let mut visited: HashSet<SpiffeId, FxBuildHasher> = queue.iter().cloned().collect();
        let mut out: Vec<Arc<Entry>> = Vec::new();
        let mut i = 0;
        while let Some(id) = queue.get(i).cloned() {
            i += 1;
            for e in self
                .by_parent
                .get(&id)
                .into_iter()
                .flat_map(BTreeMap::values)
            {
                if e.expires_at != 0 && e.expires_at <= now {
                    continue;
                }
                out.push(Arc::clone(e));
                // Only an ID that parents entries leads further.
                if self.by_parent.contains_key(&e.spiffe_id) && visited.insert(e.spiffe_id.clone())
                {
                    queue.push(e.spiffe_id.clone());
                }
            }
        }
        // An entry is reached once per parent ID, and parent IDs are visited once each.
        out
    }

    /// The agents whose authorized entries may change when an entry with this parent (and, for
    /// node aliases, these selectors) is added, changed or removed.
    pub fn affected_agents(&self, entry: &Entry) -> BTreeSet<SpiffeId> {
        let mut out = BTreeSet::new();
        if entry.is_node_alias() {
            // Agents matching the alias gain or lose it (and everything under it).
            self.agents_matching(&entry.selectors, &mut out);
            return out;
        }
        let mut stack = vec![entry.parent_id.clone()];
        let mut visited: HashSet<SpiffeId> = HashSet::new();
        while let Some(id) = stack.pop() {
            if !visited.insert(id.clone()) {
                continue;
            }
            if self.nodes.contains_key(&id) {
                out.insert(id.clone());
            }
            for eid in self.by_spiffe_id.get(&id).into_iter().flatten() {
                let Some(e) = self.entries.get(eid) else {
                    continue;
                };
                if e.is_node_alias() {
                    self.agents_matching(&e.selectors, &mut out);
                } else {
                    stack.push(e.parent_id.clone());
                }
            }
        }
        out
    }

    /// Agents whose node selectors include all of `selectors`.
    fn agents_matching(&self, selectors: &[Selector], out: &mut BTreeSet<SpiffeId>) {
        // Candidates are the agents holding the rarest selector.
        let Some(rarest) = selectors
            .iter()
            .filter_map(|s| self.nodes_by_selector.get(s))
            .min_by_key(|set| set.len())
        else {
            return;
        };
        if selectors
            .iter()
            .any(|s| !self.nodes_by_selector.contains_key(s))
        {
            return;
        }
        for id in rarest {
            if let Some(n) = self.nodes.get(id)
                && is_subset(selectors, &n.selectors)
            {
                out.insert(id.clone());
            }
        }
    }
}

/// What an upsert did.
#[derive(Debug)]
pub enum Upsert<T> {
    /// Nothing was stored under that key.
    Added,
    /// It replaced this.
    Replaced(Arc<T>),
    /// The stored value was identical.
    Unchanged,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap()
    }

    fn entry(eid: &str, spiffe: &str, parent: &str, selectors: &[&str]) -> Entry {
        let mut e = Entry::new(
            id(spiffe),
            id(parent),
            selectors.iter().map(|s| sel(s)).collect(),
        );
        e.id = eid.into();
        e
    }

    fn node(agent: &str, selectors: &[&str]) -> AttestedNode {
        AttestedNode {
            spiffe_id: id(agent),
            attestation_type: "k8s_psat".into(),
            serial_number: "1".into(),
            expires_at: 0,
            new_serial_number: String::new(),
            new_expires_at: 0,
            can_reattest: true,
            banned: false,
            selectors: selectors.iter().map(|s| sel(s)).collect(),
            agent_version: String::new(),
            created_at: 0,
        }
    }

    const A1: &str = "spiffe://td/spire/agent/k8s_psat/c1/node-1";
    const A2: &str = "spiffe://td/spire/agent/k8s_psat/c1/node-2";
    const ALIAS: &str = "spiffe://td/ns/spire/sa/spire-agent";

    fn ids(v: &[Arc<Entry>]) -> Vec<&str> {
        let mut out: Vec<&str> = v.iter().map(|e| e.id.as_str()).collect();
        out.sort();
        out
    }

    #[test]
    fn aliases_and_recursion() {
        let mut ix = Index::new();
        ix.upsert_node(node(
            A1,
            &["k8s_psat:cluster:c1", "k8s_psat:agent_sa:spire-agent"],
        ));
        ix.upsert_node(node(
            A2,
            &["k8s_psat:cluster:c2", "k8s_psat:agent_sa:spire-agent"],
        ));
        // The alias matches agents of cluster c1 running as spire-agent.
        ix.upsert_entry(entry(
            "alias",
            ALIAS,
            "spiffe://td/spire/server",
            &["k8s_psat:cluster:c1", "k8s_psat:agent_sa:spire-agent"],
        ));
        ix.upsert_entry(entry("pay", "spiffe://td/pay", ALIAS, &["k8s:ns:prod"]));
        ix.upsert_entry(entry("direct", "spiffe://td/direct", A2, &["unix:uid:0"]));
        // A child of pay's ID: recursive authorization.
        ix.upsert_entry(entry(
            "child",
            "spiffe://td/child",
            "spiffe://td/pay",
            &["unix:uid:1"],
        ));
        ix.upsert_entry(entry(
            "grand",
            "spiffe://td/grand",
            "spiffe://td/child",
            &["unix:uid:2"],
        ));
        // A cycle must not loop.
        ix.upsert_entry(entry(
            "cycle",
            "spiffe://td/pay",
            "spiffe://td/grand",
            &["unix:uid:3"],
        ));

        assert_eq!(
            ids(&ix.authorized_entries(&id(A1), 0)),
            ["child", "cycle", "grand", "pay"]
        );
        assert_eq!(ids(&ix.authorized_entries(&id(A2), 0)), ["direct"]);
        assert_eq!(
            ix.agent_identities(&id(A1)),
            [id(A1), id(ALIAS)],
            "the alias is one of the agent's identities"
        );

        // Who is affected by a change under the alias, under an agent, to the alias itself.
        let affected = |e: &Entry| ix.affected_agents(e).into_iter().collect::<Vec<_>>();
        assert_eq!(
            affected(&entry("x", "spiffe://td/x", "spiffe://td/grand", &["a:b"])),
            [id(A1)]
        );
        assert_eq!(
            affected(&entry("x", "spiffe://td/x", A2, &["a:b"])),
            [id(A2)]
        );
        assert_eq!(
            affected(&entry(
                "x",
                "spiffe://td/y",
                "spiffe://td/spire/server",
                &["k8s_psat:agent_sa:spire-agent"]
            )),
            [id(A1), id(A2)]
        );
        assert!(affected(&entry("x", "spiffe://td/x", "spiffe://td/nobody", &["a:b"])).is_empty());

        // Removing the alias cuts A1 off; expired entries are not served.
        ix.remove_entry("alias");
        assert!(ix.authorized_entries(&id(A1), 0).is_empty());
        let mut expiring = entry("exp", "spiffe://td/e", A2, &["unix:uid:9"]);
        expiring.expires_at = 100;
        ix.upsert_entry(expiring);
        assert_eq!(ids(&ix.authorized_entries(&id(A2), 50)), ["direct", "exp"]);
        assert_eq!(ids(&ix.authorized_entries(&id(A2), 100)), ["direct"]);

        // Upserting the same content is reported as unchanged.
        assert!(matches!(
            ix.upsert_entry(entry("direct", "spiffe://td/direct", A2, &["unix:uid:0"])),
            Upsert::Unchanged
        ));
    }

    #[test]
    fn admin_only_from_unexpired_admin_entries() {
        const ADMIN: &str = "spiffe://td/ops/admin";
        let mut ix = Index::new();
        assert!(!ix.is_admin(&id(ADMIN), 50), "no entry");
        // A non-admin entry with the ID grants nothing.
        ix.upsert_entry(entry("plain", ADMIN, A1, &["unix:uid:0"]));
        assert!(!ix.is_admin(&id(ADMIN), 50));
        // An admin entry that expired grants nothing either.
        let mut expired = entry("expired", ADMIN, A1, &["unix:uid:1"]);
        expired.admin = true;
        expired.expires_at = 40;
        ix.upsert_entry(expired);
        assert!(!ix.is_admin(&id(ADMIN), 50));
        assert!(ix.is_admin(&id(ADMIN), 39), "before its expiry it did");
        // An unexpired admin entry (or one without expiry) grants; only for its own ID.
        let mut live = entry("live", ADMIN, A1, &["unix:uid:2"]);
        live.admin = true;
        live.expires_at = 100;
        ix.upsert_entry(live);
        assert!(ix.is_admin(&id(ADMIN), 50));
        assert!(!ix.is_admin(&id(ADMIN), 100));
        assert!(!ix.is_admin(&id("spiffe://td/ops/other"), 50));
        let mut forever = entry("forever", ADMIN, A2, &["unix:uid:3"]);
        forever.admin = true;
        ix.upsert_entry(forever);
        assert!(ix.is_admin(&id(ADMIN), i64::MAX));
        ix.remove_entry("forever");
        assert!(!ix.is_admin(&id(ADMIN), 100));
    }
}
