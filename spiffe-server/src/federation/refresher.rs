//! Keeping federated bundles fresh: one task per federation relationship fetches the foreign
//! trust domain's bundle from its endpoint and stores it as that trust domain's federated
//! bundle (so agents receive it with their other bundles).
//!
//! - The relationships are those of the configuration (`federates_with`) and of the datastore;
//!   for the same trust domain the configuration wins (as in SPIRE). They are re-read every
//!   `relationships_interval` and whenever a relationship change event arrives; a task whose
//!   relationship changed is restarted, one whose relationship is gone is stopped.
//! - After a fetch, the next one follows [`RefreshPolicy::interval`] of the bundle's refresh
//!   hint. After a failure, the wait doubles with jitter from `retry_initial` up to
//!   `retry_max` ([`spiffe_core::backoff::Backoff`]).
//! - `https_spiffe` endpoints are authenticated with the latest stored bundle of the endpoint
//!   ID's trust domain (for a self-serving endpoint, the bundle it served last).
//! - A fetched bundle replaces the stored one only if it parsed, holds at least one X.509
//!   authority, and is not older (`spiffe_sequence`) than the last bundle this task fetched from
//!   the endpoint. Anything else leaves the stored bundle as it is.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spiffe_core::TrustDomain;
use spiffe_core::backoff::Backoff;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info, info_span, warn};

use super::client::{BundleFetcher, EndpointAuth, FetchError};
use super::{EndpointProfile, FederationRelationship, RefreshPolicy};
use crate::convert::{ConvertError, bundle_from_pb, bundle_to_pb};
use crate::datastore::DatastoreError;
use crate::state::ServerState;

/// Why one refresh stored no bundle. In every case the stored bundle stays as it was.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// A stored bundle could not be read or the fetched one not written.
    #[error("datastore: {0}")]
    Datastore(#[from] DatastoreError),
    /// The stored bundle of the endpoint SPIFFE ID's trust domain cannot be used.
    #[error("stored bundle of {trust_domain}: {source}")]
    EndpointBundle {
        /// Its trust domain.
        trust_domain: TrustDomain,
        /// What is wrong with it.
        #[source]
        source: ConvertError,
    },
    /// The fetch failed (connection, authentication, HTTP, parsing).
    #[error("{0}")]
    Fetch(#[from] FetchError),
    /// The fetched bundle has no X.509 authority: storing it would end the federation.
    #[error("fetched bundle of {trust_domain} has no X.509 authority; refused")]
    NoAuthority {
        /// The trust domain.
        trust_domain: TrustDomain,
    },
    /// The fetched bundle is older than one fetched before (a replayed or stale copy).
    #[error(
        "fetched bundle of {trust_domain} has spiffe_sequence {fetched}, older than {last} fetched before; refused"
    )]
    Older {
        /// The trust domain.
        trust_domain: TrustDomain,
        /// Its sequence number.
        fetched: u64,
        /// The sequence number fetched before.
        last: u64,
    },
}

/// What one successful refresh found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refreshed {
    /// Whether the stored bundle changed.
    pub changed: bool,
    /// The fetched bundle's `spiffe_sequence`.
    pub sequence: Option<u64>,
    /// The fetched bundle's `spiffe_refresh_hint`.
    pub refresh_hint: Option<Duration>,
}

/// Fetches the bundle of `relationship`'s trust domain once and stores it if it is usable
/// and not older than `last_sequence` (the sequence number of the bundle fetched before from
/// the same endpoint, if any).
///
/// # Errors
///
/// A [`RefreshError`]: the endpoint cannot be authenticated (no bundle of the endpoint ID's
/// trust domain), the fetch failed, or the bundle is refused; the stored bundle is unchanged.
pub async fn refresh_once(
    state: &ServerState,
    fetcher: &BundleFetcher,
    relationship: &FederationRelationship,
    last_sequence: Option<u64>,
) -> Result<Refreshed, RefreshError> {
    let td = &relationship.trust_domain;
    let auth = match &relationship.profile {
        EndpointProfile::HttpsWeb => EndpointAuth::Web,
        EndpointProfile::HttpsSpiffe { endpoint_spiffe_id } => {
            let endpoint_td = endpoint_spiffe_id.trust_domain();
            let stored = state
                .ds
                .fetch_bundle(endpoint_td.name())
                .await?
                .ok_or_else(|| FetchError::NoEndpointBundle {
                    endpoint_spiffe_id: endpoint_spiffe_id.clone(),
                    trust_domain: endpoint_td.clone(),
                })?;
            let bundle =
                bundle_from_pb(&stored).map_err(|source| RefreshError::EndpointBundle {
                    trust_domain: endpoint_td,
                    source,
                })?;
            EndpointAuth::Spiffe {
                endpoint_spiffe_id: endpoint_spiffe_id.clone(),
                bundle: Arc::new(bundle),
            }
        }
    };
    let fetched = fetcher
        .fetch(td, &relationship.bundle_endpoint_url, &auth)
        .await?;
    if fetched.x509().is_empty() {
        return Err(RefreshError::NoAuthority {
            trust_domain: td.clone(),
        });
    }
    if let (Some(fetched), Some(last)) = (fetched.sequence(), last_sequence)
        && fetched < last
    {
        return Err(RefreshError::Older {
            trust_domain: td.clone(),
            fetched,
            last,
        });
    }
    let new = bundle_to_pb(&fetched);
    let changed = AtomicBool::new(false);
    let stored = state
        .ds
        .update_bundle(td.name(), |current| {
            if current.as_ref() == Some(&new) {
                return Ok(None);
            }
            changed.store(true, Ordering::Relaxed);
            Ok(Some(new.clone()))
        })
        .await?;
    if let Some(stored) = stored.filter(|_| changed.load(Ordering::Relaxed)) {
        state.apply_bundle(stored);
    }
    Ok(Refreshed {
        changed: changed.load(Ordering::Relaxed),
        sequence: fetched.sequence(),
        refresh_hint: fetched.refresh_hint(),
    })
}

