//! The command line (SPIRE's flags: `-config`, `-expandEnv`, `-version`), logging, and the
//! provider's life: the key source polled, the listeners served, until SIGTERM or SIGINT.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, anyhow};
use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};
use spiffe_cli::argv;
use spiffe_fs::config::{LogFormat, LogLevel};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing::{info, warn};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::{self, Config, Listen, LogSettings};
use crate::handler::{Handler, Health, health_threshold};
use crate::jwks::KeyStore;
use crate::serve::{self, Listener};
use crate::source::{self, Source};

/// `spiffe-oidc-discovery-provider`.
#[derive(Debug, Parser)]
#[command(
    name = "spiffe-oidc-discovery-provider",
    version,
    about = "Serves the OIDC discovery document and JWKS of a trust domain's JWT authorities",
    args_override_self = true
)]
pub(crate) struct Args {
    /// Path to the TOML configuration file (keys as in SPIRE's oidc-discovery-provider.conf)
    #[arg(
        long = "config",
        value_name = "PATH",
        default_value = "oidc-discovery-provider.conf"
    )]
    config: PathBuf,
    /// Expand $VAR and ${VAR} in the configuration file
    #[arg(long = "expandEnv", alias = "expand-env", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false",
          value_parser = clap::builder::BoolishValueParser::new(), action = ArgAction::Set)]
    expand_env: bool,
}

/// Parses the command line; on failure (or `-help`, `-version`) prints and returns the exit
/// code.
pub(crate) fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Args, ExitCode> {
    let args: Vec<OsString> = args.into_iter().collect();
    let cmd = Args::command();
    let normalized = argv::normalize(args, &argv::value_flags(&cmd));
    cmd.try_get_matches_from(normalized)
        .and_then(|m| Args::from_arg_matches(&m))
        .map_err(|e| {
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        })
}

/// Runs the provider; prints `Error: ...` and returns 1 when it fails.
pub(crate) fn dispatch(args: Args) -> ExitCode {
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow!("starting the async runtime: {e}"))
        .and_then(|rt| rt.block_on(run(args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// Installs the log subscriber.
fn init_logging(settings: &LogSettings) -> Result<()> {
    let quiet = if settings.level == LogLevel::Trace {
        ""
    } else {
        ",h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn"
    };
    let filter = EnvFilter::try_new(format!("{}{quiet}", settings.level.as_str()))
        .map_err(|e| anyhow!("log filter: {e}"))?;
    let (writer, ansi) = match &settings.path {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("log_path: could not open {}", path.display()))?;
            (BoxMakeWriter::new(Mutex::new(file)), false)
        }
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(ansi)
        .with_env_filter(filter);
    match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| anyhow!("logging: {e}"))
}

/// Binds the documents' listener.
async fn bind(config: &Config, shutdown: &watch::Receiver<bool>) -> Result<Listener> {
    Ok(match &config.listen {
        Listen::Insecure(addr) => {
            let l = Listener::tcp(addr)
                .await
                .with_context(|| format!("insecure_addr: could not listen on {addr}"))?;
            let bound = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            warn!(address = %bound, "serving HTTP (insecure)");
            Listener::Tcp(l)
        }
        Listen::Unix(path) => {
            let l = Listener::unix(path).context("listen_socket_path")?;
            info!(network = "unix", address = %path.display(), "serving HTTP");
            l
        }
        Listen::Tls {
            addr,
            cert,
            key,
            sync_interval,
        } => {
            let acceptor =
                crate::tls::acceptor(cert.clone(), key.clone(), *sync_interval, shutdown.clone())?;
            let l = Listener::tcp(addr)
                .await
                .with_context(|| format!("serving_cert_file.addr: could not listen on {addr}"))?;
            let bound = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
            info!(address = %bound, cert_file_path = %cert.display(), "serving HTTPS using the certificate loaded from disk");
            Listener::Tls(l, acceptor)
        }
    })
}

/// Runs the provider until a signal stops it.
async fn run(args: Args) -> Result<()> {
    let config = config::load(&args.config, args.expand_env)?;
    init_logging(&config.log)?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let (stop, shutdown) = watch::channel(false);

    let (store, keys) = KeyStore::new();
    let source = Source::new(&config.source)?;
    let poll = config.source.poll_interval();
    let poller = tokio::spawn(source::poll(source, store, poll, shutdown.clone()));

    let listener = bind(&config, &shutdown).await?;
    let handler = Arc::new(Handler::new(config.documents.clone(), keys.clone()));
    let mut tasks = vec![tokio::spawn(serve::run(
        listener,
        handler,
        config.log.requests,
        shutdown.clone(),
    ))];
    if let Some(h) = &config.health {
        let addr = config::health_addr(h);
        let l = Listener::tcp(&addr.to_string())
            .await
            .with_context(|| format!("health_checks.bind_port: could not listen on {addr}"))?;
        info!(address = %addr, live_path = %h.live_path, ready_path = %h.ready_path, "serving health checks");
        let health = Arc::new(Health::new(h.clone(), keys, health_threshold(poll)));
        tasks.push(tokio::spawn(serve::run(
            Listener::Tcp(l),
            health,
            false,
            shutdown.clone(),
        )));
    }
    info!(domains = ?config.documents.domains, "OIDC discovery provider started");

    tokio::select! {
        _ = term.recv() => info!(signal = "SIGTERM", "shutting down"),
        _ = int.recv() => info!(signal = "SIGINT", "shutting down"),
    }
    stop.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
    poller.abort();
    info!("stopped");
    Ok(())
}
