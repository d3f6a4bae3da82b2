//! The `[plugins]` table: SPIRE's `plugins { NodeAttestor "k8s_psat" { plugin_data { ... } } }`
//! written as TOML, `[plugins.NodeAttestor.k8s_psat.plugin_data]`.
//!
//! ```toml
//! [plugins.NodeAttestor.k8s_psat.plugin_data]
//! cluster = "demo-cluster"
//! token_path = "/var/run/secrets/tokens/spire-agent"   # the default
//!
//! [plugins.WorkloadAttestor.unix.plugin_data]              # unix is always on
//! discover_workload_path = false
//!
//! [plugins.WorkloadAttestor.k8s.plugin_data]
//! node_name_env = "MY_NODE_NAME"        # the default; node_name wins over it
//! kubelet_secure_port = 10250           # the default
//! kubelet_read_only_port = 0            # non-zero: plain HTTP on this port instead
//! skip_kubelet_verification = false
//! kubelet_ca_path = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
//! token_path = "/var/run/secrets/kubernetes.io/serviceaccount/token"
//! use_anonymous_authentication = false
//! # certificate_path = "/path/to/cert.pem"   # with private_key_path: a client certificate
//! # private_key_path = "/path/to/key.pem"    #   instead of the token
//! max_poll_attempts = 60
//! poll_retry_interval = "500ms"
//! disable_container_selectors = false
//! ```

use std::path::PathBuf;

use serde::Deserialize;
use spiffe_attest::k8s::{
    DEFAULT_KUBELET_CA_PATH, DEFAULT_MAX_POLL_ATTEMPTS, DEFAULT_NODE_NAME_ENV,
    DEFAULT_POLL_RETRY_INTERVAL, DEFAULT_SECURE_PORT, DEFAULT_TOKEN_PATH, Kubelet, KubeletAuth,
    KubeletVerification,
};
use spiffe_fs::config::{DurationValue, EmptyData, Plugin};

use super::ConfigFileError;
use crate::config::{DEFAULT_PSAT_TOKEN_PATH, K8sPsatConfig, K8sWorkloadConfig};

/// `[plugins]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsFile {
    /// `[plugins.NodeAttestor.<name>]`.
    #[serde(rename = "NodeAttestor")]
    pub node_attestor: Option<NodeAttestorsFile>,
    /// `[plugins.WorkloadAttestor.<name>]`.
    #[serde(rename = "WorkloadAttestor")]
    pub workload_attestor: Option<WorkloadAttestorsFile>,
}

/// The node attestor plugins, by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeAttestorsFile {
    /// `join_token`: on whenever a join token is given; no settings.
    pub join_token: Option<Plugin<EmptyData>>,
    /// `k8s_psat`.
    pub k8s_psat: Option<Plugin<PsatData>>,
}

/// The workload attestor plugins, by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadAttestorsFile {
    /// `unix`: always on.
    pub unix: Option<Plugin<UnixData>>,
    /// `k8s`.
    pub k8s: Option<Plugin<K8sData>>,
}

/// `k8s_psat`'s `plugin_data`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsatData {
    /// The cluster's name, as the server knows it.
    pub cluster: Option<String>,
    /// The projected service account token.
    pub token_path: Option<PathBuf>,
}

/// `unix`'s `plugin_data`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnixData {
    /// `unix:path` and `unix:sha256` selectors.
    pub discover_workload_path: Option<bool>,
}

