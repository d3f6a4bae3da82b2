//! [`SpiffeId`]: `spiffe://<trust domain>/<path>`.

use std::sync::Arc;

use super::rules::{self, Case, MAX_ID_LEN, SCHEME_PREFIX};
use super::{IdError, TrustDomain};

/// A SPIFFE ID such as `spiffe://example.org/ns/prod/sa/payment`.
///
/// Every constructor applies the same rules of SPIFFE-ID.md: scheme `spiffe` and a trust domain
/// name as [`TrustDomain`] requires, both in lower case as go-spiffe's strict parser takes them
/// ([`SpiffeId::parse_normalized`] accepts either in any case and stores them lower-cased), a path of segments made of
/// `[A-Za-z0-9._-]` with no empty, `.` or `..` segment and no trailing `/`, no query, no fragment,
/// no percent-encoding, and at most 2048 bytes in all.
///
/// The ID is stored once as its string form; cloning is cheap (a reference count). Ordering,
/// equality and hashing are those of the string form.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpiffeId {
    id: Arc<str>,
    /// Byte offset where the path starts (equal to `id.len()` for a root ID).
    path_start: usize,
}

impl SpiffeId {
    /// Parses a SPIFFE ID, strictly: an upper-case letter in the scheme or the trust domain is
    /// refused, as go-spiffe's `spiffeid.FromString` refuses it.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        Self::parse_with(input, Case::Strict)
    }

    /// Parses a SPIFFE ID, lower-casing the scheme and the trust domain name (both are
    /// case-insensitive, SPIFFE-ID.md 2.4). The path keeps its case.
    pub fn parse_normalized(input: &str) -> Result<Self, IdError> {
        Self::parse_with(input, Case::Normalize)
    }

    fn parse_with(input: &str, case: Case) -> Result<Self, IdError> {
        let bytes = input.as_bytes();
        if bytes.is_empty() {
            return Err(IdError::Empty);
        }
        if bytes.len() > MAX_ID_LEN {
            return Err(IdError::TooLong { len: bytes.len() });
        }
        let scheme_lower = rules::scheme(bytes, case).ok_or(IdError::WrongScheme { offset: 0 })?;
        let td_start = SCHEME_PREFIX.len();
        let authority = rules::trust_domain(input, td_start, case)?;
        let path_start = td_start + authority.len;
        rules::path(input, path_start)?;
        let id: Arc<str> = if scheme_lower && !authority.has_upper {
            Arc::from(input)
        } else {
            let mut s = String::with_capacity(input.len());
            s.push_str(SCHEME_PREFIX);
            s.push_str(&input[td_start..path_start].to_ascii_lowercase());
            s.push_str(&input[path_start..]);
            Arc::from(s)
        };
        Ok(SpiffeId { id, path_start })
    }

    /// Builds the ID `spiffe://<td>/<seg1>/<seg2>...` from path segments, each checked on its own
    /// (so a segment holding `/` is refused rather than split).
    pub fn from_segments<S: AsRef<str>>(td: &TrustDomain, segments: &[S]) -> Result<Self, IdError> {
        let mut id = td.id_string();
        let path_start = id.len();
        for seg in segments {
            let seg = seg.as_ref();
            let at = id.len() + 1;
            rules::segment(seg).map_err(|e| e.shifted(at))?;
            id.push('/');
            id.push_str(seg);
        }
        if id.len() > MAX_ID_LEN {
            return Err(IdError::TooLong { len: id.len() });
        }
        Ok(SpiffeId {
            id: Arc::from(id),
            path_start,
        })
    }

    /// Builds `spiffe://<td><path>` from a path that is empty or starts with `/`.
    pub fn from_path(td: &TrustDomain, path: &str) -> Result<Self, IdError> {
        let mut id = td.id_string();
        let path_start = id.len();
        if !path.is_empty() && !path.starts_with('/') {
            return Err(IdError::PathNotAbsolute { offset: path_start });
        }
        id.push_str(path);
        if id.len() > MAX_ID_LEN {
            return Err(IdError::TooLong { len: id.len() });
        }
        rules::path(&id, path_start)?;
        Ok(SpiffeId {
            id: Arc::from(id),
            path_start,
        })
    }

    /// The ID of a trust domain itself: `spiffe://<td>`.
    pub(crate) fn root_of(td: &TrustDomain) -> Self {
        let id = td.id_string();
        let path_start = id.len();
        SpiffeId {
            id: Arc::from(id),
            path_start,
        }
    }

    /// The string form.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The trust domain name, such as `example.org`.
    pub fn trust_domain_name(&self) -> &str {
        &self.id[SCHEME_PREFIX.len()..self.path_start]
    }

    /// The trust domain (allocates a new handle; use [`SpiffeId::trust_domain_name`] for lookups).
    pub fn trust_domain(&self) -> TrustDomain {
        TrustDomain::from_validated(self.trust_domain_name())
    }

    /// The path: empty for the ID of a trust domain, else `/seg/seg...`.
    pub fn path(&self) -> &str {
        &self.id[self.path_start..]
    }

    /// The path segments, in order.
    pub fn segments(&self) -> impl Iterator<Item = &str> + '_ {
        self.path().split('/').skip(1)
    }

    /// Whether this is the ID of a trust domain itself (no path). Such an ID names the trust
    /// domain's authority and is never a valid leaf SVID identity (X509-SVID.md 5.2).
    pub fn is_root(&self) -> bool {
        self.path_start == self.id.len()
    }

    /// Whether the ID belongs to the given trust domain.
    pub fn is_member_of(&self, td: &TrustDomain) -> bool {
        self.trust_domain_name() == td.name()
    }
}

impl PartialEq<str> for SpiffeId {
    fn eq(&self, other: &str) -> bool {
        &*self.id == other
    }
}

impl PartialEq<&str> for SpiffeId {
    fn eq(&self, other: &&str) -> bool {
        &*self.id == *other
    }
}

super::string_id_impls!(SpiffeId, id, "a SPIFFE ID");
