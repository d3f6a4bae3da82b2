//! The Workload API provider: attests callers (kernel peer credentials, `/proc`, the workload
//! attestors, PID re-checked afterwards), matches their selectors against the cached entries,
//! and keeps one state channel per distinct selector set current as SVIDs rotate, entries change
//! and bundles roll over.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use governor::clock::MonotonicClock;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use hashlink::LruCache;
use spiffe_attest::{WorkloadAttestor, attest_pinned};
use spiffe_core::{JwtSvid, Selector, SpiffeId};
use spiffe_proto::spire::api::server::svid::v1 as svid_api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use spiffe_workload::server::{CallerInfo, IdentityProvider, ProviderError, WorkloadState};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::cache::{AgentEntry, CacheState};
use crate::config::RateLimit;
use crate::manager::{Manager, now_unix};

/// JWT-SVIDs by entry and (sorted, de-duplicated) audience, least recently used first out.
type JwtCache = LruCache<(String, Vec<String>), JwtSvid>;

/// Signing requests by uid.
type UidLimiter = RateLimiter<u32, HashMapStateStore<u32>, MonotonicClock>;

/// What one group of callers (one selector set) holds.
struct Group {
    tx: watch::Sender<Arc<WorkloadState>>,
    entries: Vec<String>,
}

/// The agent's [`IdentityProvider`].
pub(crate) struct AgentProvider {
    manager: Arc<Manager>,
    attestors: Vec<Arc<dyn WorkloadAttestor>>,
    groups: Mutex<HashMap<Vec<Selector>, Group>>,
    /// Wakes [`AgentProvider::refresh_loop`] when a group is added (its SVIDs may expire before
    /// any the loop is waiting for).
    groups_added: tokio::sync::Notify,
    jwt_cache: Mutex<JwtCache>,
    /// JWT-SVIDs signed for callers (cache misses), per uid.
    jwt_limiter: UidLimiter,
}

impl std::fmt::Debug for AgentProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentProvider").finish_non_exhaustive()
    }
}

/// The entries a selector set matches, in a stable order (SPIFFE ID, then entry ID; the first
/// is the default identity).
fn matching(state: &CacheState, selectors: &[Selector]) -> Vec<Arc<AgentEntry>> {
    let mut out: Vec<Arc<AgentEntry>> = state
        .entries
        .values()
        .filter(|e| e.matches(selectors))
        .cloned()
        .collect();
    out.sort_by(|a, b| a.spiffe_id.cmp(&b.spiffe_id).then_with(|| a.id.cmp(&b.id)));
    out
}

/// The workload state of a selector set.
fn state_for(state: &CacheState, selectors: &[Selector], now: i64) -> (WorkloadState, Vec<String>) {
    let entries = matching(state, selectors);
    let mut out = WorkloadState::empty();
    let mut federates = BTreeMap::new();
    for e in &entries {
        if let Some(c) = state.svids.get(&e.id)
            && c.svid.expires_at_unix() > now
        {
            out.svids.push(Arc::clone(&c.svid));
        }
        for td in &e.federates_with {
            federates.insert(td.clone(), ());
        }
    }
    if let Some(b) = &state.bundle {
        out.bundle = Some(b.x509_shared());
        out.jwt_bundles
            .insert(b.trust_domain().clone(), b.jwt_shared());
    }
    for td in federates.keys() {
        if let Some(b) = state.federated.get(td) {
            out.federated_bundles.insert(td.clone(), b.x509_shared());
            out.jwt_bundles.insert(td.clone(), b.jwt_shared());
        }
    }
    (out, entries.into_iter().map(|e| e.id.clone()).collect())
}

/// Whether two states hold the same things (SVIDs and bundles are shared `Arc`s, so identity is
/// enough).
fn same(a: &WorkloadState, b: &WorkloadState) -> bool {
    fn same_list<T>(a: &[Arc<T>], b: &[Arc<T>]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
    }
    fn same_map<K: Ord, T>(a: &BTreeMap<K, Arc<T>>, b: &BTreeMap<K, Arc<T>>) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|((k1, v1), (k2, v2))| k1 == k2 && Arc::ptr_eq(v1, v2))
    }
    same_list(&a.svids, &b.svids)
        && match (&a.bundle, &b.bundle) {
            (Some(x), Some(y)) => Arc::ptr_eq(x, y),
            (None, None) => true,
            _ => false,
        }
        && same_map(&a.federated_bundles, &b.federated_bundles)
        && same_map(&a.jwt_bundles, &b.jwt_bundles)
}

impl AgentProvider {
    /// A provider over the agent's manager, with these workload attestors.
    pub(crate) fn new(
        manager: Arc<Manager>,
        attestors: Vec<Arc<dyn WorkloadAttestor>>,
    ) -> Arc<Self> {
        let jwt_cache_size = manager.config.jwt_svid_cache_max_size.max(1);
        let jwt_rate = manager.config.jwt_svid_rate_limit;
        Arc::new(AgentProvider {
            manager,
            attestors,
            groups: Mutex::new(HashMap::new()),
            groups_added: tokio::sync::Notify::new(),
            jwt_cache: Mutex::new(LruCache::new(jwt_cache_size)),
            jwt_limiter: RateLimiter::hashmap_with_clock(quota(jwt_rate), MonotonicClock),
        })
    }

