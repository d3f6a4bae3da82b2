//! The server side: SPIRE's entry API (`spire.api.server.entry.v1.Entry`) over the admin
//! socket, behind [`EntryStore`] so the reconcile loop can also run against memory (benchmarks),
//! and its TrustDomain API (`spire.api.server.trustdomain.v1.TrustDomain`) behind
//! [`RelationshipStore`].

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::server::trustdomain::v1 as td;
use spiffe_proto::spire::api::server::trustdomain::v1::trust_domain_client::TrustDomainClient;
use spiffe_proto::spire::api::types as pb;
use thiserror::Error;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

/// Why a call to the server failed as a whole.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The call failed.
    #[error("server API: {0}")]
    Status(#[from] tonic::Status),
    /// The channel could not be set up.
    #[error("server API transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// A batch answer with fewer results than items.
    #[error("{op}: {got} results for {want} items")]
    ShortResponse {
        /// The batch call.
        op: &'static str,
        /// Items sent.
        want: usize,
        /// Results received.
        got: usize,
    },
}

/// Why the server refused one item of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code:?}: {message}")]
pub struct ItemError {
    /// The gRPC code.
    pub code: Code,
    /// The server's message.
    pub message: String,
}

/// The outcome of each item of a batch, in order.
pub type BatchOutcome = Vec<Result<(), ItemError>>;

/// Where entries live. Implementations answer batches item by item, in order.
pub trait EntryStore: Send {
    /// Every entry.
    fn list(&mut self) -> impl Future<Output = Result<Vec<pb::Entry>, RegistryError>> + Send;
    /// Creates entries (their IDs are set).
    fn create(
        &mut self,
        entries: Vec<pb::Entry>,
    ) -> impl Future<Output = Result<BatchOutcome, RegistryError>> + Send;
    /// Replaces entries by ID.
    fn update(
        &mut self,
        entries: Vec<pb::Entry>,
    ) -> impl Future<Output = Result<BatchOutcome, RegistryError>> + Send;
    /// Deletes entries by ID.
    fn delete(
        &mut self,
        ids: Vec<String>,
    ) -> impl Future<Output = Result<BatchOutcome, RegistryError>> + Send;
}

/// A gRPC channel to the server's admin socket at `path`; the connection is made lazily and
/// again after a failure.
pub fn admin_channel(path: impl Into<PathBuf>) -> Result<Channel, tonic::transport::Error> {
    let path: PathBuf = path.into();
    // The URI is not used to connect; the connector dials the socket.
    let endpoint = Endpoint::try_from("http://admin.socket")?;
    Ok(
        endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        })),
    )
}

fn item(status: Option<&pb::Status>) -> Result<(), ItemError> {
    match status {
        Some(s) if s.code == 0 => Ok(()),
        Some(s) => Err(ItemError {
            code: Code::from_i32(s.code),
            message: s.message.clone(),
        }),
        None => Err(ItemError {
            code: Code::Unknown,
            message: "no status in the answer".into(),
        }),
    }
}

fn check_len(
    op: &'static str,
    want: usize,
    got: BatchOutcome,
) -> Result<BatchOutcome, RegistryError> {
    if got.len() == want {
        Ok(got)
    } else {
        Err(RegistryError::ShortResponse {
            op,
            want,
            got: got.len(),
        })
    }
}

/// An output mask that asks for nothing back (the controller only reads the statuses).
fn no_output() -> Option<pb::EntryMask> {
    Some(pb::EntryMask::default())
}

/// The server's entry API over a gRPC channel.
#[derive(Debug, Clone)]
pub struct GrpcEntryStore {
    client: EntryClient<Channel>,
    page_size: i32,
}

impl GrpcEntryStore {
    /// Over `channel` (from [`admin_channel`], or a TLS channel with an admin SVID).
    pub fn new(channel: Channel) -> Self {
        GrpcEntryStore {
            client: EntryClient::new(channel),
            page_size: 1000,
        }
    }
}

