//! `spire.api.server.trustdomain.v1.TrustDomain`: the federation relationships stored in the
//! datastore, for administrators, with SPIRE's per-item statuses and messages.
//!
//! - Relationships written here live in the datastore; those of the configuration file are not
//!   listed (as in SPIRE), and win over a stored one for the same trust domain when bundles are
//!   refreshed.
//! - `trust_domain_bundle` in a create or update replaces the trust domain's federated bundle;
//!   on reads it is the latest stored bundle of the relationship's trust domain.
//! - `RefreshBundle` fetches the bundle of one federated trust domain (configured or stored)
//!   from its endpoint now, as the refresher does, and answers once it is stored or refused.
//!   Like SPIRE's, it does not compare the fetched `spiffe_sequence` with an earlier fetch (the
//!   periodic refresh does); the running refresher keeps its own schedule.

use std::sync::Arc;

use spiffe_core::TrustDomain;
use spiffe_proto::spire::api::server::trustdomain::v1 as api;
use spiffe_proto::spire::api::types as pb;
use tonic::{Request, Response, Status};
use tracing::{debug, info, warn};

use super::{item_status, ok_status, require_admin};
use crate::convert::bundle_from_pb;
use crate::datastore::DatastoreError;
use crate::federation::{
    BundleFetcher, EndpointProfile, EndpointUrl, FederationRelationship, RelationshipError,
    refresh_once,
};
use crate::state::ServerState;

/// The trust domain service.
#[derive(Debug, Clone)]
pub struct TrustDomainApi {
    state: Arc<ServerState>,
}

/// Every field, the mask SPIRE applies when a request has none.
const ALL: pb::FederationRelationshipMask = pb::FederationRelationshipMask {
    bundle_endpoint_url: true,
    bundle_endpoint_profile: true,
    trust_domain_bundle: true,
};

/// A relationship as a request carries it, checked: the relationship and the bundle to store
/// with it, if any.
struct Requested {
    relationship: FederationRelationship,
    bundle: Option<pb::Bundle>,
}

/// SPIRE's wording of a refused bundle endpoint URL.
fn url_message(e: &RelationshipError) -> String {
    match e {
        RelationshipError::Url {
            rule: "is not a valid URL",
            url,
        } => format!("failed to parse bundle endpoint URL: {url:?} is not a valid URL"),
        RelationshipError::Url { rule, .. } => format!("bundle endpoint URL {rule}"),
        other => other.to_string(),
    }
}

/// Checks a relationship of a request as SPIRE's `ProtoToFederationRelationship` does (every
/// field, whatever the input mask); the message is the reason, without SPIRE's prefix.
fn from_pb(r: &pb::FederationRelationship) -> Result<Requested, String> {
    let trust_domain = TrustDomain::parse(&r.trust_domain)
        .map_err(|e| format!("failed to parse trust domain: {e}"))?;
    let bundle_endpoint_url =
        EndpointUrl::parse(&r.bundle_endpoint_url).map_err(|e| url_message(&e))?;
    use pb::federation_relationship::BundleEndpointProfile as P;
    let profile = match &r.bundle_endpoint_profile {
        Some(P::HttpsSpiffe(p)) => EndpointProfile::HttpsSpiffe {
            endpoint_spiffe_id: spiffe_core::SpiffeId::parse(&p.endpoint_spiffe_id)
                .map_err(|e| format!("failed to parse endpoint SPIFFE ID: {e}"))?,
        },
        Some(P::HttpsWeb(_)) => EndpointProfile::HttpsWeb,
        None => return Err("unsupported bundle endpoint profile type: <nil>".into()),
    };
    let bundle = match &r.trust_domain_bundle {
        None => None,
        Some(b) => {
            let parsed = bundle_from_pb(b).map_err(|e| format!("failed to parse bundle: {e}"))?;
            if parsed.trust_domain() != &trust_domain {
                return Err(format!(
                    "trust domain bundle ({:?}) must match the trust domain of the federation relationship ({:?})",
                    b.trust_domain,
                    trust_domain.name()
                ));
            }
            let mut b = b.clone();
            b.trust_domain = trust_domain.name().to_owned();
            Some(b)
        }
    };
    Ok(Requested {
        relationship: FederationRelationship {
            trust_domain,
            bundle_endpoint_url,
            profile,
        },
        bundle,
    })
}

