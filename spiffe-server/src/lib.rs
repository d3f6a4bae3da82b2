//! The SPIFFE server as a library: a registration store on SQLite or PostgreSQL, an in-memory
//! index answering "authorized entries of agent X" in time proportional to the answer, node
//! attestation, SPIRE-compatible gRPC APIs, a push stream of entry changes to agents, and
//! event-driven cache coherence between servers sharing one PostgreSQL database.
#![forbid(unsafe_code)]

pub mod api;
pub mod attest;
pub mod client;
pub mod config;
pub mod config_file;
pub mod convert;
pub mod datastore;
pub mod entry;
pub mod federation;
mod health;
pub mod index;
pub mod registry;
pub mod server;
pub mod state;

pub use config::ServerConfig;
pub use server::{RunningServer, ServerError, run, start};
