//! From settings (defaults, then the file, then flags) to the server's configuration.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use spiffe_ca::{CaKeyType, CaSubject};
use spiffe_core::TrustDomain;
use spiffe_fs::config::{DurationValue, LogFormat, LogLevel};

use super::{ConfigFileError, FileConfig, LimitsFile};
use crate::ServerConfig;
use crate::config::{DEFAULT_SOCKET_PATH, UpstreamConfig};

/// What a configuration file sets: the server's configuration and how it logs.
#[derive(Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The server's configuration.
    pub config: ServerConfig,
    /// `log_level`.
    pub log_level: LogLevel,
    /// `log_format`.
    pub log_format: LogFormat,
}

/// SPIRE's default agent API address and port.
const DEFAULT_BIND_ADDRESS: &str = "0.0.0.0";
const DEFAULT_BIND_PORT: u16 = 8081;
/// SPIRE's default health listener.
const DEFAULT_HEALTH_ADDRESS: &str = "localhost";
const DEFAULT_HEALTH_PORT: u16 = 80;

/// The datastore URL: `postgres://...` and `sqlite:...` as given; anything else is the path of
/// a SQLite file.
pub fn datastore_url(value: &str) -> String {
    if value.starts_with("postgres://")
        || value.starts_with("postgresql://")
        || value.starts_with("sqlite:")
    {
        value.to_owned()
    } else {
        format!("sqlite://{value}?mode=rwc")
    }
}

pub(super) fn socket_addr(key: &str, host: &str, port: u16) -> Result<SocketAddr, ConfigFileError> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| ConfigFileError::invalid(key, format!("invalid {key} {host:?}: {e}")))?
        .next()
        .ok_or_else(|| {
            ConfigFileError::invalid(
                key,
                format!("invalid {key} {host:?}: it resolves to no address"),
            )
        })
}

fn key_type(key: &str, value: &str) -> Result<CaKeyType, ConfigFileError> {
    value.parse().map_err(|_| {
        ConfigFileError::invalid(
            key,
            format!(
                "{key}: key type {value:?} is unknown; must be one of [rsa-2048, rsa-4096, ec-p256, ec-p384]"
            ),
        )
    })
}

fn duration(key: &str, value: Option<&DurationValue>) -> Result<Option<Duration>, ConfigFileError> {
    Ok(value.map(|v| v.get(key)).transpose()?)
}

/// `<field> must be configured (<flag>, or <field> in the config file)`, SPIRE's words.
fn missing(field: &str, flag: &str) -> ConfigFileError {
    ConfigFileError::invalid(
        field,
        format!("{field} must be configured ({flag}, or {field} in the config file)"),
    )
}

