//! `spire.api.server.bundle.v1.Bundle`: the trust domain's bundle and federated bundles.

use std::sync::Arc;

use spiffe_core::TrustDomain;
use spiffe_proto::spire::api::server::bundle::v1 as api;
use spiffe_proto::spire::api::types as pb;
use tonic::{Request, Response, Status};
use tracing::info;

use super::{Caller, caller, ds_status, item_status, ok_status, require_admin};
use crate::convert::bundle_from_pb;
use crate::datastore::DatastoreError;
use crate::state::{ServerState, add_authorities, edit_bundle};

/// `b` with only the fields `mask` asks for (all without a mask), as SPIRE's
/// `applyBundleMask`.
fn masked(mut b: pb::Bundle, mask: Option<&pb::BundleMask>) -> pb::Bundle {
    let Some(mask) = mask else {
        return b;
    };
    if !mask.refresh_hint {
        b.refresh_hint = 0;
    }
    if !mask.sequence_number {
        b.sequence_number = 0;
    }
    if !mask.x509_authorities {
        b.x509_authorities.clear();
    }
    if !mask.jwt_authorities {
        b.jwt_authorities.clear();
    }
    if !mask.wit_authorities {
        b.wit_authorities.clear();
    }
    b
}

/// `current` with the fields of `new` that `mask` names replaced (all without a mask), as
/// SPIRE's datastore updates a bundle.
fn merged(mut current: pb::Bundle, new: &pb::Bundle, mask: Option<&pb::BundleMask>) -> pb::Bundle {
    let all = pb::BundleMask {
        x509_authorities: true,
        jwt_authorities: true,
        refresh_hint: true,
        sequence_number: true,
        wit_authorities: true,
    };
    let mask = mask.unwrap_or(&all);
    if mask.refresh_hint {
        current.refresh_hint = new.refresh_hint;
    }
    if mask.sequence_number {
        current.sequence_number = new.sequence_number;
    }
    if mask.x509_authorities {
        current.x509_authorities = new.x509_authorities.clone();
    }
    if mask.jwt_authorities {
        current.jwt_authorities = new.jwt_authorities.clone();
    }
    if mask.wit_authorities {
        current.wit_authorities = new.wit_authorities.clone();
    }
    current
}

/// The bundle service.
#[derive(Debug, Clone)]
pub struct BundleApi {
    state: Arc<ServerState>,
}

impl BundleApi {
    /// The service over the server's state.
    pub fn new(state: Arc<ServerState>) -> Self {
        BundleApi { state }
    }

    /// Checks a federated bundle: a valid trust domain, not this server's, with authorities that
    /// parse. `verb` (`creating`, `updating`, `setting`) words SPIRE's refusal of the server's
    /// own trust domain.
    fn check_federated(&self, b: &pb::Bundle, verb: &str) -> Result<TrustDomain, Status> {
        let td = TrustDomain::parse(&b.trust_domain).map_err(|e| {
            Status::invalid_argument(format!("trust domain argument is not valid: {e}"))
        })?;
        if td == self.state.config.trust_domain {
            return Err(Status::invalid_argument(format!(
                "{verb} a federated bundle for the server's own trust domain is not allowed"
            )));
        }
        bundle_from_pb(b)
            .map_err(|e| Status::invalid_argument(format!("failed to convert bundle: {e}")))?;
        Ok(td)
    }

    fn normalized(td: &TrustDomain, b: &pb::Bundle) -> pb::Bundle {
        let mut b = b.clone();
        b.trust_domain = td.name().to_owned();
        b
    }

    async fn set(
        &self,
        b: &pb::Bundle,
        create_only: bool,
        update_only: bool,
        input_mask: Option<&pb::BundleMask>,
    ) -> Result<pb::Bundle, Status> {
        let verb = match (create_only, update_only) {
            (true, _) => "creating",
            (_, true) => "updating",
            _ => "setting",
        };
        let td = self.check_federated(b, verb)?;
        let new = Self::normalized(&td, b);
        let stored = self
            .state
            .ds
            .update_bundle(td.name(), |cur| match (&cur, create_only, update_only) {
                (Some(_), true, _) => Err(DatastoreError::AlreadyExists(
                    "bundle already exists".into(),
                )),
                (None, _, true) => Err(DatastoreError::NotFound("bundle not found".into())),
                (Some(cur), _, true) => Ok(Some(merged(cur.clone(), &new, input_mask))),
                _ => Ok(Some(new.clone())),
            })
            .await
            .map_err(ds_status)?
            .ok_or_else(|| Status::internal("bundle was not stored"))?;
        self.state.apply_bundle(stored.clone());
        info!(trust_domain = %td, "federated bundle stored");
        Ok(stored)
    }

