//! File sinks: for workloads that read files, the agent writes `svid.pem`, `key.pem` (0600) and
//! `bundle.pem` into a directory, each by atomic rename, again on every rotation.
//!
//! # Which entry a sink writes
//!
//! - A sink configured by `spiffe_id` writes the SVID of an entry with that SPIFFE ID (of those
//!   holding an SVID, the first by entry ID; they all carry the same identity).
//! - A sink configured by `selectors` stands for a workload with exactly those selectors. It
//!   writes the SVID of the entry whose selector set *equals* the sink's, compared as sets
//!   (order and repeats do not matter). An entry with more selectors than the sink's is never
//!   chosen (such a workload would not match it), and neither is one with fewer (it may grant
//!   a different identity to a broader set of workloads). If several entries have exactly that
//!   set, the first in the order the Workload API gives a workload its default identity wins
//!   (SPIFFE ID, then entry ID), and the choice is logged with the others. While the chosen
//!   entry has no SVID yet, nothing is written: no other entry stands in for it. A sink whose
//!   set no entry has exactly writes nothing (and says so in the log).

use std::collections::HashSet;
use std::sync::Arc;

use spiffe_core::{Selector, SpiffeId, X509Svid};
use spiffe_workload::files::FileSink as Writer;
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::cache::{AgentEntry, Cache, CacheState};
use crate::config::FileSink;

/// The entry chosen for a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Choice {
    /// Its entry ID.
    entry_id: String,
    /// Its SPIFFE ID.
    spiffe_id: SpiffeId,
    /// Entry IDs of the other entries with exactly the sink's selectors (passed over).
    passed_over: Vec<String>,
}

impl Choice {
    fn of(entry: &AgentEntry, passed_over: Vec<String>) -> Self {
        Choice {
            entry_id: entry.id.clone(),
            spiffe_id: entry.spiffe_id.clone(),
            passed_over,
        }
    }
}

/// Whether `entry` and `wanted` (sorted, without repeats) hold the same selectors, as sets.
fn same_set(entry: &[Selector], wanted: &[Selector]) -> bool {
    entry.len() >= wanted.len()
        && entry.iter().all(|s| wanted.binary_search(s).is_ok())
        && wanted.iter().all(|s| entry.contains(s))
}

/// The entry `sink` writes, by the rule in the module documentation.
fn choose(state: &CacheState, sink: &FileSink) -> Option<Choice> {
    if let Some(sid) = &sink.spiffe_id {
        return state
            .entries
            .values()
            .filter(|e| &e.spiffe_id == sid && state.svids.contains_key(&e.id))
            .min_by(|a, b| a.id.cmp(&b.id))
            .map(|e| Choice::of(e, Vec::new()));
    }
    let mut wanted = sink.selectors.clone();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return None;
    }
    let mut exact: Vec<&Arc<AgentEntry>> = state
        .entries
        .values()
        .filter(|e| same_set(&e.selectors, &wanted))
        .collect();
    exact.sort_by(|a, b| a.spiffe_id.cmp(&b.spiffe_id).then_with(|| a.id.cmp(&b.id)));
    let (first, rest) = exact.split_first()?;
    Some(Choice::of(
        first,
        rest.iter().map(|e| e.id.clone()).collect(),
    ))
}

/// Logs a sink's choice when it changes.
fn log_choice(sink: &FileSink, choice: Option<&Choice>) {
    let dir = sink.dir.display();
    match choice {
        None if sink.spiffe_id.is_some() => {
            info!(%dir, "file sink: no entry with its SPIFFE ID holds an SVID yet; nothing written");
        }
        None => info!(
            %dir,
            selectors = ?sink.selectors,
            "file sink: no entry has exactly these selectors; nothing written"
        ),
        Some(c) if c.passed_over.is_empty() => info!(
            %dir,
            entry_id = %c.entry_id,
            spiffe_id = %c.spiffe_id,
            "file sink: entry chosen"
        ),
        Some(c) => warn!(
            %dir,
            entry_id = %c.entry_id,
            spiffe_id = %c.spiffe_id,
            passed_over = ?c.passed_over,
            "file sink: several entries have exactly the sink's selectors; \
             writing the first by SPIFFE ID, then entry ID"
        ),
    }
}

