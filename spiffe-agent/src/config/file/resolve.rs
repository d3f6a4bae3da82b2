//! From settings (defaults, then the file, then flags) to the agent's configuration, with
//! SPIRE's validation messages in SPIRE's order.

use std::path::PathBuf;

use spiffe_core::{Selector, SpiffeId, TrustDomain};

use super::{ConfigFileError, FileConfig, LogSettings, SinkFile};
use crate::config::DEFAULT_SOCKET_PATH;
use crate::{AgentConfig, FileSink, TrustBootstrap};

/// SPIRE's default data directory (the working directory).
/// Not SPIRE's `.`: a root agent started from `/` by a unit file must not make `/` its data
/// directory.
const DEFAULT_DATA_DIR: &str = crate::config::DEFAULT_DATA_DIR;
/// SPIRE's default SVID cache size, used when the setting is 0.
const DEFAULT_SVID_CACHE_MAX_SIZE: usize = 1000;

/// What a configuration file sets: the agent's configuration and where and how it logs.
#[derive(Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The agent's configuration.
    pub config: AgentConfig,
    /// The log settings.
    pub log: LogSettings,
}

fn set(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// `host:port`, with brackets around an IPv6 address.
fn server_address(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The join token: the setting, or the first line of the token file.
fn join_token(c: &FileConfig) -> Result<Option<String>, ConfigFileError> {
    let file = c
        .join_token_file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty());
    match (set(c.join_token.as_deref()), file) {
        (Some(_), Some(_)) => Err(conflict("join_token", "join_token_file")),
        (Some(token), None) => Ok(Some(token.to_owned())),
        (None, Some(path)) => {
            let text = spiffe_fs::read_to_string_bounded(path, 64 * 1024).map_err(|e| {
                ConfigFileError::invalid(
                    "join_token_file",
                    format!(
                        "unable to read join token file {:?}: {e}",
                        path.display().to_string()
                    ),
                )
            })?;
            Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty()))
        }
        (None, None) => Ok(None),
    }
}

/// `only one of a or b can be specified, not both`, SPIRE's words.
fn conflict(a: &str, b: &str) -> ConfigFileError {
    ConfigFileError::invalid(
        a,
        format!("only one of {a} or {b} can be specified, not both"),
    )
}

/// `<field> must be configured (<flag>, or <field> in the config file)`, SPIRE's words.
fn missing(field: &str, flag: &str) -> ConfigFileError {
    ConfigFileError::invalid(
        field,
        format!("{field} must be configured ({flag}, or {field} in the config file)"),
    )
}