impl TrustDomainApi {
    /// The most relationships (or trust domains) one batch request may carry.
    pub const MAX_BATCH: usize = 500;

    /// The largest page `ListFederationRelationships` returns (a larger `page_size` is
    /// lowered to it).
    pub const MAX_PAGE_SIZE: usize = 1000;

    /// The service over the server's state.
    pub fn new(state: Arc<ServerState>) -> Self {
        TrustDomainApi { state }
    }

    /// A stored relationship as the API's message, with the fields `mask` asks for (all when
    /// `None`); the bundle is the trust domain's latest stored one, if any.
    fn to_pb(
        &self,
        r: &FederationRelationship,
        mask: Option<&pb::FederationRelationshipMask>,
    ) -> pb::FederationRelationship {
        let mask = mask.unwrap_or(&ALL);
        use pb::federation_relationship::BundleEndpointProfile as P;
        pb::FederationRelationship {
            trust_domain: r.trust_domain.name().to_owned(),
            bundle_endpoint_url: if mask.bundle_endpoint_url {
                r.bundle_endpoint_url.as_str().to_owned()
            } else {
                String::new()
            },
            bundle_endpoint_profile: mask.bundle_endpoint_profile.then(|| match &r.profile {
                EndpointProfile::HttpsWeb => P::HttpsWeb(pb::HttpsWebProfile {}),
                EndpointProfile::HttpsSpiffe { endpoint_spiffe_id } => {
                    P::HttpsSpiffe(pb::HttpsspiffeProfile {
                        endpoint_spiffe_id: endpoint_spiffe_id.to_string(),
                    })
                }
            }),
            trust_domain_bundle: if mask.trust_domain_bundle {
                self.state
                    .bundle(r.trust_domain.name())
                    .map(|b| (*b).clone())
            } else {
                None
            },
        }
    }

    /// Stores `bundle` as its trust domain's federated bundle (replacing any).
    async fn store_bundle(&self, bundle: pb::Bundle) -> Result<(), DatastoreError> {
        let td = bundle.trust_domain.clone();
        let stored = self
            .state
            .ds
            .update_bundle(&td, |current| {
                Ok((current.as_ref() != Some(&bundle)).then(|| bundle.clone()))
            })
            .await?;
        if let Some(stored) = stored {
            self.state.apply_bundle(stored);
        }
        info!(trust_domain = %td, "federated bundle stored with its federation relationship");
        Ok(())
    }

    /// SPIRE logs a warning when an `https_spiffe` relationship comes without a bundle and
    /// none is stored for the endpoint ID's trust domain: the endpoint cannot be authenticated
    /// yet.
    fn warn_without_endpoint_bundle(&self, r: &FederationRelationship) {
        if let EndpointProfile::HttpsSpiffe { endpoint_spiffe_id } = &r.profile
            && self
                .state
                .bundle(endpoint_spiffe_id.trust_domain().name())
                .is_none()
        {
            warn!(
                trust_domain = %r.trust_domain,
                endpoint_spiffe_id = %endpoint_spiffe_id,
                "bundle not found for the endpoint SPIFFE ID trust domain"
            );
        }
    }

