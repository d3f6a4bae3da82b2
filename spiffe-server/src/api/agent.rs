//! `spire.api.server.agent.v1.Agent`: attestation, renewal, and agent administration.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use spiffe_ca::X509SvidParams;
use spiffe_core::x509::CertificateInfo;
use spiffe_core::{Selector, SpiffeId};
use spiffe_proto::spire::api::server::agent::v1 as api;
use spiffe_proto::spire::api::types as pb;
use tonic::{Request, Response, Status, Streaming};
use tracing::info;

use super::expires_before::parse_expires_before;
use super::filters::{filter_from_requests, selector_filter};
use super::ratelimit::RateLimiter;
use super::svid::{ca_status, x509_svid_pb};
use super::{TlsPeer, ds_status, require_admin, require_agent};
use crate::attest::{
    LogId, NodeAttestor, check_join_token_strength, generate_join_token, join_token_fingerprint,
};
use crate::convert::{agent_to_pb, id_from_pb, serial_to_decimal};
use crate::datastore::{AttestedNode, now_unix};
use crate::entry::{Entry, is_agent_id};
use crate::state::ServerState;

/// The agent service.
#[derive(Debug, Clone)]
pub struct AgentApi {
    state: Arc<ServerState>,
    attestors: Arc<HashMap<String, Arc<dyn NodeAttestor>>>,
    /// Attestation attempts per source address.
    limiter: Arc<RateLimiter>,
}

impl AgentApi {
    /// The service with the given node attestors.
    pub fn new(state: Arc<ServerState>, attestors: Vec<Arc<dyn NodeAttestor>>) -> Self {
        let attestors = attestors
            .into_iter()
            .map(|a| (a.kind().to_owned(), a))
            .collect();
        let limits = &state.config.limits;
        let limiter = Arc::new(RateLimiter::new(
            limits.attestation_rate_limit,
            limits.attestation_burst,
        ));
        AgentApi {
            state,
            attestors: Arc::new(attestors),
            limiter,
        }
    }

    /// Admits one attestation attempt from the caller's address, or answers
    /// `RESOURCE_EXHAUSTED` with a retry hint (in the message, and in `grpc-retry-pushback-ms`,
    /// gRPC's standard pushback metadata). Callers on the admin socket are not limited.
    fn admit_attempt(&self, peer: Option<&TlsPeer>) -> Result<(), Status> {
        let Some(ip) = peer.and_then(|p| p.remote).map(|a| a.ip()) else {
            return Ok(());
        };
        self.limiter
            .check(ip)
            .map_err(|wait| too_many_attempts(ip, wait))
    }

    /// The next message of an attestation stream, within `attestation_message_timeout`.
    async fn next_message(
        &self,
        stream: &mut Streaming<api::AttestAgentRequest>,
        what: &'static str,
    ) -> Result<api::AttestAgentRequest, Status> {
        let wait = self.state.config.limits.attestation_message_timeout;
        match tokio::time::timeout(wait, stream.next()).await {
            Ok(Some(message)) => message,
            Ok(None) => Err(Status::invalid_argument(format!("missing {what}"))),
            Err(_) => Err(Status::deadline_exceeded(format!(
                "no {what} within {}s (attestation_message_timeout)",
                wait.as_secs_f64()
            ))),
        }
    }

    fn agent_id(&self, field: &'static str, id: Option<&pb::Spiffeid>) -> Result<SpiffeId, Status> {
        let id = id_from_pb(field, id)
            .map_err(|e| Status::invalid_argument(format!("invalid agent ID: {e}")))?;
        if !id.is_member_of(&self.state.config.trust_domain) || !is_agent_id(&id) {
            return Err(Status::invalid_argument(format!(
                "invalid agent ID: \"{id}\" is not an agent in trust domain \"{}\"; path is not in the agent namespace",
                self.state.config.trust_domain
            )));
        }
        Ok(id)
    }

