//! The configuration file: SPIRE's `oidc-discovery-provider.conf` keys, written in TOML (HCL
//! blocks such as `server_api { ... }` become tables, `[server_api]`), read within a size limit
//! and checked with SPIRE's rules and messages. Each error names the setting it is about.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use spiffe_core::TrustDomain;
use spiffe_fs::config::{ConfigFileError, DurationValue, LogFormat, LogLevel};

use crate::domain::DomainPolicy;
use crate::url::HttpUrl;

/// SPIRE's default poll interval of every key source.
pub(crate) const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// SPIRE's default interval between checks of the serving certificate files.
pub(crate) const DEFAULT_FILE_SYNC_INTERVAL: Duration = Duration::from_secs(60);
/// SPIRE's default port of the health checks listener.
pub(crate) const DEFAULT_HEALTH_PORT: u16 = 8008;
/// The longest `server_path_prefix` accepted.
const MAX_PATH_PREFIX: usize = 1024;

/// Every setting of the file; unset ones are `None`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    log_format: Option<String>,
    log_level: Option<String>,
    log_path: Option<PathBuf>,
    log_requests: Option<bool>,
    domains: Option<Vec<String>>,
    set_key_use: Option<bool>,
    allow_insecure_scheme: Option<bool>,
    insecure_addr: Option<String>,
    listen_socket_path: Option<PathBuf>,
    /// Read only to be refused: ACME cannot be exercised here.
    acme: Option<IgnoredAny>,
    serving_cert_file: Option<ServingCertFile>,
    server_api: Option<ServerApiFile>,
    workload_api: Option<WorkloadApiFile>,
    file: Option<FileSourceFile>,
    health_checks: Option<HealthChecksFile>,
    experimental: Option<ExperimentalFile>,
    jwt_issuer: Option<String>,
    jwks_uri: Option<String>,
    server_path_prefix: Option<String>,
}

/// `serving_cert_file`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServingCertFile {
    cert_file_path: Option<PathBuf>,
    key_file_path: Option<PathBuf>,
    file_sync_interval: Option<DurationValue>,
    addr: Option<String>,
}

/// The `experimental` table of a section (Windows named pipes only).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PipeFile {
    named_pipe_name: Option<String>,
}

/// `server_api`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerApiFile {
    address: Option<String>,
    poll_interval: Option<DurationValue>,
    experimental: Option<PipeFile>,
}

/// `workload_api`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadApiFile {
    socket_path: Option<PathBuf>,
    trust_domain: Option<String>,
    poll_interval: Option<DurationValue>,
    experimental: Option<PipeFile>,
}

/// `file`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSourceFile {
    path: Option<PathBuf>,
    poll_interval: Option<DurationValue>,
}

/// `health_checks`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthChecksFile {
    bind_port: Option<u16>,
    live_path: Option<String>,
    ready_path: Option<String>,
}

/// The top-level `experimental` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExperimentalFile {
    listen_named_pipe_name: Option<String>,
}

/// Where the provider serves its documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Listen {
    /// Plain HTTP on a TCP address (`insecure_addr`, `host:port`).
    Insecure(String),
    /// Plain HTTP on a UNIX socket, behind a proxy (`listen_socket_path`).
    Unix(PathBuf),
    /// HTTPS with a certificate and key read from files, reloaded when they change.
    Tls {
        /// `host:port` (`serving_cert_file.addr`, default `:443`).
        addr: String,
        /// PEM certificate chain.
        cert: PathBuf,
        /// PEM private key.
        key: PathBuf,
        /// How often the files are checked for changes.
        sync_interval: Duration,
    },
}

/// Where the JWT authorities come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SourceConfig {
    /// The server's bundle API on its admin socket (`GetBundle`).
    ServerApi {
        /// The admin socket.
        socket: PathBuf,
        /// Poll interval.
        poll: Duration,
    },
    /// An agent's Workload API (`FetchJWTBundles`).
    WorkloadApi {
        /// The Workload API socket.
        socket: PathBuf,
        /// The trust domain whose bundle is served.
        trust_domain: TrustDomain,
        /// Poll interval.
        poll: Duration,
    },
    /// A SPIFFE bundle document on disk.
    File {
        /// The file.
        path: PathBuf,
        /// Poll interval.
        poll: Duration,
    },
}

