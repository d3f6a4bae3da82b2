//! Logs of `run`: tracing to stderr, as text or JSON, at SPIRE's levels (checked by
//! `spiffe_server::config_file`).

use std::io::IsTerminal;

use anyhow::{Result, anyhow};
use spiffe_server::config_file::{LogFormat, LogLevel};
use tracing_subscriber::EnvFilter;

/// Installs the subscriber. Database driver chatter stays at warn unless debugging.
pub(crate) fn init(level: LogLevel, format: LogFormat) -> Result<()> {
    let quiet = if matches!(level, LogLevel::Debug | LogLevel::Trace) {
        ""
    } else {
        ",sqlx=warn"
    };
    let filter = EnvFilter::try_new(format!("{}{quiet}", level.as_str()))
        .map_err(|e| anyhow!("log filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow!("logging: {e}"))
}
