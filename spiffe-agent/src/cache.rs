//! The agent's cache: the entries the server pushed, the bundles, and an X509-SVID per entry
//! (private keys in memory only), minted ahead of need and rotated at half-life with jitter.
//!
//! A bounded number of SVIDs is kept for entries no workload is watching (least recently used
//! are dropped first); an entry with a live subscriber keeps its SVID whatever the bound.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use spiffe_core::{Bundle, Selector, SpiffeId, TrustDomain, X509Svid};
use spiffe_proto::convert::{ConvertError, id_from_pb, selector_from_pb, trust_domain_from_api};
use spiffe_proto::spire::api::types as pb;
use tokio::sync::watch;

/// An entry as the agent needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEntry {
    /// Entry ID.
    pub id: String,
    /// The SPIFFE ID it grants.
    pub spiffe_id: SpiffeId,
    /// What a workload must present (sorted).
    pub selectors: Vec<Selector>,
    /// Trust domains whose bundles its workloads also get.
    pub federates_with: Vec<TrustDomain>,
    /// The hint given to workloads.
    pub hint: String,
    /// Revision (bumped by the server on every change).
    pub revision: i64,
}

impl AgentEntry {
    /// Reads a pushed entry.
    ///
    /// # Errors
    ///
    /// [`ConvertError`] naming the field (`selectors`, `spiffe_id`, `federates_with`) that
    /// does not convert.
    pub fn from_pb(e: &pb::Entry) -> Result<Self, ConvertError> {
        let mut selectors = e
            .selectors
            .iter()
            .map(selector_from_pb)
            .collect::<Result<Vec<_>, _>>()?;
        selectors.sort();
        selectors.dedup();
        Ok(AgentEntry {
            id: e.id.clone(),
            spiffe_id: id_from_pb("spiffe_id", e.spiffe_id.as_ref())?,
            selectors,
            federates_with: e
                .federates_with
                .iter()
                .map(|td| trust_domain_from_api("federates_with", td))
                .collect::<Result<_, _>>()?,
            hint: e.hint.clone(),
            revision: e.revision_number,
        })
    }

    /// Whether a workload presenting `selectors` (sorted) matches: every selector of the entry
    /// is among them.
    pub fn matches(&self, selectors: &[Selector]) -> bool {
        !self.selectors.is_empty()
            && self
                .selectors
                .iter()
                .all(|s| selectors.binary_search(s).is_ok())
    }
}

/// An SVID held for an entry.
#[derive(Debug, Clone)]
pub struct CachedSvid {
    /// The SVID (with the entry's hint).
    pub svid: Arc<X509Svid>,
    /// The revision of the entry it was minted for.
    pub revision: i64,
    /// When to renew it (half-life, jittered), seconds since the Unix epoch.
    pub renew_at: i64,
    /// Last time a workload state included it (for the bound on unwatched SVIDs).
    pub last_used: u64,
}

/// The cache's contents.
#[derive(Debug, Default)]
pub struct CacheState {
    /// Entries by ID.
    pub entries: HashMap<String, Arc<AgentEntry>>,
    /// SVIDs by entry ID.
    pub svids: HashMap<String, CachedSvid>,
    /// The trust domain's bundle.
    pub bundle: Option<Arc<Bundle>>,
    /// Federated bundles.
    pub federated: BTreeMap<TrustDomain, Arc<Bundle>>,
    /// Entry IDs some workload is subscribed to.
    pub watched: HashSet<String>,
    /// Entry IDs a file sink writes: kept minted like watched ones, whatever the cache bound.
    pub pinned: HashSet<String>,
    use_clock: u64,
}

impl CacheState {
    /// Whether a workload watches the entry or a file sink writes it.
    fn wanted(&self, id: &str) -> bool {
        self.watched.contains(id) || self.pinned.contains(id)
    }

    /// Entries that need an SVID minted now: no SVID, an SVID of an older revision, or one past
    /// its renewal time. Watched entries first; unwatched ones only while under `max_unwatched`.
    pub fn needing_svids(&self, now: i64, max_unwatched: usize) -> Vec<Arc<AgentEntry>> {
        let mut unwatched_held = self.svids.keys().filter(|id| !self.wanted(id)).count();
        let mut out: Vec<Arc<AgentEntry>> = Vec::new();
        let mut entries: Vec<&Arc<AgentEntry>> = self.entries.values().collect();
        entries.sort_by_key(|e| (!self.wanted(&e.id), e.id.clone()));
        for e in entries {
            let watched = self.wanted(&e.id);
            match self.svids.get(&e.id) {
                Some(c) if c.revision == e.revision && c.renew_at > now => {}
                Some(_) => out.push(Arc::clone(e)),
                None if watched => out.push(Arc::clone(e)),
                None if unwatched_held < max_unwatched => {
                    unwatched_held += 1;
                    out.push(Arc::clone(e));
                }
                None => {}
            }
        }
        out
    }

