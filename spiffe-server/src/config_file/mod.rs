//! The server's configuration file, SPIRE's `server.conf` in TOML: keys at the top level or
//! in a `[server]` table (SPIRE's `server { ... }` block), with `[health_checks]`,
//! `[ca_subject]`, `[upstream_authority]`, `[limits]` and `[federation]` ([`FederationFile`])
//! tables, and a `[plugins]` table ([`PluginsFile`]) for the `k8s_psat` node attestor.
//! Durations are Go strings ("24h", "1h30m") or whole seconds.
//!
//! An embedder loads a file with [`load`]; the `spiffe-server` binary reads it with [`read`],
//! lays its flags over it ([`FileConfig::overlay`]) and then resolves it
//! ([`FileConfig::resolve`]).
//!
//! ```no_run
//! # fn main() -> Result<(), spiffe_server::config_file::ConfigFileError> {
//! let resolved = spiffe_server::config_file::load("/etc/spiffe/server.toml".as_ref())?;
//! let config = resolved.config; // run it with spiffe_server::run
//! # Ok(())
//! # }
//! ```

mod federation;
mod plugins;
mod resolve;

use std::path::{Path, PathBuf};

use serde::Deserialize;
pub use spiffe_fs::config::{ConfigFileError, DurationValue, InvalidSetting, LogFormat, LogLevel};

pub use federation::{
    AcmeFile, BundleEndpointFile, ClientProfileFile, FederatesWithFile, FederationFile,
    HttpsSpiffeFile, HttpsWebFile, ServeProfileFile, ServingCertFile,
};
pub use plugins::{NodeAttestorsFile, PluginsFile, PsatClusterFile, PsatData};
pub use resolve::{Resolved, datastore_url, ttl_warnings};

/// One string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Strings {
    /// `"US"`.
    One(String),
    /// `["US"]`.
    Many(Vec<String>),
}

impl Strings {
    /// As a list, without empty strings.
    pub fn list(&self) -> Vec<String> {
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
pub struct CaSubjectFile {
    /// C.
    pub country: Option<Strings>,
    /// O.
    pub organization: Option<Strings>,
    /// CN.
    pub common_name: Option<String>,
}

/// `upstream_authority` (SPIRE's `disk` plugin settings).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    /// The upstream CA certificate (and the chain above it).
    pub cert_file_path: PathBuf,
    /// Its private key.
    pub key_file_path: PathBuf,
    /// The upstream roots, if not the last certificate of `cert_file_path`.
    pub bundle_file_path: Option<PathBuf>,
}

/// `health_checks`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthFile {
    /// Serve `/live` and `/ready`.
    pub listener_enabled: Option<bool>,
    /// Address (default `localhost`).
    pub bind_address: Option<String>,
    /// Port (default 80).
    pub bind_port: Option<u16>,
    /// SPIRE's path settings, accepted; the paths are `/live` and `/ready`.
    pub live_path: Option<String>,
    /// See `live_path`.
    pub ready_path: Option<String>,
}

/// `limits`: what one peer of the agent API may hold (see
/// `spiffe_server::config::ConnectionLimits` for each key's meaning and default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Streams per authenticated connection.
    pub max_concurrent_streams: Option<u32>,
    /// Streams per anonymous connection.
    pub anonymous_max_concurrent_streams: Option<u32>,
    /// Largest request message of an anonymous connection, in bytes.
    pub anonymous_max_message_size: Option<usize>,
    /// TLS handshakes at once.
    pub max_concurrent_handshakes: Option<usize>,
    /// TLS handshake timeout.
    pub handshake_timeout: Option<DurationValue>,
    /// Anonymous connections at once.
    pub max_anonymous_connections: Option<usize>,
    /// Life of an anonymous connection.
    pub anonymous_connection_lifetime: Option<DurationValue>,
    /// Idle time before an authenticated connection is closed.
    pub idle_timeout: Option<DurationValue>,
    /// HTTP/2 PING interval (0: off).
    pub keepalive_interval: Option<DurationValue>,
    /// HTTP/2 PING timeout.
    pub keepalive_timeout: Option<DurationValue>,
    /// TCP keepalive idle time (0: off).
    pub tcp_keepalive: Option<DurationValue>,
    /// Time to a call's response headers.
    pub request_timeout: Option<DurationValue>,
    /// Wait for each attestation message.
    pub attestation_message_timeout: Option<DurationValue>,
    /// Attestation attempts per second per source address (0: no limit).
    pub attestation_rate_limit: Option<u32>,
    /// Attestation attempts at once per source address.
    pub attestation_burst: Option<u32>,
}

