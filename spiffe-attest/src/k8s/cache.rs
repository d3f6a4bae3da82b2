//! [`PodListCache`]: one pod list shared by every attestation, fetched by one request at a time.
//!
//! - A pod list answers every attestation for `ttl` after its request started.
//! - Concurrent callers that need a list share one kubelet request (singleflight); the request
//!   runs on its own task, so a caller that gives up does not cancel it for the others.
//! - Requests start at least `ttl` apart, so a workload whose container is not in the list yet
//!   (see [`PodListCache::fetch_newer`]) cannot make the agent hammer the kubelet.
//! - A failed request is not cached: its error goes to the callers that waited for it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::k8s::error::K8sError;
use crate::k8s::kubelet::KubeletClient;
use crate::k8s::pods::PodList;

/// The outcome of one kubelet request, shared by its waiters.
type Outcome = Result<Arc<PodList>, Arc<K8sError>>;

#[derive(Default)]
struct State {
    /// The newest pod list.
    current: Option<Arc<PodList>>,
    /// When the last request started.
    last_start: Option<Instant>,
    /// The request under way, if any.
    in_flight: Option<Shared<BoxFuture<'static, Outcome>>>,
    /// The version of the last list parsed.
    version: u64,
}

/// The shared, short-lived pod list of one kubelet.
pub(crate) struct PodListCache {
    client: KubeletClient,
    ttl: Duration,
    state: Mutex<State>,
}

impl std::fmt::Debug for PodListCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PodListCache")
            .field("kubelet", &self.client.address())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl PodListCache {
    /// A cache in front of `client`; lists live for `ttl`, requests start `ttl` apart.
    pub(crate) fn new(client: KubeletClient, ttl: Duration) -> Self {
        PodListCache {
            client,
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pod list newer than version `after` (0: any): the cached one while it is fresh,
    /// otherwise the result of the next shared request (which waits out the spacing between
    /// requests).
    pub(crate) async fn fetch_newer(self: &Arc<Self>, after: u64) -> Outcome {
        let request = {
            let mut state = self.state();
            if let Some(current) = &state.current
                && current.version > after
                && current.fetched_at.elapsed() < self.ttl
            {
                return Ok(Arc::clone(current));
            }
            match &state.in_flight {
                Some(request) => request.clone(),
                None => {
                    let wait = state
                        .last_start
                        .map(|start| (start + self.ttl).saturating_duration_since(Instant::now()))
                        .unwrap_or_default();
                    let this = Arc::clone(self);
                    let task = tokio::spawn(async move { this.fetch(wait).await });
                    // Weak: the request is stored in the state it would otherwise keep alive.
                    let this = Arc::downgrade(self);
                    let request = async move {
                        task.await.unwrap_or_else(|_| {
                            // Cancelled with the runtime: free the slot for the next caller.
                            if let Some(this) = this.upgrade() {
                                this.state().in_flight = None;
                            }
                            Err(Arc::new(K8sError::FetchTask))
                        })
                    }
                    .boxed()
                    .shared();
                    state.in_flight = Some(request.clone());
                    request
                }
            }
        };
        request.await
    }

    /// One kubelet request, after `wait`; its result is cached and the request slot freed.
    async fn fetch(&self, wait: Duration) -> Outcome {
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let started = Instant::now();
        self.state().last_start = Some(started);
        let result = self.client.get_pods().await;
        let mut state = self.state();
        state.in_flight = None;
        let parsed = result.and_then(|bytes| PodList::parse(&bytes, state.version + 1, started));
        match parsed {
            Ok(list) => {
                state.version = list.version;
                let list = Arc::new(list);
                state.current = Some(Arc::clone(&list));
                debug!(
                    version = list.version,
                    pods = list.len(),
                    took_ms = started.elapsed().as_millis() as u64,
                    "kubelet pod list fetched"
                );
                Ok(list)
            }
            Err(err) => {
                warn!(kubelet = %self.client.address(), error = %err, "kubelet pod list fetch failed");
                Err(Arc::new(err))
            }
        }
    }
}
