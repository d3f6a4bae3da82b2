//! The TOML configuration file. Keys mirror SPIRE's `server.conf`: they may sit at the top
//! level or in a `[server]` table (SPIRE's `server { ... }` block), with `[health_checks]`,
//! `[ca_subject]` and `[upstream_authority]` tables, and a `[plugins]` table (see
//! [`super::plugins`]) for the `k8s_psat` node attestor. Durations are Go strings ("24h", "1h30m")
//! or whole seconds.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

use spiffe_cli::config::DurationValue;

use super::plugins::PluginsFile;

/// One string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Strings {
    /// `"US"`.
    One(String),
    /// `["US"]`.
    Many(Vec<String>),
}

impl Strings {
    /// As a list, without empty strings.
    pub(crate) fn list(&self) -> Vec<String> {
        match self {
            Strings::One(s) => vec![s.clone()],
            Strings::Many(v) => v.clone(),
        }
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
    }
}

/// `ca_subject`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaSubjectFile {
    /// C.
    pub(crate) country: Option<Strings>,
    /// O.
    pub(crate) organization: Option<Strings>,
    /// CN.
    pub(crate) common_name: Option<String>,
}

/// `upstream_authority` (SPIRE's `disk` plugin settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpstreamFile {
    /// The upstream CA certificate (and the chain above it).
    pub(crate) cert_file_path: PathBuf,
    /// Its private key.
    pub(crate) key_file_path: PathBuf,
    /// The upstream roots, if not the last certificate of `cert_file_path`.
    pub(crate) bundle_file_path: Option<PathBuf>,
}

/// `health_checks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthFile {
    /// Serve `/live` and `/ready`.
    pub(crate) listener_enabled: Option<bool>,
    /// Address (default `localhost`).
    pub(crate) bind_address: Option<String>,
    /// Port (default 80).
    pub(crate) bind_port: Option<u16>,
    /// SPIRE's path settings, accepted; the paths are `/live` and `/ready`.
    pub(crate) live_path: Option<String>,
    /// See `live_path`.
    pub(crate) ready_path: Option<String>,
}

/// `limits`: what one peer of the agent API may hold (see
/// `spiffe_server::config::ConnectionLimits` for each key's meaning and default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LimitsFile {
    /// Streams per authenticated connection.
    pub(crate) max_concurrent_streams: Option<u32>,
    /// Streams per anonymous connection.
    pub(crate) anonymous_max_concurrent_streams: Option<u32>,
    /// Largest request message of an anonymous connection, in bytes.
    pub(crate) anonymous_max_message_size: Option<usize>,
    /// TLS handshakes at once.
    pub(crate) max_concurrent_handshakes: Option<usize>,
    /// TLS handshake timeout.
    pub(crate) handshake_timeout: Option<DurationValue>,
    /// Anonymous connections at once.
    pub(crate) max_anonymous_connections: Option<usize>,
    /// Life of an anonymous connection.
    pub(crate) anonymous_connection_lifetime: Option<DurationValue>,
    /// Idle time before an authenticated connection is closed.
    pub(crate) idle_timeout: Option<DurationValue>,
    /// HTTP/2 PING interval (0: off).
    pub(crate) keepalive_interval: Option<DurationValue>,
    /// HTTP/2 PING timeout.
    pub(crate) keepalive_timeout: Option<DurationValue>,
    /// TCP keepalive idle time (0: off).
    pub(crate) tcp_keepalive: Option<DurationValue>,
    /// Time to a call's response headers.
    pub(crate) request_timeout: Option<DurationValue>,
    /// Wait for each attestation message.
    pub(crate) attestation_message_timeout: Option<DurationValue>,
    /// Attestation attempts per second per source address (0: no limit).
    pub(crate) attestation_rate_limit: Option<u32>,
    /// Attestation attempts at once per source address.
    pub(crate) attestation_burst: Option<u32>,
}