    /// The caller's selectors. The attestation is tied to the process that connected: to the
    /// pidfd taken when the connection was accepted (so a PID reused after the caller exited
    /// is refused, and a caller that could not be pinned is refused too, never attested by
    /// whatever holds its PID now), and to the uid and gid the kernel reported for the socket.
    async fn selectors(&self, caller: &CallerInfo) -> Result<Vec<Selector>, ProviderError> {
        let pidfd = pinned(caller)?;
        let attestation = attest_pinned(caller.pid, &*pidfd, &self.attestors)
            .await
            .map_err(|e| ProviderError::AttestationFailed {
                caller: caller.clone(),
                reason: e.to_string(),
            })?;
        let failed = |reason: String| ProviderError::AttestationFailed {
            caller: caller.clone(),
            reason,
        };
        let process = attestation.process;
        if process.uid() != caller.uid || process.gid() != caller.gid {
            warn!(
                pid = caller.pid,
                socket_uid = caller.uid,
                socket_gid = caller.gid,
                proc_uid = process.uid(),
                proc_gid = process.gid(),
                "caller's process does not match the socket's peer credentials"
            );
            return Err(failed(format!(
                "process {} runs as uid {} gid {}, but the connection was opened as uid {} gid {}",
                caller.pid,
                process.uid(),
                process.gid(),
                caller.uid,
                caller.gid
            )));
        }
        debug!(
            pid = caller.pid,
            selectors = attestation.selectors.len(),
            "workload attested"
        );
        Ok(attestation.selectors)
    }

    /// Recomputes every group's state after the cache changed (or an SVID expired); drops
    /// groups nobody watches; tells the cache which entries are watched. Returns the earliest
    /// expiry (Unix seconds) among the SVIDs the groups now hold, when the states must be
    /// computed again even if nothing else changes: an expired SVID is never served.
    pub(crate) fn refresh(&self) -> Option<i64> {
        let now = now_unix();
        let cache = &self.manager.cache;
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups.retain(|_, g| g.tx.receiver_count() > 0);
        let mut watched = std::collections::HashSet::new();
        let mut next_expiry: Option<i64> = None;
        cache.read(|state| {
            for (selectors, g) in groups.iter_mut() {
                let (next, entries) = state_for(state, selectors, now);
                g.entries = entries;
                watched.extend(g.entries.iter().cloned());
                for svid in &next.svids {
                    let expiry = svid.expires_at_unix();
                    next_expiry = Some(next_expiry.map_or(expiry, |e| e.min(expiry)));
                }
                g.tx.send_if_modified(|cur| {
                    if same(cur, &next) {
                        false
                    } else {
                        *cur = Arc::new(next);
                        true
                    }
                });
            }
        });
        drop(groups);
        let new_watched = cache.update(|s| {
            let missing = watched.iter().any(|id| !s.svids.contains_key(id));
            let ids: Vec<String> = watched.iter().cloned().collect();
            s.watched = watched;
            s.touch(ids.iter());
            (missing, false)
        });
        if new_watched {
            self.manager.mint_now.notify_one();
        }
        next_expiry
    }

    /// Follows the cache: every change reaches the groups, and so does every SVID expiry
    /// (normally the SVID was rotated long before; with the server away, it is withdrawn).
    pub(crate) async fn refresh_loop(self: Arc<Self>) {
        let mut rx = self.manager.cache.subscribe();
        loop {
            let next_expiry = self.refresh();
            let until_expiry = next_expiry.map(|expiry| {
                // `state_for` keeps an SVID while `expires_at > now` in whole seconds: wake at
                // the second it stops.
                let secs = u64::try_from(expiry.saturating_sub(now_unix())).unwrap_or(0);
                Duration::from_secs(secs) + Duration::from_millis(5)
            });
            tokio::select! {
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = self.groups_added.notified() => {}
                () = sleep_or_forever(until_expiry) => {
                    debug!(expiry = next_expiry, "an SVID held by a workload group expired");
                }
            }
        }
    }
}

/// Sleeps for `d`, or for ever when there is nothing to wait for.
async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

