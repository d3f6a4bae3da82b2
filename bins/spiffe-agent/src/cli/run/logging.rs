//! Logs of `run`: tracing to stderr (or `-logFile`), as text or JSON, at SPIRE's levels.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow, bail};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// `-logFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// The level, format and destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogSettings {
    level: &'static str,
    format: LogFormat,
    file: Option<PathBuf>,
}

impl LogSettings {
    /// Parses SPIRE's values (case-insensitive; defaults `info`, `text`, stderr).
    pub(crate) fn parse(
        level: Option<&str>,
        format: Option<&str>,
        file: Option<PathBuf>,
    ) -> Result<Self> {
        let level = match level.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("info") => "info",
            Some("debug") => "debug",
            Some("trace") => "trace",
            Some("warn") | Some("warning") => "warn",
            Some("error") => "error",
            Some(other) => bail!("invalid log_level {other:?}: must be debug, info, warn or error"),
        };
        let format = match format.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => bail!("invalid log_format {other:?}: must be text or json"),
        };
        let file = file.filter(|f| !f.as_os_str().is_empty());
        Ok(LogSettings {
            level,
            format,
            file,
        })
    }

    /// Installs the subscriber. The HTTP/2 and gRPC plumbing stays at warn unless tracing.
    pub(crate) fn init(&self) -> Result<()> {
        let quiet = if self.level == "trace" {
            ""
        } else {
            ",h2=warn,hyper=warn,hyper_util=warn,tower=warn,tonic=warn"
        };
        let filter = EnvFilter::try_new(format!("{}{quiet}", self.level))
            .map_err(|e| anyhow!("log filter: {e}"))?;
        let (writer, ansi) = match &self.file {
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
        let result = match self.format {
            LogFormat::Text => builder.try_init(),
            LogFormat::Json => builder.json().try_init(),
        };
        result.map_err(|e| anyhow!("logging: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_formats() {
        assert_eq!(
            LogSettings::parse(Some("DEBUG"), Some("json"), None).ok(),
            Some(LogSettings {
                level: "debug",
                format: LogFormat::Json,
                file: None,
            })
        );
        assert!(LogSettings::parse(Some("loud"), None, None).is_err());
        assert!(LogSettings::parse(None, Some("xml"), None).is_err());
    }
}
