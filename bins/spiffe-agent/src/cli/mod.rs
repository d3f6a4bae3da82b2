//! The command line: SPIRE's agent commands and flags, parsed with clap after SPIRE's
//! single-dash flags are rewritten ([`argv`]), and run on a tokio runtime.
//!
//! Errors print as one line on stderr with exit code 1: `Error: <what is wrong>` for `run`,
//! the bare message for `api` and `healthcheck` (as SPIRE's agent prints them).

mod api;
mod client;
mod flags;
mod health;
mod run;

#[cfg(feature = "fuzzing")]
pub(crate) use run::fuzz_config_file;
pub(crate) use spiffe_cli::{argv, gotime, output, usage};

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// `spiffe-agent`.
#[derive(Debug, Parser)]
#[command(
    name = "spiffe-agent",
    version,
    about = "The SPIFFE agent: run it, and use its Workload API",
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
    /// Runs the agent
    Run(run::RunArgs),
    /// Workload API commands: fetch x509, fetch jwt, validate jwt, watch
    #[command(subcommand)]
    Api(api::ApiCommand),
    /// Determines agent health status
    Healthcheck(health::HealthArgs),
    /// Validates an agent configuration (file and flags) without starting the agent
    Validate(run::RunArgs),
}

/// How a command's errors are printed.
fn error_prefix(command: Option<&str>) -> &'static str {
    match command {
        Some("api" | "healthcheck") => "",
        Some("validate") => "spiffe-agent configuration is invalid: ",
        _ => "Error: ",
    }
}

/// Parses the command line. On failure (or `--help`), the message is printed and the exit
/// code returned.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, ExitCode> {
    let args: Vec<OsString> = args.into_iter().collect();
    let cmd = usage::prepare(Cli::command());
    let normalized = argv::normalize(args.clone(), &argv::value_flags(&cmd));
    let command = args.get(1).and_then(|a| a.to_str());
    cmd.clone()
        .try_get_matches_from(normalized)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| usage::report(&e, &args, &cmd, error_prefix(command)))
}

/// Runs the command; prints the error and returns 1 when it fails.
pub(crate) fn dispatch(cli: Cli) -> ExitCode {
    let prefix = error_prefix(Some(match &cli.command {
        Command::Run(_) => "run",
        Command::Api(_) => "api",
        Command::Healthcheck(_) => "healthcheck",
        Command::Validate(_) => "validate",
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            output::err(&format!("{prefix}starting the async runtime: {e}\n"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Run(a) => run::run(a).await,
            Command::Api(c) => api::run(c).await,
            Command::Healthcheck(a) => health::run(a).await,
            Command::Validate(a) => run::validate(&a),
        }
    });
    // Open streams and the agent's tasks must not hold the process.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("{e:#}").replace('\n', " ");
            output::err(&format!("{prefix}{line}\n"));
            ExitCode::FAILURE
        }
    }
}
