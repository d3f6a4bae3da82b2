//! The Workload API server: the agent provides identities ([`IdentityProvider`]), this module
//! speaks the standard ([`WorkloadApiService`]) on a UNIX socket ([`serve_uds`]).
//!
//! ```no_run
//! # use spiffe_workload::server::{serve_uds, IdentityProvider};
//! # async fn run(provider: impl IdentityProvider) -> Result<(), Box<dyn std::error::Error>> {
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! serve_uds("/run/spiffe/agent.sock", provider, shutdown).await?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod authority;
#[cfg(not(feature = "fuzzing"))]
mod authority;
mod peer;
mod provider;
mod render;
mod service;
mod uds;

pub use provider::{CallerInfo, IdentityProvider, ProviderError, WorkloadState};
pub use service::{MAX_AUDIENCE_LEN, MAX_AUDIENCES, ResponseStream, WorkloadApiService};
pub use uds::{ConnectionLimits, SOCKET_DIR_MODE, SOCKET_MODE, ServeError, UdsEndpoint, serve_uds};
