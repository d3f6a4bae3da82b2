//! The log settings of the file (`log_level`, `log_format`, `log_file`), checked; installing a
//! subscriber for them is the binary's business.

use std::path::PathBuf;

use super::ConfigFileError;

/// `log_level`: SPIRE's levels (and `trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// Everything, the HTTP/2 and gRPC plumbing included.
    Trace,
    /// `debug`.
    Debug,
    /// `info` (the default).
    #[default]
    Info,
    /// `warn` (or `warning`).
    Warn,
    /// `error`.
    Error,
}

impl LogLevel {
    /// The level's name, as `tracing` filters spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// `log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The level, format and destination of the agent's logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LogSettings {
    /// The level.
    pub level: LogLevel,
    /// The format.
    pub format: LogFormat,
    /// The file logs are appended to; `None`: stderr.
    pub file: Option<PathBuf>,
}

impl LogSettings {
    /// Parses SPIRE's values (case-insensitive; defaults `info`, `text`, stderr).
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Invalid`] naming `log_level` or `log_format` if its value is not one
    /// of SPIRE's.
    pub fn parse(
        level: Option<&str>,
        format: Option<&str>,
        file: Option<PathBuf>,
    ) -> Result<Self, ConfigFileError> {
        let level = match level.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("info") => LogLevel::Info,
            Some("debug") => LogLevel::Debug,
            Some("trace") => LogLevel::Trace,
            Some("warn") | Some("warning") => LogLevel::Warn,
            Some("error") => LogLevel::Error,
            Some(other) => {
                return Err(ConfigFileError::invalid(
                    "log_level",
                    format!("invalid log_level {other:?}: must be debug, info, warn or error"),
                ));
            }
        };
        let format = match format.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigFileError::invalid(
                    "log_format",
                    format!("invalid log_format {other:?}: must be text or json"),
                ));
            }
        };
        let file = file.filter(|f| !f.as_os_str().is_empty());
        Ok(LogSettings {
            level,
            format,
            file,
        })
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
                level: LogLevel::Debug,
                format: LogFormat::Json,
                file: None,
            })
        );
        assert!(matches!(
            LogSettings::parse(Some("loud"), None, None),
            Err(ConfigFileError::Invalid { field, .. }) if field == "log_level"
        ));
        assert!(LogSettings::parse(None, Some("xml"), None).is_err());
    }
}