/// `k8s`'s `plugin_data`, SPIRE's names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sData {
    /// The node's name (wins over `node_name_env`).
    pub node_name: Option<String>,
    /// The environment variable holding the node's name (default `MY_NODE_NAME`).
    pub node_name_env: Option<String>,
    /// The kubelet's HTTPS port (default 10250).
    pub kubelet_secure_port: Option<u16>,
    /// The kubelet's plain HTTP port; non-zero: used instead of the secure port.
    pub kubelet_read_only_port: Option<u16>,
    /// Do not check the kubelet's certificate.
    pub skip_kubelet_verification: Option<bool>,
    /// The CA certificates the kubelet's certificate must chain to.
    pub kubelet_ca_path: Option<PathBuf>,
    /// The bearer token presented to the kubelet.
    pub token_path: Option<PathBuf>,
    /// Present no credentials to the kubelet.
    pub use_anonymous_authentication: Option<bool>,
    /// How many pod lists are searched for a container.
    pub max_poll_attempts: Option<u32>,
    /// How long a pod list is reused, and the least time between two kubelet requests.
    pub poll_retry_interval: Option<DurationValue>,
    /// Only pod selectors.
    pub disable_container_selectors: Option<bool>,
    /// A client certificate (PEM, leaf first) presented to the kubelet instead of a token;
    /// needs `private_key_path`.
    pub certificate_path: Option<PathBuf>,
    /// The private key of `certificate_path` (PEM).
    pub private_key_path: Option<PathBuf>,
    /// How often SPIRE reloads the CA, token and client certificate files. Ours reads the
    /// token for every request and the other files for every new connection, so the value is
    /// only checked to be a duration.
    pub reload_interval: Option<DurationValue>,
    /// SPIRE's switch to its newer cgroup container locator. Ours always locates containers as
    /// that one does (cgroup v1 and v2, systemd and cgroupfs drivers, any runtime), so `true`
    /// is accepted and `false` (the legacy locator) is refused.
    pub use_new_container_locator: Option<bool>,
    /// SPIRE's extra logging of the container locator; ours logs what it finds at debug level
    /// whatever this says.
    pub verbose_container_locator_logs: Option<bool>,
    /// SPIRE's `experimental` block (sigstore image verification): not supported, refused.
    pub experimental: Option<serde::de::IgnoredAny>,
}

const PSAT_KEY: &str = "plugins.NodeAttestor.k8s_psat.plugin_data";
const K8S_KEY: &str = "plugins.WorkloadAttestor.k8s.plugin_data";

fn non_empty(p: Option<&PathBuf>) -> Option<PathBuf> {
    p.filter(|p| !p.as_os_str().is_empty()).cloned()
}

impl K8sData {
    /// Refuses SPIRE's options this attestor does not implement, naming each.
    fn refuse_unsupported(&self) -> Result<(), ConfigFileError> {
        let unsupported = |field: &str, what: &str| {
            Err(ConfigFileError::invalid(
                format!("{K8S_KEY}.{field}"),
                format!("{K8S_KEY}.{field}: {what} is not supported by this agent"),
            ))
        };
        if self.use_new_container_locator == Some(false) {
            return unsupported(
                "use_new_container_locator",
                "the legacy container locator (false)",
            );
        }
        if self.experimental.is_some() {
            return unsupported("experimental", "sigstore image verification");
        }
        Ok(())
    }

