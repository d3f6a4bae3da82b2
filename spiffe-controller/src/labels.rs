//! Kubernetes label selectors, on kube's own types: `metav1.LabelSelector` from `k8s-openapi`,
//! matched by `kube::core::Selector`. What this module adds is what those crates leave out:
//!
//! - **validation as the API server does it** (apimachinery's `ValidateLabelSelector`): keys
//!   are qualified names, values are label values, `In`/`NotIn` need values and
//!   `Exists`/`DoesNotExist` take none. `kube::core::Selector` accepts all of these, so a
//!   `ClusterSPIFFEID` with `DoesNotExist` on `"bad key"` would select every pod;
//! - the namespace selector's extra `matchNames` list ([`NamespaceSelector`]).

use std::collections::BTreeMap;

use kube::core::SelectorExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

/// The namespaces a `ClusterSPIFFEID` applies to: a label selector and, as an extension over
/// SPIRE's CRD, a list of namespace names (`matchNames`). All given parts must hold.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// `matchLabels` and `matchExpressions`.
    #[serde(flatten)]
    pub selector: LabelSelector,
    /// Namespace names; when not empty, the namespace must be one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_names: Vec<String>,
}

/// Why a selector is not valid (the API server's messages, with the key named).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// An operator other than the four.
    #[error("{key:?}: {operator:?} is not a valid label selector operator")]
    UnknownOperator {
        /// The key.
        key: String,
        /// The operator.
        operator: String,
    },
    /// `In` or `NotIn` without values.
    #[error("{key:?}: for 'in', 'notin' operators, values set can't be empty")]
    ValuesRequired {
        /// The key.
        key: String,
    },
    /// `Exists` or `DoesNotExist` with values.
    #[error("{key:?}: values set must be empty for exists and does not exist")]
    ValuesNotAllowed {
        /// The key.
        key: String,
    },
    /// A key that is not a qualified name (`[prefix/]name`).
    #[error("label key {key:?} is not valid: {rule}")]
    InvalidKey {
        /// The key.
        key: String,
        /// The rule broken.
        rule: &'static str,
    },
    /// A selector `kube::core::Selector` refused after it passed the checks above.
    #[error("label selector refused: {0}")]
    Refused(String),
    /// A value that is not a label value.
    #[error("label value {value:?} for key {key:?} is not valid: {rule}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The rule broken.
        rule: &'static str,
    },
}

/// A name part: 1 to 63 characters, alphanumeric at both ends, `-`, `_`, `.` inside.
const NAME_RULE: &str = "a name must be 63 characters or less, begin and end with an alphanumeric \
                         character, and contain only alphanumerics, '-', '_' and '.'";
/// A prefix: a DNS-1123 subdomain.
const PREFIX_RULE: &str = "a prefix must be a lowercase DNS subdomain of 253 characters or less";

fn name_part_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn dns_subdomain_ok(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b.first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.last()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// Checks a label key: a qualified name, `[prefix/]name`.
fn check_key(key: &str) -> Result<(), SelectorError> {
    let invalid = |rule| SelectorError::InvalidKey {
        key: key.to_owned(),
        rule,
    };
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            if !dns_subdomain_ok(prefix) {
                return Err(invalid(PREFIX_RULE));
            }
            name
        }
        None => key,
    };
    if name_part_ok(name) {
        Ok(())
    } else {
        Err(invalid(NAME_RULE))
    }
}

/// Checks a label value: empty, or a name part.
fn check_value(key: &str, value: &str) -> Result<(), SelectorError> {
    if value.is_empty() || name_part_ok(value) {
        Ok(())
    } else {
        Err(SelectorError::InvalidValue {
            key: key.to_owned(),
            value: value.to_owned(),
            rule: NAME_RULE,
        })
    }
}