    async fn create_one(
        &self,
        r: &pb::FederationRelationship,
        mask: Option<&pb::FederationRelationshipMask>,
    ) -> Result<pb::FederationRelationship, Status> {
        let req = from_pb(r).map_err(|e| {
            Status::invalid_argument(format!("failed to convert federation relationship: {e}"))
        })?;
        let rel = &req.relationship;
        if rel.trust_domain == self.state.config.trust_domain {
            return Err(Status::invalid_argument(
                "unable to create federation relationship for server trust domain",
            ));
        }
        self.state
            .ds
            .create_federation_relationship(rel)
            .await
            .map_err(|e| match e {
                DatastoreError::AlreadyExists(m) => Status::already_exists(format!(
                    "failed to create federation relationship: {m}"
                )),
                other => {
                    warn!(trust_domain = %rel.trust_domain, error = %other, "federation relationship not created");
                    Status::internal(format!("failed to create federation relationship: {other}"))
                }
            })?;
        if let Some(bundle) = req.bundle {
            self.store_bundle(bundle).await.map_err(|e| {
                Status::internal(format!(
                    "failed to create federation relationship: unable to set bundle: {e}"
                ))
            })?;
        } else {
            self.warn_without_endpoint_bundle(rel);
        }
        info!(
            trust_domain = %rel.trust_domain,
            url = %rel.bundle_endpoint_url,
            profile = rel.profile.name(),
            "federation relationship created"
        );
        Ok(self.to_pb(rel, mask))
    }

    async fn update_one(
        &self,
        r: &pb::FederationRelationship,
        input: Option<&pb::FederationRelationshipMask>,
        output: Option<&pb::FederationRelationshipMask>,
    ) -> Result<pb::FederationRelationship, Status> {
        let req = from_pb(r).map_err(|e| {
            Status::invalid_argument(format!("failed to convert federation relationship: {e}"))
        })?;
        let input = input.unwrap_or(&ALL);
        let failed = |m: String| format!("failed to update federation relationship: {m}");
        let td = &req.relationship.trust_domain;
        let mut stored = self
            .state
            .ds
            .fetch_federation_relationship(td)
            .await
            .map_err(|e| Status::internal(failed(e.to_string())))?
            .ok_or_else(|| Status::not_found(failed("federation relationship not found".into())))?;
        if input.bundle_endpoint_url {
            stored.bundle_endpoint_url = req.relationship.bundle_endpoint_url.clone();
        }
        if input.bundle_endpoint_profile {
            stored.profile = req.relationship.profile.clone();
        }
        self.state
            .ds
            .update_federation_relationship(&stored)
            .await
            .map_err(|e| match e {
                DatastoreError::NotFound(m) => Status::not_found(failed(m)),
                other => Status::internal(failed(other.to_string())),
            })?;
        match req.bundle.filter(|_| input.trust_domain_bundle) {
            Some(bundle) => self
                .store_bundle(bundle)
                .await
                .map_err(|e| Status::internal(failed(format!("unable to set bundle: {e}"))))?,
            None => self.warn_without_endpoint_bundle(&stored),
        }
        info!(
            trust_domain = %stored.trust_domain,
            url = %stored.bundle_endpoint_url,
            profile = stored.profile.name(),
            "federation relationship updated"
        );
        Ok(self.to_pb(&stored, output))
    }

    async fn delete_one(&self, td: &str) -> Result<String, (String, Status)> {
        if td.is_empty() {
            return Err((
                String::new(),
                Status::invalid_argument("missing trust domain"),
            ));
        }
        let parsed = TrustDomain::parse(td).map_err(|e| {
            (
                td.to_owned(),
                Status::invalid_argument(format!("failed to parse trust domain: {e}")),
            )
        })?;
        let name = parsed.name().to_owned();
        match self.state.ds.delete_federation_relationship(&parsed).await {
            Ok(()) => {
                info!(trust_domain = %parsed, "federation relationship deleted");
                Ok(name)
            }
            Err(DatastoreError::NotFound(_)) => {
                Err((name, Status::not_found("federation relationship not found")))
            }
            Err(e) => Err((
                name,
                Status::internal(format!("failed to delete federation relationship: {e}")),
            )),
        }
    }

