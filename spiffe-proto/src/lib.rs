//! Generated gRPC types and service stubs.
//!
//! - [`workload`]: the SPIFFE Workload API (`SpiffeWorkloadAPI`, no proto package, so the
//!   routes are `/SpiffeWorkloadAPI/<Method>`).
//! - [`spire`]: SPIRE's server API (`spire.api.server.{entry,agent,svid,bundle}.v1` and
//!   `spire.api.types`), with the same messages and field numbers as SPIRE's.
//! - [`spiffers`]: this project's own push stream of authorized entries to agents.
//!
//! - [`convert`]: conversions between SPIRE's API types and spiffe-core's.
//!
//! Nothing here connects anywhere: the agent's TLS channel to the server is in `spiffe-agent`.
//!
//! The `.proto` files are in the repository's `proto/` directory; see its README for the
//! upstream revisions they are wire-compatible with.
#![allow(unreachable_pub)]

pub mod convert;

#[allow(missing_docs, clippy::all, clippy::pedantic)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/protos.rs"));
}

/// The SPIFFE Workload API.
pub mod workload {
    pub use super::generated::*;
}

/// SPIRE's server API.
pub use generated::spire;

/// This project's extension: the push of authorized entries to agents.
pub use generated::spiffers;
