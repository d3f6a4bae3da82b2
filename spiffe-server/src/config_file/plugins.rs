//! The `[plugins]` table: SPIRE's `plugins { NodeAttestor "k8s_psat" { plugin_data { ... } } }`
//! written as TOML, `[plugins.NodeAttestor.k8s_psat.plugin_data]`.
//!
//! Node attestors: `join_token` (always on; its table is accepted with empty `plugin_data`)
//! and `k8s_psat`:
//!
//! ```toml
//! [plugins.NodeAttestor.k8s_psat.plugin_data.clusters.demo-cluster]
//! service_account_allow_list = ["spire:spire-agent"]
//! audience = ["spire-server"]          # the default
//! kube_config_file = ""                # "": the cluster the server runs in
//! allowed_node_label_keys = []
//! allowed_pod_label_keys = []
//! use_pod_uid_for_agent_id = false
//! # Instead of kube_config_file (not in SPIRE): all three together.
//! # api_server_url = "https://10.0.0.1:6443"
//! # api_server_ca_file = "/etc/k8s/ca.pem"
//! # api_server_token_file = "/etc/k8s/token"
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use spiffe_fs::config::{EmptyData, Plugin};

use super::ConfigFileError;
use crate::config::{DEFAULT_PSAT_AUDIENCE, K8sPsatConfig, KubeApiServer, PsatCluster};

/// `[plugins]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsFile {
    /// `[plugins.NodeAttestor.<name>]`.
    #[serde(rename = "NodeAttestor")]
    pub node_attestor: Option<NodeAttestorsFile>,
}

/// The node attestor plugins, by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeAttestorsFile {
    /// `join_token`: always on.
    pub join_token: Option<Plugin<EmptyData>>,
    /// `k8s_psat`.
    pub k8s_psat: Option<Plugin<PsatData>>,
}

/// `k8s_psat`'s `plugin_data`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsatData {
    /// The clusters, by the name agents send.
    pub clusters: Option<BTreeMap<String, PsatClusterFile>>,
}

/// One cluster of `k8s_psat`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsatClusterFile {
    /// `<namespace>:<name>` of the service accounts agents run as.
    pub service_account_allow_list: Option<Vec<String>>,
    /// The audiences a token must be for (default `["spire-server"]`).
    pub audience: Option<Vec<String>>,
    /// A kubeconfig file; empty or unset: in-cluster.
    pub kube_config_file: Option<PathBuf>,
    /// Node label keys turned into selectors.
    pub allowed_node_label_keys: Option<Vec<String>>,
    /// Pod label keys turned into selectors.
    pub allowed_pod_label_keys: Option<Vec<String>>,
    /// Name agents by their pod's UID.
    pub use_pod_uid_for_agent_id: Option<bool>,
    /// An explicit API server (with the two files below).
    pub api_server_url: Option<String>,
    /// The CA certificates of the explicit API server.
    pub api_server_ca_file: Option<PathBuf>,
    /// The bearer token file for the explicit API server.
    pub api_server_token_file: Option<PathBuf>,
}

fn non_empty_path(p: Option<&PathBuf>) -> Option<PathBuf> {
    p.filter(|p| !p.as_os_str().is_empty()).cloned()
}

