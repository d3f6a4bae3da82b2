//! `spiffe-oidc-discovery-provider`: serves the OIDC discovery document
//! (`/.well-known/openid-configuration`) and the JWK Set (`/keys`) of a trust domain's JWT
//! authorities, so that any OIDC/JWKS client can validate JWT-SVIDs. Configured as SPIRE's
//! `oidc-discovery-provider` is (its keys, in TOML), with the keys taken from the server's
//! bundle API, an agent's Workload API, or a bundle file, followed through rotation.
//! The binary's `main` is [`main`].
#![forbid(unsafe_code)]

mod cli;
mod config;
mod domain;
mod handler;
mod jwks;
mod serve;
mod source;
mod tls;
mod url;

use std::process::ExitCode;

/// Runs the command line of the process (the `spiffe-oidc-discovery-provider` binary).
pub fn main() -> ExitCode {
    match cli::parse(std::env::args_os()) {
        Ok(args) => cli::dispatch(args),
        Err(exit) => exit,
    }
}
