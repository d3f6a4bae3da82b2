//! [`TrustDomain`]: the authority part of a SPIFFE ID.

use std::borrow::Borrow;
use std::sync::Arc;

use super::rules::{self, Case, SCHEME_PREFIX};
use super::{IdError, SpiffeId};

/// A trust domain name such as `example.org`.
///
/// Valid per SPIFFE-ID.md section 2.1: non-empty, at most 255 bytes, only `[a-z0-9._-]`.
///
/// **Upper case.** SPIFFE-ID.md says both that the host "MUST be lowercase" (2.1) and that the
/// trust domain is case-insensitive (2.4). Every constructor here is strict and rejects an
/// upper-case letter with [`IdError::UppercaseTrustDomain`], so that two spellings of one trust
/// domain can never coexist in a store or a bundle map. Input that should be accepted
/// case-insensitively (an operator typing a flag, say) goes through
/// [`TrustDomain::parse_normalized`], which lower-cases it first.
///
/// Cloning is cheap (a reference count). Ordering, equality and hashing are those of the name, and
/// `TrustDomain` borrows as `str`, so maps keyed by trust domain can be queried with a `&str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrustDomain {
    name: Arc<str>,
}

impl TrustDomain {
    /// Parses a trust domain name (`example.org`), or the ID of a trust domain
    /// (`spiffe://example.org`, without a path).
    pub fn parse(input: &str) -> Result<Self, IdError> {
        Self::parse_with(input, Case::Strict)
    }

    /// The trust domain of a SPIFFE ID (`spiffe://example.org/some/path`), or a trust domain
    /// name: what go-spiffe's `spiffeid.TrustDomainFromString` and py-spiffe's `TrustDomain`
    /// accept. Input with `:/` is parsed as a whole SPIFFE ID (strictly, path included) and
    /// its trust domain returned; other input as a name.
    pub fn from_id_or_name(input: &str) -> Result<Self, IdError> {
        if input.contains(":/") {
            Ok(SpiffeId::parse(input)?.trust_domain())
        } else {
            Self::parse(input)
        }
    }

    /// Like [`TrustDomain::parse`], but accepts upper-case letters in the scheme and the name and
    /// lower-cases them (SPIFFE-ID.md 2.4: both are case-insensitive).
    pub fn parse_normalized(input: &str) -> Result<Self, IdError> {
        Self::parse_with(input, Case::Normalize)
    }

    fn parse_with(input: &str, case: Case) -> Result<Self, IdError> {
        if input.is_empty() {
            return Err(IdError::Empty);
        }
        let start = if rules::scheme(input.as_bytes(), case).is_some() {
            SCHEME_PREFIX.len()
        } else if input.contains("://") {
            return Err(IdError::WrongScheme { offset: 0 });
        } else {
            0
        };
        let authority = rules::trust_domain(input, start, case)?;
        let end = start + authority.len;
        if end < input.len() {
            return Err(IdError::UnexpectedPath { offset: end });
        }
        let name = &input[start..end];
        Ok(if authority.has_upper {
            Self::from_validated(&name.to_ascii_lowercase())
        } else {
            Self::from_validated(name)
        })
    }

    /// Builds a trust domain from a name that has passed the rules already.
    pub(crate) fn from_validated(name: &str) -> Self {
        TrustDomain {
            name: Arc::from(name),
        }
    }

    /// The name, such as `example.org`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The SPIFFE ID of the trust domain itself, `spiffe://<name>` (no path).
    pub fn id(&self) -> SpiffeId {
        SpiffeId::root_of(self)
    }

    /// The ID of the trust domain as a string, `spiffe://<name>`.
    pub fn id_string(&self) -> String {
        let mut s = String::with_capacity(SCHEME_PREFIX.len() + self.name.len());
        s.push_str(SCHEME_PREFIX);
        s.push_str(&self.name);
        s
    }
}

impl Borrow<str> for TrustDomain {
    fn borrow(&self) -> &str {
        &self.name
    }
}

super::string_id_impls!(TrustDomain, name, "a trust domain name");
