//! Flags shared by `run` and `render`: what entries look like.

use anyhow::{Context, Result};
use clap::Args;
use spiffe_controller::ControllerConfig;
use spiffe_controller::config::IgnoredNamespaces;
use spiffe_controller::template::Template;
use spiffe_core::TrustDomain;

/// The entry settings.
#[derive(Debug, Clone, Args)]
pub(crate) struct EntryArgs {
    /// The trust domain of the server
    #[arg(long = "trustDomain", alias = "trust-domain", value_name = "TD")]
    pub(crate) trust_domain: String,
    /// The cluster's name, as the agents' k8s_psat attestor knows it (part of agent IDs)
    #[arg(long = "clusterName", alias = "cluster-name", value_name = "NAME")]
    pub(crate) cluster_name: String,
    /// The cluster's DNS domain (.ClusterDomain in templates)
    #[arg(
        long = "clusterDomain",
        alias = "cluster-domain",
        value_name = "DOMAIN",
        default_value = "cluster.local"
    )]
    pub(crate) cluster_domain: String,
    /// Namespaces whose pods never get entries: regular expressions matched against the whole
    /// name, comma-separated or repeated [default: kube-system,kube-public and -serverNamespace]
    #[arg(
        long = "ignoreNamespaces",
        alias = "ignore-namespaces",
        value_name = "NS",
        value_delimiter = ','
    )]
    pub(crate) ignore_namespaces: Vec<String>,
    /// The server's own namespace, ignored unless -ignoreNamespaces is given [default: $POD_NAMESPACE or spire]
    #[arg(
        long = "serverNamespace",
        alias = "server-namespace",
        value_name = "NS"
    )]
    pub(crate) server_namespace: Option<String>,
    /// Prefix of the IDs of entries the controller owns (it never touches other entries)
    #[arg(
        long = "entryIDPrefix",
        alias = "entry-id-prefix",
        value_name = "PREFIX",
        default_value = spiffe_controller::config::DEFAULT_ENTRY_ID_PREFIX
    )]
    pub(crate) entry_id_prefix: String,
    /// The parent ID template of pod entries (.TrustDomain, .ClusterName, .NodeMeta, .NodeSpec)
    #[arg(
        long = "parentIDTemplate",
        alias = "parent-id-template",
        value_name = "TEMPLATE",
        default_value = spiffe_controller::config::DEFAULT_PARENT_ID_TEMPLATE
    )]
    pub(crate) parent_id_template: String,
    /// Reconcile only resources with this className (unset: those without one)
    #[arg(long = "className", alias = "class-name", value_name = "CLASS")]
    pub(crate) class_name: Option<String>,
    /// With -className, also reconcile resources without className
    #[arg(
        long = "watchClassless",
        alias = "watch-classless",
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_value = "false",
        default_missing_value = "true"
    )]
    pub(crate) watch_classless: bool,
}

impl EntryArgs {
    /// The controller settings these flags describe.
    pub(crate) fn config(&self) -> Result<ControllerConfig> {
        let td = TrustDomain::parse_normalized(&self.trust_domain)
            .with_context(|| format!("invalid -trustDomain {:?}", self.trust_domain))?;
        let mut c =
            ControllerConfig::new(td, &self.cluster_name).context("invalid -clusterName")?;
        c.cluster_domain = self.cluster_domain.clone();
        c.entry_id_prefix = self.entry_id_prefix.clone();
        c.parent_id_template =
            Template::parse_named("customParentIDTemplate", &self.parent_id_template)
                .context("invalid -parentIDTemplate")?;
        let ignored: Vec<String> = if self.ignore_namespaces.is_empty() {
            let own = self
                .server_namespace
                .clone()
                .or_else(|| {
                    std::env::var("POD_NAMESPACE")
                        .ok()
                        .filter(|s| !s.is_empty())
                })
                .unwrap_or_else(|| "spire".to_owned());
            spiffe_controller::config::DEFAULT_IGNORED_NAMESPACES
                .iter()
                .map(|s| (*s).to_owned())
                .chain([own])
                .collect()
        } else {
            self.ignore_namespaces
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect()
        };
        c.ignored_namespaces =
            IgnoredNamespaces::new(&ignored).context("invalid -ignoreNamespaces")?;
        c.class_name = self.class_name.clone().filter(|s| !s.is_empty());
        c.watch_classless = self.watch_classless;
        c.validate().context("invalid settings")?;
        Ok(c)
    }
}