impl SourceConfig {
    /// The poll interval of the source.
    pub(crate) fn poll_interval(&self) -> Duration {
        match self {
            SourceConfig::ServerApi { poll, .. }
            | SourceConfig::WorkloadApi { poll, .. }
            | SourceConfig::File { poll, .. } => *poll,
        }
    }
}

/// `health_checks`, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HealthChecks {
    /// Port of the dedicated listener (all interfaces, as SPIRE binds it).
    pub(crate) port: u16,
    /// Path of the liveness check.
    pub(crate) live_path: String,
    /// Path of the readiness check.
    pub(crate) ready_path: String,
}

/// Log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogSettings {
    /// Level.
    pub(crate) level: LogLevel,
    /// Text or JSON.
    pub(crate) format: LogFormat,
    /// A file to append to instead of stderr.
    pub(crate) path: Option<PathBuf>,
    /// Every request logged at debug level.
    pub(crate) requests: bool,
}

/// What the discovery document and the key set are built from.
#[derive(Debug, Clone)]
pub(crate) struct Documents {
    /// Hosts the discovery document may be asked for.
    pub(crate) domains: DomainPolicy,
    /// `http` URLs in the document for plain-HTTP requests.
    pub(crate) allow_insecure_scheme: bool,
    /// `use: sig` on every key.
    pub(crate) set_key_use: bool,
    /// A fixed issuer.
    pub(crate) jwt_issuer: Option<HttpUrl>,
    /// A fixed `jwks_uri`.
    pub(crate) jwks_uri: Option<HttpUrl>,
    /// Prefix of both endpoints (`/` when unset).
    pub(crate) path_prefix: String,
}

/// The provider's configuration.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// What is served, and how.
    pub(crate) documents: Documents,
    /// Where.
    pub(crate) listen: Listen,
    /// Where the keys come from.
    pub(crate) source: SourceConfig,
    /// The health listener, if enabled.
    pub(crate) health: Option<HealthChecks>,
    /// Logs.
    pub(crate) log: LogSettings,
}

/// Reads and resolves the file at `path` (with `$VAR` expanded if `expand`).
///
/// # Errors
///
/// [`ConfigFileError`] if the file cannot be read, does not parse, or breaks a rule.
pub(crate) fn load(path: &Path, expand: bool) -> Result<Config, ConfigFileError> {
    spiffe_fs::config::read_file::<FileConfig>(path, expand)?.resolve()
}

/// Parses and resolves configuration text (tests).
#[cfg(test)]
pub(crate) fn parse(text: &str) -> Result<Config, ConfigFileError> {
    spiffe_fs::config::parse_toml::<FileConfig>(text)?.resolve()
}

/// Go's `parseDurationField`: unset, empty or zero means the default.
fn interval(
    key: &str,
    value: Option<&DurationValue>,
    default: Duration,
) -> Result<Duration, ConfigFileError> {
    let d = match value {
        None => return Ok(default),
        Some(DurationValue::Text(t)) if t.is_empty() => return Ok(default),
        Some(v) => v.get(key)?,
    };
    Ok(if d.is_zero() { default } else { d })
}

/// `host:port` as Go's `net.Listen` takes it (`:443` is every interface).
fn listen_addr(key: &str, value: &str) -> Result<String, ConfigFileError> {
    let invalid = || {
        ConfigFileError::invalid(
            key,
            format!(
                "invalid {key} {value:?}: must be host:port (for example 127.0.0.1:8080 or :443)"
            ),
        )
    };
    let (host, port) = value.rsplit_once(':').ok_or_else(invalid)?;
    port.parse::<u16>().map_err(|_| invalid())?;
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    Ok(if host.is_empty() {
        format!("0.0.0.0:{port}")
    } else if host.contains(':') && !host.starts_with('[') {
        // An IPv6 address must be bracketed, as Go requires.
        return Err(invalid());
    } else {
        value.to_owned()
    })
}

/// A path of the health listener: absolute, no query or fragment.
fn http_path(key: &str, value: Option<&str>, default: &str) -> Result<String, ConfigFileError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(default.to_owned());
    };
    if !value.starts_with('/')
        || value.len() > MAX_PATH_PREFIX
        || value
            .chars()
            .any(|c| c == '?' || c == '#' || c.is_whitespace() || c.is_control())
    {
        return Err(ConfigFileError::invalid(
            key,
            format!(
                "invalid {key} {value:?}: must be an absolute URL path (starting with '/', without query or fragment)"
            ),
        ));
    }
    Ok(value.to_owned())
}

