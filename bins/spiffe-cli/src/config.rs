//! Configuration files: TOML with SPIRE's key names, read with Go's `os.ExpandEnv` when asked,
//! and parse errors that say where (line and column).

use std::path::Path;

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use serde::Deserialize;
use serde::de::DeserializeOwned;

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

impl DurationValue {
    /// The duration, or an error naming `key`.
    ///
    /// # Errors
    ///
    /// If the text is not a Go duration of zero or more.
    pub fn get(&self, key: &str) -> Result<Duration> {
        match self {
            DurationValue::Seconds(s) => Ok(Duration::from_secs(*s)),
            DurationValue::Text(t) => {
                spiffe_core::duration::parse(t).map_err(|e| anyhow!("{key}: {e}"))
            }
        }
    }
}

/// Sets each listed `Option` field of `$base` that `$top` has set (a table's values over the
/// top level's, as SPIRE merges `server { ... }` or `agent { ... }`).
#[macro_export]
macro_rules! overlay {
    ($base:ident, $top:ident; $($field:ident),*) => {
        $( if $top.$field.is_some() { $base.$field = $top.$field; } )*
    };
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

/// Parses TOML text; an error names the line and column it is about.
pub fn parse_toml<T: DeserializeOwned>(text: &str) -> Result<T> {
    toml::from_str(text).map_err(|e| {
        let at = e.span().map(|span| {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: ")
        });
        anyhow!("{}{}", at.unwrap_or_default(), e.message().trim())
    })
}

/// The largest configuration file read.
pub const MAX_CONFIG_FILE: u64 = 1 << 20;

/// Reads the file at `path` (at most [`MAX_CONFIG_FILE`] bytes; with `$VAR` expanded if
/// `expand`) and parses it with `parse`; errors name the file.
pub fn load<T>(path: &Path, expand: bool, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    let text = spiffe_fs::read_to_string_bounded(path, MAX_CONFIG_FILE)
        .with_context(|| format!("could not read config file {}", path.display()))?;
    let text = if expand { expand_env(&text) } else { text };
    parse(&text).with_context(|| format!("config file {}", path.display()))
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
            DurationValue::Text("1m30s".into()).get("ttl").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            DurationValue::Seconds(5).get("ttl").unwrap(),
            Duration::from_secs(5)
        );
        let e = DurationValue::Text("soon".into())
            .get("ca_ttl")
            .unwrap_err();
        assert!(e.to_string().starts_with("ca_ttl: "), "{e}");
        // A bare number as text is refused, as Go and SPIRE refuse it; "0" is Go's exception.
        let e = DurationValue::Text("90".into()).get("ca_ttl").unwrap_err();
        assert!(e.to_string().contains("missing unit"), "{e}");
        assert_eq!(
            DurationValue::Text("0".into()).get("ttl").unwrap(),
            Duration::ZERO
        );
    }

    #[test]
    fn toml_errors_say_where() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct C {
            port: u16,
        }
        let e = parse_toml::<C>("\nport = \"x\"\n").unwrap_err().to_string();
        assert!(e.starts_with("line 2, column 8: "), "{e}");
        assert_eq!(parse_toml::<C>("port = 8081").unwrap().port, 8081);
    }
}
