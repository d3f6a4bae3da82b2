//! The command line: SPIRE's commands and flags, parsed with clap after SPIRE's single-dash
//! flags are rewritten ([`argv`]), and run on a tokio runtime. Errors print as one line,
//! `Error: <what is wrong>`, on stderr, with exit code 1.

mod agent;
mod bundle;
mod client;
mod entry;
mod federation;
mod flags;
mod health;
mod mint;
mod pbjson;
mod run;
mod token;

#[cfg(feature = "fuzzing")]
pub(crate) use run::fuzz_config_file;

pub(crate) use spiffe_cli::{argv, gotime, output, usage};

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// `spiffe-server`.
#[derive(Debug, Parser)]
#[command(
    name = "spiffe-server",
    version,
    about = "The SPIFFE server: run it, and administer it over its admin socket",
    args_override_self = true,
    propagate_version = true,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server
    #[command(after_help = run::RUN_AFTER_HELP)]
    Run(run::RunArgs),
    /// Registration entries: create, update, show, delete, count
    #[command(subcommand)]
    Entry(entry::EntryCommand),
    /// Attested agents: list, show, evict, ban, count
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    /// Trust bundles: show, list, set, delete, count
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Federation relationships: create, list, show, update, delete, refresh
    #[command(subcommand)]
    Federation(federation::FederationCommand),
    /// Join tokens: generate
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Checks that the server is up and serving
    Healthcheck(health::HealthArgs),
    /// X509-SVIDs: mint
    #[command(subcommand)]
    X509(mint::X509Command),
    /// JWT-SVIDs: mint
    #[command(subcommand)]
    Jwt(mint::JwtCommand),
}

/// Parses the command line. On failure (or `--help`), the message is printed and the exit
/// code returned.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, ExitCode> {
    let args: Vec<OsString> = args.into_iter().collect();
    let cmd = usage::prepare(Cli::command());
    let normalized = argv::normalize(args.clone(), &argv::value_flags(&cmd));
    cmd.clone()
        .try_get_matches_from(normalized)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| usage::report(&e, &args, &cmd, "Error: "))
}

/// Runs the command; prints `Error: ...` and returns 1 when it fails.
pub(crate) fn dispatch(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::err(&format!("Error: starting the async runtime: {e}\n"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(a) => run::run(a).await,
            Command::Entry(c) => entry::run(c).await,
            Command::Agent(c) => agent::run(c).await,
            Command::Bundle(c) => bundle::run(c).await,
            Command::Federation(c) => federation::run(c).await,
            Command::Token(c) => token::run(c).await,
            Command::Healthcheck(a) => health::run(a).await,
            Command::X509(c) => mint::run_x509(c).await,
            Command::Jwt(c) => mint::run_jwt(c).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}").replace('\n', " ");
            output::err(&format!("Error: {line}\n"));
            ExitCode::FAILURE
        }
    }
}