    /// [`BundleApi::set`] for each bundle of a batch, each outcome as `result(status, bundle)`
    /// (the stored bundle, or none after a failure).
    async fn set_each<R>(
        &self,
        bundles: Vec<pb::Bundle>,
        create_only: bool,
        update_only: bool,
        input_mask: Option<&pb::BundleMask>,
        output_mask: Option<&pb::BundleMask>,
        result: impl Fn(Option<pb::Status>, Option<pb::Bundle>) -> R,
    ) -> Vec<R> {
        let mut results = Vec::with_capacity(bundles.len());
        for b in bundles {
            results.push(
                match self.set(&b, create_only, update_only, input_mask).await {
                    Ok(stored) => result(Some(ok_status()), Some(masked(stored, output_mask))),
                    Err(s) => result(Some(item_status(&s)), None),
                },
            );
        }
        results
    }
}

#[tonic::async_trait]
impl api::bundle_server::Bundle for BundleApi {
    async fn count_bundles(
        &self,
        request: Request<api::CountBundlesRequest>,
    ) -> Result<Response<api::CountBundlesResponse>, Status> {
        require_admin(&self.state, &request)?;
        let n =
            self.state.federated_bundles().len() + usize::from(self.state.local_bundle().is_some());
        Ok(Response::new(api::CountBundlesResponse {
            count: i32::try_from(n).unwrap_or(i32::MAX),
        }))
    }

    async fn get_bundle(
        &self,
        request: Request<api::GetBundleRequest>,
    ) -> Result<Response<pb::Bundle>, Status> {
        // Anyone who can reach the server may read the public trust bundle.
        caller(&self.state, &request)?;
        let b = self
            .state
            .local_bundle()
            .ok_or_else(|| Status::not_found("bundle not found"))?;
        Ok(Response::new(masked(
            (*b).clone(),
            request.get_ref().output_mask.as_ref(),
        )))
    }