    /// Mints an agent SVID from a CSR.
    fn mint_agent_svid(
        &self,
        agent_id: &SpiffeId,
        csr: &[u8],
    ) -> Result<(pb::X509svid, String, i64), Status> {
        let chain = self
            .state
            .ca
            .mint_x509_svid_from_csr(
                csr,
                &X509SvidParams {
                    spiffe_id: agent_id.clone(),
                    ttl: self.state.config.agent_svid_ttl(),
                    dns_names: Vec::new(),
                },
            )
            .map_err(ca_status)?;
        let info = chain
            .first()
            .and_then(|c| CertificateInfo::parse(c).ok())
            .ok_or_else(|| Status::internal("minted agent SVID does not parse"))?;
        Ok((
            x509_svid_pb(agent_id, &chain, ""),
            serial_to_decimal(&info.serial),
            info.not_after,
        ))
    }
}

/// The agent filters of List/CountAgents.
struct Filter {
    attestation_type: String,
    selectors: Option<(BTreeSet<Selector>, super::filters::Match)>,
    banned: Option<bool>,
    can_reattest: Option<bool>,
    expires_before: Option<i64>,
}

impl Filter {
    fn parse(
        attestation_type: String,
        selector_match: Option<&pb::SelectorMatch>,
        banned: Option<bool>,
        can_reattest: Option<bool>,
        expires_before: &str,
    ) -> Result<Self, Status> {
        let expires_before = if expires_before.is_empty() {
            None
        } else {
            Some(
                parse_expires_before(expires_before)
                    .map_err(|e| Status::invalid_argument(e.to_string()))?,
            )
        };
        Ok(Filter {
            attestation_type,
            selectors: selector_match.map(selector_filter).transpose()?,
            banned,
            can_reattest,
            expires_before,
        })
    }

    fn keep(&self, n: &AttestedNode) -> bool {
        if !self.attestation_type.is_empty() && self.attestation_type != n.attestation_type {
            return false;
        }
        if self.banned.is_some_and(|b| b != n.banned)
            || self.can_reattest.is_some_and(|c| c != n.can_reattest)
            || self.expires_before.is_some_and(|t| n.expires_at >= t)
        {
            return false;
        }
        if let Some((set, m)) = &self.selectors {
            let have: BTreeSet<_> = n.selectors.iter().cloned().collect();
            return m.matches(&have, set);
        }
        true
    }
}

filter_from_requests!(
    Filter,
    |f| Filter::parse(
        f.by_attestation_type,
        f.by_selector_match.as_ref(),
        f.by_banned,
        f.by_can_reattest,
        &f.by_expires_before,
    ),
    api::count_agents_request::Filter,
    api::list_agents_request::Filter,
);

type AttestStream = futures::stream::BoxStream<'static, Result<api::AttestAgentResponse, Status>>;

/// `RESOURCE_EXHAUSTED` for an address over its attestation rate, with when to try again.
fn too_many_attempts(ip: std::net::IpAddr, wait: Duration) -> Status {
    let millis = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut status = Status::resource_exhausted(format!(
        "too many attestation attempts from {ip} (attestation_rate_limit); retry in {millis} ms"
    ));
    if let Ok(v) = millis.to_string().parse() {
        status.metadata_mut().insert("grpc-retry-pushback-ms", v);
    }
    status
}

#[tonic::async_trait]
impl api::agent_server::Agent for AgentApi {
    async fn count_agents(
        &self,
        request: Request<api::CountAgentsRequest>,
    ) -> Result<Response<api::CountAgentsResponse>, Status> {
        require_admin(&self.state, &request)?;
        let f = request.into_inner().filter.unwrap_or_default();
        let filter = Filter::try_from(f)?;
        let count = self
            .state
            .with_index(|ix| ix.nodes().filter(|n| filter.keep(n)).count());
        Ok(Response::new(api::CountAgentsResponse {
            count: i32::try_from(count).unwrap_or(i32::MAX),
        }))
    }

