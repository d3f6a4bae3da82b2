//! `api`: the Workload API from the command line, as SPIRE's `spire-agent api` has it:
//! `fetch [x509]`, `fetch jwt`, `validate jwt`, `watch`. Errors print raw (no `Error: `).

mod jwks;
mod jwt;
mod print;
mod validate;
mod view;
mod watch;
mod write;
mod x509;

use anyhow::Result;
use clap::{Args, Subcommand};

/// `api` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ApiCommand {
    /// Fetches SVIDs from the Workload API: x509 (the default) or jwt
    Fetch(FetchArgs),
    /// Validates an SVID: jwt
    #[command(subcommand)]
    Validate(ValidateCommand),
    /// Attaches to the Workload API and prints updates as they're received
    Watch(watch::WatchArgs),
}

/// `api fetch`: `x509` when no kind is named, as in SPIRE.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct FetchArgs {
    #[command(subcommand)]
    kind: Option<FetchKind>,
    #[command(flatten)]
    x509: x509::X509Args,
}

/// What `api fetch` fetches.
#[derive(Debug, Subcommand)]
enum FetchKind {
    /// Fetches X509 SVIDs from the Workload API
    X509(x509::X509Args),
    /// Fetches a JWT SVID from the Workload API
    Jwt(jwt::JwtArgs),
}

/// `api validate` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ValidateCommand {
    /// Validates a JWT SVID
    Jwt(validate::ValidateJwtArgs),
}

/// Runs an `api` command.
pub(crate) async fn run(command: ApiCommand) -> Result<()> {
    match command {
        ApiCommand::Fetch(f) => match f.kind {
            None => x509::run(f.x509).await,
            Some(FetchKind::X509(a)) => x509::run(a).await,
            Some(FetchKind::Jwt(a)) => jwt::run(a).await,
        },
        ApiCommand::Validate(ValidateCommand::Jwt(a)) => validate::run(a).await,
        ApiCommand::Watch(a) => watch::run(a).await,
    }
}