fn sink(i: usize, s: &SinkFile) -> Result<FileSink, ConfigFileError> {
    let n = i + 1;
    let field = || format!("sink #{n}");
    let dir = s
        .dir
        .clone()
        .filter(|d| !d.as_os_str().is_empty())
        .ok_or_else(|| {
            ConfigFileError::invalid(field(), format!("sink #{n}: dir must be configured"))
        })?;
    let selectors = s.selectors.clone().unwrap_or_default();
    let spiffe_id = match (set(s.spiffe_id.as_deref()), selectors.is_empty()) {
        (Some(_), false) | (None, true) => {
            return Err(ConfigFileError::invalid(
                field(),
                format!("sink #{n}: exactly one of spiffe_id or selectors must be configured"),
            ));
        }
        (Some(id), true) => Some(SpiffeId::parse_normalized(id).map_err(|e| {
            ConfigFileError::invalid(field(), format!("sink #{n}: invalid spiffe_id {id:?}: {e}"))
        })?),
        (None, false) => None,
    };
    let selectors = selectors
        .iter()
        .map(|s| {
            Selector::parse(s)
                .map_err(|e| ConfigFileError::invalid(field(), format!("sink #{n}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FileSink {
        spiffe_id,
        selectors,
        dir,
    })
}

/// Validates the settings and builds the agent configuration.
pub(super) fn resolve(c: FileConfig) -> Result<Resolved, ConfigFileError> {
    let token = join_token(&c)?;
    let Some(host) = set(c.server_address.as_deref()) else {
        return Err(missing("server_address", "-serverAddress"));
    };
    let port = match c.server_port {
        Some(p) if p != 0 => p,
        _ => return Err(missing("server_port", "-serverPort")),
    };
    let Some(td) = set(c.trust_domain.as_deref()) else {
        return Err(missing("trust_domain", "-trustDomain"));
    };
    let insecure = c.insecure_bootstrap.unwrap_or(false);
    let bundle_path = c
        .trust_bundle_path
        .clone()
        .filter(|p| !p.as_os_str().is_empty());
    let trust_bootstrap = match (insecure, bundle_path) {
        (true, Some(_)) => return Err(conflict("insecure_bootstrap", "trust_bundle_path")),
        (true, None) => TrustBootstrap::Insecure,
        (false, Some(path)) => TrustBootstrap::BundleFile(path),
        (false, None) => {
            return Err(ConfigFileError::invalid(
                "trust_bundle_path",
                "trust_bundle_path must be configured unless insecure_bootstrap is set (-trustBundle, or -insecureBootstrap for tests)",
            ));
        }
    };
    let log = LogSettings::parse(
        c.log_level.as_deref(),
        c.log_format.as_deref(),
        c.log_file.clone(),
    )?;
    let trust_domain = TrustDomain::parse_normalized(td).map_err(|e| {
        ConfigFileError::invalid("trust_domain", format!("invalid trust_domain {td:?}: {e}"))
    })?;
    if let TrustBootstrap::BundleFile(path) = &trust_bootstrap {
        crate::storage::read_bundle_file(&trust_domain, path).map_err(|e| {
            ConfigFileError::invalid(
                "trust_bundle_path",
                format!("could not load the trust bundle: {e}"),
            )
        })?;
    }
    let data_dir = c
        .data_dir
        .clone()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let mut config = AgentConfig::new(trust_domain, server_address(host, port), data_dir);
    config.socket_path = c
        .socket_path
        .clone()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH));
    config.join_token = token;
    config.trust_bootstrap = trust_bootstrap;
    let plugins = c
        .plugins
        .as_ref()
        .map(|p| p.settings())
        .transpose()?
        .unwrap_or_default();
    config.k8s_psat = plugins.k8s_psat;
    config.k8s_workload = plugins.k8s_workload;
    // The top-level setting, else the unix plugin's.
    config.discover_workload_path = c
        .discover_workload_path
        .or(plugins.discover_workload_path)
        .unwrap_or(false);
    config.svid_cache_max_size = match c.x509_svid_cache_max_size {
        None | Some(0) => DEFAULT_SVID_CACHE_MAX_SIZE,
        Some(n) => n,
    };
    config.jwt_svid_cache_max_size = match c.jwt_svid_cache_max_size {
        None | Some(0) => DEFAULT_SVID_CACHE_MAX_SIZE,
        Some(n) => n,
    };
    config.sinks = c
        .sink
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, s)| sink(i, s))
        .collect::<Result<_, _>>()?;
    Ok(Resolved { config, log })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> FileConfig {
        FileConfig {
            trust_domain: Some("Example.org".into()),
            server_address: Some("127.0.0.1".into()),
            server_port: Some(8081),
            insecure_bootstrap: Some(true),
            ..FileConfig::default()
        }
    }

    fn msg(c: FileConfig) -> String {
        resolve(c).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn defaults_like_spire() {
        let r = resolve(base()).map_err(|e| e.to_string());
        let c = r.as_ref().map(|r| &r.config);
        assert_eq!(c.map(|c| c.trust_domain.name()), Ok("example.org"));
        assert_eq!(c.map(|c| c.server_address.as_str()), Ok("127.0.0.1:8081"));
        assert_eq!(
            c.map(|c| c.data_dir.clone()),
            Ok(PathBuf::from("/var/lib/spiffe-agent"))
        );
        assert_eq!(
            c.map(|c| c.socket_path.clone()),
            Ok(PathBuf::from(DEFAULT_SOCKET_PATH))
        );
        assert_eq!(c.map(|c| c.svid_cache_max_size), Ok(1000));
        assert_eq!(
            c.map(|c| c.trust_bootstrap.clone()),
            Ok(TrustBootstrap::Insecure)
        );
        assert_eq!(server_address("::1", 1), "[::1]:1");
    }

    #[test]
    fn spire_validation_order() {
        assert!(msg(FileConfig::default()).starts_with("server_address must be configured"));
        let mut c = base();
        c.server_port = None;
        assert!(msg(c).starts_with("server_port must be configured"));
        let mut c = base();
        c.trust_domain = None;
        assert!(msg(c).starts_with("trust_domain must be configured"));
        let mut c = base();
        c.insecure_bootstrap = None;
        assert!(
            msg(c).starts_with(
                "trust_bundle_path must be configured unless insecure_bootstrap is set"
            )
        );
        let mut c = base();
        c.trust_bundle_path = Some("/b.pem".into());
        assert_eq!(
            msg(c),
            "only one of insecure_bootstrap or trust_bundle_path can be specified, not both"
        );
        let mut c = base();
        c.join_token = Some("t".into());
        c.join_token_file = Some("/t".into());
        assert_eq!(
            msg(c),
            "only one of join_token or join_token_file can be specified, not both"
        );
    }

    #[test]
    fn k8s_plugins_from_the_file() {
        let file = super::super::parse(
            r#"
            trust_domain = "example.org"
            server_address = "spire-server"
            server_port = 8081
            insecure_bootstrap = true
            [plugins.NodeAttestor.k8s_psat.plugin_data]
            cluster = "demo"
            [plugins.WorkloadAttestor.unix.plugin_data]
            discover_workload_path = true
            [plugins.WorkloadAttestor.k8s.plugin_data]
            node_name = "kind-worker"
            "#,
        );
        let config = file.and_then(resolve).map(|r| r.config).unwrap();
        assert_eq!(
            config.k8s_psat.as_ref().map(|p| p.cluster.as_str()),
            Some("demo")
        );
        assert_eq!(
            config
                .k8s_workload
                .as_ref()
                .and_then(|k| k.node_name.as_deref()),
            Some("kind-worker")
        );
        assert!(config.discover_workload_path);
        let plain = resolve(base()).map(|r| r.config);
        assert_eq!(
            plain
                .as_ref()
                .map(|c| (c.k8s_psat.is_none(), c.k8s_workload.is_none()))
                .ok(),
            Some((true, true))
        );
    }

    #[test]
    fn sinks() {
        let mut c = base();
        c.sink = Some(vec![SinkFile {
            spiffe_id: Some("spiffe://example.org/web".into()),
            selectors: None,
            dir: Some("/run/web".into()),
        }]);
        let sinks = resolve(c).map(|r| r.config.sinks).unwrap_or_default();
        assert_eq!(sinks.len(), 1);
        let mut c = base();
        c.sink = Some(vec![SinkFile {
            dir: Some("/run/web".into()),
            ..SinkFile::default()
        }]);
        assert_eq!(
            msg(c),
            "sink #1: exactly one of spiffe_id or selectors must be configured"
        );
        let mut c = base();
        c.sink = Some(vec![SinkFile {
            selectors: Some(vec!["nocolon".into()]),
            dir: Some("/d".into()),
            ..SinkFile::default()
        }]);
        assert!(msg(c).starts_with("sink #1: "));
    }
}