    /// `certificate_path` and `private_key_path`: both or neither (SPIRE's rule and messages).
    fn client_certificate(&self) -> Result<Option<(PathBuf, PathBuf)>, ConfigFileError> {
        let certificate = non_empty(self.certificate_path.as_ref());
        let private_key = non_empty(self.private_key_path.as_ref());
        match (certificate, private_key) {
            (Some(c), Some(k)) => Ok(Some((c, k))),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigFileError::invalid(
                format!("{K8S_KEY}.private_key_path"),
                format!("{K8S_KEY}: the private key path is required with the certificate path"),
            )),
            (None, Some(_)) => Err(ConfigFileError::invalid(
                format!("{K8S_KEY}.certificate_path"),
                format!("{K8S_KEY}: the certificate path is required with the private key path"),
            )),
        }
    }

    /// The attestor's settings; `env` looks up an environment variable.
    fn config(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<K8sWorkloadConfig, ConfigFileError> {
        let node_name_env = self
            .node_name_env
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| DEFAULT_NODE_NAME_ENV.to_owned());
        let node_name = self
            .node_name
            .clone()
            .filter(|n| !n.is_empty())
            .or_else(|| env(&node_name_env).filter(|n| !n.is_empty()));
        self.refuse_unsupported()?;
        let read_only = self.kubelet_read_only_port.filter(|p| *p != 0);
        let skip = self.skip_kubelet_verification.unwrap_or(false);
        let anonymous = self.use_anonymous_authentication.unwrap_or(false);
        let ca = non_empty(self.kubelet_ca_path.as_ref());
        let token = non_empty(self.token_path.as_ref());
        let kubelet = match read_only {
            Some(port) => {
                if self.kubelet_secure_port.is_some_and(|p| p != 0) {
                    return Err(ConfigFileError::invalid(
                        K8S_KEY,
                        format!(
                            "{K8S_KEY}: only one of kubelet_read_only_port or kubelet_secure_port can be specified"
                        ),
                    ));
                }
                Kubelet::ReadOnly { port }
            }
            None => {
                if skip && ca.is_some() {
                    return Err(ConfigFileError::invalid(
                        K8S_KEY,
                        format!(
                            "{K8S_KEY}: only one of skip_kubelet_verification or kubelet_ca_path can be specified"
                        ),
                    ));
                }
                if anonymous && token.is_some() {
                    return Err(ConfigFileError::invalid(
                        K8S_KEY,
                        format!(
                            "{K8S_KEY}: only one of use_anonymous_authentication or token_path can be specified"
                        ),
                    ));
                }
                let client_cert = self.client_certificate()?;
                if client_cert.is_some() && (anonymous || token.is_some()) {
                    return Err(ConfigFileError::invalid(
                        K8S_KEY,
                        format!(
                            "{K8S_KEY}: only one of certificate_path, token_path or use_anonymous_authentication can be specified"
                        ),
                    ));
                }
                // A token file that is configured but cannot be read is refused now, not at the
                // first attestation (it is read again at every request, for rotation).
                if let Some(path) = &token {
                    std::fs::File::open(path).map_err(|e| {
                        ConfigFileError::invalid(
                            format!("{K8S_KEY}.token_path"),
                            format!(
                                "{K8S_KEY}.token_path {} cannot be read: {e}",
                                path.display()
                            ),
                        )
                    })?;
                }
                Kubelet::Secure {
                    port: self
                        .kubelet_secure_port
                        .filter(|p| *p != 0)
                        .unwrap_or(DEFAULT_SECURE_PORT),
                    verification: if skip {
                        KubeletVerification::Skip
                    } else {
                        KubeletVerification::CaFile(
                            ca.unwrap_or_else(|| PathBuf::from(DEFAULT_KUBELET_CA_PATH)),
                        )
                    },
                    auth: match (anonymous, client_cert) {
                        (true, _) => KubeletAuth::Anonymous,
                        (false, Some((certificate, private_key))) => {
                            KubeletAuth::ClientCertificate {
                                certificate,
                                private_key,
                            }
                        }
                        (false, None) => KubeletAuth::Token(
                            token.unwrap_or_else(|| PathBuf::from(DEFAULT_TOKEN_PATH)),
                        ),
                    },
                }
            }
        };
        let max_poll_attempts = match self.max_poll_attempts {
            None | Some(0) => DEFAULT_MAX_POLL_ATTEMPTS,
            Some(n) => n,
        };
        if let Some(d) = &self.reload_interval {
            d.get(&format!("{K8S_KEY}.reload_interval"))?;
        }
        let poll_retry_interval = match &self.poll_retry_interval {
            None => DEFAULT_POLL_RETRY_INTERVAL,
            Some(d) => d.get(&format!("{K8S_KEY}.poll_retry_interval"))?,
        };
        if poll_retry_interval.is_zero() {
            return Err(ConfigFileError::invalid(
                format!("{K8S_KEY}.poll_retry_interval"),
                format!("{K8S_KEY}.poll_retry_interval must be greater than zero"),
            ));
        }
        Ok(K8sWorkloadConfig {
            kubelet,
            node_name,
            max_poll_attempts,
            poll_retry_interval,
            disable_container_selectors: self.disable_container_selectors.unwrap_or(false),
        })
    }
}

/// What the `[plugins]` table sets in the agent's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginSettings {
    /// Node attestation with a projected service account token.
    pub k8s_psat: Option<K8sPsatConfig>,
    /// The k8s workload attestor.
    pub k8s_workload: Option<K8sWorkloadConfig>,
    /// `unix`'s `discover_workload_path`, if set there.
    pub discover_workload_path: Option<bool>,
}

impl PluginsFile {
    /// The settings, with the node name looked up in the process's environment.
    ///
    /// # Errors
    ///
    /// As [`PluginsFile::settings_with_env`].
    pub fn settings(&self) -> Result<PluginSettings, ConfigFileError> {
        self.settings_with_env(&|name| std::env::var(name).ok())
    }