fn cluster(name: &str, c: &PsatClusterFile) -> Result<PsatCluster, ConfigFileError> {
    let key = |k: &str| format!("plugins.NodeAttestor.k8s_psat.plugin_data.clusters.{name}.{k}");
    let mut out = PsatCluster::new(c.service_account_allow_list.clone().unwrap_or_default());
    out.audience = c
        .audience
        .clone()
        .unwrap_or_else(|| vec![DEFAULT_PSAT_AUDIENCE.to_owned()]);
    if out.audience.iter().any(String::is_empty) {
        return Err(ConfigFileError::invalid(
            key("audience"),
            format!("{}: an audience must not be empty", key("audience")),
        ));
    }
    out.allowed_node_label_keys = c
        .allowed_node_label_keys
        .iter()
        .flatten()
        .cloned()
        .collect();
    out.allowed_pod_label_keys = c.allowed_pod_label_keys.iter().flatten().cloned().collect();
    out.use_pod_uid_for_agent_id = c.use_pod_uid_for_agent_id.unwrap_or(false);
    let kubeconfig = non_empty_path(c.kube_config_file.as_ref());
    let url = c.api_server_url.clone().filter(|u| !u.is_empty());
    let ca = non_empty_path(c.api_server_ca_file.as_ref());
    let token = non_empty_path(c.api_server_token_file.as_ref());
    out.api_server = match (kubeconfig, url, ca, token) {
        (None, None, None, None) => KubeApiServer::InCluster,
        (Some(path), None, None, None) => KubeApiServer::Kubeconfig(path),
        (None, Some(url), Some(ca_file), Some(token_file)) => KubeApiServer::Explicit {
            url,
            ca_file,
            token_file,
        },
        (Some(_), ..) => {
            return Err(ConfigFileError::invalid(
                key("kube_config_file"),
                format!(
                    "{}: only one of kube_config_file or api_server_url (with api_server_ca_file and api_server_token_file) can be specified",
                    key("kube_config_file")
                ),
            ));
        }
        _ => {
            return Err(ConfigFileError::invalid(
                key("api_server_url"),
                format!(
                    "{}: api_server_url, api_server_ca_file and api_server_token_file must be specified together",
                    key("api_server_url")
                ),
            ));
        }
    };
    Ok(out)
}