impl EntryStore for GrpcEntryStore {
    async fn list(&mut self) -> Result<Vec<pb::Entry>, RegistryError> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let resp = self
                .client
                .list_entries(api::ListEntriesRequest {
                    filter: None,
                    output_mask: None,
                    page_size: self.page_size,
                    page_token: page_token.clone(),
                })
                .await?
                .into_inner();
            out.extend(resp.entries);
            if resp.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = resp.next_page_token;
        }
    }

    async fn create(&mut self, entries: Vec<pb::Entry>) -> Result<BatchOutcome, RegistryError> {
        let want = entries.len();
        let resp = self
            .client
            .batch_create_entry(api::BatchCreateEntryRequest {
                entries,
                output_mask: no_output(),
            })
            .await?
            .into_inner();
        check_len(
            "BatchCreateEntry",
            want,
            resp.results
                .iter()
                .map(|r| item(r.status.as_ref()))
                .collect(),
        )
    }

    async fn update(&mut self, entries: Vec<pb::Entry>) -> Result<BatchOutcome, RegistryError> {
        let want = entries.len();
        let resp = self
            .client
            .batch_update_entry(api::BatchUpdateEntryRequest {
                entries,
                input_mask: None,
                output_mask: no_output(),
            })
            .await?
            .into_inner();
        check_len(
            "BatchUpdateEntry",
            want,
            resp.results
                .iter()
                .map(|r| item(r.status.as_ref()))
                .collect(),
        )
    }

    async fn delete(&mut self, ids: Vec<String>) -> Result<BatchOutcome, RegistryError> {
        let want = ids.len();
        let resp = self
            .client
            .batch_delete_entry(api::BatchDeleteEntryRequest { ids })
            .await?
            .into_inner();
        check_len(
            "BatchDeleteEntry",
            want,
            resp.results
                .iter()
                .map(|r| item(r.status.as_ref()))
                .collect(),
        )
    }
}

/// Entries in memory, shared between clones: for benchmarks and tests of the loop alone.
#[derive(Debug, Clone, Default)]
pub struct MemoryEntryStore {
    entries: Arc<Mutex<BTreeMap<String, pb::Entry>>>,
}

impl MemoryEntryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryEntryStore::default()
    }

    /// A copy of the entries.
    pub fn snapshot(&self) -> Vec<pb::Entry> {
        self.entries
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds an entry directly (as an administrator would).
    pub fn insert(&self, e: pb::Entry) {
        if let Ok(mut m) = self.entries.lock() {
            m.insert(e.id.clone(), e);
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, pb::Entry>) -> T,
    ) -> Result<T, RegistryError> {
        self.entries
            .lock()
            .map(|mut m| f(&mut m))
            .map_err(|_| RegistryError::Status(tonic::Status::internal("store lock poisoned")))
    }
}

impl EntryStore for MemoryEntryStore {
    async fn list(&mut self) -> Result<Vec<pb::Entry>, RegistryError> {
        self.with(|m| m.values().cloned().collect())
    }

    async fn create(&mut self, entries: Vec<pb::Entry>) -> Result<BatchOutcome, RegistryError> {
        self.with(|m| {
            entries
                .into_iter()
                .map(|e| {
                    if m.contains_key(&e.id) {
                        return Err(ItemError {
                            code: Code::AlreadyExists,
                            message: format!("an entry with ID {} already exists", e.id),
                        });
                    }
                    m.insert(e.id.clone(), e);
                    Ok(())
                })
                .collect()
        })
    }

    async fn update(&mut self, entries: Vec<pb::Entry>) -> Result<BatchOutcome, RegistryError> {
        self.with(|m| {
            entries
                .into_iter()
                .map(|e| match m.get_mut(&e.id) {
                    Some(slot) => {
                        *slot = e;
                        Ok(())
                    }
                    None => Err(ItemError {
                        code: Code::NotFound,
                        message: "entry not found".into(),
                    }),
                })
                .collect()
        })
    }

    async fn delete(&mut self, ids: Vec<String>) -> Result<BatchOutcome, RegistryError> {
        self.with(|m| {
            ids.into_iter()
                .map(|id| match m.remove(&id) {
                    Some(_) => Ok(()),
                    None => Err(ItemError {
                        code: Code::NotFound,
                        message: "entry not found".into(),
                    }),
                })
                .collect()
        })
    }
}