/// Checks a selector as the API server does.
fn validate(s: &LabelSelector) -> Result<(), SelectorError> {
    for (key, value) in s.match_labels.iter().flatten() {
        check_key(key)?;
        check_value(key, value)?;
    }
    for r in s.match_expressions.iter().flatten() {
        check_key(&r.key)?;
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(SelectorError::ValuesRequired { key: r.key.clone() });
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(SelectorError::ValuesNotAllowed { key: r.key.clone() });
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                return Err(SelectorError::UnknownOperator {
                    key: r.key.clone(),
                    operator: other.to_owned(),
                });
            }
        }
        for value in values {
            check_value(&r.key, value)?;
        }
    }
    Ok(())
}

/// A checked label selector, ready to match.
#[derive(Debug, Clone, Default)]
pub struct Selector(kube::core::Selector);

impl Selector {
    /// The selector that matches everything (an absent selector).
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Checks `s` as the API server would, then compiles it.
    ///
    /// # Errors
    ///
    /// The first rule `s` breaks: a key that is not a qualified name, a value that is not a
    /// label value, an unknown operator, `In`/`NotIn` without values or `Exists`/`DoesNotExist`
    /// with values.
    pub fn new(s: &LabelSelector) -> Result<Self, SelectorError> {
        validate(s)?;
        let compiled = kube::core::Selector::try_from(s.clone())
            .map_err(|e| SelectorError::Refused(e.to_string()))?;
        Ok(Selector(compiled))
    }

    /// Whether `labels` satisfy every requirement (`None`: an object with no labels).
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.0.matches(labels.unwrap_or(&NONE))
    }

    /// Whether it matches everything.
    pub fn is_everything(&self) -> bool {
        self.0.selects_all()
    }
}

impl TryFrom<&LabelSelector> for Selector {
    type Error = SelectorError;

    fn try_from(s: &LabelSelector) -> Result<Self, SelectorError> {
        Selector::new(s)
    }
}

/// A checked namespace selector.
#[derive(Debug, Clone, Default)]
pub struct NamespaceMatcher {
    labels: Selector,
    names: Vec<String>,
}

impl NamespaceMatcher {
    /// Checks `s` (`None`: every namespace).
    ///
    /// # Errors
    ///
    /// As [`Selector::new`], for its label selector part.
    pub fn new(s: Option<&NamespaceSelector>) -> Result<Self, SelectorError> {
        let Some(s) = s else {
            return Ok(NamespaceMatcher::default());
        };
        Ok(NamespaceMatcher {
            labels: Selector::new(&s.selector)?,
            names: s.match_names.clone(),
        })
    }

