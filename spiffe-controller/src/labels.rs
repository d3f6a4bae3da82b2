//! Kubernetes label selectors (`matchLabels`, `matchExpressions` with `In`, `NotIn`, `Exists`,
//! `DoesNotExist`), and the namespace selector with the extra `matchNames` list.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `metav1.LabelSelector`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Requirements that must all hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `metav1.LabelSelectorRequirement`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values (required for `In` and `NotIn`, empty for the others).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The namespaces a `ClusterSPIFFEID` applies to: a label selector and, as an extension over
/// SPIRE's CRD, a list of namespace names (`matchNames`). All given parts must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Requirements that must all hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
    /// Namespace names; when not empty, the namespace must be one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_names: Vec<String>,
}

/// Why a selector is not valid.
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
    /// An empty key.
    #[error("label selector key must not be empty")]
    EmptyKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

/// A checked label selector, ready to match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<(String, Op)>,
}

impl Selector {
    /// The selector that matches everything (an absent selector).
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Checks and compiles `matchLabels` and `matchExpressions`.
    pub fn new(
        match_labels: &BTreeMap<String, String>,
        match_expressions: &[LabelSelectorRequirement],
    ) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for (k, v) in match_labels {
            if k.is_empty() {
                return Err(SelectorError::EmptyKey);
            }
            requirements.push((k.clone(), Op::In(vec![v.clone()])));
        }
        for r in match_expressions {
            if r.key.is_empty() {
                return Err(SelectorError::EmptyKey);
            }
            let op = match r.operator.as_str() {
                "In" | "NotIn" if r.values.is_empty() => {
                    return Err(SelectorError::ValuesRequired { key: r.key.clone() });
                }
                "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                    return Err(SelectorError::ValuesNotAllowed { key: r.key.clone() });
                }
                "In" => Op::In(r.values.clone()),
                "NotIn" => Op::NotIn(r.values.clone()),
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    return Err(SelectorError::UnknownOperator {
                        key: r.key.clone(),
                        operator: other.to_owned(),
                    });
                }
            };
            requirements.push((r.key.clone(), op));
        }
        Ok(Selector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.requirements.iter().all(|(key, op)| {
            let value = labels.and_then(|l| l.get(key));
            match op {
                Op::In(values) => value.is_some_and(|v| values.contains(v)),
                Op::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }

    /// Whether it matches everything.
    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }
}

impl TryFrom<&LabelSelector> for Selector {
    type Error = SelectorError;

    fn try_from(s: &LabelSelector) -> Result<Self, SelectorError> {
        Selector::new(&s.match_labels, &s.match_expressions)
    }
}

/// A checked namespace selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NamespaceMatcher {
    labels: Selector,
    names: Vec<String>,
}

impl NamespaceMatcher {
    /// Checks `s` (`None`: every namespace).
    pub fn new(s: Option<&NamespaceSelector>) -> Result<Self, SelectorError> {
        let Some(s) = s else {
            return Ok(NamespaceMatcher::default());
        };
        Ok(NamespaceMatcher {
            labels: Selector::new(&s.match_labels, &s.match_expressions)?,
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
            values: values.iter().map(|v| (*v).to_owned()).collect(),
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
                LabelSelector {
                    match_labels: labels(&[("app", "payment-service")]),
                    ..Default::default()
                },
                [true, false, false],
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("app", "In", &["payment-service", "user-service"])],
                    ..Default::default()
                },
                [true, true, false],
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("app", "NotIn", &["payment-service"])],
                    ..Default::default()
                },
                [false, true, true],
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("tier", "Exists", &[])],
                    ..Default::default()
                },
                [true, false, false],
            ),
            (
                LabelSelector {
                    match_expressions: vec![req("tier", "DoesNotExist", &[])],
                    ..Default::default()
                },
                [false, true, true],
            ),
            (
                LabelSelector {
                    match_labels: labels(&[("app", "payment-service")]),
                    match_expressions: vec![req("tier", "In", &["db"])],
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
        let bad = |r| Selector::new(&BTreeMap::new(), &[r]).unwrap_err();
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
        assert_eq!(bad(req("", "Exists", &[])), SelectorError::EmptyKey);
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
            match_labels: labels(&[("env", "prod")]),
            ..Default::default()
        }))
        .unwrap();
        assert!(both.matches("prod", Some(&prod)));
        assert!(!both.matches("dev", None));
        let all = NamespaceMatcher::new(None).unwrap();
        assert!(all.matches("anything", None));
        let yaml = "matchNames: [prod]\nmatchExpressions:\n- {key: env, operator: Exists}\n";
        let parsed: NamespaceSelector = serde_yaml::from_str(yaml).unwrap();
        assert_eq!(parsed.match_names, ["prod"]);
        assert_eq!(parsed.match_expressions[0].operator, "Exists");
    }
}
