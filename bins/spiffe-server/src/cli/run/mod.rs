//! `run`: the server, from flags alone or a TOML file (flags win), until SIGTERM or SIGINT.

mod logging;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{ArgAction, Args};
use tokio::signal::unix::{SignalKind, signal};
use tracing::{info, warn};

use crate::cli::flags::go_bool;
use spiffe_server::config_file::{self as file, FileConfig, Resolved};

/// Flags of `run`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// Path to a TOML configuration file (keys as in SPIRE's server.conf)
    #[arg(long = "config", value_name = "PATH")]
    config: Option<PathBuf>,
    /// The trust domain this server is the authority of
    #[arg(long = "trustDomain", alias = "trust-domain", value_name = "TD")]
    trust_domain: Option<String>,
    /// Directory for the datastore (SQLite), CA keys and journal
    #[arg(long = "dataDir", alias = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Datastore: a SQLite file or URL [default: DATA_DIR/datastore.sqlite3], or
    /// postgres://user@host/db
    #[arg(long = "datastore", value_name = "URL")]
    datastore: Option<String>,
    /// IP address or host name the agent API listens on [default: 0.0.0.0]
    #[arg(long = "bindAddress", alias = "bind-address", value_name = "ADDR")]
    bind_address: Option<String>,
    /// Port of the agent API (0: any free port) [default: 8081]
    #[arg(long = "serverPort", alias = "server-port", value_name = "PORT")]
    server_port: Option<u16>,
    /// Path of the admin API socket; its directory must belong to root or the server's user
    /// and not be writable by others [default: /tmp/spiffe-server/private/api.sock]
    #[arg(long = "socketPath", alias = "socket-path", value_name = "PATH")]
    socket_path: Option<PathBuf>,
    /// debug, info, warn or error [default: info]
    #[arg(long = "logLevel", alias = "log-level", value_name = "LEVEL")]
    log_level: Option<String>,
    /// text or json [default: text]
    #[arg(long = "logFormat", alias = "log-format", value_name = "FORMAT")]
    log_format: Option<String>,
    /// Accept operator-supplied join tokens (CreateJoinToken with a token) estimated below 128
    /// bits of entropy [default: false]
    #[arg(long = "allowWeakJoinTokens", alias = "allow-weak-join-tokens", num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = go_bool,
          action = ArgAction::Set, value_name = "BOOL")]
    allow_weak_join_tokens: Option<bool>,
    /// Expand $VAR and ${VAR} in the configuration file
    #[arg(long = "expandEnv", alias = "expand-env", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    expand_env: bool,
}

impl RunArgs {
    /// The flags as settings, to lay over the file's.
    fn as_settings(&self) -> FileConfig {
        FileConfig {
            trust_domain: self.trust_domain.clone(),
            data_dir: self.data_dir.clone(),
            datastore: self.datastore.clone(),
            bind_address: self.bind_address.clone(),
            bind_port: self.server_port,
            socket_path: self.socket_path.clone(),
            log_level: self.log_level.clone(),
            log_format: self.log_format.clone(),
            allow_weak_join_tokens: self.allow_weak_join_tokens,
            ..FileConfig::default()
        }
    }
}

/// What `run --help` adds after the flags: the agent API's limits and the join token rules,
/// with their defaults.
pub(crate) const RUN_AFTER_HELP: &str = "\
Agent API limits ([limits] table of the config file; defaults shown). A connection is
authenticated when its client certificate is an attested agent's current SVID or an unexpired
admin entry's SVID; any other connection is anonymous (it can only attest).
  max_concurrent_streams = 100            streams per authenticated connection
  anonymous_max_concurrent_streams = 4    streams per anonymous connection
  anonymous_max_message_size = 65536      largest request message (bytes) of an anonymous connection
  max_anonymous_connections = 256         anonymous connections at once; more are closed
  anonymous_connection_lifetime = \"30s\"   life of an anonymous connection
  max_concurrent_handshakes = 128         TLS handshakes at once; more wait
  handshake_timeout = \"10s\"               time for a TLS handshake
  idle_timeout = \"5m\"                     an authenticated connection with no open stream is closed
  keepalive_interval = \"1m\"               HTTP/2 PING interval (0: off)
  keepalive_timeout = \"20s\"               unanswered PING closes the connection
  tcp_keepalive = \"1m\"                    TCP keepalive idle time (0: off)
  request_timeout = \"30s\"                 time to a call's response headers (answered streams run on)
  attestation_message_timeout = \"10s\"     wait for each AttestAgent message
  attestation_rate_limit = 1              attestation attempts per second per source address (0: off);
  attestation_burst = 20                  more get RESOURCE_EXHAUSTED and grpc-retry-pushback-ms
Join tokens: generated ones carry 128 random bits; an operator-supplied token (CreateJoinToken
with `token`) estimated below 128 bits of entropy is refused unless -allowWeakJoinTokens
(allow_weak_join_tokens = true). Tokens are stored as their SHA-256 and logged only as
sha256:<first 8 hex digits> (printf %s TOKEN | sha256sum | cut -c1-8).";

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
) {
    tokio::select! {
        _ = term.recv() => info!(signal = "SIGTERM", "shutting down"),
        _ = int.recv() => info!(signal = "SIGINT", "shutting down"),
    }
}

/// Runs the server until a signal stops it.
/// Parses and resolves a configuration file's text (the fuzz target's entry).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_config_file(text: &str) {
    if let Ok(config) = file::parse(text) {
        let _ = config.resolve();
    }
}

pub(crate) async fn run(a: RunArgs) -> Result<()> {
    let from_file = match &a.config {
        Some(path) => file::read(path, a.expand_env)?,
        None => FileConfig::default(),
    };
    let Resolved {
        config,
        log_level,
        log_format,
        ..
    } = from_file.overlay(a.as_settings()).resolve()?;
    logging::init(log_level, log_format)?;
    for w in file::ttl_warnings(&config) {
        warn!("{w}");
    }
    let term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    info!(
        trust_domain = %config.trust_domain,
        data_dir = %config.data_dir.display(),
        "starting server"
    );
    spiffe_server::run(config, shutdown_signal(term, int)).await?;
    info!("server stopped");
    Ok(())
}
