//! The command line: clap, after SPIRE's single-dash flags are rewritten ([`argv`]), run on a
//! tokio runtime. Errors print as one line, `Error: <what is wrong>`, with exit code 1.

mod crd;
mod logging;
mod render;
mod run;
mod settings;

use spiffe_cli::argv;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// `spiffe-controller`.
#[derive(Debug, Parser)]
#[command(
    name = "spiffe-controller",
    version,
    about = "Turns ClusterSPIFFEID and ClusterStaticEntry resources into registration entries, and ClusterFederatedTrustDomain resources into federation relationships",
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
    /// Watches the cluster and keeps the server's entries in line with it
    Run(run::RunArgs),
    /// Prints the entries that Kubernetes YAML would produce, without a cluster
    Render(render::RenderArgs),
    /// Prints the CustomResourceDefinitions (ClusterSPIFFEID, ClusterStaticEntry, ClusterFederatedTrustDomain)
    Crd,
}

/// Parses the command line; on failure (or `--help`) prints and returns the exit code.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, ExitCode> {
    let args: Vec<OsString> = args.into_iter().collect();
    let cmd = Cli::command();
    let normalized = argv::normalize(args, &argv::value_flags(&cmd));
    cmd.try_get_matches_from(normalized)
        .and_then(|m| Cli::from_arg_matches(&m))
        .map_err(|e| {
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            }
        })
}

/// Runs the command; prints `Error: ...` and returns 1 when it fails.
pub(crate) fn dispatch(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Crd => crd::run(),
        Command::Render(a) => render::run(&a),
        Command::Run(a) => match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(run::run(a)),
            Err(e) => Err(anyhow::anyhow!("starting the async runtime: {e}")),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