impl PluginsFile {
    /// The `k8s_psat` settings, if the attestor is configured and enabled.
    ///
    /// # Errors
    ///
    /// [`ConfigFileError::Invalid`] naming the plugin setting that breaks a rule (`join_token`
    /// disabled, no cluster, an empty audience, API server settings that exclude each other).
    pub fn k8s_psat(&self) -> Result<Option<K8sPsatConfig>, ConfigFileError> {
        let Some(nodes) = &self.node_attestor else {
            return Ok(None);
        };
        if nodes.join_token.as_ref().is_some_and(|p| !p.enabled()) {
            return Err(ConfigFileError::invalid(
                "plugins.NodeAttestor.join_token",
                "plugins.NodeAttestor.join_token: join_token attestation cannot be disabled",
            ));
        }
        let Some(psat) = nodes.k8s_psat.as_ref().filter(|p| p.enabled()) else {
            return Ok(None);
        };
        let data = psat.plugin_data.clone().unwrap_or_default();
        let clusters = data.clusters.unwrap_or_default();
        if clusters.is_empty() {
            return Err(ConfigFileError::invalid(
                "plugins.NodeAttestor.k8s_psat.plugin_data.clusters",
                "plugins.NodeAttestor.k8s_psat.plugin_data: clusters must configure at least one cluster",
            ));
        }
        let config = K8sPsatConfig {
            clusters: clusters
                .iter()
                .map(|(name, c)| Ok((name.clone(), cluster(name, c)?)))
                .collect::<Result<_, ConfigFileError>>()?,
        };
        config.validate().map_err(|e| {
            ConfigFileError::invalid(
                "plugins.NodeAttestor.k8s_psat",
                format!("plugins.NodeAttestor.k8s_psat: {e}"),
            )
        })?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config_file::parse;

    fn psat(text: &str) -> Result<Option<K8sPsatConfig>, ConfigFileError> {
        let c = parse(text)?;
        c.plugins.unwrap_or_default().k8s_psat()
    }

    fn msg(text: &str) -> String {
        psat(text).err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn spire_psat_settings_in_toml() {
        let c = psat(
            r#"
            [server]
            trust_domain = "example.org"
            [plugins.NodeAttestor.join_token]
            plugin_data = {}
            [plugins.NodeAttestor.k8s_psat.plugin_data.clusters.demo-cluster]
            service_account_allow_list = ["spire:spire-agent"]
            kube_config_file = ""
            allowed_pod_label_keys = ["app"]
            [plugins.NodeAttestor.k8s_psat.plugin_data.clusters.other]
            service_account_allow_list = ["spire:spire-agent", "infra:agent"]
            audience = ["a", "b"]
            kube_config_file = "/etc/other.kubeconfig"
            use_pod_uid_for_agent_id = true
            "#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.clusters.len(), 2);
        let demo = &c.clusters["demo-cluster"];
        assert_eq!(demo.service_account_allow_list, ["spire:spire-agent"]);
        assert_eq!(demo.audience, ["spire-server"]);
        assert_eq!(demo.api_server, KubeApiServer::InCluster);
        assert!(demo.allowed_pod_label_keys.contains("app"));
        assert!(!demo.use_pod_uid_for_agent_id);
        let other = &c.clusters["other"];
        assert_eq!(other.audience, ["a", "b"]);
        assert_eq!(
            other.api_server,
            KubeApiServer::Kubeconfig("/etc/other.kubeconfig".into())
        );
        assert!(other.use_pod_uid_for_agent_id);
    }

    #[test]
    fn inline_clusters_and_explicit_api_server() {
        let c = psat(
            r#"
            [plugins.NodeAttestor.k8s_psat]
            plugin_data = { clusters = { "c1" = { service_account_allow_list = ["spire:spire-agent"], api_server_url = "https://10.0.0.1:6443", api_server_ca_file = "/ca.pem", api_server_token_file = "/token" } } }
            "#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            c.clusters["c1"].api_server,
            KubeApiServer::Explicit {
                url: "https://10.0.0.1:6443".into(),
                ca_file: "/ca.pem".into(),
                token_file: "/token".into(),
            }
        );
    }

    #[test]
    fn absent_or_disabled() {
        assert!(psat("trust_domain = \"x.org\"").unwrap().is_none());
        assert!(
            psat("[plugins.NodeAttestor.join_token]\n")
                .unwrap()
                .is_none()
        );
        assert!(
            psat(
                "[plugins.NodeAttestor.k8s_psat]\nenabled = false\n[plugins.NodeAttestor.k8s_psat.plugin_data.clusters.c1]\nservice_account_allow_list = [\"a:b\"]\n"
            )
            .unwrap()
            .is_none()
        );
    }

    #[test]
    fn refused_settings() {
        assert_eq!(
            msg("[plugins.NodeAttestor.k8s_psat.plugin_data]\n"),
            "plugins.NodeAttestor.k8s_psat.plugin_data: clusters must configure at least one cluster"
        );
        assert_eq!(
            msg("[plugins.NodeAttestor.k8s_psat.plugin_data.clusters.c1]\naudience = [\"x\"]\n"),
            "plugins.NodeAttestor.k8s_psat: k8s_psat cluster \"c1\": service_account_allow_list must have at least one service account"
        );
        assert_eq!(
            msg(
                "[plugins.NodeAttestor.k8s_psat.plugin_data.clusters.c1]\nservice_account_allow_list = [\"spire-agent\"]\n"
            ),
            "plugins.NodeAttestor.k8s_psat: k8s_psat cluster \"c1\": service_account_allow_list entry \"spire-agent\" must be <namespace>:<name>"
        );
        assert!(
            msg(
                "[plugins.NodeAttestor.k8s_psat.plugin_data.clusters.c1]\nservice_account_allow_list = [\"a:b\"]\nkube_config_file = \"/k\"\napi_server_url = \"https://h\"\n"
            )
            .ends_with("only one of kube_config_file or api_server_url (with api_server_ca_file and api_server_token_file) can be specified")
        );
        assert!(
            msg(
                "[plugins.NodeAttestor.k8s_psat.plugin_data.clusters.c1]\nservice_account_allow_list = [\"a:b\"]\napi_server_url = \"https://h\"\n"
            )
            .ends_with("must be specified together")
        );
        assert!(
            msg(
                "[plugins.NodeAttestor.k8s_psat.plugin_data.clusters.c1]\nservice_account_allow_list = [\"a:b\"]\naudiences = [\"x\"]\n"
            )
            .contains("unknown field `audiences`")
        );
        assert!(msg("[plugins.NodeAttestor.aws_iid]\n").contains("unknown field `aws_iid`"));
        assert_eq!(
            msg("[plugins.NodeAttestor.join_token]\nenabled = false\n"),
            "plugins.NodeAttestor.join_token: join_token attestation cannot be disabled"
        );
    }
}
