//! What the `spiffe-server`, `spiffe-agent` and `spiffe-controller` command lines share: SPIRE's
//! single-dash flags for clap ([`argv`]), one-line usage errors ([`usage`]), output written as
//! SPIRE's Go code writes it ([`output`], [`gotime`]). Go durations are
//! [`spiffe_core::duration`]'s.
//!
//! Support for this workspace's binaries, not a library for services (hence `anyhow` in
//! [`output::out`]).

pub mod argv;
pub mod gotime;
pub mod output;
pub mod usage;
