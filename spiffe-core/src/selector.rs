//! [`Selector`]: a `type:value` fact about a workload or a node, as SPIRE writes them
//! (`unix:uid:1000`, `k8s:ns:prod`, `k8s:pod-label:app:payment`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a string is not a selector.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SelectorError {
    /// No `:` between type and value.
    #[error("selector {input:?} must be formatted as type:value")]
    MissingSeparator {
        /// The input.
        input: String,
    },
    /// Nothing before the first `:`.
    #[error("selector {input:?} has an empty type")]
    EmptyType {
        /// The input.
        input: String,
    },
    /// Nothing after the first `:`.
    #[error("selector {input:?} has an empty value")]
    EmptyValue {
        /// The input.
        input: String,
    },
}

/// A selector: a type (`unix`, `k8s`, `join_token`, ...) and a value, which may itself hold `:`.
/// Ordered by type, then value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Selector {
    /// The type (the attestor's name).
    #[serde(rename = "type")]
    kind: String,
    /// The value.
    value: String,
}

impl Selector {
    /// A selector from its parts; neither may be empty and the type may not hold `:`.
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Result<Self, SelectorError> {
        let (kind, value) = (kind.into(), value.into());
        let input = || format!("{kind}:{value}");
        if kind.is_empty() {
            return Err(SelectorError::EmptyType { input: input() });
        }
        if kind.contains(':') {
            return Err(SelectorError::MissingSeparator { input: input() });
        }
        if value.is_empty() {
            return Err(SelectorError::EmptyValue { input: input() });
        }
        Ok(Selector { kind, value })
    }

    /// Parses `type:value`; the value is everything after the first `:`.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let (kind, value) =
            input
                .split_once(':')
                .ok_or_else(|| SelectorError::MissingSeparator {
                    input: input.to_owned(),
                })?;
        if kind.is_empty() {
            return Err(SelectorError::EmptyType {
                input: input.to_owned(),
            });
        }
        if value.is_empty() {
            return Err(SelectorError::EmptyValue {
                input: input.to_owned(),
            });
        }
        Ok(Selector {
            kind: kind.to_owned(),
            value: value.to_owned(),
        })
    }

    /// The type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_format() {
        let s = Selector::parse("k8s:pod-label:app:payment-service").unwrap();
        assert_eq!(s.kind(), "k8s");
        assert_eq!(s.value(), "pod-label:app:payment-service");
        assert_eq!(s.to_string(), "k8s:pod-label:app:payment-service");
        assert_eq!(
            Selector::parse("k8s").unwrap_err(),
            SelectorError::MissingSeparator {
                input: "k8s".into()
            }
        );
        assert!(matches!(
            Selector::parse(":x"),
            Err(SelectorError::EmptyType { .. })
        ));
        assert!(matches!(
            Selector::parse("unix:"),
            Err(SelectorError::EmptyValue { .. })
        ));
        assert!(Selector::new("a:b", "c").is_err());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"type":"k8s","value":"pod-label:app:payment-service"}"#
        );
        assert!(Selector::parse("unix:uid:0").unwrap() < Selector::parse("unix:uid:1").unwrap());
    }
}