/// The server configuration and the log settings.
pub(super) fn resolve(c: FileConfig) -> Result<Resolved, ConfigFileError> {
    let log_level = LogLevel::parse(c.log_level.as_deref())?;
    let log_format = LogFormat::parse(c.log_format.as_deref())?;
    let td = match c.trust_domain.as_deref() {
        None | Some("") => return Err(missing("trust_domain", "-trustDomain")),
        Some(s) => TrustDomain::parse_normalized(s).map_err(|e| {
            ConfigFileError::invalid("trust_domain", format!("invalid trust_domain {s:?}: {e}"))
        })?,
    };
    let data_dir = match &c.data_dir {
        Some(d) if !d.as_os_str().is_empty() => d.clone(),
        _ => return Err(missing("data_dir", "-dataDir")),
    };
    let mut config = ServerConfig::new(td, data_dir);
    config.datastore = c
        .datastore
        .as_deref()
        .filter(|d| !d.is_empty())
        .map(datastore_url);
    config.bind_address = socket_addr(
        "bind_address",
        c.bind_address.as_deref().unwrap_or(DEFAULT_BIND_ADDRESS),
        c.bind_port.unwrap_or(DEFAULT_BIND_PORT),
    )?;
    config.socket_path = c
        .socket_path
        .clone()
        .unwrap_or_else(|| DEFAULT_SOCKET_PATH.into());
    if let Some(h) = &c.health_checks {
        for (key, value, served) in [
            ("live_path", &h.live_path, "/live"),
            ("ready_path", &h.ready_path, "/ready"),
        ] {
            if value.as_deref().is_some_and(|p| p != served) {
                return Err(ConfigFileError::invalid(
                    format!("health_checks.{key}"),
                    format!("health_checks.{key}: only {served} is served"),
                ));
            }
        }
    }
    if let Some(h) = &c.health_checks
        && h.listener_enabled == Some(true)
    {
        config.health_address = Some(socket_addr(
            "health_checks.bind_address",
            h.bind_address.as_deref().unwrap_or(DEFAULT_HEALTH_ADDRESS),
            h.bind_port.unwrap_or(DEFAULT_HEALTH_PORT),
        )?);
    }
    if let Some(d) = duration("ca_ttl", c.ca_ttl.as_ref())? {
        config.ca_ttl = d;
    }
    if let Some(d) = duration("default_x509_svid_ttl", c.default_x509_svid_ttl.as_ref())? {
        config.default_x509_svid_ttl = d;
    }
    if let Some(d) = duration("default_jwt_svid_ttl", c.default_jwt_svid_ttl.as_ref())? {
        config.default_jwt_svid_ttl = d;
    }
    config.agent_ttl = duration("agent_ttl", c.agent_ttl.as_ref())?;
    for (key, d) in [
        ("ca_ttl", config.ca_ttl),
        ("default_x509_svid_ttl", config.default_x509_svid_ttl),
        ("default_jwt_svid_ttl", config.default_jwt_svid_ttl),
    ] {
        if d.is_zero() {
            return Err(ConfigFileError::invalid(
                key,
                format!("{key} must be greater than zero"),
            ));
        }
    }
    // As in SPIRE, the CA key type also sets the JWT key type unless that is given.
    if let Some(k) = c.ca_key_type.as_deref() {
        config.ca_key_type = key_type("ca_key_type", k)?;
        config.jwt_algorithm = config.ca_key_type.default_jwt_algorithm();
    }
    if let Some(k) = c.jwt_key_type.as_deref() {
        config.jwt_algorithm = key_type("jwt_key_type", k)?.default_jwt_algorithm();
    }
    config.jwt_issuer = c.jwt_issuer.clone().filter(|s| !s.is_empty());
    if let Some(s) = &c.ca_subject {
        let defaults = CaSubject::default();
        let country = s.country.as_ref().map(|v| v.list()).unwrap_or_default();
        let organization = s
            .organization
            .as_ref()
            .map(|v| v.list())
            .unwrap_or_default();
        let common_name = s.common_name.clone().filter(|n| !n.is_empty());
        // An empty subject falls back to the default, as in SPIRE.
        if !(country.is_empty() && organization.is_empty() && common_name.is_none()) {
            config.ca_subject = CaSubject {
                country,
                organization,
                common_name,
            };
        } else {
            config.ca_subject = defaults;
        }
    }
    if let Some(u) = &c.upstream_authority {
        config.upstream = Some(UpstreamConfig {
            cert_path: u.cert_file_path.clone(),
            key_path: u.key_file_path.clone(),
            bundle_path: u.bundle_file_path.clone(),
        });
    }
    if let Some(plugins) = &c.plugins {
        config.k8s_psat = plugins.k8s_psat()?;
    }
    config.allow_weak_join_tokens = c.allow_weak_join_tokens.unwrap_or(false);
    if let Some(l) = &c.limits {
        limits(&mut config.limits, l)?;
    }
    if let Some(f) = &c.federation {
        config.federation = f.resolve(&config.trust_domain)?;
    }
    config
        .limits
        .validate()
        .map_err(|e| ConfigFileError::invalid("limits", format!("limits.{e}")))?;
    Ok(Resolved {
        config,
        log_level,
        log_format,
    })
}

/// The `[limits]` table over the defaults.
fn limits(
    out: &mut crate::config::ConnectionLimits,
    l: &LimitsFile,
) -> Result<(), ConfigFileError> {
    macro_rules! set {
        ($($field:ident),*) => { $( if let Some(v) = l.$field { out.$field = v; } )* };
    }
    macro_rules! set_duration {
        ($($field:ident),*) => {
            $( if let Some(d) = duration(concat!("limits.", stringify!($field)), l.$field.as_ref())? {
                out.$field = d;
            } )*
        };
    }
    set!(
        max_concurrent_streams,
        anonymous_max_concurrent_streams,
        anonymous_max_message_size,
        max_concurrent_handshakes,
        max_anonymous_connections,
        attestation_rate_limit,
        attestation_burst
    );
    set_duration!(
        handshake_timeout,
        anonymous_connection_lifetime,
        idle_timeout,
        keepalive_interval,
        keepalive_timeout,
        tcp_keepalive,
        request_timeout,
        attestation_message_timeout
    );
    Ok(())
}