    async fn list_agents(
        &self,
        request: Request<api::ListAgentsRequest>,
    ) -> Result<Response<api::ListAgentsResponse>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        let f = req.filter.unwrap_or_default();
        let filter = Filter::try_from(f)?;
        let mut nodes: Vec<Arc<AttestedNode>> = self.state.with_index(|ix| {
            ix.nodes()
                .filter(|n| {
                    filter.keep(n)
                        && (req.page_token.is_empty()
                            || n.spiffe_id.as_str() > req.page_token.as_str())
                })
                .cloned()
                .collect()
        });
        nodes.sort_by(|a, b| a.spiffe_id.cmp(&b.spiffe_id));
        let mut next_page_token = String::new();
        if req.page_size > 0 && nodes.len() > req.page_size as usize {
            nodes.truncate(req.page_size as usize);
            next_page_token = nodes
                .last()
                .map(|n| n.spiffe_id.to_string())
                .unwrap_or_default();
        }
        Ok(Response::new(api::ListAgentsResponse {
            agents: nodes.iter().map(|n| agent_to_pb(n)).collect(),
            next_page_token,
        }))
    }

    async fn get_agent(
        &self,
        request: Request<api::GetAgentRequest>,
    ) -> Result<Response<pb::Agent>, Status> {
        require_admin(&self.state, &request)?;
        let id = self.agent_id("id", request.get_ref().id.as_ref())?;
        let node = self
            .state
            .with_index(|ix| ix.node(&id).cloned())
            .ok_or_else(|| Status::not_found("agent not found"))?;
        Ok(Response::new(agent_to_pb(&node)))
    }

    async fn delete_agent(
        &self,
        request: Request<api::DeleteAgentRequest>,
    ) -> Result<Response<()>, Status> {
        require_admin(&self.state, &request)?;
        let id = self.agent_id("id", request.get_ref().id.as_ref())?;
        self.state.ds.delete_node(&id).await.map_err(ds_status)?;
        self.state.apply_node_removed(&id);
        info!(agent_id = %LogId(&id), "agent evicted");
        Ok(Response::new(()))
    }

    async fn ban_agent(
        &self,
        request: Request<api::BanAgentRequest>,
    ) -> Result<Response<()>, Status> {
        require_admin(&self.state, &request)?;
        let id = self.agent_id("id", request.get_ref().id.as_ref())?;
        self.state.ds.ban_node(&id).await.map_err(ds_status)?;
        if let Some(n) = self.state.ds.fetch_node(&id).await.map_err(ds_status)? {
            self.state.apply_node(n);
        }
        info!(agent_id = %LogId(&id), "agent banned");
        Ok(Response::new(()))
    }

    type AttestAgentStream = AttestStream;

    async fn attest_agent(
        &self,
        request: Request<Streaming<api::AttestAgentRequest>>,
    ) -> Result<Response<Self::AttestAgentStream>, Status> {
        self.admit_attempt(request.extensions().get::<TlsPeer>())?;
        let mut stream = request.into_inner();
        // A stream whose first message never comes must not be held for ever (nor any later
        // challenge response: each goes through `next_message` too).
        let first = self
            .next_message(&mut stream, "attestation parameters")
            .await?;
        let Some(api::attest_agent_request::Step::Params(params)) = first.step else {
            return Err(Status::invalid_argument(
                "the first message must carry parameters",
            ));
        };
        let data = params
            .data
            .ok_or_else(|| Status::invalid_argument("missing attestation data"))?;
        let csr = params
            .params
            .map(|p| p.csr)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Status::invalid_argument("missing CSR"))?;
        let attestor = self.attestors.get(&data.r#type).ok_or_else(|| {
            Status::failed_precondition(format!(
                "could not find node attestor type \"{}\"",
                data.r#type
            ))
        })?;
        let attestation = attestor.attest(&self.state, &data.payload).await?;
        let agent_id = attestation.agent_id.clone();
        if let Some(existing) = self.state.with_index(|ix| ix.node(&agent_id).cloned())
            && existing.banned
        {
            return Err(Status::permission_denied(
                "failed to attest: agent is banned",
            ));
        }
        let (svid, serial, expires_at) = self.mint_agent_svid(&agent_id, &csr)?;
        let node = AttestedNode {
            spiffe_id: agent_id.clone(),
            attestation_type: data.r#type.clone(),
            serial_number: serial,
            expires_at,
            new_serial_number: String::new(),
            new_expires_at: 0,
            can_reattest: attestation.can_reattest,
            banned: false,
            selectors: attestation.selectors.clone(),
            agent_version: String::new(),
            created_at: now_unix(),
        };
        self.state.ds.put_node(&node).await.map_err(|e| match e {
            crate::datastore::DatastoreError::AlreadyExists(m) => Status::permission_denied(m),
            other => ds_status(other),
        })?;
        self.state.apply_node(node);
        info!(agent_id = %LogId(&agent_id), attestation_type = %data.r#type, "agent attested");
        let response = api::AttestAgentResponse {
            step: Some(api::attest_agent_response::Step::Result(
                api::attest_agent_response::Result {
                    svid: Some(svid),
                    reattestable: attestation.can_reattest,
                },
            )),
        };
        Ok(Response::new(Box::pin(futures::stream::once(async {
            Ok(response)
        }))))
    }

    async fn renew_agent(
        &self,
        request: Request<api::RenewAgentRequest>,
    ) -> Result<Response<api::RenewAgentResponse>, Status> {
        let agent_id = require_agent(&self.state, &request)?;
        let presented = request
            .extensions()
            .get::<TlsPeer>()
            .and_then(|p| p.certificates.first().cloned())
            .and_then(|c| CertificateInfo::parse(&c).ok())
            .ok_or_else(|| Status::permission_denied("renewal needs the agent's SVID"))?;
        let csr = request
            .into_inner()
            .params
            .map(|p| p.csr)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Status::invalid_argument("missing CSR"))?;
        let (svid, serial, expires_at) = self.mint_agent_svid(&agent_id, &csr)?;
        self.state
            .ds
            .renew_node_svid(
                &agent_id,
                &serial_to_decimal(&presented.serial),
                presented.not_after,
                &serial,
                expires_at,
            )
            .await
            .map_err(ds_status)?;
        if let Some(n) = self
            .state
            .ds
            .fetch_node(&agent_id)
            .await
            .map_err(ds_status)?
        {
            self.state.apply_node(n);
        }
        info!(agent_id = %LogId(&agent_id), "agent SVID renewed");
        Ok(Response::new(api::RenewAgentResponse { svid: Some(svid) }))
    }

    async fn create_join_token(
        &self,
        request: Request<api::CreateJoinTokenRequest>,
    ) -> Result<Response<pb::JoinToken>, Status> {
        require_admin(&self.state, &request)?;
        let req = request.into_inner();
        if req.ttl < 1 {
            return Err(Status::invalid_argument(
                "ttl is required, you must provide one",
            ));
        }
        let alias = req
            .agent_id
            .as_ref()
            .map(|id| {
                id_from_pb("agent_id", Some(id))
                    .map_err(|e| Status::invalid_argument(format!("invalid agent ID: {e}")))
            })
            .transpose()?;
        let token = if req.token.is_empty() {
            generate_join_token()?
        } else {
            check_join_token_strength(&req.token, self.state.config.allow_weak_join_tokens)?;
            req.token
        };
        let expires_at = now_unix() + i64::from(req.ttl);
        let agent_id = crate::attest::join_token_agent_id(&self.state.config.trust_domain, &token)?;
        if let Some(alias) = alias {
            // The node alias SPIRE creates: the given ID, parented by the agent the token will
            // admit, so entries may name the alias as their parent.
            let selector = Selector::new("spiffe_id", agent_id.to_string())
                .map_err(|e| Status::internal(e.to_string()))?;
            let entry = Entry::new(alias, agent_id.clone(), vec![selector]);
            self.state.create_entry(entry).await.map_err(|e| {
                Status::invalid_argument(format!("failed to create token alias entry: {e}"))
            })?;
        }
        self.state
            .ds
            .create_join_token(&token, expires_at)
            .await
            .map_err(ds_status)?;
        // Never the token, nor the agent ID that holds it: a reader of the log could attest first.
        info!(
            token_sha256 = %join_token_fingerprint(&token),
            agent_id = %LogId(&agent_id),
            ttl = req.ttl,
            "join token created"
        );
        Ok(Response::new(pb::JoinToken {
            value: token,
            expires_at,
        }))
    }

    async fn post_status(
        &self,
        request: Request<api::PostStatusRequest>,
    ) -> Result<Response<api::PostStatusResponse>, Status> {
        let agent = require_agent(&self.state, &request)?;
        let req = request.into_inner();
        tracing::debug!(agent_id = %LogId(&agent), agent_version = %req.agent_version, bundle_serial = req.current_bundle_serial, "agent status");
        Ok(Response::new(api::PostStatusResponse {}))
    }
}
