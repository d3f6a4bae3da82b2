//! The agent's configuration file, SPIRE's `agent.conf` in TOML: keys at the top level or in
//! an `[agent]` table (SPIRE's `agent { ... }` block), file sinks as `[[sink]]` tables with `dir`
//! and either `spiffe_id` or `selectors`, and a `[plugins]` table ([`PluginsFile`]) for
//! `k8s_psat` node attestation and the `k8s` workload attestor.
//!
//! An embedder loads a file with [`load`]; the `spiffe-agent` binary reads it with [`read`],
//! lays its flags over it ([`FileConfig::overlay`]) and then resolves it
//! ([`FileConfig::resolve`]).
//!
//! ```no_run
//! # fn main() -> Result<(), spiffe_agent::config::file::ConfigFileError> {
//! let resolved = spiffe_agent::config::file::load("/etc/spiffe/agent.toml".as_ref())?;
//! let config = resolved.config; // run it with spiffe_agent::run
//! # Ok(())
//! # }
//! ```

mod log;
mod plugins;
mod resolve;

use std::path::{Path, PathBuf};

use serde::Deserialize;
pub use spiffe_fs::config::{ConfigFileError, InvalidSetting};

pub use log::{LogFormat, LogLevel, LogSettings};
pub use plugins::{
    K8sData, NodeAttestorsFile, PluginSettings, PluginsFile, PsatData, UnixData,
    WorkloadAttestorsFile,
};
pub use resolve::Resolved;

/// A `[[sink]]`: where to write one workload's SVID as files.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SinkFile {
    /// The SPIFFE ID whose SVID is written.
    pub spiffe_id: Option<String>,
    /// Or: the SVID of the entry whose selectors are exactly these (`type:value`, in any
    /// order); with several such entries, the first by SPIFFE ID, then entry ID.
    pub selectors: Option<Vec<String>>,
    /// The directory (`svid.pem`, `key.pem`, `bundle.pem`).
    pub dir: Option<PathBuf>,
}

/// Every setting of the file; unset ones are `None`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The trust domain.
    pub trust_domain: Option<String>,
    /// Where the agent keeps its SVID, key and bundle.
    pub data_dir: Option<PathBuf>,
    /// The server's host name or IP address.
    pub server_address: Option<String>,
    /// The server's agent API port.
    pub server_port: Option<u16>,
    /// The Workload API socket.
    pub socket_path: Option<PathBuf>,
    /// A join token for the first attestation.
    pub join_token: Option<String>,
    /// A file holding the join token.
    pub join_token_file: Option<PathBuf>,
    /// PEM file of the trust domain's roots, to trust the server at first contact.
    pub trust_bundle_path: Option<PathBuf>,
    /// Trust the server without verification at first contact (tests only).
    pub insecure_bootstrap: Option<bool>,
    /// debug, info, warn, error.
    pub log_level: Option<String>,
    /// text or json.
    pub log_format: Option<String>,
    /// Write logs to this file instead of stderr.
    pub log_file: Option<PathBuf>,
    /// Most X509-SVIDs kept for entries no workload watches (0: SPIRE's default, 1000).
    pub x509_svid_cache_max_size: Option<usize>,
    /// Most JWT-SVIDs kept, least recently used dropped first (0: SPIRE's default, 1000).
    pub jwt_svid_cache_max_size: Option<usize>,
    /// Produce `unix:path` and `unix:sha256` selectors.
    pub discover_workload_path: Option<bool>,
    /// File sinks.
    #[serde(alias = "sinks")]
    pub sink: Option<Vec<SinkFile>>,
    /// SPIRE's `plugins { ... }` block (node and workload attestors).
    pub plugins: Option<PluginsFile>,
    /// SPIRE's `agent { ... }` block (merged into the top level by [`parse`] and [`read`]).
    pub agent: Option<Box<FileConfig>>,
}

impl FileConfig {
    /// `top`'s set values over `self`'s (the binary lays its flags over the file this way).
    pub fn overlay(mut self, top: FileConfig) -> FileConfig {
        spiffe_fs::overlay!(self, top; trust_domain, data_dir, server_address, server_port, socket_path,
            join_token, join_token_file, trust_bundle_path, insecure_bootstrap, log_level,
            log_format, log_file, x509_svid_cache_max_size, jwt_svid_cache_max_size,
            discover_workload_path, sink, plugins);
        self
    }

    /// The `[agent]` table merged into the top level.
    fn flatten(mut self) -> FileConfig {
        match self.agent.take() {
            Some(agent) => self.overlay(agent.flatten()),
            None => self,
        }
    }

    /// Validates the settings, in SPIRE's order and with SPIRE's messages, and builds the
    /// agent's configuration (unset settings take SPIRE's defaults; the join token file and
    /// the trust bundle are read now).
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Invalid`] naming the first setting that breaks a rule,
    /// [`ConfigFileError::Duration`] for a duration that does not parse.
    pub fn resolve(self) -> Result<Resolved, ConfigFileError> {
        resolve::resolve(self)
    }
}

/// Parses a configuration file's text.
///
/// # Errors
///
/// [`ConfigFileError::Toml`] if the text is not TOML or has a key or value the format does
/// not know (with its line and column).
pub fn parse(text: &str) -> Result<FileConfig, ConfigFileError> {
    Ok(spiffe_fs::config::parse_toml::<FileConfig>(text)?.flatten())
}

/// Reads and parses the file at `path` (at most 1 MiB), with `$VAR` and `${VAR}` expanded
/// first if `expand_env` (SPIRE's `-expandEnv`).
///
/// # Errors
///
/// [`ConfigFileError::Read`] if the file cannot be read, [`ConfigFileError::Parse`] if it
/// does not parse.
pub fn read(path: &Path, expand_env: bool) -> Result<FileConfig, ConfigFileError> {
    Ok(spiffe_fs::config::read_file::<FileConfig>(path, expand_env)?.flatten())
}

/// Reads the file at `path` (without expanding variables) and resolves it: what an embedder
/// needs to run an agent from a SPIRE-style configuration file.
///
/// # Errors
///
/// As [`read`] and [`FileConfig::resolve`].
pub fn load(path: &Path) -> Result<Resolved, ConfigFileError> {
    read(path, false)?.resolve()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spire_names_top_level_or_agent_table() {
        let c = parse(
            r#"
            trust_domain = "a.org"
            server_port = 8081
            [agent]
            trust_domain = "b.org"
            server_address = "spire-server"
            insecure_bootstrap = true
            [[sink]]
            spiffe_id = "spiffe://b.org/web"
            dir = "/run/web"
            [[sink]]
            selectors = ["unix:uid:1000"]
            dir = "/run/other"
            "#,
        )
        .ok()
        .unwrap_or_default();
        assert_eq!(c.trust_domain.as_deref(), Some("b.org"));
        assert_eq!(c.server_address.as_deref(), Some("spire-server"));
        assert_eq!(c.server_port, Some(8081));
        assert_eq!(c.insecure_bootstrap, Some(true));
        let sinks = c.sink.unwrap_or_default();
        assert_eq!(sinks.len(), 2);
        assert_eq!(sinks[0].spiffe_id.as_deref(), Some("spiffe://b.org/web"));
        assert_eq!(sinks[1].selectors, Some(vec!["unix:uid:1000".to_owned()]));
    }

    #[test]
    fn errors_are_one_line() {
        let e = parse("trust_domian = \"x\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("line 1, column 1: unknown field `trust_domian`"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