    /// The relationship the refresher follows for `td`: the configuration's, else the
    /// datastore's; none for the server's own trust domain.
    async fn followed(&self, td: &TrustDomain) -> Result<Option<FederationRelationship>, Status> {
        if td == &self.state.config.trust_domain {
            return Ok(None);
        }
        if let Some(r) = self.state.config.federation.federates_with.get(td) {
            return Ok(Some(r.clone()));
        }
        self.state
            .ds
            .fetch_federation_relationship(td)
            .await
            .map_err(|e| Status::internal(format!("failed to refresh bundle: {e}")))
    }
}

/// Refuses a batch larger than [`MAX_BATCH`].
fn check_batch(len: usize, field: &str) -> Result<(), Status> {
    if len > TrustDomainApi::MAX_BATCH {
        return Err(Status::invalid_argument(format!(
            "{field}: {len} items, at most {} per request",
            TrustDomainApi::MAX_BATCH
        )));
    }
    Ok(())
}

#[tonic::async_trait]
impl api::trust_domain_server::TrustDomain for TrustDomainApi {
    async fn list_federation_relationships(
        &self,
        request: Request<api::ListFederationRelationshipsRequest>,
    ) -> Result<Response<api::ListFederationRelationshipsResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let all = self
            .state
            .ds
            .list_federation_relationships()
            .await
            .map_err(|e| {
                Status::internal(format!("failed to list federation relationships: {e}"))
            })?;
        // Ordered by trust domain name; the page token is the last name of the page before.
        let mut page: Vec<&FederationRelationship> = all
            .iter()
            .filter(|r| {
                req.page_token.is_empty() || r.trust_domain.name() > req.page_token.as_str()
            })
            .collect();
        let mut next_page_token = String::new();
        if req.page_size > 0 {
            let size = usize::try_from(req.page_size)
                .unwrap_or(Self::MAX_PAGE_SIZE)
                .min(Self::MAX_PAGE_SIZE);
            if page.len() > size {
                page.truncate(size);
                next_page_token = page
                    .last()
                    .map(|r| r.trust_domain.name().to_owned())
                    .unwrap_or_default();
            }
        }
        let federation_relationships = page
            .into_iter()
            .map(|r| self.to_pb(r, req.output_mask.as_ref()))
            .collect();
        Ok(Response::new(api::ListFederationRelationshipsResponse {
            federation_relationships,
            next_page_token,
        }))
    }

    async fn get_federation_relationship(
        &self,
        request: Request<api::GetFederationRelationshipRequest>,
    ) -> Result<Response<pb::FederationRelationship>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let td = TrustDomain::parse(&req.trust_domain)
            .map_err(|e| Status::invalid_argument(format!("failed to parse trust domain: {e}")))?;
        let r = self
            .state
            .ds
            .fetch_federation_relationship(&td)
            .await
            .map_err(|e| Status::internal(format!("failed to fetch federation relationship: {e}")))?
            .ok_or_else(|| Status::not_found("federation relationship does not exist"))?;
        Ok(Response::new(self.to_pb(&r, req.output_mask.as_ref())))
    }

    async fn batch_create_federation_relationship(
        &self,
        request: Request<api::BatchCreateFederationRelationshipRequest>,
    ) -> Result<Response<api::BatchCreateFederationRelationshipResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        check_batch(
            req.federation_relationships.len(),
            "federation_relationships",
        )?;
        let mut results = Vec::with_capacity(req.federation_relationships.len());
        let mut created = false;
        for r in &req.federation_relationships {
            let outcome = self.create_one(r, req.output_mask.as_ref()).await;
            created |= outcome.is_ok();
            results.push(match outcome {
                Ok(fr) => api::batch_create_federation_relationship_response::Result {
                    status: Some(ok_status()),
                    federation_relationship: Some(fr),
                },
                Err(s) => {
                    debug!(trust_domain = %r.trust_domain, code = ?s.code(), message = s.message(), "federation relationship not created");
                    api::batch_create_federation_relationship_response::Result {
                        status: Some(item_status(&s)),
                        federation_relationship: None,
                    }
                }
            });
        }
        if created {
            self.state.hub.poke_relationships();
        }
        Ok(Response::new(
            api::BatchCreateFederationRelationshipResponse { results },
        ))
    }

    async fn batch_update_federation_relationship(
        &self,
        request: Request<api::BatchUpdateFederationRelationshipRequest>,
    ) -> Result<Response<api::BatchUpdateFederationRelationshipResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        check_batch(
            req.federation_relationships.len(),
            "federation_relationships",
        )?;
        let mut results = Vec::with_capacity(req.federation_relationships.len());
        let mut updated = false;
        for r in &req.federation_relationships {
            let outcome = self
                .update_one(r, req.input_mask.as_ref(), req.output_mask.as_ref())
                .await;
            updated |= outcome.is_ok();
            results.push(match outcome {
                Ok(fr) => api::batch_update_federation_relationship_response::Result {
                    status: Some(ok_status()),
                    federation_relationship: Some(fr),
                },
                Err(s) => {
                    debug!(trust_domain = %r.trust_domain, code = ?s.code(), message = s.message(), "federation relationship not updated");
                    api::batch_update_federation_relationship_response::Result {
                        status: Some(item_status(&s)),
                        federation_relationship: None,
                    }
                }
            });
        }
        if updated {
            self.state.hub.poke_relationships();
        }
        Ok(Response::new(
            api::BatchUpdateFederationRelationshipResponse { results },
        ))
    }

    async fn batch_delete_federation_relationship(
        &self,
        request: Request<api::BatchDeleteFederationRelationshipRequest>,
    ) -> Result<Response<api::BatchDeleteFederationRelationshipResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        check_batch(req.trust_domains.len(), "trust_domains")?;
        let mut results = Vec::with_capacity(req.trust_domains.len());
        let mut deleted = false;
        for td in &req.trust_domains {
            results.push(match self.delete_one(td).await {
                Ok(trust_domain) => {
                    deleted = true;
                    api::batch_delete_federation_relationship_response::Result {
                        status: Some(ok_status()),
                        trust_domain,
                    }
                }
                Err((trust_domain, s)) => {
                    debug!(trust_domain = %trust_domain, code = ?s.code(), message = s.message(), "federation relationship not deleted");
                    api::batch_delete_federation_relationship_response::Result {
                        status: Some(item_status(&s)),
                        trust_domain,
                    }
                }
            });
        }
        if deleted {
            self.state.hub.poke_relationships();
        }
        Ok(Response::new(
            api::BatchDeleteFederationRelationshipResponse { results },
        ))
    }

    async fn refresh_bundle(
        &self,
        request: Request<api::RefreshBundleRequest>,
    ) -> Result<Response<()>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let td = TrustDomain::parse(&req.trust_domain)
            .map_err(|e| Status::invalid_argument(format!("failed to parse trust domain: {e}")))?;
        let relationship = self.followed(&td).await?.ok_or_else(|| {
            Status::not_found(format!("no relationship with trust domain {:?}", td.name()))
        })?;
        let config = &self.state.config.federation;
        let fetcher = BundleFetcher::new(config.web_roots.clone(), config.refresh.fetch_timeout);
        let refreshed = refresh_once(&self.state, &fetcher, &relationship, None)
            .await
            .map_err(|e| {
                warn!(trust_domain = %td, error = %e, "bundle refresh on request failed; the stored bundle stays");
                Status::internal(format!("failed to refresh bundle: {e}"))
            })?;
        info!(
            trust_domain = %td,
            changed = refreshed.changed,
            sequence = refreshed.sequence.unwrap_or(0),
            "bundle refreshed on request"
        );
        Ok(Response::new(()))
    }
}
