//! Registration entries: who may get which SPIFFE ID, and the rules an entry must follow.

use aws_lc_rs::digest;
use spiffe_core::{Selector, SpiffeId, TrustDomain};
use thiserror::Error;

/// Longest entry ID (SPIRE's limit).
pub const MAX_ENTRY_ID_LEN: usize = 255;
/// Longest hint (SPIRE's limit).
pub const MAX_HINT_LEN: usize = 1024;

/// A registration entry, with SPIRE's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Entry ID (generated UUID unless given).
    pub id: String,
    /// The SPIFFE ID granted.
    pub spiffe_id: SpiffeId,
    /// Who may obtain it for workloads: an agent, a node alias, or another entry's ID.
    pub parent_id: SpiffeId,
    /// What the workload (or node) must present: sorted, without repeats.
    pub selectors: Vec<Selector>,
    /// X509-SVID TTL in seconds (0: server default).
    pub x509_svid_ttl: i32,
    /// JWT-SVID TTL in seconds (0: server default).
    pub jwt_svid_ttl: i32,
    /// DNS SANs for the X509-SVID.
    pub dns_names: Vec<String>,
    /// Trust domains whose bundles workloads of this entry also get.
    pub federates_with: Vec<TrustDomain>,
    /// Whether holders may use the admin APIs.
    pub admin: bool,
    /// Whether holders are downstream servers.
    pub downstream: bool,
    /// Expiry of the entry itself, seconds since the Unix epoch (0: never).
    pub expires_at: i64,
    /// Hint passed to workloads with the SVID.
    pub hint: String,
    /// SPIRE's `store_svid`.
    pub store_svid: bool,
    /// SPIRE's `additional_attributes.disable_x509_svid_prefetch`.
    pub disable_x509_svid_prefetch: bool,
    /// SPIRE's `additional_attributes.jwt_svid_include_jti`.
    pub jwt_svid_include_jti: bool,
    /// Bumped on every update.
    pub revision_number: i64,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: i64,
}

/// Why an entry was refused; each message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EntryError {
    /// An ID of another trust domain.
    #[error("invalid {field}: \"{id}\" is not a member of trust domain \"{trust_domain}\"")]
    ForeignId {
        /// `spiffe ID` or `parent ID`.
        field: &'static str,
        /// The ID.
        id: String,
        /// The server's trust domain.
        trust_domain: String,
    },
    /// An ID with an empty path.
    #[error(
        "invalid {field}: \"{id}\" is not a workload in trust domain \"{trust_domain}\"; path is empty"
    )]
    EmptyPath {
        /// `spiffe ID` or `parent ID`.
        field: &'static str,
        /// The ID.
        id: String,
        /// The server's trust domain.
        trust_domain: String,
    },
    /// A SPIFFE ID under `/spire`, which the server keeps for itself.
    #[error(
        "invalid spiffe ID: \"{id}\" is not a workload in trust domain \"{trust_domain}\"; path is in the reserved namespace"
    )]
    ReservedPath {
        /// The ID.
        id: String,
        /// The server's trust domain.
        trust_domain: String,
    },
    /// No selector.
    #[error("invalid selectors: selector list is empty")]
    NoSelectors,
    /// A negative TTL.
    #[error("invalid {field}: a positive TTL is required, got {value}")]
    NegativeTtl {
        /// `x509_svid_ttl` or `jwt_svid_ttl`.
        field: &'static str,
        /// The value.
        value: i64,
    },
    /// A TTL above what SPIRE's API carries (int32 seconds).
    #[error("invalid {field}: {value} seconds does not fit in a 32-bit TTL")]
    TtlOverflow {
        /// `x509_svid_ttl` or `jwt_svid_ttl`.
        field: &'static str,
        /// The value.
        value: i64,
    },
    /// A bad entry ID.
    #[error("invalid entry ID {id:?}: {reason}")]
    EntryId {
        /// The ID.
        id: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// A hint over 1024 characters.
    #[error("invalid hint: hint is too long, max length is 1024 characters")]
    HintTooLong,
    /// A bad DNS name.
    #[error("invalid DNS name {name:?}: {reason}")]
    DnsName {
        /// The name.
        name: String,
        /// The rule broken.
        reason: &'static str,
    },
    /// A node entry that federates.
    #[error("invalid entry: node entries can not federate")]
    NodeFederates,
}

