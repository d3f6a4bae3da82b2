//! The `domains` allow-list: the hosts the discovery document may be asked for (from `Host`, or
//! `X-Forwarded-Host` behind a proxy). As SPIRE's provider, a domain must already be in its
//! ASCII (punycode) form: UTS #46 lookup processing with the STD3 rules and hyphen checks must
//! leave it unchanged.

use std::collections::BTreeSet;
use std::sync::Arc;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use thiserror::Error;

/// The longest domain looked at.
const MAX_DOMAIN: usize = 253;

/// Why a domain is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum DomainError {
    /// Not a valid domain name (IDNA lookup rules).
    #[error("domain {0:?} is not a valid domain name")]
    Invalid(String),
    /// Valid, but not in its ASCII form (upper case, Unicode).
    #[error("domain {0:?} must already be punycode encoded")]
    NotPunycode(String),
    /// Valid, but not in the allow-list.
    #[error("domain {0:?} is not allowed")]
    NotAllowed(String),
}

/// The domain as the allow-list keys it: itself, if it is a valid ASCII domain name.
fn domain_key(domain: &str) -> Result<&str, DomainError> {
    if domain.len() > MAX_DOMAIN {
        return Err(DomainError::Invalid(domain.chars().take(64).collect()));
    }
    let ascii = Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::Ignore,
        )
        .map_err(|_| DomainError::Invalid(domain.to_owned()))?;
    if ascii != domain {
        return Err(DomainError::NotPunycode(domain.to_owned()));
    }
    Ok(domain)
}

/// The allow-list.
#[derive(Debug, Clone)]
pub(crate) struct DomainPolicy {
    allowed: Arc<BTreeSet<String>>,
}

impl DomainPolicy {
    /// A policy admitting exactly `domains`.
    ///
    /// # Errors
    ///
    /// [`DomainError`] for the first domain that is not a valid ASCII domain name.
    pub(crate) fn allow_list(domains: &[String]) -> Result<Self, DomainError> {
        let allowed = domains
            .iter()
            .map(|d| domain_key(d).map(str::to_owned))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(DomainPolicy {
            allowed: Arc::new(allowed),
        })
    }

    /// Checks the host of a request (`host` or `host:port`, `[v6]:port`).
    ///
    /// # Errors
    ///
    /// [`DomainError`] if the host is not a valid ASCII domain name or not in the list.
    pub(crate) fn check_host(&self, host: &str) -> Result<(), DomainError> {
        let domain = split_host_port(host).unwrap_or(host);
        let key = domain_key(domain)?;
        if self.allowed.contains(key) {
            Ok(())
        } else {
            Err(DomainError::NotAllowed(domain.to_owned()))
        }
    }
}

/// Go's `net.SplitHostPort`, host part only: `None` when `host` is not in `host:port` form.
fn split_host_port(host: &str) -> Option<&str> {
    if let Some(rest) = host.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|_| inner);
    }
    let (h, _port) = host.rsplit_once(':')?;
    if h.contains(':') { None } else { Some(h) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(domains: &[&str]) -> DomainPolicy {
        DomainPolicy::allow_list(&domains.iter().map(|d| (*d).to_owned()).collect::<Vec<_>>())
            .unwrap()
    }

    #[test]
    fn hosts_as_spire_checks_them() {
        let p = policy(&["domain.test", "xn--n38h.test", "localhost"]);
        assert_eq!(p.check_host("domain.test"), Ok(()));
        assert_eq!(p.check_host("domain.test:8080"), Ok(()));
        assert_eq!(p.check_host("xn--n38h.test"), Ok(()));
        assert_eq!(p.check_host("localhost:1234"), Ok(()));
        assert_eq!(
            p.check_host("bad.domain.test").map_err(|e| e.to_string()),
            Err("domain \"bad.domain.test\" is not allowed".to_owned())
        );
        assert!(matches!(
            p.check_host("Domain.Test"),
            Err(DomainError::NotPunycode(_))
        ));
        assert!(matches!(
            p.check_host("☃.test"),
            Err(DomainError::NotPunycode(_))
        ));
        assert!(matches!(
            p.check_host("a_b.test"),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            p.check_host("-a.test"),
            Err(DomainError::Invalid(_))
        ));
        assert!(matches!(
            p.check_host("[::1]:80"),
            Err(DomainError::Invalid(_))
        ));
        assert!(p.check_host(&"a".repeat(300)).is_err());
    }

    #[test]
    fn the_list_itself_must_be_ascii() {
        let e = DomainPolicy::allow_list(&["Upper.test".to_owned()]).err();
        assert!(matches!(e, Some(DomainError::NotPunycode(_))));
    }
}
