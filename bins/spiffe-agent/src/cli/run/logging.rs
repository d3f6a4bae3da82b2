//! Logs of `run`: tracing to stderr (or `-logFile`), as text or JSON, at SPIRE's levels.

use std::io::IsTerminal;
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow};
use spiffe_agent::config::file::{LogFormat, LogLevel, LogSettings};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Installs the subscriber for `settings`. The HTTP/2 and gRPC plumbing stays at warn unless
/// tracing.
pub(crate) fn init(settings: &LogSettings) -> Result<()> {
    let quiet = if settings.level == LogLevel::Trace {
        ""
    } else {
        ",h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn"
    };
    let filter = EnvFilter::try_new(format!("{}{quiet}", settings.level.as_str()))
        .map_err(|e| anyhow!("log filter: {e}"))?;
    let (writer, ansi) = match &settings.file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("could not open log file {}", path.display()))?;
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
    let result = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow!("logging: {e}"))
}