impl Entry {
    /// A new entry with default fields (no TTLs, no expiry, revision 0).
    pub fn new(spiffe_id: SpiffeId, parent_id: SpiffeId, selectors: Vec<Selector>) -> Self {
        let mut e = Entry {
            id: String::new(),
            spiffe_id,
            parent_id,
            selectors,
            x509_svid_ttl: 0,
            jwt_svid_ttl: 0,
            dns_names: Vec::new(),
            federates_with: Vec::new(),
            admin: false,
            downstream: false,
            expires_at: 0,
            hint: String::new(),
            store_svid: false,
            disable_x509_svid_prefetch: false,
            jwt_svid_include_jti: false,
            revision_number: 0,
            created_at: 0,
        };
        e.normalize();
        e
    }

    /// Sorts and deduplicates the set-valued fields, so equal entries compare equal.
    pub fn normalize(&mut self) {
        self.selectors.sort();
        self.selectors.dedup();
        self.federates_with.sort();
        self.federates_with.dedup();
    }

    /// Whether this is a node entry (a node alias): its parent is the server itself.
    pub fn is_node_alias(&self) -> bool {
        is_server_id(&self.parent_id)
    }

    /// Checks the entry against the rules of `trust_domain` (SPIRE's server-side validation).
    ///
    /// # Errors
    ///
    /// An [`EntryError`] naming the rule broken: an invalid entry ID, a parent or SPIFFE ID
    /// outside `trust_domain` or without a path, a reserved path, no selectors, a negative TTL,
    /// an invalid DNS name, a hint too long, or a node entry that federates.
    pub fn validate(&self, trust_domain: &TrustDomain) -> Result<(), EntryError> {
        validate_entry_id(&self.id)?;
        check_member("parent ID", &self.parent_id, trust_domain)?;
        check_member("spiffe ID", &self.spiffe_id, trust_domain)?;
        if self.parent_id.is_root() {
            return Err(EntryError::EmptyPath {
                field: "parent ID",
                id: self.parent_id.to_string(),
                trust_domain: trust_domain.to_string(),
            });
        }
        if self.spiffe_id.is_root() {
            return Err(EntryError::EmptyPath {
                field: "spiffe ID",
                id: self.spiffe_id.to_string(),
                trust_domain: trust_domain.to_string(),
            });
        }
        let path = self.spiffe_id.path();
        if path == "/spire" || path.starts_with("/spire/") {
            return Err(EntryError::ReservedPath {
                id: self.spiffe_id.to_string(),
                trust_domain: trust_domain.to_string(),
            });
        }
        if self.selectors.is_empty() {
            return Err(EntryError::NoSelectors);
        }
        for (field, value) in [
            ("x509_svid_ttl", self.x509_svid_ttl),
            ("jwt_svid_ttl", self.jwt_svid_ttl),
        ] {
            if value < 0 {
                return Err(EntryError::NegativeTtl {
                    field,
                    value: value.into(),
                });
            }
        }
        if self.hint.chars().count() > MAX_HINT_LEN {
            return Err(EntryError::HintTooLong);
        }
        for name in &self.dns_names {
            validate_dns_name(name)?;
        }
        if self.is_node_alias() && !self.federates_with.is_empty() {
            return Err(EntryError::NodeFederates);
        }
        Ok(())
    }

    /// The key two entries share when they are "similar" (same SPIFFE ID, parent and selector
    /// set): such a pair is refused as already existing.
    pub fn similarity_key(&self) -> String {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(self.spiffe_id.as_str().as_bytes());
        ctx.update(b"\n");
        ctx.update(self.parent_id.as_str().as_bytes());
        for s in &self.selectors {
            ctx.update(b"\n");
            ctx.update(s.kind().as_bytes());
            ctx.update(b":");
            ctx.update(s.value().as_bytes());
        }
        hex::encode(ctx.finish())
    }
}

fn check_member(field: &'static str, id: &SpiffeId, td: &TrustDomain) -> Result<(), EntryError> {
    if id.is_member_of(td) {
        Ok(())
    } else {
        Err(EntryError::ForeignId {
            field,
            id: id.to_string(),
            trust_domain: td.to_string(),
        })
    }
}

/// Whether `id` is the server's own ID, `spiffe://<td>/spire/server`.
pub fn is_server_id(id: &SpiffeId) -> bool {
    id.path() == "/spire/server"
}

/// The server's own ID.
pub fn server_id(td: &TrustDomain) -> SpiffeId {
    SpiffeId::from_segments(td, &["spire", "server"]).unwrap_or_else(|_| td.id())
}