    async fn append_bundle(
        &self,
        request: Request<api::AppendBundleRequest>,
    ) -> Result<Response<pb::Bundle>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let td = self.state.config.trust_domain.name().to_owned();
        let stored = self
            .state
            .ds
            .update_bundle(&td, |cur| {
                Ok(edit_bundle(cur, &td, |b| {
                    add_authorities(
                        b,
                        req.x509_authorities.iter().cloned(),
                        &req.jwt_authorities,
                    );
                }))
            })
            .await
            .map_err(ds_status)?
            .ok_or_else(|| Status::not_found("bundle not found"))?;
        self.state.apply_bundle(stored.clone());
        Ok(Response::new(masked(stored, req.output_mask.as_ref())))
    }

    async fn publish_jwt_authority(
        &self,
        _request: Request<api::PublishJwtAuthorityRequest>,
    ) -> Result<Response<api::PublishJwtAuthorityResponse>, Status> {
        Err(Status::unimplemented(
            "downstream (nested) servers are not supported yet",
        ))
    }

    async fn publish_wit_authority(
        &self,
        _request: Request<api::PublishWitAuthorityRequest>,
    ) -> Result<Response<api::PublishWitAuthorityResponse>, Status> {
        Err(Status::unimplemented("WIT-SVIDs are not supported yet"))
    }

    async fn list_federated_bundles(
        &self,
        request: Request<api::ListFederatedBundlesRequest>,
    ) -> Result<Response<api::ListFederatedBundlesResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let mut bundles: Vec<pb::Bundle> = self
            .state
            .federated_bundles()
            .into_iter()
            .filter(|b| req.page_token.is_empty() || b.trust_domain > req.page_token)
            .map(|b| masked((*b).clone(), req.output_mask.as_ref()))
            .collect();
        let mut next_page_token = String::new();
        if req.page_size > 0 && bundles.len() > req.page_size as usize {
            bundles.truncate(req.page_size as usize);
            next_page_token = bundles
                .last()
                .map(|b| b.trust_domain.clone())
                .unwrap_or_default();
        }
        Ok(Response::new(api::ListFederatedBundlesResponse {
            bundles,
            next_page_token,
        }))
    }

    async fn get_federated_bundle(
        &self,
        request: Request<api::GetFederatedBundleRequest>,
    ) -> Result<Response<pb::Bundle>, Status> {
        if !matches!(
            caller(&self.state, &request)?,
            Caller::Local | Caller::AdminWorkload(_) | Caller::Agent(_)
        ) {
            return Err(Status::permission_denied(
                "federated bundles are for agents and administrators",
            ));
        }
        let td = TrustDomain::parse(&request.get_ref().trust_domain).map_err(|e| {
            Status::invalid_argument(format!("trust domain argument is not valid: {e}"))
        })?;
        if td == self.state.config.trust_domain {
            return Err(Status::invalid_argument(
                "getting a federated bundle for the server's own trust domain is not allowed",
            ));
        }
        let b = self
            .state
            .bundle(td.name())
            .ok_or_else(|| Status::not_found("bundle not found"))?;
        Ok(Response::new(masked(
            (*b).clone(),
            request.get_ref().output_mask.as_ref(),
        )))
    }

    async fn batch_create_federated_bundle(
        &self,
        request: Request<api::BatchCreateFederatedBundleRequest>,
    ) -> Result<Response<api::BatchCreateFederatedBundleResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let results = self
            .set_each(
                req.bundle,
                true,
                false,
                None,
                req.output_mask.as_ref(),
                |status, bundle| api::batch_create_federated_bundle_response::Result {
                    status,
                    bundle,
                },
            )
            .await;
        Ok(Response::new(api::BatchCreateFederatedBundleResponse {
            results,
        }))
    }

    async fn batch_update_federated_bundle(
        &self,
        request: Request<api::BatchUpdateFederatedBundleRequest>,
    ) -> Result<Response<api::BatchUpdateFederatedBundleResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let results = self
            .set_each(
                req.bundle,
                false,
                true,
                req.input_mask.as_ref(),
                req.output_mask.as_ref(),
                |status, bundle| api::batch_update_federated_bundle_response::Result {
                    status,
                    bundle,
                },
            )
            .await;
        Ok(Response::new(api::BatchUpdateFederatedBundleResponse {
            results,
        }))
    }

    async fn batch_set_federated_bundle(
        &self,
        request: Request<api::BatchSetFederatedBundleRequest>,
    ) -> Result<Response<api::BatchSetFederatedBundleResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let results = self
            .set_each(
                req.bundle,
                false,
                false,
                None,
                req.output_mask.as_ref(),
                |status, bundle| api::batch_set_federated_bundle_response::Result {
                    status,
                    bundle,
                },
            )
            .await;
        Ok(Response::new(api::BatchSetFederatedBundleResponse {
            results,
        }))
    }

    async fn batch_delete_federated_bundle(
        &self,
        request: Request<api::BatchDeleteFederatedBundleRequest>,
    ) -> Result<Response<api::BatchDeleteFederatedBundleResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let mut results = Vec::new();
        for td in req.trust_domains {
            let outcome = async {
                // SPIRE's messages (pkg/server/api/bundle/v1).
                let parsed = TrustDomain::parse(&td).map_err(|e| {
                    Status::invalid_argument(format!("trust domain argument is not valid: {e}"))
                })?;
                if parsed == self.state.config.trust_domain {
                    return Err(Status::invalid_argument(
                        "removing the bundle for the server trust domain is not allowed",
                    ));
                }
                // RESTRICT (the default) refuses while entries federate with it; DELETE deletes
                // those entries; DISSOCIATE removes the trust domain from them.
                let users: Vec<crate::entry::Entry> = self.state.with_index(|ix| {
                    ix.entries()
                        .filter(|e| e.federates_with.contains(&parsed))
                        .map(|e| (**e).clone())
                        .collect()
                });
                match req.mode {
                    _ if users.is_empty() => {}
                    0 => {
                        return Err(Status::failed_precondition(
                            "cannot delete bundle; federated with one or more registration entries",
                        ));
                    }
                    1 => {
                        for e in &users {
                            self.state
                                .delete_entry(&e.id)
                                .await
                                .map_err(|e| Status::internal(e.to_string()))?;
                        }
                    }
                    2 => {
                        for mut e in users {
                            e.federates_with.retain(|td| *td != parsed);
                            self.state
                                .update_entry(e)
                                .await
                                .map_err(|e| Status::internal(e.to_string()))?;
                        }
                    }
                    other => {
                        return Err(Status::invalid_argument(format!(
                            "unsupported delete mode {other}"
                        )));
                    }
                }
                self.state
                    .ds
                    .delete_bundle(parsed.name())
                    .await
                    .map_err(|e| match e {
                        DatastoreError::NotFound(_) => Status::not_found("bundle not found"),
                        other => {
                            let s = ds_status(other);
                            Status::new(
                                s.code(),
                                format!("failed to delete federated bundle: {}", s.message()),
                            )
                        }
                    })?;
                self.state.apply_bundle_removed(parsed.name());
                Ok(parsed)
            }
            .await;
            results.push(api::batch_delete_federated_bundle_response::Result {
                status: Some(match &outcome {
                    Ok(_) => ok_status(),
                    Err(s) => item_status(s),
                }),
                trust_domain: td,
            });
        }
        Ok(Response::new(api::BatchDeleteFederatedBundleResponse {
            results,
        }))
    }
}
