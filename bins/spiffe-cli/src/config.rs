//! Configuration files, for the daemons' `run` and `validate`: the reading and parsing are
//! [`spiffe_fs::config`]'s (shared with the daemon libraries); this adds the messages that name
//! the file.

use std::path::Path;

use anyhow::{Context, Result};

pub use spiffe_fs::config::{DurationValue, MAX_CONFIG_FILE, expand_env, parse_toml};

/// Reads the file at `path` (at most [`MAX_CONFIG_FILE`] bytes; with `$VAR` expanded if
/// `expand`) and parses it with `parse`; errors name the file.
///
/// # Errors
///
/// If the file cannot be read, or `parse` fails.
pub fn load<T>(path: &Path, expand: bool, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    let text = spiffe_fs::config::read_config(path, expand)
        .with_context(|| format!("could not read config file {}", path.display()))?;
    parse(&text).with_context(|| format!("config file {}", path.display()))
}