/// Whether `id` is in the agent namespace (`/spire/agent/...`).
pub fn is_agent_id(id: &SpiffeId) -> bool {
    id.path().starts_with("/spire/agent/")
}

/// An entry ID: 1 to 255 characters of `[A-Za-z0-9._-]` (empty means "generate one").
///
/// # Errors
///
/// [`EntryError::EntryId`] if the ID is longer than 255 characters or has a character outside
/// `[A-Za-z0-9._-]`.
pub fn validate_entry_id(id: &str) -> Result<(), EntryError> {
    if id.len() > MAX_ENTRY_ID_LEN {
        return Err(EntryError::EntryId {
            id: id.to_owned(),
            reason: "entry ID too long (more than 255 characters)",
        });
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(EntryError::EntryId {
            id: id.to_owned(),
            reason: "entry ID contains invalid characters (allowed: [A-Za-z0-9._-])",
        });
    }
    Ok(())
}

/// A DNS name as SPIRE accepts it for entries ([`spiffe_core::dns::check_dns_name`]).
///
/// # Errors
///
/// [`EntryError::DnsName`] naming the rule broken (empty, too long, an empty or too long label,
/// a character outside `[A-Za-z0-9-]`, a label starting or ending with `-`).
pub fn validate_dns_name(name: &str) -> Result<(), EntryError> {
    spiffe_core::dns::check_dns_name(name)
        .map_err(|spiffe_core::DnsNameError { name, reason }| EntryError::DnsName { name, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }

    fn entry() -> Entry {
        Entry::new(
            id("spiffe://mycompany.com/ns/prod/sa/payment-service"),
            id("spiffe://mycompany.com/ns/spire/sa/spire-agent"),
            vec![
                Selector::parse("k8s:sa:payment-sa").unwrap(),
                Selector::parse("k8s:ns:prod").unwrap(),
                Selector::parse("k8s:ns:prod").unwrap(),
            ],
        )
    }

    #[test]
    fn validation_rules() {
        let td = TrustDomain::parse("mycompany.com").unwrap();
        let e = entry();
        assert_eq!(e.selectors.len(), 2, "deduplicated");
        assert_eq!(e.selectors[0].to_string(), "k8s:ns:prod", "sorted");
        e.validate(&td).unwrap();

        let mut foreign = e.clone();
        foreign.spiffe_id = id("spiffe://other.org/x");
        assert!(matches!(
            foreign.validate(&td),
            Err(EntryError::ForeignId {
                field: "spiffe ID",
                ..
            })
        ));
        let mut reserved = e.clone();
        reserved.spiffe_id = id("spiffe://mycompany.com/spire/agent/x");
        assert!(matches!(
            reserved.validate(&td),
            Err(EntryError::ReservedPath { .. })
        ));
        let mut no_sel = e.clone();
        no_sel.selectors.clear();
        assert_eq!(no_sel.validate(&td), Err(EntryError::NoSelectors));
        let mut neg = e.clone();
        neg.x509_svid_ttl = -1;
        assert!(matches!(
            neg.validate(&td),
            Err(EntryError::NegativeTtl {
                field: "x509_svid_ttl",
                ..
            })
        ));
        let mut bad_id = e.clone();
        bad_id.id = "a/b".into();
        assert!(matches!(
            bad_id.validate(&td),
            Err(EntryError::EntryId { .. })
        ));
        let mut long_hint = e.clone();
        long_hint.hint = "x".repeat(1025);
        assert_eq!(long_hint.validate(&td), Err(EntryError::HintTooLong));
        let mut node = e.clone();
        node.parent_id = server_id(&td);
        node.federates_with = vec![TrustDomain::parse("other.org").unwrap()];
        assert_eq!(node.validate(&td), Err(EntryError::NodeFederates));
        let mut dns = e.clone();
        dns.dns_names = vec!["bad name".into()];
        assert!(matches!(dns.validate(&td), Err(EntryError::DnsName { .. })));
    }

    #[test]
    fn similarity_ignores_selector_order() {
        let a = entry();
        let mut b = entry();
        b.selectors.reverse();
        b.normalize();
        b.x509_svid_ttl = 3600;
        assert_eq!(a.similarity_key(), b.similarity_key());
        let mut c = entry();
        c.selectors.pop();
        assert_ne!(a.similarity_key(), c.similarity_key());
    }
}
