//! `spire.api.server.svid.v1.SVID`.

use std::sync::Arc;
use std::time::Duration;

use spiffe_ca::{CaError, JwtSvidParams, X509SvidParams};
use spiffe_core::SpiffeId;
use spiffe_core::x509::{CertificateInfo, CertificateRequest};
use spiffe_proto::spire::api::server::svid::v1 as api;
use spiffe_proto::spire::api::types as pb;
use tonic::{Request, Response, Status};
use tracing::info;

use super::{item_status, ok_status, require_admin, require_agent};
use crate::convert::{id_from_pb, id_to_pb};
use crate::state::ServerState;

/// The SVID service.
#[derive(Debug, Clone)]
pub struct SvidApi {
    state: Arc<ServerState>,
}

impl SvidApi {
    /// The service over the server's state.
    pub fn new(state: Arc<ServerState>) -> Self {
        SvidApi { state }
    }
}

/// Maps an authority error to a gRPC status: a request the authority refuses is
/// `INVALID_ARGUMENT`; anything else (no active authority, a key or certificate failure, the
/// journal) is the server's problem, `INTERNAL`. The message is the error's own text. The
/// rotation errors ([`CaError::Rotation`]) come only from the manual rotation steps, which no
/// API here calls.
pub(crate) fn ca_status(e: CaError) -> Status {
    match e {
        CaError::Csr(_)
        | CaError::KeyTypeNotAllowed { .. }
        | CaError::RsaKeySize { .. }
        | CaError::ForeignTrustDomain { .. }
        | CaError::RootId { .. }
        | CaError::ZeroTtl
        | CaError::TtlBeyondAuthority { .. }
        | CaError::NoAudience
        | CaError::DnsName { .. } => Status::invalid_argument(e.to_string()),
        other => Status::internal(other.to_string()),
    }
}

fn ttl(requested: i32, default: Duration) -> Result<Duration, Status> {
    match requested {
        0 => Ok(default),
        t if t < 0 => Err(Status::invalid_argument(format!(
            "ttl must not be negative, got {t}"
        ))),
        t => Ok(Duration::from_secs(u64::from(t.unsigned_abs()))),
    }
}

