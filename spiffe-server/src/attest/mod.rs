//! Node attestation, server side: a plugin trait (the server verifies what the agent proves)
//! and the attestors: [`JoinTokenAttestor`] (always on) and, with the `k8s-psat` feature,
//! `k8s_psat::K8sPsatAttestor` (projected service account tokens checked with the cluster's
//! TokenReview API).

mod join_token;
#[cfg(feature = "k8s-psat")]
pub mod k8s_psat;

use std::fmt::Debug;

use futures::future::BoxFuture;
use spiffe_core::{Selector, SpiffeId};
use tonic::Status;

use crate::state::ServerState;

pub use join_token::{
    JoinTokenAttestor, JoinTokenError, check_join_token_strength, estimate_entropy_bits,
    generate_join_token, join_token_agent_id,
};
pub use spiffe_core::id::LogId;
pub use spiffe_core::id::log_id::{join_token_fingerprint, join_token_hash, log_id_str};

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
