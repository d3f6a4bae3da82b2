//! The agent's background work: following the server's push stream, minting and rotating
//! SVIDs, renewing the agent's own SVID, and recovering from outages and evictions.

use std::sync::Arc;
use std::time::Duration;

use spiffe_core::Bundle;
use spiffe_core::backoff::Backoff;
use spiffe_proto::convert::bundle_from_pb;
use spiffe_proto::spiffers::sync::v1::WatchAuthorizedRequest;
use spiffe_proto::spiffers::sync::v1::sync_client::SyncClient;
use spiffe_proto::spire::api::server::svid::v1 as svid_api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use tokio::sync::{Notify, watch};
use tonic::Code;
use tracing::{debug, info, warn};

use crate::backoff::{jitter, retry_backoff};
use crate::cache::{AgentEntry, Cache, CachedSvid, renew_at};
use crate::config::AgentConfig;
use crate::node::Node;
use crate::poll::{Known, POLL_INTERVAL, poll_once};
use crate::storage::{new_key_and_csr, svid_from_chain};
use crate::{AgentError, ProtocolError};

/// The minting and sync machinery.
#[derive(Debug)]
pub(crate) struct Manager {
    pub(crate) config: Arc<AgentConfig>,
    pub(crate) node: Arc<Node>,
    pub(crate) cache: Arc<Cache>,
    /// Wakes the minting loop (new entries, new watched entries).
    pub(crate) mint_now: Arc<Notify>,
    /// Whether the push stream is connected (for health).
    pub(crate) connected: watch::Sender<bool>,
}

pub(crate) fn now_unix() -> i64 {
    spiffe_core::x509::UnixTime::now().as_secs() as i64
}