impl IdentityProvider for AgentProvider {
    fn subscribe(
        &self,
        caller: CallerInfo,
    ) -> BoxFuture<'_, Result<watch::Receiver<Arc<WorkloadState>>, ProviderError>> {
        Box::pin(async move {
            let selectors = self.selectors(&caller).await?;
            let now = now_unix();
            let (rx, pending) = {
                let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(g) = groups.get(&selectors) {
                    (g.tx.subscribe(), false)
                } else {
                    let (state, entries) =
                        self.manager.cache.read(|s| state_for(s, &selectors, now));
                    let pending = !entries.is_empty() && state.svids.len() < entries.len();
                    let (tx, rx) = watch::channel(Arc::new(state));
                    groups.insert(selectors.clone(), Group { tx, entries });
                    self.groups_added.notify_one();
                    (rx, pending)
                }
            };
            if pending {
                // Entries match but their SVIDs are not minted yet (beyond the prefetch bound):
                // mint them now and give the caller a moment to get them.
                self.refresh();
                let mut wait = rx.clone();
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    wait.wait_for(|s| s.has_identity()),
                )
                .await;
            }
            if !rx.borrow().has_identity() {
                return Err(ProviderError::NoIdentity { caller });
            }
            Ok(rx)
        })
    }

    fn fetch_jwt_svids(
        &self,
        caller: CallerInfo,
        audience: Vec<String>,
        spiffe_id: Option<SpiffeId>,
    ) -> BoxFuture<'_, Result<Vec<JwtSvid>, ProviderError>> {
        Box::pin(async move {
            let selectors = self.selectors(&caller).await?;
            let entries = self.manager.cache.read(|s| matching(s, &selectors));
            if entries.is_empty() {
                return Err(ProviderError::NoIdentity { caller });
            }
            let chosen: Vec<Arc<AgentEntry>> = match &spiffe_id {
                Some(id) => {
                    let list: Vec<_> = entries.into_iter().filter(|e| &e.spiffe_id == id).collect();
                    if list.is_empty() {
                        return Err(ProviderError::NotEntitled {
                            caller,
                            spiffe_id: id.clone(),
                        });
                    }
                    list
                }
                None => entries,
            };
            let mut audience = audience;
            audience.sort();
            audience.dedup();
            let mut out = Vec::with_capacity(chosen.len());
            for e in chosen {
                out.push(self.jwt_for(&caller, &e, &audience).await?);
            }
            Ok(out)
        })
    }
}

impl AgentProvider {
    /// A JWT-SVID for an entry and audience, from the cache until half its life has passed.
    /// A cache miss has the server sign one, within the caller's uid's rate.
    async fn jwt_for(
        &self,
        caller: &CallerInfo,
        entry: &AgentEntry,
        audience: &[String],
    ) -> Result<JwtSvid, ProviderError> {
        let key = (entry.id.clone(), audience.to_vec());
        let now = now_unix();
        if let Some(cached) = self
            .jwt_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned()
        {
            let issued = cached.issued_at_unix().unwrap_or(now);
            if now < issued + (cached.expiry_unix() - issued) / 2 {
                return Ok(cached);
            }
        }
        if let Err(not_until) = self.jwt_limiter.check_key(&caller.uid) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(&MonotonicClock));
            debug!(uid = caller.uid, ?wait, "JWT-SVID rate limit reached");
            return Err(ProviderError::RateLimited {
                caller: caller.clone(),
                reason: format!(
                    "too many new JWT-SVIDs for uid {}; retry in {} ms",
                    caller.uid,
                    wait.as_millis().max(1)
                ),
            });
        }
        let response = SvidClient::new(self.manager.node.channel())
            .new_jwtsvid(svid_api::NewJwtsvidRequest {
                entry_id: entry.id.clone(),
                audience: audience.to_vec(),
            })
            .await
            .map_err(|s| ProviderError::Unavailable {
                reason: format!("could not fetch JWT-SVID: {}", s.message()),
            })?
            .into_inner();
        let token = response
            .svid
            .map(|s| s.token)
            .ok_or_else(|| ProviderError::Internal {
                reason: "server answered without a JWT-SVID".into(),
            })?;
        let svid = JwtSvid::parse_insecure(&token)
            .map_err(|e| ProviderError::Internal {
                reason: format!("server's JWT-SVID does not parse: {e}"),
            })?
            .with_hint(entry.hint.clone());
        let mut cache = self
            .jwt_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, v| v.expiry_unix() > now);
        cache.insert(key, svid.clone());
        drop(cache);
        // Forget uids that have not signed for a while, so the limiter holds only active ones.
        self.jwt_limiter.retain_recent();
        info!(spiffe_id = %entry.spiffe_id, "JWT-SVID fetched");
        Ok(svid)
    }
}

/// The caller's pidfd, or the refusal when none was taken at accept.
fn pinned(caller: &CallerInfo) -> Result<Arc<OwnedFd>, ProviderError> {
    caller
        .pidfd
        .clone()
        .ok_or_else(|| ProviderError::AttestationFailed {
            caller: caller.clone(),
            reason: "the caller's process could not be pinned (no pidfd) when it connected; \
                     it is not attested by whatever holds its PID now"
                .into(),
        })
}

/// A governor quota from a [`RateLimit`] (zeros taken as one).
fn quota(rate: RateLimit) -> Quota {
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_without_a_pidfd_is_refused() {
        let caller = CallerInfo {
            pid: 1,
            uid: 0,
            gid: 0,
            pidfd: None,
        };
        match pinned(&caller) {
            Err(ProviderError::AttestationFailed { reason, .. }) => {
                assert!(reason.contains("no pidfd"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