/// An X509-SVID message from a chain.
pub(crate) fn x509_svid_pb(
    id: &SpiffeId,
    chain: &[rustls_pki_types::CertificateDer<'static>],
    hint: &str,
) -> pb::X509svid {
    let expires_at = chain
        .first()
        .and_then(|c| CertificateInfo::parse(c).ok())
        .map_or(0, |i| i.not_after);
    pb::X509svid {
        cert_chain: chain.iter().map(|c| c.as_ref().to_vec()).collect(),
        id: Some(id_to_pb(id)),
        expires_at,
        hint: hint.to_owned(),
    }
}

fn jwt_svid_pb(id: &SpiffeId, token: String, hint: &str) -> Result<pb::Jwtsvid, Status> {
    let parsed = spiffe_core::JwtSvid::parse_insecure(&token)
        .map_err(|e| Status::internal(format!("minted JWT-SVID does not parse: {e}")))?;
    Ok(pb::Jwtsvid {
        expires_at: parsed.expiry_unix(),
        issued_at: parsed.issued_at_unix().unwrap_or(0),
        token,
        id: Some(id_to_pb(id)),
        hint: hint.to_owned(),
    })
}

#[tonic::async_trait]
impl api::svid_server::Svid for SvidApi {
    async fn mint_x509svid(
        &self,
        request: Request<api::MintX509svidRequest>,
    ) -> Result<Response<api::MintX509svidResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let csr = CertificateRequest::parse_and_verify(&req.csr)
            .map_err(|e| Status::invalid_argument(format!("malformed CSR: {e}")))?;
        let uri = match csr.requested_uris() {
            [one] => one,
            [] => {
                return Err(Status::invalid_argument(
                    "CSR must have a URI SAN with the SPIFFE ID",
                ));
            }
            _ => {
                return Err(Status::invalid_argument(
                    "CSR must have exactly one URI SAN",
                ));
            }
        };
        let id = SpiffeId::parse(uri).map_err(|e| {
            Status::invalid_argument(format!("CSR URI SAN is not a SPIFFE ID: {e}"))
        })?;
        let params = X509SvidParams {
            spiffe_id: id.clone(),
            ttl: ttl(req.ttl, self.state.config.default_x509_svid_ttl)?,
            dns_names: csr.requested_dns_names().to_vec(),
        };
        let chain = self
            .state
            .ca
            .mint_x509_svid(csr.public_key(), &params)
            .map_err(ca_status)?;
        info!(spiffe_id = %id, "X509-SVID minted by an administrator");
        Ok(Response::new(api::MintX509svidResponse {
            svid: Some(x509_svid_pb(&id, &chain, "")),
        }))
    }

    async fn mint_jwtsvid(
        &self,
        request: Request<api::MintJwtsvidRequest>,
    ) -> Result<Response<api::MintJwtsvidResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let id = id_from_pb("id", req.id.as_ref())
            .map_err(|e| Status::invalid_argument(format!("invalid SPIFFE ID: {e}")))?;
        if req.audience.is_empty() {
            return Err(Status::invalid_argument(
                "at least one audience is required",
            ));
        }
        let token = self
            .state
            .ca
            .mint_jwt_svid(&JwtSvidParams {
                spiffe_id: id.clone(),
                audience: req.audience,
                ttl: ttl(req.ttl, self.state.config.default_jwt_svid_ttl)?,
                issuer: self.state.config.jwt_issuer.clone(),
                with_jti: false,
            })
            .map_err(ca_status)?;
        Ok(Response::new(api::MintJwtsvidResponse {
            svid: Some(jwt_svid_pb(&id, token, "")?),
        }))
    }

    async fn mint_witsvid(
        &self,
        _request: Request<api::MintWitsvidRequest>,
    ) -> Result<Response<api::MintWitsvidResponse>, Status> {
        Err(Status::unimplemented("WIT-SVIDs are not supported yet"))
    }

    async fn batch_new_x509svid(
        &self,
        request: Request<api::BatchNewX509svidRequest>,
    ) -> Result<Response<api::BatchNewX509svidResponse>, Status> {
        let agent = require_agent(&self.state, &request)?;
        let authorized = self.state.authorized_entries(&agent);
        let mut results = Vec::new();
        for p in request.into_inner().params {
            let outcome = (|| {
                let entry = authorized
                    .iter()
                    .find(|e| e.id == p.entry_id)
                    .ok_or_else(|| {
                        Status::not_found(format!(
                            "entry {} is not authorized for agent {agent}",
                            p.entry_id
                        ))
                    })?;
                let params = X509SvidParams {
                    spiffe_id: entry.spiffe_id.clone(),
                    ttl: ttl(entry.x509_svid_ttl, self.state.config.default_x509_svid_ttl)?,
                    dns_names: entry.dns_names.clone(),
                };
                let chain = self
                    .state
                    .ca
                    .mint_x509_svid_from_csr(&p.csr, &params)
                    .map_err(ca_status)?;
                Ok::<_, Status>(x509_svid_pb(&entry.spiffe_id, &chain, &entry.hint))
            })();
            results.push(match outcome {
                Ok(svid) => api::batch_new_x509svid_response::Result {
                    status: Some(ok_status()),
                    svid: Some(svid),
                },
                Err(s) => api::batch_new_x509svid_response::Result {
                    status: Some(item_status(&s)),
                    svid: None,
                },
            });
        }
        Ok(Response::new(api::BatchNewX509svidResponse { results }))
    }

    async fn new_jwtsvid(
        &self,
        request: Request<api::NewJwtsvidRequest>,
    ) -> Result<Response<api::NewJwtsvidResponse>, Status> {
        let agent = require_agent(&self.state, &request)?;
        let req = request.into_inner();
        if req.audience.is_empty() {
            return Err(Status::invalid_argument(
                "at least one audience is required",
            ));
        }
        let entry = self
            .state
            .authorized_entries(&agent)
            .into_iter()
            .find(|e| e.id == req.entry_id)
            .ok_or_else(|| {
                Status::not_found(format!(
                    "entry {} is not authorized for agent {agent}",
                    req.entry_id
                ))
            })?;
        let token = self
            .state
            .ca
            .mint_jwt_svid(&JwtSvidParams {
                spiffe_id: entry.spiffe_id.clone(),
                audience: req.audience,
                ttl: ttl(entry.jwt_svid_ttl, self.state.config.default_jwt_svid_ttl)?,
                issuer: self.state.config.jwt_issuer.clone(),
                with_jti: entry.jwt_svid_include_jti,
            })
            .map_err(ca_status)?;
        Ok(Response::new(api::NewJwtsvidResponse {
            svid: Some(jwt_svid_pb(&entry.spiffe_id, token, &entry.hint)?),
        }))
    }

    async fn batch_new_witsvid(
        &self,
        _request: Request<api::BatchNewWitsvidRequest>,
    ) -> Result<Response<api::BatchNewWitsvidResponse>, Status> {
        Err(Status::unimplemented("WIT-SVIDs are not supported yet"))
    }

    async fn new_downstream_x509ca(
        &self,
        _request: Request<api::NewDownstreamX509caRequest>,
    ) -> Result<Response<api::NewDownstreamX509caResponse>, Status> {
        Err(Status::unimplemented(
            "downstream (nested) servers are not supported yet",
        ))
    }
}

#[cfg(test)]
mod tests {
    use spiffe_ca::{AuthorityKind, CaError, CryptoError};
    use tonic::Code;

    use super::ca_status;

    #[test]
    fn refused_requests_are_invalid_arguments_and_the_rest_internal() {
        let refused = ca_status(CaError::ZeroTtl);
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(refused.message(), CaError::ZeroTtl.to_string());
        for e in [
            CaError::NoActiveAuthority {
                kind: AuthorityKind::X509,
            },
            CaError::Crypto(CryptoError::Random {
                purpose: "serial number",
            }),
        ] {
            let text = e.to_string();
            let status = ca_status(e);
            assert_eq!(status.code(), Code::Internal, "{text}");
            assert_eq!(status.message(), text);
        }
    }
}
