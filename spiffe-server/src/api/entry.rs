//! `spire.api.server.entry.v1.Entry`.

use std::collections::BTreeSet;
use std::sync::Arc;

use spiffe_core::TrustDomain;
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::types as pb;
use tonic::{Request, Response, Status};

use super::filters::{Match, filter_from_requests, selector_filter};
use super::{item_status, ok_status, require_admin, require_agent};
use crate::convert::{entry_from_pb, entry_to_pb, id_from_pb};
use crate::entry::Entry;
use crate::registry::RegistryError;
use crate::state::ServerState;

/// The entry service.
#[derive(Debug, Clone)]
pub struct EntryApi {
    state: Arc<ServerState>,
}

impl EntryApi {
    /// The service over the server's state.
    pub fn new(state: Arc<ServerState>) -> Self {
        EntryApi { state }
    }
}

/// The filters of ListEntries and CountEntries, parsed once.
struct Filter {
    spiffe_id: Option<spiffe_core::SpiffeId>,
    parent_id: Option<spiffe_core::SpiffeId>,
    selectors: Option<(BTreeSet<spiffe_core::Selector>, Match)>,
    federates_with: Option<(BTreeSet<TrustDomain>, Match)>,
    hint: Option<String>,
    downstream: Option<bool>,
}

impl Filter {
    fn parse(
        by_spiffe_id: Option<&pb::Spiffeid>,
        by_parent_id: Option<&pb::Spiffeid>,
        by_selectors: Option<&pb::SelectorMatch>,
        by_federates_with: Option<&pb::FederatesWithMatch>,
        by_hint: Option<&String>,
        by_downstream: Option<bool>,
    ) -> Result<Self, Status> {
        let spiffe_id = by_spiffe_id
            .map(|id| id_from_pb("by_spiffe_id", Some(id)))
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("malformed SPIFFE ID filter: {e}")))?;
        let parent_id = by_parent_id
            .map(|id| id_from_pb("by_parent_id", Some(id)))
            .transpose()
            .map_err(|e| Status::invalid_argument(format!("malformed parent ID filter: {e}")))?;
        let selectors = by_selectors.map(selector_filter).transpose()?;
        let federates_with = by_federates_with
            .map(|m| -> Result<_, Status> {
                let set = m
                    .trust_domains
                    .iter()
                    .map(|td| {
                        TrustDomain::parse(td).map_err(|e| {
                            Status::invalid_argument(format!(
                                "malformed federates with filter: {e}"
                            ))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok((set, Match::from_pb(m.r#match)?))
            })
            .transpose()?;
        Ok(Filter {
            spiffe_id,
            parent_id,
            selectors,
            federates_with,
            hint: by_hint.cloned(),
            // SPIRE filters on downstream only when asked for downstream entries.
            downstream: by_downstream.filter(|d| *d),
        })
    }

    fn keep(&self, e: &Entry) -> bool {
        if self.spiffe_id.as_ref().is_some_and(|id| *id != e.spiffe_id)
            || self.parent_id.as_ref().is_some_and(|id| *id != e.parent_id)
            || self.hint.as_ref().is_some_and(|h| *h != e.hint)
            || self.downstream.is_some_and(|d| d != e.downstream)
        {
            return false;
        }
        if let Some((set, m)) = &self.selectors {
            let have: BTreeSet<_> = e.selectors.iter().cloned().collect();
            if !m.matches(&have, set) {
                return false;
            }
        }
        if let Some((set, m)) = &self.federates_with {
            let have: BTreeSet<_> = e.federates_with.iter().cloned().collect();
            if !m.matches(&have, set) {
                return false;
            }
        }
        true
    }
}

filter_from_requests!(
    Filter,
    |f| Filter::parse(
        f.by_spiffe_id.as_ref(),
        f.by_parent_id.as_ref(),
        f.by_selectors.as_ref(),
        f.by_federates_with.as_ref(),
        f.by_hint.as_ref(),
        f.by_downstream,
    ),
    api::count_entries_request::Filter,
    api::list_entries_request::Filter,
);

/// Clears the fields an output mask leaves out (no mask: everything).
pub(crate) fn masked(e: &Entry, mask: Option<&pb::EntryMask>) -> pb::Entry {
    let mut out = entry_to_pb(e);
    let Some(m) = mask else {
        return out;
    };
    // Each field the mask leaves out goes back to its default (unset, empty, zero, false).
    macro_rules! clear_unmasked {
        ($($field:ident),+ $(,)?) => {
            $(if !m.$field {
                out.$field = Default::default();
            })+
        };
    }
    clear_unmasked!(
        spiffe_id,
        parent_id,
        selectors,
        x509_svid_ttl,
        federates_with,
        admin,
        downstream,
        expires_at,
        dns_names,
        revision_number,
        store_svid,
        jwt_svid_ttl,
        hint,
        created_at,
        additional_attributes,
    );
    out
}

/// Applies the fields an input mask selects from `new` onto `old`.
fn apply_mask(old: &Entry, new: &Entry, m: &pb::EntryMask) -> Entry {
    let mut e = old.clone();
    // Each masked field of `new` replaces the field of the same name in `e`.
    macro_rules! take_masked {
        ($($mask:ident => $($field:ident),+;)+) => {
            $(if m.$mask {
                $(e.$field.clone_from(&new.$field);)+
            })+
        };
    }
    take_masked! {
        spiffe_id => spiffe_id;
        parent_id => parent_id;
        selectors => selectors;
        x509_svid_ttl => x509_svid_ttl;
        federates_with => federates_with;
        admin => admin;
        downstream => downstream;
        expires_at => expires_at;
        dns_names => dns_names;
        store_svid => store_svid;
        jwt_svid_ttl => jwt_svid_ttl;
        hint => hint;
        additional_attributes => disable_x509_svid_prefetch, jwt_svid_include_jti;
    }
    e
}

fn registry_status(what: &str, e: RegistryError) -> Status {
    match e {
        RegistryError::Invalid(e) => {
            Status::invalid_argument(format!("failed to convert entry: {e}"))
        }
        RegistryError::NoFederatedBundle(_) => {
            Status::invalid_argument(format!("failed to {what} entry: {e}"))
        }
        RegistryError::Datastore(d) => {
            let s = super::ds_status(d);
            Status::new(s.code(), s.message().to_owned())
        }
    }
}

/// Entries from a partial `types.Entry` of an update: fields the mask does not select may be
/// missing, so missing IDs fall back to placeholders that the mask then discards.
fn entry_for_update(e: &pb::Entry, old: Option<&Entry>) -> Result<Entry, Status> {
    let mut filled = e.clone();
    if let Some(old) = old {
        if filled.spiffe_id.is_none() {
            filled.spiffe_id = Some(crate::convert::id_to_pb(&old.spiffe_id));
        }
        if filled.parent_id.is_none() {
            filled.parent_id = Some(crate::convert::id_to_pb(&old.parent_id));
        }
    }
    entry_from_pb(&filled)
        .map_err(|e| Status::invalid_argument(format!("failed to convert entry: {e}")))
}

#[tonic::async_trait]
impl api::entry_server::Entry for EntryApi {
    async fn count_entries(
        &self,
        request: Request<api::CountEntriesRequest>,
    ) -> Result<Response<api::CountEntriesResponse>, Status> {
        require_admin(&self.state, &request)?;
        let f = request.into_inner().filter.unwrap_or_default();
        let filter = Filter::try_from(f)?;
        let count = self
            .state
            .with_index(|ix| ix.entries().filter(|e| filter.keep(e)).count());
        Ok(Response::new(api::CountEntriesResponse {
            count: i32::try_from(count).unwrap_or(i32::MAX),
        }))
    }

    async fn list_entries(
        &self,
        request: Request<api::ListEntriesRequest>,
    ) -> Result<Response<api::ListEntriesResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let f = req.filter.unwrap_or_default();
        let filter = Filter::try_from(f)?;
        if req.page_size < 0 {
            return Err(Status::invalid_argument("page_size must not be negative"));
        }
        // Pages follow entry ID order; the token is the last ID of the previous page.
        let mut entries: Vec<Arc<Entry>> = self.state.with_index(|ix| {
            ix.entries()
                .filter(|e| filter.keep(e) && (req.page_token.is_empty() || e.id > req.page_token))
                .cloned()
                .collect()
        });
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        let mut next_page_token = String::new();
        if req.page_size > 0 && entries.len() > req.page_size as usize {
            entries.truncate(req.page_size as usize);
            next_page_token = entries.last().map(|e| e.id.clone()).unwrap_or_default();
        }
        Ok(Response::new(api::ListEntriesResponse {
            entries: entries
                .iter()
                .map(|e| masked(e, req.output_mask.as_ref()))
                .collect(),
            next_page_token,
        }))
    }

    async fn get_entry(
        &self,
        request: Request<api::GetEntryRequest>,
    ) -> Result<Response<pb::Entry>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        if req.id.is_empty() {
            return Err(Status::invalid_argument("missing ID"));
        }
        let e = self
            .state
            .with_index(|ix| ix.entry(&req.id).cloned())
            .ok_or_else(|| Status::not_found("entry not found"))?;
        Ok(Response::new(masked(&e, req.output_mask.as_ref())))
    }

    async fn batch_create_entry(
        &self,
        request: Request<api::BatchCreateEntryRequest>,
    ) -> Result<Response<api::BatchCreateEntryResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let mut results = Vec::with_capacity(req.entries.len());
        for pe in &req.entries {
            let outcome = match entry_from_pb(pe) {
                Err(e) => Err(Status::invalid_argument(format!(
                    "failed to convert entry: {e}"
                ))),
                Ok(e) => self
                    .state
                    .create_entry(e)
                    .await
                    .map_err(|e| registry_status("create", e)),
            };
            results.push(match outcome {
                Ok(e) => api::batch_create_entry_response::Result {
                    status: Some(ok_status()),
                    entry: Some(masked(&e, req.output_mask.as_ref())),
                },
                Err(s) => api::batch_create_entry_response::Result {
                    status: Some(item_status(&s)),
                    entry: Some(pe.clone()),
                },
            });
        }
        Ok(Response::new(api::BatchCreateEntryResponse { results }))
    }

    async fn batch_update_entry(
        &self,
        request: Request<api::BatchUpdateEntryRequest>,
    ) -> Result<Response<api::BatchUpdateEntryResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let mut results = Vec::with_capacity(req.entries.len());
        for pe in &req.entries {
            let outcome = async {
                let old = self
                    .state
                    .with_index(|ix| ix.entry(&pe.id).cloned())
                    // SPIRE's words for an update of a missing entry.
                    .ok_or_else(|| Status::not_found("failed to update entry"))?;
                let new = entry_for_update(pe, Some(&old))?;
                let merged = match &req.input_mask {
                    Some(m) => apply_mask(&old, &new, m),
                    None => {
                        let mut e = new;
                        e.id = old.id.clone();
                        e
                    }
                };
                self.state
                    .update_entry(merged)
                    .await
                    .map_err(|e| registry_status("update", e))
            }
            .await;
            results.push(match outcome {
                Ok(e) => api::batch_update_entry_response::Result {
                    status: Some(ok_status()),
                    entry: Some(masked(&e, req.output_mask.as_ref())),
                },
                Err(s) => api::batch_update_entry_response::Result {
                    status: Some(item_status(&s)),
                    entry: None,
                },
            });
        }
        Ok(Response::new(api::BatchUpdateEntryResponse { results }))
    }

    async fn batch_delete_entry(
        &self,
        request: Request<api::BatchDeleteEntryRequest>,
    ) -> Result<Response<api::BatchDeleteEntryResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let mut results = Vec::with_capacity(req.ids.len());
        for id in req.ids {
            let status = if id.is_empty() {
                item_status(&Status::invalid_argument("missing entry ID"))
            } else {
                match self.state.delete_entry(&id).await {
                    Ok(_) => ok_status(),
                    Err(e) => item_status(&registry_status("delete", e)),
                }
            };
            results.push(api::batch_delete_entry_response::Result {
                status: Some(status),
                id,
            });
        }
        Ok(Response::new(api::BatchDeleteEntryResponse { results }))
    }

    async fn get_authorized_entries(
        &self,
        request: Request<api::GetAuthorizedEntriesRequest>,
    ) -> Result<Response<api::GetAuthorizedEntriesResponse>, Status> {
        let agent = require_agent(&self.state, &request)?;
        let mask = request.into_inner().output_mask;
        let entries = self.state.authorized_entries(&agent);
        Ok(Response::new(api::GetAuthorizedEntriesResponse {
            entries: entries.iter().map(|e| masked(e, mask.as_ref())).collect(),
        }))
    }

    type SyncAuthorizedEntriesStream =
        futures::stream::BoxStream<'static, Result<api::SyncAuthorizedEntriesResponse, Status>>;

    /// SPIRE 1.13 agents' entry sync: the first request carries the output mask; with at most
    /// 500 (SPIRE's page size) authorized entries they all come back at once, otherwise their
    /// revisions come in pages (`more` set on all but the last) and each later request names
    /// the IDs the agent wants in full, answered in pages the same way, until the agent closes.
    async fn sync_authorized_entries(
        &self,
        request: Request<tonic::Streaming<api::SyncAuthorizedEntriesRequest>>,
    ) -> Result<Response<Self::SyncAuthorizedEntriesStream>, Status> {
        let agent = require_agent(&self.state, &request)?;
        let mut incoming = request.into_inner();
        let wait = self.state.config.limits.request_timeout;
        let first = match tokio::time::timeout(wait, incoming.message()).await {
            Ok(Ok(Some(first))) => first,
            Ok(Ok(None)) => {
                return Err(Status::invalid_argument(
                    "the sync stream ended before its first request",
                ));
            }
            Ok(Err(status)) => return Err(status),
            Err(_) => {
                return Err(Status::deadline_exceeded(
                    "no first request on the sync stream in time",
                ));
            }
        };
        if !first.ids.is_empty() {
            return Err(Status::invalid_argument(
                "specifying IDs on initial request is not supported",
            ));
        }
        let mask = first.output_mask;
        if mask.as_ref().is_some_and(|m| !m.revision_number) {
            return Err(Status::invalid_argument("revision number cannot be masked"));
        }
        let mut entries = self.state.authorized_entries(&agent);
        if entries.len() <= ENTRY_PAGE_SIZE {
            let all = api::SyncAuthorizedEntriesResponse {
                entries: entries.iter().map(|e| masked(e, mask.as_ref())).collect(),
                ..Default::default()
            };
            return Ok(Response::new(Box::pin(futures::stream::once(async {
                Ok(all)
            }))));
        }
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        let (tx, rx) = tokio::sync::mpsc::channel(2);
        tokio::spawn(async move {
            for (i, page) in entries.chunks(ENTRY_PAGE_SIZE).enumerate() {
                let more = (i + 1) * ENTRY_PAGE_SIZE < entries.len();
                let revisions = page
                    .iter()
                    .map(|e| api::EntryRevision {
                        id: e.id.clone(),
                        revision_number: e.revision_number,
                        created_at: e.created_at,
                    })
                    .collect();
                let response = api::SyncAuthorizedEntriesResponse {
                    entry_revisions: revisions,
                    more,
                    ..Default::default()
                };
                if tx.send(Ok(response)).await.is_err() {
                    return;
                }
            }
            // Each request pages back the entries it names that the agent may have, until the
            // agent closes its side (or the connection goes).
            while let Ok(Some(request)) = incoming.message().await {
                let mut ids = request.ids;
                ids.sort();
                ids.dedup();
                let found: Vec<pb::Entry> = ids
                    .iter()
                    .filter_map(|id| {
                        entries
                            .binary_search_by(|e| e.id.as_str().cmp(id))
                            .ok()
                            .map(|i| masked(&entries[i], mask.as_ref()))
                    })
                    .collect();
                let pages: Vec<&[pb::Entry]> = if found.is_empty() {
                    vec![&[]]
                } else {
                    found.chunks(ENTRY_PAGE_SIZE).collect()
                };
                let last = pages.len() - 1;
                for (i, page) in pages.into_iter().enumerate() {
                    let response = api::SyncAuthorizedEntriesResponse {
                        entries: page.to_vec(),
                        more: i < last,
                        ..Default::default()
                    };
                    if tx.send(Ok(response)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}

/// How many entries (or entry revisions) one `SyncAuthorizedEntries` response holds at most:
/// SPIRE's default `entryPageSize`, so its agents page as they do against a SPIRE server.
pub(crate) const ENTRY_PAGE_SIZE: usize = 500;