impl Manager {
    /// Follows the server's push stream for ever: applies every message to the cache, and
    /// reconnects (with backoff) when the stream breaks. An eviction leads to re-attestation
    /// when that is possible; otherwise the agent keeps serving what is still valid.
    pub(crate) async fn sync_loop(self: Arc<Self>) {
        let mut backoff = retry_backoff(self.config.max_backoff);
        loop {
            let known = self.cache.read(|s| {
                s.entries
                    .values()
                    .map(|e| (e.id.clone(), e.revision))
                    .collect()
            });
            let request = WatchAuthorizedRequest {
                known_revisions: known,
            };
            let mut stream = match SyncClient::new(self.node.channel())
                .watch_authorized(request)
                .await
            {
                Ok(s) => s.into_inner(),
                Err(status) if status.code() == Code::Unimplemented => {
                    info!(
                        "the server does not push entries (a SPIRE server): polling every 5 s, \
                         as SPIRE agents do"
                    );
                    let status = self.poll_loop(&mut backoff).await;
                    let _ = self.connected.send(false);
                    self.on_stream_error(&status).await;
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
                Err(status) => {
                    self.on_stream_error(&status).await;
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
            loop {
                match stream.message().await {
                    Ok(Some(msg)) => {
                        if msg.initial {
                            info!(entries = msg.upserted.len(), "synced with the server");
                            let _ = self.connected.send(true);
                            backoff.reset();
                        }
                        if let Err(e) = self.apply(msg) {
                            warn!(error = %e, "server sent an update that could not be applied");
                        }
                        self.mint_now.notify_one();
                    }
                    Ok(None) => {
                        warn!("server closed the sync stream; reconnecting");
                        break;
                    }
                    Err(status) => {
                        self.on_stream_error(&status).await;
                        break;
                    }
                }
            }
            let _ = self.connected.send(false);
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    /// Polls a server that does not push (see [`crate::poll`]) until a round fails; returns
    /// the failure.
    async fn poll_loop(&self, backoff: &mut Backoff) -> tonic::Status {
        let mut initial = true;
        loop {
            let known = self.cache.read(Known::of);
            match poll_once(self.node.channel(), &known, initial).await {
                Ok(msg) => {
                    if initial {
                        info!(
                            entries = msg.upserted.len(),
                            "synced with the server (polling)"
                        );
                        let _ = self.connected.send(true);
                        backoff.reset();
                    }
                    let changed = initial
                        || !msg.upserted.is_empty()
                        || !msg.deleted.is_empty()
                        || msg.bundle.is_some()
                        || msg.federated_bundles_changed;
                    if changed {
                        if let Err(e) = self.apply(msg) {
                            warn!(error = %e, "server sent entries that could not be applied");
                        }
                        self.mint_now.notify_one();
                    }
                    initial = false;
                }
                Err(status) => return status,
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn on_stream_error(&self, status: &tonic::Status) {
        let _ = self.connected.send(false);
        if status.code() == Code::PermissionDenied {
            warn!(error = %status.message(), "the server no longer accepts this agent");
            match self.node.reattest().await {
                Ok(()) => info!("agent attested again"),
                Err(e) => warn!(error = %e, "cannot attest again; serving what is still valid"),
            }
        } else {
            debug!(code = ?status.code(), error = %status.message(), "server unreachable; retrying");
        }
    }

    /// Applies one pushed message.
    fn apply(
        &self,
        msg: spiffe_proto::spiffers::sync::v1::WatchAuthorizedResponse,
    ) -> Result<(), AgentError> {
        let mut upserted = Vec::with_capacity(msg.upserted.len());
        for e in &msg.upserted {
            upserted.push(Arc::new(AgentEntry::from_pb(e).map_err(|source| {
                ProtocolError::Entry {
                    entry_id: e.id.clone(),
                    source,
                }
            })?));
        }
        let bundle = msg
            .bundle
            .as_ref()
            .map(|b| bundle_from_pb(b).map(Arc::new))
            .transpose()
            .map_err(|source| ProtocolError::Bundle {
                what: "bundle",
                source,
            })?;
        let federated = if msg.federated_bundles_changed {
            let mut map = std::collections::BTreeMap::new();
            for b in &msg.federated_bundles {
                let b: Bundle = bundle_from_pb(b).map_err(|source| ProtocolError::Bundle {
                    what: "federated bundle",
                    source,
                })?;
                map.insert(b.trust_domain().clone(), Arc::new(b));
            }
            Some(map)
        } else {
            None
        };
        if let Some(b) = &bundle {
            self.node.set_bundle(b);
        }
        let max = self.config.svid_cache_max_size;
        self.cache.update(|s| {
            for e in upserted {
                s.entries.insert(e.id.clone(), e);
            }
            for id in &msg.deleted {
                s.entries.remove(id);
            }
            if let Some(b) = bundle {
                s.bundle = Some(b);
            }
            if let Some(f) = federated {
                s.federated = f;
            }
            s.prune(now_unix(), max);
            ((), true)
        });
        Ok(())
    }

    /// Mints SVIDs for entries that need them, whenever woken or when the next SVID reaches
    /// its renewal time, and drops expired ones.
    pub(crate) async fn mint_loop(self: Arc<Self>) {
        let mut backoff = retry_backoff(self.config.max_backoff);
        loop {
            let now = now_unix();
            let max = self.config.svid_cache_max_size;
            let need = self.cache.read(|s| s.needing_svids(now, max));
            if !need.is_empty() {
                match self.mint(&need).await {
                    Ok(()) => backoff.reset(),
                    Err(e) => {
                        warn!(error = %e, entries = need.len(), "minting SVIDs failed; will retry");
                        // Expired SVIDs must still go even while the server is away.
                        self.cache.update(|s| {
                            let before = s.svids.len();
                            s.prune(now_unix(), max);
                            ((), s.svids.len() != before)
                        });
                        tokio::select! {
                            _ = tokio::time::sleep(backoff.next_delay()) => {}
                            _ = self.mint_now.notified() => {}
                        }
                        continue;
                    }
                }
            }
            let deadline = self.cache.read(|s| s.next_deadline());
            let sleep = match deadline {
                Some(t) => Duration::from_secs(u64::try_from(t - now_unix()).unwrap_or(0).max(1)),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = tokio::time::sleep(sleep) => {
                    // Something reached its renewal time or expired.
                    self.cache.update(|s| {
                        s.prune(now_unix(), max);
                        ((), true)
                    });
                }
                _ = self.mint_now.notified() => {}
            }
        }
    }

    /// Mints one SVID for each entry, in batches.
    async fn mint(&self, entries: &[Arc<AgentEntry>]) -> Result<(), AgentError> {
        for batch in entries.chunks(250) {
            let mut keys = Vec::with_capacity(batch.len());
            let mut params = Vec::with_capacity(batch.len());
            for e in batch {
                let (key, csr) = new_key_and_csr()?;
                keys.push(key);
                params.push(svid_api::NewX509svidParams {
                    entry_id: e.id.clone(),
                    csr,
                });
            }
            let results = SvidClient::new(self.node.channel())
                .batch_new_x509svid(svid_api::BatchNewX509svidRequest { params })
                .await?
                .into_inner()
                .results;
            let mut minted = Vec::new();
            for ((entry, key), result) in batch.iter().zip(keys).zip(results) {
                let status = result.status.unwrap_or_default();
                let Some(svid) = result.svid.filter(|_| status.code == 0) else {
                    warn!(entry_id = %entry.id, error = %status.message, "server refused an SVID");
                    continue;
                };
                let svid = svid_from_chain(svid.cert_chain, key)
                    .map_err(ProtocolError::from)?
                    .with_hint(entry.hint.clone());
                // Half of the lifetime from now: `notBefore` is backdated, and counting from it
                // would make short-lived SVIDs due for renewal the moment they arrive.
                let start = svid.not_before_unix().max(now_unix());
                let renew = renew_at(start, svid.expires_at_unix(), jitter());
                debug!(entry_id = %entry.id, spiffe_id = %svid.spiffe_id(), renew_at = renew, "SVID minted");
                minted.push((
                    entry.id.clone(),
                    CachedSvid {
                        svid: Arc::new(svid),
                        revision: entry.revision,
                        renew_at: renew,
                        last_used: 0,
                    },
                ));
            }
            let max = self.config.svid_cache_max_size;
            self.cache.update(|s| {
                let changed = !minted.is_empty();
                for (id, c) in minted {
                    if let Some(old) = s.svids.get(&id) {
                        let used = old.last_used;
                        s.svids.insert(
                            id,
                            CachedSvid {
                                last_used: used,
                                ..c
                            },
                        );
                    } else {
                        s.svids.insert(id, c);
                    }
                }
                s.prune(now_unix(), max);
                ((), changed)
            });
        }
        Ok(())
    }

    /// Renews the agent's own SVID at half-life (with jitter), for ever.
    pub(crate) async fn renewal_loop(self: Arc<Self>) {
        let mut backoff = retry_backoff(self.config.max_backoff);
        loop {
            let svid = self.node.svid.get();
            let at = renew_at(svid.not_before_unix(), svid.expires_at_unix(), jitter());
            let wait = u64::try_from(at - now_unix()).unwrap_or(0);
            tokio::time::sleep(Duration::from_secs(wait)).await;
            match self.node.renew().await {
                Ok(()) => backoff.reset(),
                Err(e) => {
                    warn!(error = %e, "agent SVID renewal failed; will retry");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}