/// Completes when the server stops (or its shutdown flag is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Refreshes one relationship's bundle until aborted.
async fn keep_fresh(
    state: Arc<ServerState>,
    fetcher: Arc<BundleFetcher>,
    relationship: FederationRelationship,
    policy: RefreshPolicy,
) {
    let mut backoff = Backoff::new(policy.retry_initial, policy.retry_max);
    let mut last_sequence = None;
    loop {
        let delay = match refresh_once(&state, &fetcher, &relationship, last_sequence).await {
            Ok(r) => {
                backoff.reset();
                last_sequence = r.sequence.or(last_sequence);
                if r.changed {
                    info!(
                        sequence = r.sequence.unwrap_or(0),
                        "federated bundle refreshed"
                    );
                } else {
                    debug!(
                        sequence = r.sequence.unwrap_or(0),
                        "federated bundle unchanged"
                    );
                }
                policy.interval(r.refresh_hint)
            }
            Err(e) => {
                let delay = backoff.next_delay();
                warn!(
                    error = %e,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "federated bundle refresh failed; the stored bundle stays"
                );
                delay
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// The relationships to follow: the datastore's, overridden by the configuration's, without
/// the server's own trust domain (and whether the datastore listed that one).
async fn wanted(
    state: &ServerState,
) -> Result<(BTreeMap<TrustDomain, FederationRelationship>, bool), DatastoreError> {
    let mut all: BTreeMap<_, _> = state
        .ds
        .list_federation_relationships()
        .await?
        .into_iter()
        .map(|r| (r.trust_domain.clone(), r))
        .collect();
    all.extend(state.config.federation.federates_with.clone());
    let own_listed = all.remove(&state.config.trust_domain).is_some();
    Ok((all, own_listed))
}

/// Runs a refresher per relationship until `shutdown`, following relationship changes.
pub(crate) async fn run(state: Arc<ServerState>, mut shutdown: watch::Receiver<bool>) {
    let config = &state.config.federation;
    let policy = config.refresh.clone();
    let fetcher = Arc::new(BundleFetcher::new(
        config.web_roots.clone(),
        policy.fetch_timeout,
    ));
    let mut changes = state.hub.subscribe_relationships();
    let mut tick = tokio::time::interval(policy.relationships_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut running: BTreeMap<TrustDomain, (FederationRelationship, JoinHandle<()>)> =
        BTreeMap::new();
    let mut warned_own = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            r = changes.changed() => if r.is_err() { break },
            () = stopped(&mut shutdown) => break,
        }
        let wanted = match wanted(&state).await {
            Ok((w, own_listed)) => {
                if own_listed && !warned_own {
                    warned_own = true;
                    warn!(
                        trust_domain = %state.config.trust_domain,
                        "a federation relationship with the server's own trust domain is ignored"
                    );
                }
                w
            }
            Err(e) => {
                // The running refreshers go on with what they have.
                warn!(error = %e, "federation relationships could not be read");
                continue;
            }
        };
        running.retain(|td, (relationship, task)| {
            if wanted.get(td) == Some(relationship) {
                return true;
            }
            task.abort();
            info!(trust_domain = %td, "federation relationship changed or removed; its refresher stopped");
            false
        });
        for (td, relationship) in wanted {
            if running.contains_key(&td) {
                continue;
            }
            info!(
                trust_domain = %td,
                url = %relationship.bundle_endpoint_url,
                profile = relationship.profile.name(),
                "federated trust domain is now managed"
            );
            let span = info_span!(
                "federation",
                trust_domain = %td,
                url = %relationship.bundle_endpoint_url,
                profile = relationship.profile.name(),
            );
            let task = tokio::spawn(
                keep_fresh(
                    Arc::clone(&state),
                    Arc::clone(&fetcher),
                    relationship.clone(),
                    policy.clone(),
                )
                .instrument(span),
            );
            running.insert(td, (relationship, task));
        }
    }
    for (_, (_, task)) in running {
        task.abort();
        let _ = task.await;
    }
}
