//! The SPIFFE Workload API (SPIFFE_Workload_API.md, SPIFFE_Workload_Endpoint.md): server,
//! client and sources, with rustls/hyper helpers and a file sink.
//!
//! - [`server`]: the gRPC service an agent serves on its UNIX socket. The agent implements
//!   [`server::IdentityProvider`] (who is calling, what they hold); [`server::WorkloadApiService`]
//!   turns that into the standard's messages, streams and error codes; [`server::serve_uds`]
//!   binds the socket (mode 0777) and serves it with gRPC health.
//! - [`client`]: [`client::WorkloadApiClient`], all five RPCs with typed results, the security
//!   header on every call, the endpoint address of `SPIFFE_ENDPOINT_SOCKET`, and the retry rules
//!   of the standard ([`client::Backoff`], [`client::ClientError::is_retryable`]).
//! - [`source`]: [`X509Source`] and [`JwtSource`], which keep a stream open in the background,
//!   follow rotation, and implement [`spiffe_core::SvidSource`] / [`spiffe_core::BundleSource`]
//!   so that a [`spiffe_core::tls::MtlsConfig`] built once presents the newest SVID.
//! - [`http`]: mTLS for hyper servers (the peer's SPIFFE ID as a request extension) and for
//!   hyper-util's client, and JWT-SVID bearer tokens on both sides.
//! - [`files`]: writes `svid.pem`, `key.pem` (0600) and `bundle.pem` atomically.
//!
//! # Features
//!
//! - `client` (default): [`client`], [`source`] and [`files`]; a workload that only fetches its
//!   SVID needs nothing else, and compiles no gRPC or HTTP server.
//! - `server` (default): [`server`], for agents. Every accepted connection pins its caller's
//!   process (a pidfd, see [`server::CallerInfo`]) and every request must carry the security
//!   header; neither can be turned off, and neither depends on the `:authority` rewriter
//!   ([`server::UdsEndpoint::authority_fix`]), which only makes some clients' requests legible.
//! - `http` (default; implies `client`): [`http`], the hyper and tower helpers.
#![forbid(unsafe_code)]
// The crate documentation links every module; with some features off, some are not there.
#![cfg_attr(
    not(all(feature = "client", feature = "server", feature = "http")),
    allow(rustdoc::broken_intra_doc_links)
)]

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "client")]
pub mod files;
#[cfg(feature = "http")]
pub mod http;
mod security_header;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "client")]
pub mod source;

#[cfg(feature = "client")]
pub use client::{ClientError, Endpoint, WorkloadApiClient, X509Context};
#[cfg(feature = "client")]
pub use source::{JwtSource, SvidPicker, X509Source};

/// The gRPC metadata every Workload API request carries (SPIFFE_Workload_Endpoint.md 3):
/// `workload.spiffe.io: true`.
pub use security_header::{SECURITY_HEADER_KEY, SECURITY_HEADER_VALUE};

/// The environment variable that names the Workload API endpoint (SPIFFE_Workload_Endpoint.md 4).
pub const ENDPOINT_ENV: &str = "SPIFFE_ENDPOINT_SOCKET";