/// Every setting; unset ones are `None`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The trust domain.
    pub trust_domain: Option<String>,
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Datastore: a SQLite path or URL, or `postgres://...`.
    pub datastore: Option<String>,
    /// Agent API address.
    pub bind_address: Option<String>,
    /// Agent API port.
    pub bind_port: Option<u16>,
    /// Admin socket.
    pub socket_path: Option<PathBuf>,
    /// debug, info, warn, error.
    pub log_level: Option<String>,
    /// text or json.
    pub log_format: Option<String>,
    /// CA lifetime.
    pub ca_ttl: Option<DurationValue>,
    /// Default X509-SVID TTL.
    pub default_x509_svid_ttl: Option<DurationValue>,
    /// Default JWT-SVID TTL.
    pub default_jwt_svid_ttl: Option<DurationValue>,
    /// Agent SVID TTL.
    pub agent_ttl: Option<DurationValue>,
    /// CA key type.
    pub ca_key_type: Option<String>,
    /// JWT key type.
    pub jwt_key_type: Option<String>,
    /// `iss` of JWT-SVIDs.
    pub jwt_issuer: Option<String>,
    /// CA subject.
    pub ca_subject: Option<CaSubjectFile>,
    /// Upstream CA on disk.
    pub upstream_authority: Option<UpstreamFile>,
    /// HTTP health endpoints.
    pub health_checks: Option<HealthFile>,
    /// SPIRE's `plugins { ... }` block (node attestors).
    pub plugins: Option<PluginsFile>,
    /// Accept operator-supplied join tokens below 128 bits of estimated entropy.
    pub allow_weak_join_tokens: Option<bool>,
    /// Agent API connection limits.
    pub limits: Option<LimitsFile>,
    /// SPIRE's `federation { ... }` block: the bundle endpoint and `federates_with`.
    pub federation: Option<FederationFile>,
    /// SPIRE's `server { ... }` block (merged into the top level by [`parse`] and [`read`]).
    pub server: Option<Box<FileConfig>>,
}

impl FileConfig {
    /// `top`'s set values over `self`'s (the binary lays its flags over the file this way).
    pub fn overlay(mut self, top: FileConfig) -> FileConfig {
        spiffe_fs::overlay!(self, top; trust_domain, data_dir, datastore, bind_address, bind_port,
            socket_path, log_level, log_format, ca_ttl, default_x509_svid_ttl,
            default_jwt_svid_ttl, agent_ttl, ca_key_type, jwt_key_type, jwt_issuer, ca_subject,
            upstream_authority, health_checks, plugins, allow_weak_join_tokens, limits, federation);
        self
    }

    /// The `[server]` table merged into the top level.
    fn flatten(mut self) -> FileConfig {
        match self.server.take() {
            Some(server) => self.overlay(server.flatten()),
            None => self,
        }
    }

    /// Validates the settings (with SPIRE's messages) and builds the server's configuration;
    /// unset settings take SPIRE's defaults.
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
/// needs to run a server from a SPIRE-style configuration file.
///
/// # Errors
///
/// As [`read`] and [`FileConfig::resolve`].
pub fn load(path: &Path) -> Result<Resolved, ConfigFileError> {
    read(path, false)?.resolve()
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
        let e = parse("trust_domian = \"x\"").err().map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.starts_with("line 1, column 1: unknown field `trust_domian`"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }
}