    /// Drops SVIDs of removed entries and, beyond `max_unwatched`, the least recently used SVIDs
    /// no workload watches; and any SVID that expired.
    pub fn prune(&mut self, now: i64, max_unwatched: usize) {
        let entries = &self.entries;
        self.svids
            .retain(|id, c| entries.contains_key(id) && c.svid.expires_at_unix() > now);
        let mut unwatched: Vec<(u64, String)> = self
            .svids
            .iter()
            .filter(|(id, _)| !self.wanted(id))
            .map(|(id, c)| (c.last_used, id.clone()))
            .collect();
        if unwatched.len() > max_unwatched {
            unwatched.sort();
            let excess = unwatched.len() - max_unwatched;
            for (_, id) in unwatched.into_iter().take(excess) {
                self.svids.remove(&id);
            }
        }
    }

    /// Marks SVIDs as used now.
    pub fn touch<'a>(&mut self, ids: impl IntoIterator<Item = &'a String>) {
        self.use_clock += 1;
        let clock = self.use_clock;
        for id in ids {
            if let Some(c) = self.svids.get_mut(id) {
                c.last_used = clock;
            }
        }
    }

    /// The earliest renewal or expiry time among held SVIDs.
    pub fn next_deadline(&self) -> Option<i64> {
        self.svids
            .values()
            .map(|c| c.renew_at.min(c.svid.expires_at_unix()))
            .min()
    }
}

/// The cache, shared by the sync, the minting and the Workload API.
#[derive(Debug)]
pub struct Cache {
    state: Mutex<CacheState>,
    changed: watch::Sender<u64>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            state: Mutex::new(CacheState::default()),
            changed: watch::channel(0).0,
        }
    }
}

impl Cache {
    /// Reads or changes the state; `f` returns whether workloads must be told.
    pub fn update<R>(&self, f: impl FnOnce(&mut CacheState) -> (R, bool)) -> R {
        let (r, changed) = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut state)
        };
        if changed {
            self.changed.send_modify(|n| *n += 1);
        }
        r
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&CacheState) -> R) -> R {
        f(&self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// A receiver that changes whenever workloads may see something new.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Tells workloads to look again (after time passed, for expiries).
    pub fn poke(&self) {
        self.changed.send_modify(|n| *n += 1);
    }
}

/// When to renew an SVID valid from `not_before` to `not_after`: at half its lifetime, moved by
/// up to 10% of the half-life either way (`jitter` in [-1, 1]), so agents do not renew in step.
pub fn renew_at(not_before: i64, not_after: i64, jitter: f64) -> i64 {
    let half = (not_after - not_before).max(0) / 2;
    let shift = (half as f64 * 0.1 * jitter.clamp(-1.0, 1.0)) as i64;
    not_before + half + shift
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, selectors: &[&str]) -> Arc<AgentEntry> {
        let mut selectors: Vec<Selector> = selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect();
        selectors.sort();
        Arc::new(AgentEntry {
            id: id.into(),
            spiffe_id: SpiffeId::parse(&format!("spiffe://td/{id}")).unwrap(),
            selectors,
            federates_with: Vec::new(),
            hint: String::new(),
            revision: 0,
        })
    }

    #[test]
    fn matching_needs_every_entry_selector() {
        let e = entry("a", &["unix:uid:1000", "k8s:ns:prod"]);
        let mut have: Vec<Selector> = ["unix:uid:1000", "k8s:ns:prod", "unix:gid:0"]
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect();
        have.sort();
        assert!(e.matches(&have));
        assert!(!e.matches(&have[..1]));
        assert!(!entry("empty", &[]).matches(&have));
    }

    #[test]
    fn renewal_is_at_half_life_with_bounded_jitter() {
        assert_eq!(renew_at(0, 3600, 0.0), 1800);
        assert_eq!(renew_at(0, 3600, 1.0), 1980);
        assert_eq!(renew_at(0, 3600, -1.0), 1620);
        assert_eq!(renew_at(0, 3600, 7.0), 1980);
    }

    #[test]
    fn unwatched_entries_are_bounded_and_watched_ones_always_minted() {
        let mut s = CacheState::default();
        for i in 0..5 {
            let e = entry(&format!("e{i}"), &["unix:uid:1"]);
            s.entries.insert(e.id.clone(), e);
        }
        s.watched.insert("e4".into());
        let need: Vec<String> = s.needing_svids(0, 2).iter().map(|e| e.id.clone()).collect();
        // The watched entry first, then two unwatched ones.
        assert_eq!(need, ["e4", "e0", "e1"]);

        // An entry a file sink writes counts as watched: minted past the bound, never pruned.
        s.pinned.insert("e3".into());
        let need: Vec<String> = s.needing_svids(0, 0).iter().map(|e| e.id.clone()).collect();
        assert_eq!(need, ["e3", "e4"]);
    }
}
