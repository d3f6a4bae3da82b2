//! The controller's settings.

use std::time::Duration;

use regex::Regex;
use spiffe_core::TrustDomain;
use thiserror::Error;

use crate::data::ClusterInfo;
use crate::template::{ParseError, Template};

/// The entry ID prefix of entries this controller owns.
pub const DEFAULT_ENTRY_ID_PREFIX: &str = "spiffe-controller.";
/// The parent ID of pod entries: the `k8s_psat` agent of the pod's node.
pub const DEFAULT_PARENT_ID_TEMPLATE: &str =
    "spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}";
/// Namespaces ignored by default (the server's own namespace is added by the binary).
pub const DEFAULT_IGNORED_NAMESPACES: &[&str] = &["kube-system", "kube-public"];

/// Why a setting is not valid.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cluster name cannot be part of an agent ID.
    #[error("cluster name {0:?} must be 1-255 characters of [A-Za-z0-9._-]")]
    ClusterName(String),
    /// An ignored-namespace pattern is not a regular expression.
    #[error("ignored namespace pattern {pattern:?}: {source}")]
    IgnorePattern {
        /// The pattern.
        pattern: String,
        /// Why.
        source: regex::Error,
    },
    /// The entry ID prefix holds characters entry IDs may not.
    #[error("entry ID prefix {0:?} must be 1-128 characters of [A-Za-z0-9._-]")]
    EntryIdPrefix(String),
    /// The parent ID template does not parse.
    #[error("parent ID template: {0}")]
    ParentIdTemplate(#[from] ParseError),
}

/// Namespaces to leave alone: each pattern is a regular expression matched against the whole
/// name (`kube-system` matches only `kube-system`; `team-.*` every `team-` namespace).
#[derive(Debug, Clone, Default)]
pub struct IgnoredNamespaces {
    patterns: Vec<Regex>,
}

impl IgnoredNamespaces {
    /// Compiles the patterns.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, ConfigError> {
        let patterns = patterns
            .iter()
            .map(|p| {
                let p = p.as_ref();
                Regex::new(&format!("^(?:{p})$")).map_err(|source| ConfigError::IgnorePattern {
                    pattern: p.to_owned(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(IgnoredNamespaces { patterns })
    }

    /// Whether `namespace` is ignored.
    pub fn contains(&self, namespace: &str) -> bool {
        self.patterns.iter().any(|r| r.is_match(namespace))
    }
}

/// Everything the controller needs to know.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The server's trust domain.
    pub trust_domain: TrustDomain,
    /// The cluster's name, as the agents' `k8s_psat` attestor knows it.
    pub cluster_name: String,
    /// The cluster's DNS domain.
    pub cluster_domain: String,
    /// Prefix of the IDs of the entries this controller owns; it never touches others.
    pub entry_id_prefix: String,
    /// The parent ID of pod entries, a template over `.TrustDomain`, `.ClusterName`,
    /// `.NodeMeta`, `.NodeSpec`.
    pub parent_id_template: Template,
    /// Namespaces whose pods never get entries.
    pub ignored_namespaces: IgnoredNamespaces,
    /// The controller class: resources whose `className` equals it are reconciled (with no
    /// class, the resources without one).
    pub class_name: Option<String>,
    /// With a class, whether resources without `className` are reconciled too (without a
    /// class they always are).
    pub watch_classless: bool,
    /// Full reconcile at least this often, even without changes.
    pub resync_interval: Duration,
    /// How long to wait after a change for more changes before reconciling.
    pub debounce: Duration,
    /// Entries per batch call to the server.
    pub batch_size: usize,
}

impl ControllerConfig {
    /// Defaults for a trust domain and cluster name: prefix `spiffe-controller.`, parent the
    /// node's `k8s_psat` agent, ignore `kube-system` and `kube-public`, no class (so the
    /// resources without one), resync every 10 s, debounce 50 ms, batches of 100.
    pub fn new(trust_domain: TrustDomain, cluster_name: &str) -> Result<Self, ConfigError> {
        let c = ControllerConfig {
            trust_domain,
            cluster_name: cluster_name.to_owned(),
            cluster_domain: "cluster.local".into(),
            entry_id_prefix: DEFAULT_ENTRY_ID_PREFIX.into(),
            parent_id_template: Template::parse_named(
                "defaultParentIDTemplate",
                DEFAULT_PARENT_ID_TEMPLATE,
            )?,
            ignored_namespaces: IgnoredNamespaces::new(DEFAULT_IGNORED_NAMESPACES)?,
            class_name: None,
            watch_classless: false,
            resync_interval: Duration::from_secs(10),
            debounce: Duration::from_millis(50),
            batch_size: 100,
        };
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings that could make invalid IDs.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ok = |s: &str, max: usize| {
            !s.is_empty()
                && s.len() <= max
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !ok(&self.cluster_name, 255) {
            return Err(ConfigError::ClusterName(self.cluster_name.clone()));
        }
        if !ok(&self.entry_id_prefix, 128) {
            return Err(ConfigError::EntryIdPrefix(self.entry_id_prefix.clone()));
        }
        Ok(())
    }

    /// The settings templates see.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            trust_domain: self.trust_domain.name().to_owned(),
            cluster_name: self.cluster_name.clone(),
            cluster_domain: self.cluster_domain.clone(),
        }
    }

    /// Whether a resource of class `class_name` is this controller's, as spire-controller-manager
    /// decides: its class is the controller's (both unset included), or it has none and
    /// `watch_classless` is set.
    pub fn reconciles_class(&self, class_name: Option<&str>) -> bool {
        let theirs = class_name.unwrap_or_default();
        let mine = self.class_name.as_deref().unwrap_or_default();
        theirs == mine || (theirs.is_empty() && self.watch_classless)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let td = TrustDomain::parse("example.org").unwrap();
        let mut c = ControllerConfig::new(td.clone(), "demo").unwrap();
        assert!(c.ignored_namespaces.contains("kube-system"));
        assert!(!c.ignored_namespaces.contains("kube-system2"));
        assert!(!c.ignored_namespaces.contains("prod"));
        // No class: the resources without one, whatever watch_classless says.
        assert!(!c.watch_classless);
        assert!(c.reconciles_class(None));
        assert!(c.reconciles_class(Some("")));
        assert!(!c.reconciles_class(Some("other")));
        c.watch_classless = true;
        assert!(c.reconciles_class(None));
        assert!(!c.reconciles_class(Some("other")));
        // A class: its resources, and the classless ones only with watch_classless.
        c.class_name = Some("mine".into());
        assert!(c.reconciles_class(Some("mine")));
        assert!(c.reconciles_class(None));
        assert!(!c.reconciles_class(Some("other")));
        c.watch_classless = false;
        assert!(c.reconciles_class(Some("mine")));
        assert!(!c.reconciles_class(None));
        assert!(!c.reconciles_class(Some("")));
        assert!(matches!(
            ControllerConfig::new(td.clone(), "a/b"),
            Err(ConfigError::ClusterName(_))
        ));
        c.entry_id_prefix = "bad prefix".into();
        assert!(matches!(c.validate(), Err(ConfigError::EntryIdPrefix(_))));
        let ig = IgnoredNamespaces::new(&["team-.*"]).unwrap();
        assert!(ig.contains("team-a"));
        assert!(!ig.contains("xteam-a"));
        assert!(matches!(
            IgnoredNamespaces::new(&["("]),
            Err(ConfigError::IgnorePattern { .. })
        ));
    }
}