/// The entries the sinks may write, kept minted whatever the cache bound: the chosen entry of
/// a selector sink, every entry with the SPIFFE ID of an ID sink.
fn pins(state: &CacheState, sinks: &[FileSink]) -> HashSet<String> {
    let mut out = HashSet::new();
    for sink in sinks {
        match &sink.spiffe_id {
            Some(sid) => out.extend(
                state
                    .entries
                    .values()
                    .filter(|e| &e.spiffe_id == sid)
                    .map(|e| e.id.clone()),
            ),
            None => out.extend(choose(state, sink).map(|c| c.entry_id)),
        }
    }
    out
}

/// Writes the configured sinks whenever their SVID or the bundle changes, and keeps their
/// entries pinned in the cache (waking `mint_now` when a newly pinned one needs an SVID).
pub(crate) async fn sink_loop(cache: Arc<Cache>, sinks: Vec<FileSink>, mint_now: Arc<Notify>) {
    if sinks.is_empty() {
        return;
    }
    let mut rx = cache.subscribe();
    let mut written: Vec<Option<(Vec<u8>, Option<u64>)>> = vec![None; sinks.len()];
    let mut chosen: Vec<Option<Option<Choice>>> = vec![None; sinks.len()];
    loop {
        let newly_pinned = cache.update(|s| {
            let pins = pins(s, &sinks);
            if pins == s.pinned {
                return (false, false);
            }
            let new = pins.iter().any(|id| !s.svids.contains_key(id));
            s.pinned = pins;
            (new, false)
        });
        if newly_pinned {
            mint_now.notify_one();
        }
        for (i, sink) in sinks.iter().enumerate() {
            let (choice, found) = cache.read(|s| {
                let choice = choose(s, sink);
                let svid: Option<Arc<X509Svid>> = choice
                    .as_ref()
                    .and_then(|c| s.svids.get(&c.entry_id))
                    .map(|c| Arc::clone(&c.svid));
                (choice, svid.map(|v| (v, s.bundle.clone())))
            });
            if chosen[i].as_ref() != Some(&choice) {
                log_choice(sink, choice.as_ref());
                chosen[i] = Some(choice);
            }
            let Some((svid, bundle)) = found else {
                continue;
            };
            let Some(bundle) = bundle else { continue };
            let version = (svid.leaf().to_vec(), bundle.sequence());
            if written[i].as_ref() == Some(&version) {
                continue;
            }
            match Writer::new(&sink.dir).write(&svid, &[bundle.x509()]) {
                Ok(()) => {
                    info!(dir = %sink.dir.display(), spiffe_id = %svid.spiffe_id(), "SVID files written");
                    written[i] = Some(version);
                }
                Err(e) => {
                    warn!(dir = %sink.dir.display(), error = %e, "could not write SVID files")
                }
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose, SanType,
    };
    use spiffe_core::{Bundle, PrivateKey, TrustDomain};

    use super::*;
    use crate::cache::CachedSvid;

    const A: &str = "unix:uid:1000";
    const B: &str = "unix:gid:1000";
    const C: &str = "k8s:ns:prod";
    const D: &str = "k8s:sa:other";

    fn selectors(s: &[&str]) -> Vec<Selector> {
        s.iter().map(|s| Selector::parse(s).unwrap()).collect()
    }

    fn entry(id: &str, spiffe_id: &str, s: &[&str]) -> Arc<AgentEntry> {
        let mut selectors = selectors(s);
        selectors.sort();
        Arc::new(AgentEntry {
            id: id.into(),
            spiffe_id: SpiffeId::parse(spiffe_id).unwrap(),
            selectors,
            federates_with: Vec::new(),
            hint: String::new(),
            revision: 0,
        })
    }

    fn sink(s: &[&str], dir: &Path) -> FileSink {
        FileSink {
            spiffe_id: None,
            selectors: selectors(s),
            dir: dir.to_path_buf(),
        }
    }

    /// Entries {A,B,C}, {A} and {A,B}, in that entry ID order (so the first superset of
    /// {A,B} by entry ID is the {A,B,C} entry).
    fn entries() -> Vec<Arc<AgentEntry>> {
        vec![
            entry("entry-1", "spiffe://example.org/abc", &[A, B, C]),
            entry("entry-2", "spiffe://example.org/a", &[A]),
            entry("entry-3", "spiffe://example.org/ab", &[A, B]),
        ]
    }

    fn state_of(entries: Vec<Arc<AgentEntry>>) -> CacheState {
        let mut state = CacheState::default();
        for e in entries {
            state.entries.insert(e.id.clone(), e);
        }
        state
    }

    #[test]
    fn the_entry_with_exactly_the_sinks_selectors_is_chosen() {
        let state = state_of(entries());
        let dir = Path::new("/nonexistent");
        // Order and repeats in the sink's configuration do not matter.
        let choice = choose(&state, &sink(&[B, A, B], dir)).unwrap();
        assert_eq!(choice.entry_id, "entry-3");
        assert!(choice.passed_over.is_empty());
        assert_eq!(
            choose(&state, &sink(&[A], dir)).unwrap().entry_id,
            "entry-2"
        );
        assert_eq!(
            choose(&state, &sink(&[C, B, A], dir)).unwrap().entry_id,
            "entry-1"
        );
        // No entry has exactly {A, D}, {B, C} or nothing.
        assert_eq!(choose(&state, &sink(&[A, D], dir)), None);
        assert_eq!(choose(&state, &sink(&[B, C], dir)), None);
        assert_eq!(choose(&state, &sink(&[], dir)), None);
    }

    #[test]
    fn ties_go_to_the_first_by_spiffe_id_then_entry_id() {
        let mut all = entries();
        all.push(entry("entry-0", "spiffe://example.org/zz", &[A, B]));
        all.push(entry("entry-9", "spiffe://example.org/aa", &[B, A]));
        all.push(entry("entry-8", "spiffe://example.org/aa", &[A, B]));
        let state = state_of(all);
        let choice = choose(&state, &sink(&[A, B], Path::new("/nonexistent"))).unwrap();
        assert_eq!(choice.entry_id, "entry-8");
        assert_eq!(choice.passed_over, ["entry-9", "entry-3", "entry-0"]);
    }

    /// A root of example.org that issues X509-SVIDs.
    struct TestCa {
        params: CertificateParams,
        key: KeyPair,
        der: rustls_pki_types::CertificateDer<'static>,
    }

    impl TestCa {
        fn new() -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            let key = KeyPair::generate().unwrap();
            let der = params.self_signed(&key).unwrap().der().clone();
            TestCa { params, key, der }
        }

        fn svid(&self, spiffe_id: &SpiffeId) -> Arc<X509Svid> {
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::ExplicitNoCa;
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            p.subject_alt_names = vec![SanType::URI(spiffe_id.as_str().try_into().unwrap())];
            let key = KeyPair::generate().unwrap();
            let leaf = p
                .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
                .unwrap();
            let key = PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap();
            Arc::new(X509Svid::new(vec![leaf.der().clone()], key).unwrap())
        }

        fn bundle(&self) -> Arc<Bundle> {
            let mut bundle = Bundle::new(TrustDomain::parse("example.org").unwrap());
            bundle.x509_mut().add_authority(self.der.clone()).unwrap();
            Arc::new(bundle)
        }
    }

    #[tokio::test]
    async fn a_sink_writes_the_exact_entry_and_a_sink_matching_nothing_writes_nothing() {
        let ca = TestCa::new();
        let cache = Arc::new(Cache::default());
        cache.update(|s| {
            for e in entries() {
                let svid = ca.svid(&e.spiffe_id);
                s.svids.insert(
                    e.id.clone(),
                    CachedSvid {
                        svid,
                        revision: e.revision,
                        renew_at: i64::MAX,
                        last_used: 0,
                    },
                );
                s.entries.insert(e.id.clone(), e);
            }
            s.bundle = Some(ca.bundle());
            ((), true)
        });
        let tmp = tempfile::tempdir().unwrap();
        let nothing = tmp.path().join("nothing");
        let exact = tmp.path().join("exact");
        // The sink that matches nothing comes first: by the time the second is written, the
        // loop has been through it.
        let mint_now = Arc::new(Notify::new());
        let task = tokio::spawn(sink_loop(
            Arc::clone(&cache),
            vec![sink(&[A, D], &nothing), sink(&[B, A], &exact)],
            Arc::clone(&mint_now),
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !exact.join("svid.pem").exists() {
            assert!(Instant::now() < deadline, "the sink was never written");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // svid.pem is written last; give the loop a moment in case it did anything more.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let written = X509Svid::parse_pem(
            &std::fs::read(exact.join("svid.pem")).unwrap(),
            &std::fs::read(exact.join("key.pem")).unwrap(),
        )
        .unwrap();
        assert_eq!(written.spiffe_id().as_str(), "spiffe://example.org/ab");
        let expected = cache.read(|s| Arc::clone(&s.svids["entry-3"].svid));
        assert_eq!(written.leaf(), expected.leaf());
        assert!(!nothing.exists(), "a sink matching no entry wrote files");
        task.abort();
    }
}