/// SPIRE's warning: an SVID TTL above a sixth of the CA TTL (at most 7 days) means SVIDs get
/// cut short when the CA rotates. Not errors: the binary logs them.
pub fn ttl_warnings(config: &ServerConfig) -> Vec<String> {
    let max = (config.ca_ttl / 6).min(Duration::from_secs(7 * 24 * 3600));
    [
        ("default_x509_svid_ttl", config.default_x509_svid_ttl),
        ("agent_ttl", config.agent_svid_ttl()),
    ]
    .into_iter()
    .filter(|(_, d)| *d > max)
    .map(|(key, d)| {
        format!(
            "{key} ({}s) is longer than a sixth of ca_ttl ({}s): SVIDs will be cut short at CA rotation",
            d.as_secs(),
            max.as_secs()
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FileConfig {
        FileConfig {
            trust_domain: Some("Example.org".into()),
            data_dir: Some("/tmp/x".into()),
            ..FileConfig::default()
        }
    }

    #[test]
    fn defaults_like_spire() {
        let c = resolve(base()).map(|r| r.config).map_err(|e| e.to_string());
        let c = c.as_ref();
        assert_eq!(c.map(|c| c.trust_domain.name()), Ok("example.org"));
        assert_eq!(c.map(|c| c.bind_address.port()), Ok(8081));
        assert_eq!(c.map(|c| c.ca_ttl), Ok(Duration::from_secs(86_400)));
        assert_eq!(c.map(|c| c.health_address), Ok(None));
        assert_eq!(c.map(|c| c.datastore.clone()), Ok(None));
    }

    #[test]
    fn required_and_invalid() {
        let msg = |c: FileConfig| resolve(c).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(FileConfig::default()).starts_with("trust_domain must be configured"));
        let mut c = base();
        c.data_dir = None;
        assert!(msg(c).starts_with("data_dir must be configured"));
        let mut c = base();
        c.ca_key_type = Some("ec-p521".into());
        assert_eq!(
            msg(c),
            "ca_key_type: key type \"ec-p521\" is unknown; must be one of [rsa-2048, rsa-4096, ec-p256, ec-p384]"
        );
    }

    #[test]
    fn k8s_psat_from_the_file() {
        let file = super::super::parse(
            r#"
            trust_domain = "example.org"
            data_dir = "/tmp/x"
            [plugins.NodeAttestor.k8s_psat.plugin_data.clusters.demo]
            service_account_allow_list = ["spire:spire-agent"]
            "#,
        );
        let config = file.and_then(resolve).map(|r| r.config);
        let psat = config.map(|c| c.k8s_psat).map_err(|e| e.to_string());
        let clusters: Result<Vec<String>, String> = psat.map(|p| {
            p.map(|p| p.clusters.into_keys().collect())
                .unwrap_or_default()
        });
        assert_eq!(clusters, Ok(vec!["demo".to_owned()]));
        assert_eq!(resolve(base()).map(|r| r.config.k8s_psat).ok(), Some(None));
    }

    #[test]
    fn limits_from_the_file() {
        let file = super::super::parse(
            r#"
            trust_domain = "example.org"
            data_dir = "/tmp/x"
            allow_weak_join_tokens = true
            [limits]
            anonymous_max_concurrent_streams = 2
            attestation_rate_limit = 0
            idle_timeout = "2m"
            "#,
        );
        let config = file
            .and_then(resolve)
            .map(|r| r.config)
            .map_err(|e| e.to_string());
        let config = config.as_ref();
        assert_eq!(config.map(|c| c.allow_weak_join_tokens), Ok(true));
        assert_eq!(
            config.map(|c| c.limits.anonymous_max_concurrent_streams),
            Ok(2)
        );
        assert_eq!(config.map(|c| c.limits.attestation_rate_limit), Ok(0));
        assert_eq!(
            config.map(|c| c.limits.idle_timeout),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(config.map(|c| c.limits.max_concurrent_streams), Ok(100));
        let defaults = resolve(base()).map(|r| r.config).map_err(|e| e.to_string());
        assert_eq!(
            defaults.as_ref().map(|c| c.allow_weak_join_tokens),
            Ok(false)
        );
        let zero = super::super::parse(
            "trust_domain = \"example.org\"\ndata_dir = \"/tmp/x\"\n[limits]\nrequest_timeout = 0\n",
        )
        .and_then(resolve)
        .err()
        .map(|e| e.to_string());
        assert_eq!(
            zero.as_deref(),
            Some("limits.request_timeout must be greater than zero")
        );
        let unknown =
            super::super::parse("trust_domain = \"example.org\"\n[limits]\nmax_streams = 1\n")
                .err()
                .map(|e| format!("{e:#}"));
        assert!(
            unknown
                .as_deref()
                .is_some_and(|e| e.contains("unknown field `max_streams`")),
            "{unknown:?}"
        );
    }

    #[test]
    fn datastore_urls() {
        assert_eq!(datastore_url("/d/ds.db"), "sqlite:///d/ds.db?mode=rwc");
        assert_eq!(datastore_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
