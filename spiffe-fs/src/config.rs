//! Daemon configuration files (feature `config`): TOML with SPIRE's key names, read within a
//! size limit, with Go's `os.ExpandEnv` when asked, and parse errors that say where.
//!
//! What the server's and the agent's file formats share lives here once: reading
//! ([`read_config`]), parsing ([`parse_toml`]), SPIRE's plugin blocks ([`Plugin`]), durations
//! written as Go durations or seconds ([`DurationValue`]) and the merge of a daemon's own table
//! over the top level ([`overlay!`](crate::overlay)). Each daemon's library maps its file onto
//! its configuration.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

use crate::FsError;

/// Why a daemon's configuration file could not be loaded, or its settings make no
/// configuration. The server's and the agent's file formats share it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file could not be read (missing, unreadable, over [`MAX_CONFIG_FILE`], not UTF-8).
    #[error("could not read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (boxed: the error stays small on the common paths).
        #[source]
        source: Box<FsError>,
    },
    /// The file is not TOML, or has a key or value the format does not know.
    #[error("config file {}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and what.
        #[source]
        source: TomlError,
    },
    /// Text (not from a file) that is not TOML, or has a key or value the format does not know.
    #[error(transparent)]
    Toml(#[from] TomlError),
    /// A duration setting is not a Go duration.
    #[error(transparent)]
    Duration(#[from] DurationValueError),
    /// A setting breaks a rule (missing, out of range, in conflict with another, unusable).
    #[error(transparent)]
    Invalid(#[from] InvalidSetting),
}

impl ConfigFileError {
    /// `field` breaks `rule` (a sentence that names the setting).
    pub fn invalid(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ConfigFileError::Invalid(InvalidSetting::new(field, rule))
    }
}

/// Reads the configuration file at `path` ([`read_config`]) and parses it as `T`.
///
/// # Errors
///
/// [`ConfigFileError::Read`] if the file cannot be read, [`ConfigFileError::Parse`] if it
/// does not parse as `T`.
pub fn read_file<T: DeserializeOwned>(path: &Path, expand: bool) -> Result<T, ConfigFileError> {
    let text = read_config(path, expand).map_err(|source| ConfigFileError::Read {
        path: path.to_owned(),
        source: Box::new(source),
    })?;
    parse_toml(&text).map_err(|source| ConfigFileError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// The largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 1 << 20;

/// Reads the configuration file at `path` (at most [`MAX_CONFIG_FILE`] bytes), with `$VAR`
/// and `${VAR}` expanded if `expand` (see [`expand_env`]).
///
/// # Errors
///
/// [`FsError`] if the file cannot be read, is larger than the limit, or is not UTF-8.
pub fn read_config(path: &Path, expand: bool) -> Result<String, FsError> {
    let text = crate::read_to_string_bounded(path, MAX_CONFIG_FILE)?;
    Ok(if expand { expand_env(&text) } else { text })
}

/// Go's `os.ExpandEnv`: `$VAR` and `${VAR}` replaced by the variable's value (empty if unset).
pub fn expand_env(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if consumed == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(&std::env::var(name).unwrap_or_default());
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// Why TOML text did not parse: where (when known) and what.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}{message}", at.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct TomlError {
    /// Line and column (from 1) of the offending text.
    pub at: Option<(usize, usize)>,
    /// What is wrong (an unknown key, a value of the wrong type, bad syntax).
    pub message: String,
}

/// Parses TOML text; an error names the line and column it is about.
///
/// # Errors
///
/// [`TomlError`] if the text is not TOML or does not fit `T` (unknown keys included, for
/// types that deny them).
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e| TomlError {
        at: e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            (line, column)
        }),
        message: e.message().trim().to_owned(),
    })
}

/// Sets each listed `Option` field of `$base` that `$top` has set (a table's values over the
/// top level's, as SPIRE merges `server { ... }` or `agent { ... }`).
#[macro_export]
macro_rules! overlay {
    ($base:ident, $top:ident; $($field:ident),*) => {
        $( if $top.$field.is_some() { $base.$field = $top.$field; } )*
    };
}

/// One of SPIRE's plugin blocks (`NodeAttestor "k8s_psat" { plugin_data { ... } }`, in TOML
/// `[plugins.NodeAttestor.k8s_psat]`): its settings and whether it is on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin<T> {
    /// Off with `enabled = false` (SPIRE's default: on).
    pub enabled: Option<bool>,
    /// The plugin's settings.
    pub plugin_data: Option<T>,
}

impl<T> Plugin<T> {
    /// Whether the plugin is on (`enabled` unset counts as on).
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }
}

/// The `plugin_data` of a plugin without settings: an empty table.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyData {}