    /// Whether the namespace `name` with `labels` is selected.
    pub fn matches(&self, name: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        (self.names.is_empty() || self.names.iter().any(|n| n == name))
            && self.labels.matches(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn req(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    fn with_labels(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector {
            match_labels: Some(labels(pairs)),
            ..Default::default()
        }
    }

    fn with_expressions(reqs: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(reqs),
            ..Default::default()
        }
    }

    #[test]
    fn match_labels_and_expressions() {
        let app = labels(&[("app", "payment-service"), ("tier", "web")]);
        let other = labels(&[("app", "user-service")]);
        let none = labels(&[]);
        let cases: Vec<(LabelSelector, [bool; 3])> = vec![
            (LabelSelector::default(), [true, true, true]),
            (
                with_labels(&[("app", "payment-service")]),
                [true, false, false],
            ),
            (
                with_expressions(vec![req("app", "In", &["payment-service", "user-service"])]),
                [true, true, false],
            ),
            (
                with_expressions(vec![req("app", "NotIn", &["payment-service"])]),
                [false, true, true],
            ),
            (
                with_expressions(vec![req("tier", "Exists", &[])]),
                [true, false, false],
            ),
            (
                with_expressions(vec![req("tier", "DoesNotExist", &[])]),
                [false, true, true],
            ),
            (
                LabelSelector {
                    match_labels: Some(labels(&[("app", "payment-service")])),
                    match_expressions: Some(vec![req("tier", "In", &["db"])]),
                },
                [false, false, false],
            ),
        ];
        for (sel, want) in cases {
            let s = Selector::try_from(&sel).unwrap();
            let got = [
                s.matches(Some(&app)),
                s.matches(Some(&other)),
                s.matches(Some(&none)),
            ];
            assert_eq!(got, want, "{sel:?}");
            assert_eq!(s.matches(None), want[2], "no labels at all: {sel:?}");
        }
    }

    #[test]
    fn invalid_selectors() {
        let bad = |r| Selector::new(&with_expressions(vec![r])).unwrap_err();
        assert!(matches!(
            bad(req("a", "Equals", &["x"])),
            SelectorError::UnknownOperator { .. }
        ));
        assert!(matches!(
            bad(req("a", "In", &[])),
            SelectorError::ValuesRequired { .. }
        ));
        assert!(matches!(
            bad(req("a", "NotIn", &[])),
            SelectorError::ValuesRequired { .. }
        ));
        assert!(matches!(
            bad(req("a", "Exists", &["x"])),
            SelectorError::ValuesNotAllowed { .. }
        ));
        assert!(matches!(
            bad(req("a", "DoesNotExist", &["x"])),
            SelectorError::ValuesNotAllowed { .. }
        ));
        assert!(matches!(
            bad(req("", "Exists", &[])),
            SelectorError::InvalidKey { .. }
        ));
    }

    #[test]
    fn keys_and_values_are_checked_as_the_api_server_does() {
        for key in [
            "app",
            "app.kubernetes.io/name",
            "a_b.c-d",
            "example.com/x",
            "A1",
        ] {
            assert!(Selector::new(&with_labels(&[(key, "v")])).is_ok(), "{key}");
        }
        for key in [
            "bad key",
            "-app",
            "app-",
            "Example.com/x",
            "/x",
            "a/b/c",
            "example.com/",
            &"k".repeat(64),
        ] {
            let err =
                Selector::new(&with_expressions(vec![req(key, "DoesNotExist", &[])])).unwrap_err();
            assert!(
                matches!(err, SelectorError::InvalidKey { .. }),
                "{key}: {err}"
            );
        }
        for value in ["has space", "-x", "x-", &"v".repeat(64)] {
            let err =
                Selector::new(&with_expressions(vec![req("app", "NotIn", &[value])])).unwrap_err();
            assert!(
                matches!(err, SelectorError::InvalidValue { .. }),
                "{value}: {err}"
            );
            let err = Selector::new(&with_labels(&[("app", value)])).unwrap_err();
            assert!(
                matches!(err, SelectorError::InvalidValue { .. }),
                "{value}: {err}"
            );
        }
        // The empty value is a valid label value.
        assert!(Selector::new(&with_labels(&[("app", "")])).is_ok());
    }

    #[test]
    fn match_names() {
        let prod = labels(&[("env", "prod")]);
        let m = NamespaceMatcher::new(Some(&NamespaceSelector {
            match_names: vec!["prod".into(), "staging".into()],
            ..Default::default()
        }))
        .unwrap();
        assert!(m.matches("prod", None));
        assert!(m.matches("staging", Some(&prod)));
        assert!(!m.matches("dev", Some(&prod)));
        let both = NamespaceMatcher::new(Some(&NamespaceSelector {
            match_names: vec!["prod".into(), "dev".into()],
            selector: with_labels(&[("env", "prod")]),
        }))
        .unwrap();
        assert!(both.matches("prod", Some(&prod)));
        assert!(!both.matches("dev", None));
        let all = NamespaceMatcher::new(None).unwrap();
        assert!(all.matches("anything", None));
        let yaml = "matchNames: [prod]\nmatchExpressions:\n- {key: env, operator: Exists}\n";
        let parsed: NamespaceSelector = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(parsed.match_names, ["prod"]);
        let expressions = parsed
            .selector
            .match_expressions
            .as_deref()
            .unwrap_or_default();
        assert_eq!(expressions[0].operator, "Exists");
    }
}
