//! Polling sync, for a server that does not push (a SPIRE server): every 5 s (SPIRE agents'
//! sync interval) the agent syncs its authorized entries with `SyncAuthorizedEntries` as SPIRE
//! 1.13 agents do (all entries at once, or revisions first and then the new or changed entries
//! by ID), and reads the bundles with `GetBundle` and `GetFederatedBundle`. Each round becomes
//! the same kind of update the push stream delivers, holding only what changed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use spiffe_core::Bundle;
use spiffe_proto::convert::bundle_from_pb;
use spiffe_proto::spiffers::sync::v1::WatchAuthorizedResponse;
use spiffe_proto::spire::api::server::bundle::v1 as bundle_api;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;
use tonic::Status;
use tonic::transport::Channel;

use crate::cache::CacheState;

/// How often the agent polls a server that does not push: SPIRE agents' sync interval.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The most IDs asked for in one request (SPIRE's server page size).
const PAGE: usize = 500;

/// What the agent holds now, for the comparison.
pub(crate) struct Known {
    revisions: HashMap<String, i64>,
    bundle: Option<Bundle>,
    federated: BTreeMap<String, Bundle>,
}

impl Known {
    pub(crate) fn of(state: &CacheState) -> Known {
        Known {
            revisions: state
                .entries
                .values()
                .map(|e| (e.id.clone(), e.revision))
                .collect(),
            bundle: state.bundle.as_deref().cloned(),
            federated: state
                .federated
                .iter()
                .map(|(td, b)| (td.name().to_owned(), (**b).clone()))
                .collect(),
        }
    }
}

/// One polling round: the difference between what the server authorizes now and `known`, as a
/// push update (`initial` on the first round).
pub(crate) async fn poll_once(
    channel: Channel,
    known: &Known,
    initial: bool,
) -> Result<WatchAuthorizedResponse, Status> {
    let (present, fetched) = sync_entries(channel.clone(), &known.revisions).await?;
    let upserted: Vec<pb::Entry> = fetched
        .into_iter()
        .filter(|e| known.revisions.get(&e.id) != Some(&e.revision_number) || initial)
        .collect();
    let mut deleted: Vec<String> = known
        .revisions
        .keys()
        .filter(|id| !present.contains(*id))
        .cloned()
        .collect();
    deleted.sort();

    let mut bundles = BundleClient::new(channel);
    let own = bundles
        .get_bundle(bundle_api::GetBundleRequest::default())
        .await?
        .into_inner();
    let own_changed = match bundle_from_pb(&own) {
        Ok(b) => known.bundle.as_ref() != Some(&b),
        Err(e) => return Err(Status::internal(format!("server's bundle: {e}"))),
    };

    // The trust domains the entries federate with (those not held are fetched too).
    let mut federates: BTreeSet<String> = BTreeSet::new();
    for e in &upserted {
        federates.extend(e.federates_with.iter().cloned());
    }
    federates.extend(known.federated.keys().cloned());
    // The server's own bundle is not a federated one (SPIRE refuses to get it as one).
    federates.remove(&own.trust_domain);
    let mut federated = Vec::new();
    let mut federated_changed = initial;
    for td in &federates {
        match bundles
            .get_federated_bundle(bundle_api::GetFederatedBundleRequest {
                trust_domain: td.clone(),
                output_mask: None,
            })
            .await
        {
            Ok(b) => {
                let b = b.into_inner();
                if let Ok(parsed) = bundle_from_pb(&b) {
                    federated_changed |= known.federated.get(td) != Some(&parsed);
                }
                federated.push(b);
            }
            // Not known to the server (yet): left out, as SPIRE agents do.
            Err(s) if s.code() == tonic::Code::NotFound => federated_changed = true,
            Err(s) => return Err(s),
        }
    }
    federated_changed |= federated.len() != known.federated.len();

    Ok(WatchAuthorizedResponse {
        initial,
        upserted,
        deleted,
        bundle: (initial || own_changed).then_some(own),
        federated_bundles: if federated_changed {
            federated
        } else {
            Vec::new()
        },
        federated_bundles_changed: federated_changed,
        sequence: 0,
    })
}

/// `SyncAuthorizedEntries`: the IDs the agent is authorized for, and the entries it must read
/// in full (all of them when the server sends them at once; otherwise the new and changed).
async fn sync_entries(
    channel: Channel,
    known: &HashMap<String, i64>,
) -> Result<(HashSet<String>, Vec<pb::Entry>), Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tx.send(entry_api::SyncAuthorizedEntriesRequest::default())
        .await
        .map_err(|_| Status::internal("sync request channel closed"))?;
    let mut stream = EntryClient::new(channel)
        .sync_authorized_entries(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let first = stream
        .message()
        .await?
        .ok_or_else(|| Status::internal("the server ended the entry sync without an answer"))?;
    if first.entry_revisions.is_empty() {
        let present = first.entries.iter().map(|e| e.id.clone()).collect();
        return Ok((present, first.entries));
    }
    let mut revisions = first.entry_revisions;
    let mut more = first.more;
    while more {
        let page = stream.message().await?.ok_or_else(|| {
            Status::internal("the entry sync ended in the middle of the revisions")
        })?;
        if !page.entries.is_empty() {
            return Err(Status::internal("entries among the entry revisions"));
        }
        more = page.more;
        revisions.extend(page.entry_revisions);
    }
    let present: HashSet<String> = revisions.iter().map(|r| r.id.clone()).collect();
    let mut need: Vec<String> = revisions
        .into_iter()
        .filter(|r| known.get(&r.id) != Some(&r.revision_number))
        .map(|r| r.id)
        .collect();
    need.sort();
    let mut fetched = Vec::with_capacity(need.len());
    for ids in need.chunks(PAGE) {
        tx.send(entry_api::SyncAuthorizedEntriesRequest {
            ids: ids.to_vec(),
            output_mask: None,
        })
        .await
        .map_err(|_| Status::internal("sync request channel closed"))?;
        loop {
            let page = stream.message().await?.ok_or_else(|| {
                Status::internal("the entry sync ended before the entries asked for")
            })?;
            if !page.entry_revisions.is_empty() {
                return Err(Status::internal("entry revisions among the entries"));
            }
            fetched.extend(page.entries);
            if !page.more {
                break;
            }
        }
    }
    Ok((present, fetched))
}