impl FileConfig {
    /// Checks the settings with SPIRE's rules and builds the configuration; unset settings
    /// take SPIRE's defaults.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Invalid`] naming the setting and the rule it breaks,
    /// [`ConfigFileError::Duration`] for a duration that is not a Go duration.
    pub(crate) fn resolve(self) -> Result<Config, ConfigFileError> {
        let log = LogSettings {
            level: LogLevel::parse(self.log_level.as_deref())?,
            format: LogFormat::parse(self.log_format.as_deref())?,
            path: self.log_path.filter(|p| !p.as_os_str().is_empty()),
            requests: self.log_requests.unwrap_or(false),
        };

        let mut domains: Vec<String> = Vec::new();
        for d in self.domains.unwrap_or_default() {
            if !domains.contains(&d) {
                domains.push(d);
            }
        }
        if domains.is_empty() {
            return Err(ConfigFileError::invalid(
                "domains",
                "at least one domain must be configured",
            ));
        }
        let domains = DomainPolicy::allow_list(&domains)
            .map_err(|e| ConfigFileError::invalid("domains", e.to_string()))?;

        if self.acme.is_some() {
            return Err(ConfigFileError::invalid(
                "acme",
                "the acme section is not supported by this provider: serve HTTPS with \
                 serving_cert_file, or plain HTTP behind a TLS proxy with insecure_addr or \
                 listen_socket_path",
            ));
        }
        if self
            .experimental
            .as_ref()
            .is_some_and(|e| e.listen_named_pipe_name.is_some())
        {
            return Err(ConfigFileError::invalid(
                "experimental.listen_named_pipe_name",
                "listen_named_pipe_name is supported on Windows only",
            ));
        }

        let insecure_addr = self.insecure_addr.filter(|a| !a.is_empty());
        let listen_socket = self
            .listen_socket_path
            .filter(|p| !p.as_os_str().is_empty());
        let tls = match self.serving_cert_file {
            None => None,
            Some(s) => {
                let cert = s.cert_file_path.filter(|p| !p.as_os_str().is_empty()).ok_or_else(|| {
                    ConfigFileError::invalid(
                        "serving_cert_file.cert_file_path",
                        "cert_file_path must be configured in the serving_cert_file configuration section",
                    )
                })?;
                let key = s.key_file_path.filter(|p| !p.as_os_str().is_empty()).ok_or_else(|| {
                    ConfigFileError::invalid(
                        "serving_cert_file.key_file_path",
                        "key_file_path must be configured in the serving_cert_file configuration section",
                    )
                })?;
                let addr = listen_addr(
                    "serving_cert_file.addr",
                    s.addr
                        .as_deref()
                        .filter(|a| !a.is_empty())
                        .unwrap_or(":443"),
                )?;
                let sync_interval = interval(
                    "serving_cert_file.file_sync_interval",
                    s.file_sync_interval.as_ref(),
                    DEFAULT_FILE_SYNC_INTERVAL,
                )?;
                Some(Listen::Tls {
                    addr,
                    cert,
                    key,
                    sync_interval,
                })
            }
        };

        let mut sources = Vec::new();
        if let Some(s) = self.server_api {
            if s.experimental.is_some_and(|e| e.named_pipe_name.is_some()) {
                return Err(ConfigFileError::invalid(
                    "server_api.experimental.named_pipe_name",
                    "named_pipe_name is supported on Windows only",
                ));
            }
            let poll = interval(
                "server_api.poll_interval",
                s.poll_interval.as_ref(),
                DEFAULT_POLL_INTERVAL,
            )?;
            let address = s.address.filter(|a| !a.is_empty()).ok_or_else(|| {
                ConfigFileError::invalid(
                    "server_api.address",
                    "address must be configured in the server_api configuration section",
                )
            })?;
            let socket = unix_target(&address).ok_or_else(|| {
                ConfigFileError::invalid(
                    "server_api.address",
                    "address must use the unix name system in the server_api configuration \
                     section (unix:///path/to/api.sock)",
                )
            })?;
            sources.push(SourceConfig::ServerApi { socket, poll });
        }
        if let Some(w) = self.workload_api {
            if w.experimental.is_some_and(|e| e.named_pipe_name.is_some()) {
                return Err(ConfigFileError::invalid(
                    "workload_api.experimental.named_pipe_name",
                    "named_pipe_name is supported on Windows only",
                ));
            }
            let td = w.trust_domain.filter(|t| !t.is_empty()).ok_or_else(|| {
                ConfigFileError::invalid(
                    "workload_api.trust_domain",
                    "trust_domain must be configured in the workload_api configuration section",
                )
            })?;
            let trust_domain = TrustDomain::parse(&td).map_err(|e| {
                ConfigFileError::invalid(
                    "workload_api.trust_domain",
                    format!(
                        "invalid trust_domain {td:?} in the workload_api configuration section: {e}"
                    ),
                )
            })?;
            let poll = interval(
                "workload_api.poll_interval",
                w.poll_interval.as_ref(),
                DEFAULT_POLL_INTERVAL,
            )?;
            let socket = w
                .socket_path
                .filter(|p| !p.as_os_str().is_empty())
                .ok_or_else(|| {
                    ConfigFileError::invalid(
                        "workload_api.socket_path",
                        "socket_path must be configured in the workload_api configuration section",
                    )
                })?;
            let socket = std::path::absolute(&socket).map_err(|e| {
                ConfigFileError::invalid(
                    "workload_api.socket_path",
                    format!("invalid socket_path {}: {e}", socket.display()),
                )
            })?;
            sources.push(SourceConfig::WorkloadApi {
                socket,
                trust_domain,
                poll,
            });
        }
        if let Some(f) = self.file {
            let poll = interval(
                "file.poll_interval",
                f.poll_interval.as_ref(),
                DEFAULT_POLL_INTERVAL,
            )?;
            let path = f
                .path
                .filter(|p| !p.as_os_str().is_empty())
                .ok_or_else(|| {
                    ConfigFileError::invalid(
                        "file.path",
                        "path must be configured in the file configuration section",
                    )
                })?;
            sources.push(SourceConfig::File { path, poll });
        }

        let health = self
            .health_checks
            .map(|h| -> Result<HealthChecks, ConfigFileError> {
                Ok(HealthChecks {
                    port: h
                        .bind_port
                        .filter(|p| *p > 0)
                        .unwrap_or(DEFAULT_HEALTH_PORT),
                    live_path: http_path(
                        "health_checks.live_path",
                        h.live_path.as_deref(),
                        "/live",
                    )?,
                    ready_path: http_path(
                        "health_checks.ready_path",
                        h.ready_path.as_deref(),
                        "/ready",
                    )?,
                })
            })
            .transpose()?;

        let listen = match (insecure_addr, listen_socket, tls) {
            (None, None, None) => {
                return Err(ConfigFileError::invalid(
                    "serving_cert_file",
                    "either serving_cert_file, insecure_addr or listen_socket_path must be configured",
                ));
            }
            (Some(_), _, Some(_)) => {
                return Err(ConfigFileError::invalid(
                    "insecure_addr",
                    "serving_cert_file and insecure_addr are mutually exclusive",
                ));
            }
            (_, Some(_), Some(_)) => {
                return Err(ConfigFileError::invalid(
                    "listen_socket_path",
                    "serving_cert_file and listen_socket_path are mutually exclusive",
                ));
            }
            (Some(_), Some(_), None) => {
                return Err(ConfigFileError::invalid(
                    "insecure_addr",
                    "insecure_addr and listen_socket_path are mutually exclusive",
                ));
            }
            (Some(addr), None, None) => Listen::Insecure(listen_addr("insecure_addr", &addr)?),
            (None, Some(path), None) => Listen::Unix(path),
            (None, None, Some(tls)) => tls,
        };

        let source = match sources.len() {
            0 => {
                return Err(ConfigFileError::invalid(
                    "server_api",
                    "exactly one of the server_api, workload_api, or file sections must be configured",
                ));
            }
            1 => sources.remove(0),
            _ => {
                return Err(ConfigFileError::invalid(
                    "server_api",
                    "the server_api, workload_api, and file sections are mutually exclusive",
                ));
            }
        };

        let jwt_issuer = match self.jwt_issuer.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(HttpUrl::parse(&s).map_err(|e| {
                ConfigFileError::invalid("jwt_issuer", format!("the jwt_issuer url {e}"))
            })?),
        };
        let jwks_uri = match self.jwks_uri.filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(HttpUrl::parse(&s).map_err(|e| {
                ConfigFileError::invalid(
                    "jwks_uri",
                    format!("the jwks_uri setting could not be parsed: the url {e}"),
                )
            })?),
        };
        let path_prefix = http_path(
            "server_path_prefix",
            self.server_path_prefix.as_deref(),
            "/",
        )?;

        Ok(Config {
            documents: Documents {
                domains,
                allow_insecure_scheme: self.allow_insecure_scheme.unwrap_or(false),
                set_key_use: self.set_key_use.unwrap_or(false),
                jwt_issuer,
                jwks_uri,
                path_prefix,
            },
            listen,
            source,
            health,
            log,
        })
    }
}

