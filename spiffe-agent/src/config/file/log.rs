//! The log settings of the file (`log_level`, `log_format`, `log_file`), checked; installing a
//! subscriber for them is the binary's business.

use std::path::PathBuf;

pub use spiffe_fs::config::{LogFormat, LogLevel};

use super::ConfigFileError;

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
        let level = LogLevel::parse(level)?;
        let format = LogFormat::parse(format)?;
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
            Err(ConfigFileError::Invalid(e)) if e.field == "log_level"
        ));
        assert!(LogSettings::parse(None, Some("xml"), None).is_err());
    }
}