/// Where federation relationships live (SPIRE's `spire.api.server.trustdomain.v1`).
/// Implementations answer batches item by item, in order.
pub trait RelationshipStore: Send {
    /// Every relationship (its bundle left out).
    fn list(
        &mut self,
    ) -> impl Future<Output = Result<Vec<pb::FederationRelationship>, RegistryError>> + Send;
    /// Creates relationships.
    fn create(
        &mut self,
        relationships: Vec<pb::FederationRelationship>,
    ) -> impl Future<Output = Result<BatchOutcome, RegistryError>> + Send;
    /// Replaces relationships by trust domain (every field, as spire-controller-manager does).
    fn update(
        &mut self,
        relationships: Vec<pb::FederationRelationship>,
    ) -> impl Future<Output = Result<BatchOutcome, RegistryError>> + Send;
    /// Deletes relationships by trust domain name.
    fn delete(
        &mut self,
        trust_domains: Vec<String>,
    ) -> impl Future<Output = Result<BatchOutcome, RegistryError>> + Send;
}

/// The server's TrustDomain API over a gRPC channel.
#[derive(Debug, Clone)]
pub struct GrpcRelationshipStore {
    client: TrustDomainClient<Channel>,
    page_size: i32,
}

impl GrpcRelationshipStore {
    /// Over `channel` (from [`admin_channel`], or a TLS channel with an admin SVID).
    pub fn new(channel: Channel) -> Self {
        GrpcRelationshipStore {
            client: TrustDomainClient::new(channel),
            page_size: 1000,
        }
    }
}

impl RelationshipStore for GrpcRelationshipStore {
    async fn list(&mut self) -> Result<Vec<pb::FederationRelationship>, RegistryError> {
        let mut out = Vec::new();
        let mut page_token = String::new();
        loop {
            let resp = self
                .client
                .list_federation_relationships(td::ListFederationRelationshipsRequest {
                    output_mask: Some(pb::FederationRelationshipMask {
                        bundle_endpoint_url: true,
                        bundle_endpoint_profile: true,
                        trust_domain_bundle: false,
                    }),
                    page_size: self.page_size,
                    page_token: page_token.clone(),
                })
                .await?
                .into_inner();
            out.extend(resp.federation_relationships);
            if resp.next_page_token.is_empty() {
                return Ok(out);
            }
            page_token = resp.next_page_token;
        }
    }

    async fn create(
        &mut self,
        relationships: Vec<pb::FederationRelationship>,
    ) -> Result<BatchOutcome, RegistryError> {
        let want = relationships.len();
        let resp = self
            .client
            .batch_create_federation_relationship(td::BatchCreateFederationRelationshipRequest {
                federation_relationships: relationships,
                output_mask: Some(pb::FederationRelationshipMask::default()),
            })
            .await?
            .into_inner();
        check_len(
            "BatchCreateFederationRelationship",
            want,
            resp.results
                .iter()
                .map(|r| item(r.status.as_ref()))
                .collect(),
        )
    }

    async fn update(
        &mut self,
        relationships: Vec<pb::FederationRelationship>,
    ) -> Result<BatchOutcome, RegistryError> {
        let want = relationships.len();
        let resp = self
            .client
            .batch_update_federation_relationship(td::BatchUpdateFederationRelationshipRequest {
                federation_relationships: relationships,
                input_mask: None,
                output_mask: Some(pb::FederationRelationshipMask::default()),
            })
            .await?
            .into_inner();
        check_len(
            "BatchUpdateFederationRelationship",
            want,
            resp.results
                .iter()
                .map(|r| item(r.status.as_ref()))
                .collect(),
        )
    }

    async fn delete(&mut self, trust_domains: Vec<String>) -> Result<BatchOutcome, RegistryError> {
        let want = trust_domains.len();
        let resp = self
            .client
            .batch_delete_federation_relationship(td::BatchDeleteFederationRelationshipRequest {
                trust_domains,
            })
            .await?
            .into_inner();
        check_len(
            "BatchDeleteFederationRelationship",
            want,
            resp.results
                .iter()
                .map(|r| item(r.status.as_ref()))
                .collect(),
        )
    }
}
