//! `spiffers.sync.v1.Sync`: the push of authorized entries and bundles to agents.
//!
//! Each stream remembers what it sent (entry revisions, bundle sequence numbers). It wakes when
//! the hub says the agent's entries or any bundle may have changed, recomputes the agent's view
//! from the index (cost proportional to the answer) and sends only the difference.
//!
//! A stream lives only as long as the credentials it was opened with: it ends with
//! `PERMISSION_DENIED` when the agent is evicted or banned, and with `UNAUTHENTICATED` when the
//! SVID of its connection is retired (the agent renewed twice since, or attested again) or
//! expires. Node changes wake the stream through the hub; expiry is a timer. The agent then
//! opens a new stream on a connection made with its current SVID.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use spiffe_core::SpiffeId;
use spiffe_core::x509::CertificateInfo;
use spiffe_proto::spiffers::sync::v1 as api;
use spiffe_proto::spire::api::types as pb;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tracing::{debug, info};

use super::entry::masked;
use super::{TlsPeer, require_agent};
use crate::attest::LogId;
use crate::convert::serial_to_decimal;
use crate::datastore::now_unix;
use crate::state::ServerState;

/// The sync service.
#[derive(Debug, Clone)]
pub struct SyncApi {
    state: Arc<ServerState>,
}

impl SyncApi {
    /// The service over the server's state.
    pub fn new(state: Arc<ServerState>) -> Self {
        SyncApi { state }
    }
}

/// What one stream has sent so far.
struct View {
    state: Arc<ServerState>,
    agent: SpiffeId,
    /// The serial (decimal) of the SVID the stream's connection presented; `None` on the admin
    /// socket (tests, embedding).
    serial: Option<String>,
    /// When that SVID expires (seconds since the Unix epoch).
    not_after: i64,
    /// Fires when it expires.
    expiry: Pin<Box<tokio::time::Sleep>>,
    sent: HashMap<String, i64>,
    bundle_sequence: Option<u64>,
    federated: BTreeMap<String, u64>,
    agent_rx: watch::Receiver<u64>,
    bundle_rx: watch::Receiver<u64>,
    shutdown_rx: watch::Receiver<bool>,
    sequence: u64,
    done: bool,
}

impl View {
    /// The next message: the difference between what the agent should hold and what was sent,
    /// or `None` when there is no difference.
    fn diff(&mut self) -> Result<Option<api::WatchAuthorizedResponse>, Status> {
        let node = self.state.with_index(|ix| ix.node(&self.agent).cloned());
        match node {
            None => {
                return Err(Status::permission_denied(format!(
                    "agent {} is no longer attested (evicted)",
                    self.agent
                )));
            }
            Some(n) if n.banned => {
                return Err(Status::permission_denied(format!(
                    "agent {} is banned",
                    self.agent
                )));
            }
            Some(n) => {
                if let Some(serial) = &self.serial
                    && *serial != n.serial_number
                    && *serial != n.new_serial_number
                {
                    return Err(Status::unauthenticated(format!(
                        "agent SVID {serial} is no longer current (renewed or attested again); \
                         reconnect with the current SVID"
                    )));
                }
            }
        }
        if self.serial.is_some() && now_unix() > self.not_after {
            return Err(self.expired());
        }
        let initial = self.sequence == 0;
        let entries = self.state.authorized_entries(&self.agent);
        let mut upserted = Vec::new();
        let mut now: HashMap<String, i64> = HashMap::with_capacity(entries.len());
        let mut federates: BTreeMap<String, ()> = BTreeMap::new();
        for e in &entries {
            now.insert(e.id.clone(), e.revision_number);
            if self.sent.get(&e.id) != Some(&e.revision_number) {
                upserted.push(masked(e, None));
            }
            for td in &e.federates_with {
                federates.insert(td.name().to_owned(), ());
            }
        }
        let mut deleted: Vec<String> = self
            .sent
            .keys()
            .filter(|id| !now.contains_key(*id))
            .cloned()
            .collect();
        deleted.sort();

        let local = self.state.local_bundle();
        let bundle = match &local {
            Some(b) if initial || self.bundle_sequence != Some(b.sequence_number) => {
                self.bundle_sequence = Some(b.sequence_number);
                Some((**b).clone())
            }
            _ => None,
        };
        let federated_now: Vec<Arc<pb::Bundle>> = federates
            .keys()
            .filter_map(|td| self.state.bundle(td))
            .collect();
        let fed_seq: BTreeMap<String, u64> = federated_now
            .iter()
            .map(|b| (b.trust_domain.clone(), b.sequence_number))
            .collect();
        let federated_changed = initial || fed_seq != self.federated;
        self.federated = fed_seq;

        if !initial
            && upserted.is_empty()
            && deleted.is_empty()
            && bundle.is_none()
            && !federated_changed
        {
            return Ok(None);
        }
        self.sent = now;
        self.sequence += 1;
        Ok(Some(api::WatchAuthorizedResponse {
            initial,
            upserted,
            deleted,
            bundle,
            federated_bundles: if federated_changed {
                federated_now.iter().map(|b| (**b).clone()).collect()
            } else {
                Vec::new()
            },
            federated_bundles_changed: federated_changed,
            sequence: self.sequence,
        }))
    }
}

