//! DNS names as X509-SVIDs carry them (SPIRE's rules for an entry's DNS names).

/// A DNS name that breaks a rule of [`check_dns_name`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("DNS name {name:?} is not valid: {reason}")]
pub struct DnsNameError {
    /// The name.
    pub name: String,
    /// The rule broken, e.g. `"empty label"`.
    pub reason: &'static str,
}

/// Checks a DNS name as a certificate may carry it: labels of `[A-Za-z0-9-]`, 1 to 63
/// characters, not starting or ending with `-`, at most 253 characters in all; a leading `*.`
/// wildcard is allowed.
///
/// # Errors
///
/// [`DnsNameError`] naming the rule broken (empty, too long, an empty or too long label, a
/// character outside `[A-Za-z0-9-]`, a label starting or ending with `-`).
pub fn check_dns_name(name: &str) -> Result<(), DnsNameError> {
    broken_rule(name).map_or(Ok(()), |reason| {
        Err(DnsNameError {
            name: name.to_owned(),
            reason,
        })
    })
}

/// The first rule `name` breaks, if any.
fn broken_rule(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty");
    }
    if name.len() > 253 {
        return Some("longer than 253 characters");
    }
    let body = name.strip_prefix("*.").unwrap_or(name);
    for label in body.split('.') {
        if label.is_empty() {
            return Some("empty label");
        }
        if label.len() > 63 {
            return Some("label longer than 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Some("labels may hold only letters, digits and '-'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Some("labels must not start or end with '-'");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names_pass() {
        for ok in [
            "example.org",
            "*.example.org",
            "a",
            "x-1.y-2",
            "a".repeat(63).as_str(),
            ["a"; 127].join(".").as_str(),
        ] {
            assert_eq!(check_dns_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn each_rule_is_named() {
        for (bad, reason) in [
            ("", "empty"),
            (["a"; 128].join(".").as_str(), "longer than 253 characters"),
            ("a..b", "empty label"),
            ("*.", "empty label"),
            ("a.", "empty label"),
            ("a".repeat(64).as_str(), "label longer than 63 characters"),
            ("a_b.org", "labels may hold only letters, digits and '-'"),
            ("*.*.org", "labels may hold only letters, digits and '-'"),
            ("é.org", "labels may hold only letters, digits and '-'"),
            ("-a.org", "labels must not start or end with '-'"),
            ("a-.org", "labels must not start or end with '-'"),
        ] {
            let err = check_dns_name(bad).unwrap_err();
            assert_eq!(err.reason, reason, "{bad:?}");
            assert_eq!(err.name, bad);
        }
    }

    #[test]
    fn the_message_names_the_name_and_the_rule() {
        let err = check_dns_name("a..b").unwrap_err();
        assert_eq!(
            err.to_string(),
            "DNS name \"a..b\" is not valid: empty label"
        );
    }
}
