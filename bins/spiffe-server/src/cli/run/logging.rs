//! Logs of `run`: tracing to stderr, as text or JSON, at SPIRE's levels.

use std::io::IsTerminal;

use anyhow::{Result, anyhow, bail};
use tracing_subscriber::EnvFilter;

/// `-logFormat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line.
    Json,
}

/// The level and format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogSettings {
    level: &'static str,
    format: LogFormat,
}

impl LogSettings {
    /// Parses SPIRE's values (case-insensitive; defaults `info` and `text`).
    pub(crate) fn parse(level: Option<&str>, format: Option<&str>) -> Result<Self> {
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
        Ok(LogSettings { level, format })
    }

    /// Installs the subscriber. Database driver chatter stays at warn unless debugging.
    pub(crate) fn init(&self) -> Result<()> {
        let quiet = if matches!(self.level, "debug" | "trace") {
            ""
        } else {
            ",sqlx=warn"
        };
        let filter = EnvFilter::try_new(format!("{}{quiet}", self.level))
            .map_err(|e| anyhow!("log filter: {e}"))?;
        let builder = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
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
            LogSettings::parse(Some("DEBUG"), Some("json")).ok(),
            Some(LogSettings {
                level: "debug",
                format: LogFormat::Json
            })
        );
        assert!(LogSettings::parse(Some("loud"), None).is_err());
        assert!(LogSettings::parse(None, Some("xml")).is_err());
    }
}