    /// The settings, with `env` looking up environment variables.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Invalid`] naming the plugin setting that breaks a rule (a plugin
    /// that cannot be disabled, `k8s_psat` without a cluster, settings of the `k8s` attestor
    /// that exclude each other), [`ConfigFileError::Duration`] for `poll_retry_interval`.
    pub fn settings_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<PluginSettings, ConfigFileError> {
        let mut out = PluginSettings::default();
        if let Some(nodes) = &self.node_attestor {
            if nodes.join_token.as_ref().is_some_and(|p| !p.enabled()) {
                return Err(ConfigFileError::invalid(
                    "plugins.NodeAttestor.join_token",
                    "plugins.NodeAttestor.join_token: join_token attestation cannot be disabled",
                ));
            }
            if let Some(psat) = nodes.k8s_psat.as_ref().filter(|p| p.enabled()) {
                let data = psat.plugin_data.clone().unwrap_or_default();
                let cluster = data.cluster.filter(|c| !c.is_empty()).ok_or_else(|| {
                    ConfigFileError::invalid(
                        format!("{PSAT_KEY}.cluster"),
                        format!("{PSAT_KEY}: cluster must be configured (the name the server knows the cluster by)"),
                    )
                })?;
                out.k8s_psat = Some(K8sPsatConfig {
                    cluster,
                    token_path: non_empty(data.token_path.as_ref())
                        .unwrap_or_else(|| PathBuf::from(DEFAULT_PSAT_TOKEN_PATH)),
                });
            }
        }
        if let Some(workloads) = &self.workload_attestor {
            if let Some(unix) = &workloads.unix {
                if !unix.enabled() {
                    return Err(ConfigFileError::invalid(
                        "plugins.WorkloadAttestor.unix",
                        "plugins.WorkloadAttestor.unix: the unix attestor cannot be disabled",
                    ));
                }
                out.discover_workload_path = unix
                    .plugin_data
                    .as_ref()
                    .and_then(|d| d.discover_workload_path);
            }
            if let Some(k8s) = workloads.k8s.as_ref().filter(|p| p.enabled()) {
                out.k8s_workload = Some(k8s.plugin_data.clone().unwrap_or_default().config(env)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::file::parse;

    fn settings(text: &str, env: &[(&str, &str)]) -> Result<PluginSettings, ConfigFileError> {
        let c = parse(text)?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        c.plugins
            .unwrap_or_default()
            .settings_with_env(&move |name| {
                env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
    }

    fn msg(text: &str) -> String {
        settings(text, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn spire_agent_plugins_in_toml() {
        let s = settings(
            r#"
            [agent]
            trust_domain = "example.org"
            [plugins.NodeAttestor.k8s_psat.plugin_data]
            cluster = "demo-cluster"
            [plugins.WorkloadAttestor.unix.plugin_data]
            discover_workload_path = true
            [plugins.WorkloadAttestor.k8s.plugin_data]
            skip_kubelet_verification = true
            poll_retry_interval = "250ms"
            max_poll_attempts = 5
            "#,
            &[("MY_NODE_NAME", "kind-worker")],
        )
        .unwrap();
        assert_eq!(
            s.k8s_psat,
            Some(K8sPsatConfig {
                cluster: "demo-cluster".into(),
                token_path: "/var/run/secrets/tokens/spire-agent".into(),
            })
        );
        assert_eq!(s.discover_workload_path, Some(true));
        let k8s = s.k8s_workload.unwrap();
        assert_eq!(k8s.node_name.as_deref(), Some("kind-worker"));
        assert_eq!(
            k8s.kubelet,
            Kubelet::Secure {
                port: 10250,
                verification: KubeletVerification::Skip,
                auth: KubeletAuth::Token(
                    "/var/run/secrets/kubernetes.io/serviceaccount/token".into()
                ),
            }
        );
        assert_eq!(k8s.poll_retry_interval, Duration::from_millis(250));
        assert_eq!(k8s.max_poll_attempts, 5);
        assert!(!k8s.disable_container_selectors);
    }

    #[test]
    fn k8s_defaults_and_variants() {
        // Defaults: SPIRE's, no node name when the variable is unset.
        let s = settings("[plugins.WorkloadAttestor.k8s]\n", &[]).unwrap();
        assert_eq!(s.k8s_workload, Some(K8sWorkloadConfig::default()));
        assert_eq!(s.k8s_psat, None);
        // node_name wins over the variable; a custom variable; the read-only port.
        let s = settings(
            "[plugins.WorkloadAttestor.k8s.plugin_data]\nnode_name = \"n1\"\nnode_name_env = \"NODE\"\n",
            &[("NODE", "n2")],
        )
        .unwrap();
        assert_eq!(s.k8s_workload.unwrap().node_name.as_deref(), Some("n1"));
        let s = settings(
            "[plugins.WorkloadAttestor.k8s.plugin_data]\nnode_name_env = \"NODE\"\nkubelet_read_only_port = 10255\n",
            &[("NODE", "n2"), ("MY_NODE_NAME", "n3")],
        )
        .unwrap();
        let k8s = s.k8s_workload.unwrap();
        assert_eq!(k8s.node_name.as_deref(), Some("n2"));
        assert_eq!(k8s.kubelet, Kubelet::ReadOnly { port: 10255 });
        let s = settings(
            "[plugins.WorkloadAttestor.k8s.plugin_data]\nkubelet_secure_port = 11250\nkubelet_ca_path = \"/ca.pem\"\nuse_anonymous_authentication = true\npoll_retry_interval = 2\ndisable_container_selectors = true\n",
            &[],
        )
        .unwrap();
        let k8s = s.k8s_workload.unwrap();
        assert_eq!(
            k8s.kubelet,
            Kubelet::Secure {
                port: 11250,
                verification: KubeletVerification::CaFile("/ca.pem".into()),
                auth: KubeletAuth::Anonymous,
            }
        );
        assert_eq!(k8s.poll_retry_interval, Duration::from_secs(2));
        assert!(k8s.disable_container_selectors);
        // Disabled: no attestor.
        let s = settings("[plugins.WorkloadAttestor.k8s]\nenabled = false\n", &[]).unwrap();
        assert_eq!(s.k8s_workload, None);
    }

    #[test]
    fn psat_token_path_and_refusals() {
        let s = settings(
            "[plugins.NodeAttestor.k8s_psat.plugin_data]\ncluster = \"c1\"\ntoken_path = \"/t\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.k8s_psat.map(|p| p.token_path), Some(PathBuf::from("/t")));
        assert_eq!(
            msg("[plugins.NodeAttestor.k8s_psat.plugin_data]\ntoken_path = \"/t\"\n"),
            "plugins.NodeAttestor.k8s_psat.plugin_data: cluster must be configured (the name the server knows the cluster by)"
        );
        assert!(
            msg("[plugins.NodeAttestor.k8s_psat.plugin_data]\nclusters = \"c1\"\n")
                .contains("unknown field `clusters`")
        );
        assert_eq!(
            msg(
                "[plugins.WorkloadAttestor.k8s.plugin_data]\nskip_kubelet_verification = true\nkubelet_ca_path = \"/ca\"\n"
            ),
            "plugins.WorkloadAttestor.k8s.plugin_data: only one of skip_kubelet_verification or kubelet_ca_path can be specified"
        );
        assert_eq!(
            msg(
                "[plugins.WorkloadAttestor.k8s.plugin_data]\nkubelet_read_only_port = 10255\nkubelet_secure_port = 10250\n"
            ),
            "plugins.WorkloadAttestor.k8s.plugin_data: only one of kubelet_read_only_port or kubelet_secure_port can be specified"
        );
        assert_eq!(
            msg(
                "[plugins.WorkloadAttestor.k8s.plugin_data]\nuse_anonymous_authentication = true\ntoken_path = \"/t\"\n"
            ),
            "plugins.WorkloadAttestor.k8s.plugin_data: only one of use_anonymous_authentication or token_path can be specified"
        );
        assert!(
            msg("[plugins.WorkloadAttestor.k8s.plugin_data]\npoll_retry_interval = \"soon\"\n")
                .starts_with("plugins.WorkloadAttestor.k8s.plugin_data.poll_retry_interval: ")
        );
        assert_eq!(
            msg("[plugins.WorkloadAttestor.k8s.plugin_data]\npoll_retry_interval = 0\n"),
            "plugins.WorkloadAttestor.k8s.plugin_data.poll_retry_interval must be greater than zero"
        );
        assert!(msg("[plugins.WorkloadAttestor.docker]\n").contains("unknown field `docker`"));
        assert_eq!(
            msg("[plugins.WorkloadAttestor.unix]\nenabled = false\n"),
            "plugins.WorkloadAttestor.unix: the unix attestor cannot be disabled"
        );
    }

    #[test]
    fn k8s_token_file_and_spire_options_we_do_not_have() {
        const K: &str = "[plugins.WorkloadAttestor.k8s.plugin_data]\n";
        // A configured token file must be readable at configuration.
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "t").unwrap();
        let s = settings(&format!("{K}token_path = {:?}\n", token), &[]).unwrap();
        assert!(matches!(
            s.k8s_workload.unwrap().kubelet,
            Kubelet::Secure { auth: KubeletAuth::Token(p), .. } if p == token
        ));
        let missing = dir.path().join("missing");
        let m = msg(&format!("{K}token_path = {:?}\n", missing));
        assert!(
            m.starts_with("plugins.WorkloadAttestor.k8s.plugin_data.token_path ")
                && m.contains("cannot be read"),
            "{m}"
        );
        // SPIRE's options: the new locator is ours already; the rest are refused by name.
        assert!(
            settings(
                &format!(
                    "{K}use_new_container_locator = true\nverbose_container_locator_logs = true\n"
                ),
                &[]
            )
            .is_ok()
        );
        for (text, field) in [
            (
                "use_new_container_locator = false\n",
                "use_new_container_locator",
            ),
            (
                "[plugins.WorkloadAttestor.k8s.plugin_data.experimental]\nsigstore = {}\n",
                "experimental",
            ),
        ] {
            let m = msg(&format!("{K}{text}"));
            assert!(
                m.starts_with(&format!(
                    "plugins.WorkloadAttestor.k8s.plugin_data.{field}: "
                )) && m.ends_with("is not supported by this agent"),
                "{text}: {m}"
            );
        }
    }

    #[test]
    fn k8s_client_certificate_as_spire_reads_it() {
        const K: &str = "[plugins.WorkloadAttestor.k8s.plugin_data]\n";
        let s = settings(
            &format!("{K}certificate_path = \"/c.pem\"\nprivate_key_path = \"/k.pem\"\nreload_interval = \"1m\"\n"),
            &[],
        )
        .unwrap();
        assert_eq!(
            s.k8s_workload.unwrap().kubelet,
            Kubelet::Secure {
                port: 10250,
                verification: KubeletVerification::CaFile(DEFAULT_KUBELET_CA_PATH.into()),
                auth: KubeletAuth::ClientCertificate {
                    certificate: "/c.pem".into(),
                    private_key: "/k.pem".into(),
                },
            }
        );
        // Anonymous wins in SPIRE; here asking for both is refused, like token_path with it.
        for text in [
            "certificate_path = \"/c\"\nprivate_key_path = \"/k\"\nuse_anonymous_authentication = true\n",
            "certificate_path = \"/c\"\nprivate_key_path = \"/k\"\ntoken_path = \"/t\"\n",
        ] {
            assert_eq!(
                msg(&format!("{K}{text}")),
                "plugins.WorkloadAttestor.k8s.plugin_data: only one of certificate_path, token_path or use_anonymous_authentication can be specified",
                "{text}"
            );
        }
        // One without the other: SPIRE's messages.
        assert_eq!(
            msg(&format!("{K}certificate_path = \"/c\"\n")),
            "plugins.WorkloadAttestor.k8s.plugin_data: the private key path is required with the certificate path"
        );
        assert_eq!(
            msg(&format!("{K}private_key_path = \"/k\"\n")),
            "plugins.WorkloadAttestor.k8s.plugin_data: the certificate path is required with the private key path"
        );
        let m = msg(&format!("{K}reload_interval = \"soon\"\n"));
        assert!(m.contains("reload_interval"), "{m}");
    }
}
