//! The SPIFFE agent as a library: node attestation (join token), the agent SVID kept on disk
//! and renewed at half-life, the push sync of authorized entries from the server, an X509-SVID
//! per entry minted ahead of need and rotated at half-life with jitter (keys in memory only),
//! the Workload API provider that attests callers by their kernel credentials, and file sinks.
#![forbid(unsafe_code)]

mod agent;
mod backoff;
pub mod cache;
pub mod channel;
pub mod config;
mod manager;
pub mod node;
mod poll;
mod provider;
mod sinks;
pub mod storage;

pub use agent::{RunningAgent, run, start};
pub use config::{AgentConfig, FileSink, TrustBootstrap};

use thiserror::Error;

/// Why the agent could not start or do its work.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AgentError {
    /// No stored identity and nothing to attest with (no join token, no `k8s_psat`).
    #[error(
        "the agent has no stored identity and nothing to attest with: give it a join token \
         (-joinToken) or configure the k8s_psat node attestor"
    )]
    NoJoinToken,
    /// The server evicted the agent and it cannot attest again by itself.
    #[error("the agent was evicted and cannot attest again without a new join token")]
    Evicted,
    /// The server answered with an error.
    #[error("server: {}", .0.message())]
    Server(#[from] tonic::Status),
    /// The server answered something that does not make sense.
    #[error("server protocol: {0}")]
    Protocol(String),
    /// Stored state could not be read or written.
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    /// The Workload API socket could not be served.
    #[error("Workload API socket: {0}")]
    Socket(String),
    /// An internal failure.
    #[error("{0}")]
    Internal(String),
}
