//! [`JoinTokenAttestor`]: single-use, expiring join tokens.

use futures::future::BoxFuture;
use spiffe_core::SpiffeId;
use tonic::Status;

use super::{NodeAttestation, NodeAttestor};
use crate::datastore::now_unix;
use crate::state::ServerState;

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
