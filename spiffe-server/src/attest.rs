//! Node attestation, server side: a plugin trait (the server verifies what the agent proves)
//! and the join token attestor.

use std::fmt::Debug;

use futures::future::BoxFuture;
use spiffe_core::{Selector, SpiffeId};
use tonic::Status;

use crate::datastore::now_unix;
use crate::state::ServerState;

/// What a successful node attestation establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAttestation {
    /// The agent's SPIFFE ID.
    pub agent_id: SpiffeId,
    /// Node selectors (for node alias entries).
    pub selectors: Vec<Selector>,
    /// Whether the agent may attest again later with fresh evidence.
    pub can_reattest: bool,
}

/// Verifies the evidence an agent presents (the `type` of `AttestationData` names it).
pub trait NodeAttestor: Send + Sync + Debug {
    /// The attestation type (`join_token`, `k8s_psat`, ...).
    fn kind(&self) -> &str;

    /// Verifies `payload` and returns the agent's identity, or a status naming what failed.
    fn attest<'a>(
        &'a self,
        state: &'a ServerState,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<NodeAttestation, Status>>;
}

/// The join token attestor: single-use tokens that expire; the agent becomes
/// `spiffe://<td>/spire/agent/join_token/<token>`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JoinTokenAttestor;

impl NodeAttestor for JoinTokenAttestor {
    fn kind(&self) -> &str {
        "join_token"
    }

    fn attest<'a>(
        &'a self,
        state: &'a ServerState,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<NodeAttestation, Status>> {
        Box::pin(async move {
            let token = std::str::from_utf8(payload).map_err(|_| {
                Status::invalid_argument("failed to attest: join token is not text")
            })?;
            if token.is_empty() {
                return Err(Status::invalid_argument(
                    "failed to attest: join token is empty",
                ));
            }
            let expires_at = state
                .ds
                .take_join_token(token)
                .await
                .map_err(crate::api::ds_status_pub)?
                .ok_or_else(|| {
                    Status::invalid_argument(
                        "failed to attest: join token does not exist or has already been used",
                    )
                })?;
            if expires_at < now_unix() {
                return Err(Status::invalid_argument(
                    "failed to attest: join token expired",
                ));
            }
            let agent_id = join_token_agent_id(&state.config.trust_domain, token)?;
            Ok(NodeAttestation {
                selectors: Vec::new(),
                agent_id,
                can_reattest: false,
            })
        })
    }
}

/// `spiffe://<td>/spire/agent/join_token/<token>`.
pub fn join_token_agent_id(td: &spiffe_core::TrustDomain, token: &str) -> Result<SpiffeId, Status> {
    SpiffeId::from_segments(td, &["spire", "agent", "join_token", token])
        .map_err(|e| Status::invalid_argument(format!("failed to attest: bad join token: {e}")))
}
