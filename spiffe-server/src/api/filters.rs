//! The match semantics of SPIRE's list filters (exact, subset, superset, any).

use std::collections::BTreeSet;

use spiffe_proto::spire::api::types as pb;
use tonic::Status;

/// Implements `TryFrom<R> for $filter` for each request filter type `R` listed: the Count and
/// List requests of an API each have their own generated filter type, with the same fields.
/// `$parse` builds the filter from the request filter bound to `$f`.
macro_rules! filter_from_requests {
    ($filter:ty, |$f:ident| $parse:expr, $($request:ty),+ $(,)?) => {
        $(impl TryFrom<$request> for $filter {
            type Error = tonic::Status;

            fn try_from($f: $request) -> Result<Self, tonic::Status> {
                $parse
            }
        })+
    };
}
pub(crate) use filter_from_requests;

/// How a filter's set is compared with an entry's (or agent's) set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Match {
    /// The sets are equal.
    Exact,
    /// The candidate's set is a non-empty subset of the filter's.
    Subset,
    /// The candidate's set contains the filter's.
    Superset,
    /// The sets share at least one element.
    Any,
}

impl Match {
    pub(crate) fn from_pb(v: i32) -> Result<Self, Status> {
        match v {
            0 => Ok(Match::Exact),
            1 => Ok(Match::Subset),
            2 => Ok(Match::Superset),
            3 => Ok(Match::Any),
            other => Err(Status::invalid_argument(format!(
                "unsupported match behavior {other}"
            ))),
        }
    }

    /// Whether `candidate` matches `filter`.
    pub(crate) fn matches<T: Ord>(self, candidate: &BTreeSet<T>, filter: &BTreeSet<T>) -> bool {
        match self {
            Match::Exact => candidate == filter,
            Match::Subset => !candidate.is_empty() && candidate.is_subset(filter),
            Match::Superset => filter.is_subset(candidate),
            Match::Any => candidate.intersection(filter).next().is_some(),
        }
    }
}

/// A selector filter: the set and the match mode.
pub(crate) fn selector_filter(
    m: &pb::SelectorMatch,
) -> Result<(BTreeSet<spiffe_core::Selector>, Match), Status> {
    let set = m
        .selectors
        .iter()
        .map(|s| {
            crate::convert::selector_from_pb(s)
                .map_err(|e| Status::invalid_argument(format!("malformed selectors filter: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok((set, Match::from_pb(m.r#match)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u8]) -> BTreeSet<u8> {
        v.iter().copied().collect()
    }

    #[test]
    fn modes() {
        let c = set(&[1, 2]);
        assert!(Match::Exact.matches(&c, &set(&[1, 2])));
        assert!(!Match::Exact.matches(&c, &set(&[1])));
        assert!(Match::Subset.matches(&c, &set(&[1, 2, 3])));
        assert!(!Match::Subset.matches(&c, &set(&[1])));
        assert!(!Match::Subset.matches(&set(&[]), &set(&[1])));
        assert!(Match::Superset.matches(&c, &set(&[1])));
        assert!(!Match::Superset.matches(&c, &set(&[3])));
        assert!(Match::Any.matches(&c, &set(&[2, 9])));
        assert!(!Match::Any.matches(&c, &set(&[9])));
    }
}