/// Every setting; unset ones are `None`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// The trust domain.
    pub(crate) trust_domain: Option<String>,
    /// Data directory.
    pub(crate) data_dir: Option<PathBuf>,
    /// Datastore: a SQLite path or URL, or `postgres://...`.
    pub(crate) datastore: Option<String>,
    /// Agent API address.
    pub(crate) bind_address: Option<String>,
    /// Agent API port.
    pub(crate) bind_port: Option<u16>,
    /// Admin socket.
    pub(crate) socket_path: Option<PathBuf>,
    /// debug, info, warn, error.
    pub(crate) log_level: Option<String>,
    /// text or json.
    pub(crate) log_format: Option<String>,
    /// CA lifetime.
    pub(crate) ca_ttl: Option<DurationValue>,
    /// Default X509-SVID TTL.
    pub(crate) default_x509_svid_ttl: Option<DurationValue>,
    /// Default JWT-SVID TTL.
    pub(crate) default_jwt_svid_ttl: Option<DurationValue>,
    /// Agent SVID TTL.
    pub(crate) agent_ttl: Option<DurationValue>,
    /// CA key type.
    pub(crate) ca_key_type: Option<String>,
    /// JWT key type.
    pub(crate) jwt_key_type: Option<String>,
    /// `iss` of JWT-SVIDs.
    pub(crate) jwt_issuer: Option<String>,
    /// CA subject.
    pub(crate) ca_subject: Option<CaSubjectFile>,
    /// Upstream CA on disk.
    pub(crate) upstream_authority: Option<UpstreamFile>,
    /// HTTP health endpoints.
    pub(crate) health_checks: Option<HealthFile>,
    /// SPIRE's `plugins { ... }` block (node attestors).
    pub(crate) plugins: Option<PluginsFile>,
    /// Accept operator-supplied join tokens below 128 bits of estimated entropy.
    pub(crate) allow_weak_join_tokens: Option<bool>,
    /// Agent API connection limits.
    pub(crate) limits: Option<LimitsFile>,
    /// SPIRE's `server { ... }` block.
    pub(crate) server: Option<Box<FileConfig>>,
}

impl FileConfig {
    /// `top`'s set values over `self`'s.
    pub(crate) fn overlay(mut self, top: FileConfig) -> FileConfig {
        spiffe_cli::overlay!(self, top; trust_domain, data_dir, datastore, bind_address, bind_port,
            socket_path, log_level, log_format, ca_ttl, default_x509_svid_ttl,
            default_jwt_svid_ttl, agent_ttl, ca_key_type, jwt_key_type, jwt_issuer, ca_subject,
            upstream_authority, health_checks, plugins, allow_weak_join_tokens, limits);
        self
    }

    /// The `[server]` table merged into the top level.
    fn flatten(mut self) -> FileConfig {
        match self.server.take() {
            Some(server) => self.overlay(server.flatten()),
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
    use std::time::Duration;

    use super::*;

    #[test]
    fn spire_names_top_level_or_server_table() {
        let c = parse(
            r#"
            trust_domain = "a.org"
            ca_ttl = "24h"
            [server]
            trust_domain = "b.org"
            default_x509_svid_ttl = 600
            [health_checks]
            listener_enabled = true
            bind_port = 8080
            [ca_subject]
            country = ["DE"]
            organization = "Acme"
            "#,
        )
        .ok()
        .unwrap_or_default();
        assert_eq!(c.trust_domain.as_deref(), Some("b.org"));
        assert_eq!(
            c.ca_ttl.as_ref().and_then(|d| d.get("ca_ttl").ok()),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(
            c.default_x509_svid_ttl
                .as_ref()
                .and_then(|d| d.get("x").ok()),
            Some(Duration::from_secs(600))
        );
        assert_eq!(c.health_checks.and_then(|h| h.bind_port), Some(8080));
        let subject = c.ca_subject.unwrap_or_default();
        assert_eq!(
            subject.country.map(|s| s.list()),
            Some(vec!["DE".to_owned()])
        );
        assert_eq!(
            subject.organization.map(|s| s.list()),
            Some(vec!["Acme".to_owned()])
        );
    }

    #[test]
    fn errors_are_one_line() {
        let e = parse("trust_domian = \"x\"")
            .err()
            .map(|e| format!("{e:#}"));
        let e = e.unwrap_or_default();
        assert!(
            e.starts_with("line 1, column 1: unknown field `trust_domian`"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
