//! The character rules of SPIFFE-ID.md, shared by every constructor.
//!
//! Each check walks the bytes once and reports the first broken rule with its offset in the
//! whole input (`base` is the offset of the checked part inside that input).

use super::IdError;

/// Longest SPIFFE ID in bytes (SPIFFE-ID.md section 2.3).
pub(crate) const MAX_ID_LEN: usize = 2048;
/// Longest trust domain name in bytes (SPIFFE-ID.md section 2.3).
pub(crate) const MAX_TRUST_DOMAIN_LEN: usize = 255;
/// The scheme and separator, as stored.
pub(crate) const SCHEME_PREFIX: &str = "spiffe://";

/// Whether the input starts with `spiffe://`: in lower case only when `case` is strict (as
/// go-spiffe's strict parser takes it), in any letter case when normalizing. Returns
/// `Some(true)` when the scheme is written in lower case already.
#[inline]
pub(crate) fn scheme(bytes: &[u8], case: Case) -> Option<bool> {
    let prefix = bytes.get(..SCHEME_PREFIX.len())?;
    if prefix == SCHEME_PREFIX.as_bytes() {
        Some(true)
    } else if case == Case::Normalize && prefix.eq_ignore_ascii_case(SCHEME_PREFIX.as_bytes()) {
        Some(false)
    } else {
        None
    }
}

/// The character at `offset` of `input` (which must be a char boundary), for error messages.
fn char_at(input: &str, offset: usize) -> char {
    input
        .get(offset..)
        .and_then(|rest| rest.chars().next())
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// How a trust domain name should be treated when it holds upper-case letters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Case {
    /// Reject upper case (the default; SPIFFE-ID.md 2.1: the host MUST be lowercase).
    Strict,
    /// Accept upper case; the caller lower-cases it (SPIFFE-ID.md 2.4: case-insensitive).
    Normalize,
}

/// Result of scanning the authority of a SPIFFE ID.
pub(crate) struct Authority {
    /// Length of the trust domain name.
    pub(crate) len: usize,
    /// Whether upper-case letters were seen (only possible with [`Case::Normalize`]).
    pub(crate) has_upper: bool,
}

/// Scans a trust domain name that ends at the first `/` or at the end of `input[start..]`.
pub(crate) fn trust_domain(input: &str, start: usize, case: Case) -> Result<Authority, IdError> {
    let bytes = input.as_bytes();
    let mut has_upper = false;
    let mut end = start;
    while let Some(&b) = bytes.get(end) {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {}
            b'/' => break,
            b'A'..=b'Z' => match case {
                Case::Strict => {
                    return Err(IdError::UppercaseTrustDomain {
                        offset: end,
                        ch: b as char,
                    });
                }
                Case::Normalize => has_upper = true,
            },
            b'%' => return Err(IdError::PercentEncoded { offset: end }),
            b'@' => return Err(IdError::Userinfo { offset: end }),
            b':' => return Err(IdError::Port { offset: end }),
            b'?' => return Err(IdError::Query { offset: end }),
            b'#' => return Err(IdError::Fragment { offset: end }),
            _ => {
                return Err(IdError::BadTrustDomainChar {
                    offset: end,
                    ch: char_at(input, end),
                });
            }
        }
        end += 1;
    }
    let len = end - start;
    if len == 0 {
        return Err(IdError::MissingTrustDomain { offset: start });
    }
    if len > MAX_TRUST_DOMAIN_LEN {
        return Err(IdError::TrustDomainTooLong { len });
    }
    Ok(Authority { len, has_upper })
}

/// Checks a path (empty, or `/seg/seg...`) that starts at `input[start..]` and runs to the end.
pub(crate) fn path(input: &str, start: usize) -> Result<(), IdError> {
    let bytes = input.as_bytes();
    let mut i = start;
    // Invariant at the loop head: bytes[i] is '/' or i is the end.
    while i < bytes.len() {
        // bytes[i] == '/'
        let seg_start = i + 1;
        let mut j = seg_start;
        while let Some(&b) = bytes.get(j) {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {}
                b'/' => break,
                b'%' => return Err(IdError::PercentEncoded { offset: j }),
                b'?' => return Err(IdError::Query { offset: j }),
                b'#' => return Err(IdError::Fragment { offset: j }),
                _ => {
                    return Err(IdError::BadPathChar {
                        offset: j,
                        ch: char_at(input, j),
                    });
                }
            }
            j += 1;
        }
        match &bytes[seg_start..j] {
            [] if j == bytes.len() => return Err(IdError::TrailingSlash { offset: i }),
            [] => return Err(IdError::EmptySegment { offset: seg_start }),
            b"." | b".." => return Err(IdError::DotSegment { offset: seg_start }),
            _ => {}
        }
        i = j;
    }
    Ok(())
}

/// Checks one path segment given on its own (no slashes allowed inside).
pub(crate) fn segment(seg: &str) -> Result<(), IdError> {
    let bytes = seg.as_bytes();
    if bytes.is_empty() {
        return Err(IdError::EmptySegment { offset: 0 });
    }
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {}
            b'%' => return Err(IdError::PercentEncoded { offset: i }),
            b'?' => return Err(IdError::Query { offset: i }),
            b'#' => return Err(IdError::Fragment { offset: i }),
            _ => {
                return Err(IdError::BadPathChar {
                    offset: i,
                    ch: char_at(seg, i),
                });
            }
        }
    }
    if bytes == b"." || bytes == b".." {
        return Err(IdError::DotSegment { offset: 0 });
    }
    Ok(())
}
