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
    Protocol(#[from] ProtocolError),
    /// Stored state could not be read or written.
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    /// The node attestation data could not be gathered.
    #[error(transparent)]
    NodeEvidence(#[from] node::NodeEvidenceError),
    /// A key and certificate signing request could not be made.
    #[error(transparent)]
    Csr(#[from] storage::CsrError),
    /// The TLS configuration for the server could not be built.
    #[error("TLS configuration for the server: {0}")]
    Tls(#[from] rustls::Error),
    /// The channel to the server could not be set up (the address makes no valid URI).
    #[error("channel to the server: {0}")]
    Channel(#[from] tonic::transport::Error),
    /// The `k8s` workload attestor refused its configuration.
    #[error("k8s workload attestor: {0}")]
    K8sWorkloadAttestor(#[from] spiffe_attest::k8s::K8sError),
    /// The Workload API socket could not be bound.
    #[error(transparent)]
    Socket(#[from] spiffe_workload::server::ServeError),
}

/// What in a server's answer did not make sense.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A pushed entry does not convert.
    #[error("entry {entry_id:?}: {source}")]
    Entry {
        /// The entry's ID.
        entry_id: String,
        /// What is wrong with it.
        #[source]
        source: spiffe_proto::convert::ConvertError,
    },
    /// A bundle (`what`: the trust domain's, a federated one, the server's at bootstrap) does
    /// not convert.
    #[error("{what}: {source}")]
    Bundle {
        /// Which bundle.
        what: &'static str,
        /// What is wrong with it.
        #[source]
        source: spiffe_proto::convert::ConvertError,
    },
    /// A response that must carry an SVID carries none.
    #[error("{response} without an SVID")]
    MissingSvid {
        /// The response.
        response: &'static str,
    },
    /// The attestation stream ended before a result.
    #[error("attestation ended without a result")]
    NoAttestationResult,
    /// The server sent a challenge for a method that has none.
    #[error("{method} attestation does not answer with a challenge")]
    UnexpectedChallenge {
        /// The attestation method.
        method: String,
    },
    /// An SVID the server signed is not a valid X509-SVID for the key its CSR was made with.
    #[error("SVID: {0}")]
    Svid(#[from] spiffe_core::X509Error),
    /// The agent SVID does not chain to the bundle the agent trusts.
    #[error("agent SVID does not verify: {0}")]
    AgentSvidUnverified(#[from] spiffe_core::X509VerifyError),
}
