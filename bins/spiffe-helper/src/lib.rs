//! `spiffe-helper`: keeps a workload's X.509 SVID, key and bundle, JWT-SVIDs and JWT bundle in
//! files, from the SPIFFE Workload API, configured as SPIRE's spiffe-helper is (its
//! `helper.conf` in HCL, its flags, rules, defaults, file formats and signals), and signals or
//! restarts a process when they are renewed.
//!
//! ```text
//! spiffe-helper [-config helper.conf] [-daemon-mode=true|false] [-fetch-timeout 30s] [-version]
//! ```
#![forbid(unsafe_code)]

pub mod cmdargs;
pub mod config;
pub mod health;
pub mod output;
pub mod process;
pub mod sidecar;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use crate::config::FileConfig;

/// The command line, as spiffe-helper's (Go flags: `-config x`, `-daemon-mode=false`).
#[derive(Debug, Parser)]
#[command(
    name = "spiffe-helper",
    about = "Keeps SVIDs from the SPIFFE Workload API in files and signals a process when they are renewed",
    disable_version_flag = true
)]
struct Cli {
    /// Configuration file path.
    #[arg(long, value_name = "configFile", default_value = "helper.conf")]
    config: PathBuf,
    /// Run as a daemon keeping the files fresh (true), or fetch once and exit (false);
    /// overrides `daemon_mode` in the file. Write it `-daemon-mode=false`.
    #[arg(
        long = "daemon-mode",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set,
        value_parser = parse_go_bool
    )]
    daemon_mode: Option<bool>,
    /// In one-shot mode, how long to wait for each SVID or bundle before exiting non-zero
    /// (Go duration). Not a spiffe-helper flag.
    #[arg(long = "fetch-timeout", value_name = "DURATION", value_parser = parse_duration)]
    fetch_timeout: Option<Duration>,
    /// Print the version and exit.
    #[arg(long, action = ArgAction::SetTrue)]
    version: bool,
}

/// A boolean as Go's `strconv.ParseBool` (and so the `flag` package) reads one.
fn parse_go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {s:?}")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    spiffe_core::duration::parse(s).map_err(|e| e.to_string())
}

/// Runs the command line; the exit code is 0 on success, 1 on failure, 2 for a usage error.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let command = Cli::command();
    let args = spiffe_cli::argv::normalize(args, &spiffe_cli::argv::value_flags(&command));
    let cli = match command
        .try_get_matches_from(args)
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if cli.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    init_logging();
    match run(cli) {
        Ok(()) => {
            tracing::info!("exiting");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "spiffe-helper failed");
            eprintln!("spiffe-helper: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    tracing::info!(file = %cli.config.display(), "using configuration file");
    let config = FileConfig::load(&cli.config)
        .context("failed to parse configuration")?
        .validate(
            cli.daemon_mode,
            std::env::var(spiffe_workload::ENDPOINT_ENV).ok(),
        )
        .context("invalid configuration")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        if config.daemon_mode {
            tracing::info!(agent_address = %config.agent_address, "launching daemon");
            sidecar::run_daemon(config, shutdown_signal()).await
        } else {
            tracing::info!(agent_address = %config.agent_address, "daemon mode disabled");
            let timeout = cli.fetch_timeout.unwrap_or(sidecar::DEFAULT_FETCH_TIMEOUT);
            tokio::select! {
                r = sidecar::run_once(&config, timeout) => r,
                () = shutdown_signal() => anyhow::bail!("interrupted before the files were written"),
            }
        }
    });
    // Background tasks (streams being reopened, blocking writes) do not delay the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    result
}

/// Completes at SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot watch SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
