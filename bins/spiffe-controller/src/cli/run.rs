//! `run`: connect to Kubernetes (in-cluster, or KUBECONFIG) and to the server's admin
//! socket, then reconcile entries and federation relationships until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use spiffe_controller::registry::{GrpcEntryStore, GrpcRelationshipStore, admin_channel};
use spiffe_controller::{Controller, FederationController};
use tracing::info;

use super::logging;
use super::settings::EntryArgs;

/// `run`'s flags.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    entries: EntryArgs,
    /// The server's admin API socket
    #[arg(
        long = "serverSocketPath",
        aliases = ["socketPath", "server-socket-path", "socket-path"],
        value_name = "PATH",
        default_value = "/tmp/spiffe-server/private/api.sock"
    )]
    server_socket_path: PathBuf,
    /// Full reconcile at least this often (a Go duration)
    #[arg(
        long = "resyncInterval",
        alias = "resync-interval",
        value_name = "DURATION",
        default_value = "10s"
    )]
    resync_interval: String,
    /// How long to gather changes before reconciling (a Go duration)
    #[arg(long = "debounce", value_name = "DURATION", default_value = "50ms")]
    debounce: String,
    /// A kubeconfig file (default: in-cluster configuration, or $KUBECONFIG, or ~/.kube/config)
    #[arg(long = "kubeconfig", value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// debug, info, warn, error
    #[arg(
        long = "logLevel",
        alias = "log-level",
        value_name = "LEVEL",
        default_value = "info"
    )]
    log_level: String,
    /// text or json
    #[arg(
        long = "logFormat",
        alias = "log-format",
        value_name = "FORMAT",
        default_value = "text"
    )]
    log_format: String,
}

fn duration(flag: &str, s: &str) -> Result<Duration> {
    spiffe_core::duration::parse(s).with_context(|| format!("invalid -{flag}"))
}

async fn kube_client(kubeconfig: Option<&PathBuf>) -> Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .with_context(|| format!("kubeconfig {}", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes configuration (in-cluster or kubeconfig)")?,
    };
    kube::Client::try_from(config).context("creating the Kubernetes client")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Runs the controller.
pub(crate) async fn run(a: RunArgs) -> Result<ExitCode> {
    logging::init(&a.log_level, &a.log_format)?;
    let mut config = a.entries.config()?;
    config.resync_interval = duration("resyncInterval", &a.resync_interval)?;
    config.debounce = duration("debounce", &a.debounce)?;
    if config.resync_interval.is_zero() {
        bail!("-resyncInterval must be positive");
    }
    let client = kube_client(a.kubeconfig.as_ref()).await?;
    let channel = admin_channel(&a.server_socket_path)
        .with_context(|| format!("admin socket {}", a.server_socket_path.display()))?;
    info!(
        socket = %a.server_socket_path.display(),
        trust_domain = %config.trust_domain,
        cluster = %config.cluster_name,
        "starting"
    );
    // One signal stops both loops.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let federation = FederationController::new(
        config.clone(),
        client.clone(),
        GrpcRelationshipStore::new(channel.clone()),
    );
    let entries = Controller::new(config, client, GrpcEntryStore::new(channel));
    tokio::try_join!(
        async {
            entries
                .run(stopped(stop_rx.clone()))
                .await
                .context("entry controller stopped")
        },
        async {
            federation
                .run(stopped(stop_rx.clone()))
                .await
                .context("federation controller stopped")
        },
    )?;
    info!("stopped");
    Ok(ExitCode::SUCCESS)
}