impl View {
    fn expired(&self) -> Status {
        Status::unauthenticated(format!(
            "agent SVID expired at {}; reconnect with a current SVID",
            self.not_after
        ))
    }
}

/// A timer firing when `not_after` (seconds since the Unix epoch) has passed.
fn expiry_timer(not_after: i64) -> Pin<Box<tokio::time::Sleep>> {
    // One second past, so that `now_unix() > not_after` holds when it fires.
    let left = not_after
        .saturating_add(1)
        .saturating_sub(now_unix())
        .max(0);
    let left = Duration::from_secs(u64::try_from(left).unwrap_or(0));
    // Far-off expiries are capped (a `Sleep` must stay within tokio's timer range); the stream
    // then re-checks and waits again.
    Box::pin(tokio::time::sleep(
        left.min(Duration::from_secs(86_400 * 365)),
    ))
}

/// Why a waiting stream woke.
enum Wake {
    /// The agent's entries or a bundle may have changed (or its node record did).
    Changed,
    /// The server is stopping.
    Stop,
    /// The SVID expiry timer fired.
    Timer,
}

type WatchStream =
    futures::stream::BoxStream<'static, Result<api::WatchAuthorizedResponse, Status>>;

#[tonic::async_trait]
impl api::sync_server::Sync for SyncApi {
    type WatchAuthorizedStream = WatchStream;

    async fn watch_authorized(
        &self,
        request: Request<api::WatchAuthorizedRequest>,
    ) -> Result<Response<Self::WatchAuthorizedStream>, Status> {
        let agent = require_agent(&self.state, &request)?;
        // The SVID this stream is bound to (require_agent checked it is current and valid).
        let leaf = request
            .extensions()
            .get::<TlsPeer>()
            .and_then(|p| p.certificates.first())
            .map(CertificateInfo::parse)
            .transpose()
            .map_err(|e| Status::unauthenticated(format!("caller certificate: {e}")))?;
        let serial = leaf.as_ref().map(|i| serial_to_decimal(&i.serial));
        let not_after = leaf.as_ref().map_or(i64::MAX, |i| i.not_after);
        let known = request.into_inner().known_revisions;
        info!(agent_id = %LogId(&agent), known = known.len(), "agent subscribed to its entries");
        let view = View {
            serial,
            not_after,
            expiry: expiry_timer(not_after),
            agent_rx: self.state.hub.subscribe(&agent),
            bundle_rx: self.state.hub.subscribe_bundles(),
            shutdown_rx: self.state.hub.subscribe_shutdown(),
            state: Arc::clone(&self.state),
            agent,
            sent: known.into_iter().collect(),
            bundle_sequence: None,
            federated: BTreeMap::new(),
            sequence: 0,
            done: false,
        };
        let stream = futures::stream::unfold(view, |mut view| async move {
            if view.done {
                return None;
            }
            loop {
                match view.diff() {
                    Err(status) => {
                        view.done = true;
                        info!(agent_id = %LogId(&view.agent), code = ?status.code(), "sync stream ended: credentials no longer accepted");
                        return Some((Err(status), view));
                    }
                    Ok(Some(msg)) => {
                        debug!(agent_id = %LogId(&view.agent), upserted = msg.upserted.len(), deleted = msg.deleted.len(), "push");
                        return Some((Ok(msg), view));
                    }
                    Ok(None) => {}
                }
                // Mark what was seen before waiting, so a change during the diff is not lost.
                let timer = view.serial.is_some();
                let wake = tokio::select! {
                    r = view.agent_rx.changed() => if r.is_err() { Wake::Stop } else { Wake::Changed },
                    r = view.bundle_rx.changed() => if r.is_err() { Wake::Stop } else { Wake::Changed },
                    _ = view.shutdown_rx.wait_for(|s| *s) => Wake::Stop,
                    () = view.expiry.as_mut(), if timer => Wake::Timer,
                };
                let stop = match wake {
                    Wake::Changed => false,
                    Wake::Stop => true,
                    Wake::Timer if now_unix() > view.not_after => {
                        view.done = true;
                        let status = view.expired();
                        info!(agent_id = %LogId(&view.agent), "sync stream ended: agent SVID expired");
                        return Some((Err(status), view));
                    }
                    Wake::Timer => {
                        view.expiry = expiry_timer(view.not_after);
                        false
                    }
                };
                if stop {
                    view.done = true;
                    return Some((Err(Status::unavailable("server shutting down")), view));
                }
            }
        });
        Ok(Response::new(Box::pin(stream)))
    }
}