/// A duration in a configuration file: a Go duration string (`"24h"`, `"500ms"`), or a TOML
/// integer of whole seconds.
///
/// The integer form is ours: SPIRE's HCL hands a number to Go's `time.ParseDuration` as text,
/// which refuses any but `0` for want of a unit. TOML keeps integers and strings apart, so an
/// integer here cannot be mistaken for a typo, and `agent_ttl = 3600` reads as it looks. A
/// string follows Go exactly: `"3600"` is refused, as SPIRE refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DurationValue {
    /// `"24h"`.
    Text(String),
    /// Seconds.
    Seconds(u64),
}

/// A duration setting that is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{key}: {reason}")]
pub struct DurationValueError {
    /// The setting.
    pub key: String,
    /// Why the text is not a duration.
    pub reason: spiffe_core::duration::DurationError,
}

impl DurationValue {
    /// The duration, or an error naming `key`.
    ///
    /// # Errors
    ///
    /// [`DurationValueError`] if the text is not a Go duration of zero or more.
    pub fn get(&self, key: &str) -> Result<Duration, DurationValueError> {
        match self {
            DurationValue::Seconds(s) => Ok(Duration::from_secs(*s)),
            DurationValue::Text(t) => {
                spiffe_core::duration::parse(t).map_err(|reason| DurationValueError {
                    key: key.to_owned(),
                    reason,
                })
            }
        }
    }
}

/// A setting that breaks a rule: which, and the rule, in a sentence that names the setting.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{rule}")]
pub struct InvalidSetting {
    /// The setting, as written in the file.
    pub field: String,
    /// The rule it breaks.
    pub rule: String,
}

impl InvalidSetting {
    /// `field` breaks `rule`.
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        InvalidSetting {
            field: field.into(),
            rule: rule.into(),
        }
    }
}

/// `log_level`: SPIRE's levels (and `trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// Everything, the HTTP/2, gRPC and database plumbing included.
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
    /// SPIRE's value (case-insensitive; unset or empty: `info`).
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] naming `log_level` if the value is not a level.
    pub fn parse(value: Option<&str>) -> Result<Self, InvalidSetting> {
        Ok(match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("info") => LogLevel::Info,
            Some("debug") => LogLevel::Debug,
            Some("trace") => LogLevel::Trace,
            Some("warn") | Some("warning") => LogLevel::Warn,
            Some("error") => LogLevel::Error,
            Some(other) => {
                return Err(InvalidSetting::new(
                    "log_level",
                    format!("invalid log_level {other:?}: must be debug, info, warn or error"),
                ));
            }
        })
    }

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

impl LogFormat {
    /// SPIRE's value (case-insensitive; unset or empty: `text`).
    ///
    /// # Errors
    ///
    /// [`InvalidSetting`] naming `log_format` if the value is neither `text` nor `json`.
    pub fn parse(value: Option<&str>) -> Result<Self, InvalidSetting> {
        Ok(match value.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(InvalidSetting::new(
                    "log_format",
                    format!("invalid log_format {other:?}: must be text or json"),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_expansion_as_go_does_it() {
        // PATH is set in any test environment.
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            expand_env("a=${PATH}/$PATH $ x"),
            format!("a={path}/{path} $ x")
        );
        assert_eq!(expand_env("${unclosed"), "${unclosed");
        assert_eq!(expand_env("${SPIFFE_CLI_SURELY_UNSET_VAR}!"), "!");
    }

    #[test]
    fn durations_as_text_or_seconds() {
        assert_eq!(
            DurationValue::Text("1m30s".into()).get("ttl").ok(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            DurationValue::Seconds(5).get("ttl").ok(),
            Some(Duration::from_secs(5))
        );
        let e = DurationValue::Text("soon".into()).get("ca_ttl").err();
        assert!(e.is_some_and(|e| e.to_string().starts_with("ca_ttl: ")));
        // A bare number as text is refused, as Go and SPIRE refuse it; "0" is Go's exception.
        let e = DurationValue::Text("90".into()).get("ca_ttl").err();
        assert!(e.is_some_and(|e| e.to_string().contains("missing unit")));
        assert_eq!(
            DurationValue::Text("0".into()).get("ttl").ok(),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn log_levels_and_formats() {
        assert_eq!(LogLevel::parse(Some("DEBUG")), Ok(LogLevel::Debug));
        assert_eq!(LogLevel::parse(None), Ok(LogLevel::Info));
        assert_eq!(LogFormat::parse(Some("json")), Ok(LogFormat::Json));
        let e = LogLevel::parse(Some("loud")).err();
        assert_eq!(e.map(|e| e.field), Some("log_level".to_owned()));
        assert!(LogFormat::parse(Some("xml")).is_err());
    }

    #[test]
    fn toml_errors_say_where() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct C {
            port: u16,
        }
        let e = parse_toml::<C>("\nport = \"x\"\n")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("line 2, column 8: ")));
        assert_eq!(
            parse_toml::<C>("port = 8081").ok().map(|c| c.port),
            Some(8081)
        );
    }
}
