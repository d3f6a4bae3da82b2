//! The TOML configuration file. Keys mirror SPIRE's `agent.conf`: they may sit at the top
//! level or in an `[agent]` table (SPIRE's `agent { ... }` block). File sinks are
//! `[[sink]]` tables with `dir` and either `spiffe_id` or `selectors`. A `[plugins]` table (see
//! [`super::plugins`]) configures `k8s_psat` node attestation and the `k8s` workload attestor.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use super::plugins::PluginsFile;

/// A `[[sink]]`: where to write one workload's SVID as files.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SinkFile {
    /// The SPIFFE ID whose SVID is written.
    pub(crate) spiffe_id: Option<String>,
    /// Or: the SVID of the entry whose selectors are exactly these (`type:value`, in any
    /// order); with several such entries, the first by SPIFFE ID, then entry ID.
    pub(crate) selectors: Option<Vec<String>>,
    /// The directory (`svid.pem`, `key.pem`, `bundle.pem`).
    pub(crate) dir: Option<PathBuf>,
}

/// Every setting; unset ones are `None`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The trust domain.
    pub(crate) trust_domain: Option<String>,
    /// Where the agent keeps its SVID, key and bundle.
    pub(crate) data_dir: Option<PathBuf>,
    /// The server's host name or IP address.
    pub(crate) server_address: Option<String>,
    /// The server's agent API port.
    pub(crate) server_port: Option<u16>,
    /// The Workload API socket.
    pub(crate) socket_path: Option<PathBuf>,
    /// A join token for the first attestation.
    pub(crate) join_token: Option<String>,
    /// A file holding the join token.
    pub(crate) join_token_file: Option<PathBuf>,
    /// PEM file of the trust domain's roots, to trust the server at first contact.
    pub(crate) trust_bundle_path: Option<PathBuf>,
    /// Trust the server without verification at first contact (tests only).
    pub(crate) insecure_bootstrap: Option<bool>,
    /// debug, info, warn, error.
    pub(crate) log_level: Option<String>,
    /// text or json.
    pub(crate) log_format: Option<String>,
    /// Write logs to this file instead of stderr.
    pub(crate) log_file: Option<PathBuf>,
    /// Most X509-SVIDs kept for entries no workload watches (0: SPIRE's default, 1000).
    pub(crate) x509_svid_cache_max_size: Option<usize>,
    /// Most JWT-SVIDs kept, least recently used dropped first (0: SPIRE's default, 1000).
    pub(crate) jwt_svid_cache_max_size: Option<usize>,
    /// Produce `unix:path` and `unix:sha256` selectors.
    pub(crate) discover_workload_path: Option<bool>,
    /// File sinks.
    #[serde(alias = "sinks")]
    pub(crate) sink: Option<Vec<SinkFile>>,
    /// SPIRE's `plugins { ... }` block (node and workload attestors).
    pub(crate) plugins: Option<PluginsFile>,
    /// SPIRE's `agent { ... }` block.
    pub(crate) agent: Option<Box<FileConfig>>,
}

impl FileConfig {
    /// `top`'s set values over `self`'s.
    pub(crate) fn overlay(mut self, top: FileConfig) -> FileConfig {
        spiffe_cli::overlay!(self, top; trust_domain, data_dir, server_address, server_port, socket_path,
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
}

/// Parses the file's text.
pub(crate) fn parse(text: &str) -> Result<FileConfig> {
    Ok(spiffe_cli::config::parse_toml::<FileConfig>(text)?.flatten())
}

/// Reads and parses the file at `path`.
pub(crate) fn load(path: &Path, expand: bool) -> Result<FileConfig> {
    spiffe_cli::config::load(path, expand, parse)
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
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            e.starts_with("line 1, column 1: unknown field `trust_domian`"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