/// The socket path of a gRPC `unix:` target (`unix:///abs/path`, `unix:/abs/path`,
/// `unix:relative/path`), made absolute.
fn unix_target(address: &str) -> Option<PathBuf> {
    let rest = address.strip_prefix("unix:")?;
    let path = match rest.strip_prefix("//") {
        Some(abs) if abs.starts_with('/') => abs,
        Some(_) => return None,
        None => rest,
    };
    if path.is_empty() {
        return None;
    }
    std::path::absolute(path).ok()
}

/// The health listener's address (every interface, as SPIRE's `:<bind_port>`).
pub(crate) fn health_addr(h: &HealthChecks) -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], h.port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "domains = [\"oidc.example.org\"]\ninsecure_addr = \"127.0.0.1:8080\"\n";

    fn err(text: &str) -> (String, String) {
        match parse(text) {
            Ok(_) => (String::new(), "accepted".into()),
            Err(ConfigFileError::Invalid(i)) => (i.field, i.rule),
            Err(e) => (String::new(), e.to_string()),
        }
    }

    #[test]
    fn server_api_with_defaults() {
        let c = parse(&format!(
            "{BASE}[server_api]\naddress = \"unix:///tmp/spiffe-server/private/api.sock\"\n"
        ))
        .unwrap();
        assert_eq!(
            c.source,
            SourceConfig::ServerApi {
                socket: PathBuf::from("/tmp/spiffe-server/private/api.sock"),
                poll: Duration::from_secs(10)
            }
        );
        assert_eq!(c.listen, Listen::Insecure("127.0.0.1:8080".into()));
        assert_eq!(c.documents.path_prefix, "/");
        assert!(!c.documents.allow_insecure_scheme);
        assert!(c.health.is_none());
        assert_eq!(c.log.level, LogLevel::Info);
    }

    #[test]
    fn workload_api_tls_and_health() {
        let c = parse(
            "domains = [\"a.test\", \"a.test\", \"b.test\"]\nlog_level = \"DEBUG\"\nlog_format = \"JSON\"\n\
             [serving_cert_file]\ncert_file_path = \"/c.pem\"\nkey_file_path = \"/k.pem\"\n\
             file_sync_interval = \"5s\"\n\
             [workload_api]\nsocket_path = \"/run/agent.sock\"\ntrust_domain = \"example.org\"\n\
             poll_interval = \"2s\"\n[health_checks]\nbind_port = 9000\n",
        )
        .unwrap();
        assert_eq!(
            c.listen,
            Listen::Tls {
                addr: "0.0.0.0:443".into(),
                cert: "/c.pem".into(),
                key: "/k.pem".into(),
                sync_interval: Duration::from_secs(5)
            }
        );
        assert!(matches!(
            &c.source,
            SourceConfig::WorkloadApi { trust_domain, poll, .. }
                if trust_domain.name() == "example.org" && *poll == Duration::from_secs(2)
        ));
        assert_eq!(
            c.health,
            Some(HealthChecks {
                port: 9000,
                live_path: "/live".into(),
                ready_path: "/ready".into()
            })
        );
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.log.level, LogLevel::Debug);
    }

    #[test]
    fn zero_and_empty_intervals_take_the_default() {
        let c = parse(&format!(
            "{BASE}[file]\npath = \"/b.json\"\npoll_interval = 0\n[health_checks]\n"
        ))
        .unwrap();
        assert_eq!(c.source.poll_interval(), DEFAULT_POLL_INTERVAL);
        assert_eq!(c.health.map(|h| h.port), Some(DEFAULT_HEALTH_PORT));
    }

    #[test]
    fn rules_name_their_setting() {
        let server = "[server_api]\naddress = \"unix:///s.sock\"\n";
        let cases: &[(String, &str, &str)] = &[
            (
                format!("insecure_addr = \":80\"\n{server}"),
                "domains",
                "at least one domain must be configured",
            ),
            (
                format!("{BASE}[acme]\nemail = \"a@b.test\"\ntos_accepted = true\n{server}"),
                "acme",
                "not supported",
            ),
            (
                "domains = [\"a.test\"]\n[server_api]\naddress = \"unix:///s\"\n".into(),
                "serving_cert_file",
                "either serving_cert_file, insecure_addr or listen_socket_path",
            ),
            (
                format!("{BASE}listen_socket_path = \"/s\"\n{server}"),
                "insecure_addr",
                "mutually exclusive",
            ),
            (BASE.into(), "server_api", "exactly one of"),
            (
                format!("{BASE}{server}[file]\npath = \"/x\"\n"),
                "server_api",
                "mutually exclusive",
            ),
            (
                format!("{BASE}[server_api]\naddress = \"127.0.0.1:8081\"\n"),
                "server_api.address",
                "unix name system",
            ),
            (
                format!("{BASE}[workload_api]\nsocket_path = \"/s\"\n"),
                "workload_api.trust_domain",
                "trust_domain must be configured",
            ),
            (
                format!("{BASE}[workload_api]\nsocket_path = \"/s\"\ntrust_domain = \"Bad TD\"\n"),
                "workload_api.trust_domain",
                "invalid trust_domain",
            ),
            (
                format!("{BASE}jwt_issuer = \"example.org/issuer\"\n{server}"),
                "jwt_issuer",
                "must contain a scheme",
            ),
            (
                format!("{BASE}jwt_issuer = \"https:///path\"\n{server}"),
                "jwt_issuer",
                "must contain a host",
            ),
            (
                format!("{BASE}jwks_uri = \"/keys\"\n{server}"),
                "jwks_uri",
                "could not be parsed",
            ),
            (
                format!("domains = [\"Upper.Test\"]\ninsecure_addr = \":80\"\n{server}"),
                "domains",
                "must already be punycode encoded",
            ),
            (
                format!("domains = [\"a.test\"]\ninsecure_addr = \"8080\"\n{server}"),
                "insecure_addr",
                "must be host:port",
            ),
            (
                format!("{BASE}server_path_prefix = \"instance\"\n{server}"),
                "server_path_prefix",
                "must be an absolute URL path",
            ),
            (
                format!("{BASE}{server}[experimental]\nlisten_named_pipe_name = \"p\"\n"),
                "experimental.listen_named_pipe_name",
                "Windows only",
            ),
            (
                format!("{BASE}log_level = \"loud\"\n{server}"),
                "log_level",
                "invalid log_level",
            ),
            (
                format!("{BASE}[serving_cert_file]\nkey_file_path = \"/k\"\n{server}"),
                "serving_cert_file.cert_file_path",
                "cert_file_path must be configured",
            ),
        ];
        for (text, field, rule) in cases {
            let (f, r) = err(text);
            assert_eq!(f, *field, "{text}\n{r}");
            assert!(r.contains(rule), "{text}\n{r}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_refused() {
        let e = parse(&format!(
            "{BASE}[server_api]\naddress = \"unix:///s\"\npoll = \"1s\"\n"
        ))
        .err()
        .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("unknown field `poll`")));
        let e = parse(&format!(
            "{BASE}[server_api]\naddress = \"unix:///s\"\npoll_interval = \"10\"\n"
        ))
        .err()
        .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("server_api.poll_interval: ")));
    }

    #[test]
    fn unix_targets() {
        assert_eq!(unix_target("unix:///a/b.sock"), Some("/a/b.sock".into()));
        assert_eq!(unix_target("unix:/a/b.sock"), Some("/a/b.sock".into()));
        assert!(unix_target("unix:rel.sock").is_some_and(|p| p.is_absolute()));
        assert_eq!(unix_target("unix://host/a"), None);
        assert_eq!(unix_target("unix:"), None);
        assert_eq!(unix_target("dns:///server:8081"), None);
    }
}
