//! The typed error for SPIFFE IDs and trust domain names.

use thiserror::Error;

/// Why a string is not a valid SPIFFE ID or trust domain name.
///
/// Every variant names the rule of SPIFFE-ID.md that was broken and, where the rule concerns one
/// place in the input, the byte offset of that place (0-based, counted in the input as given).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum IdError {
    /// The input is empty.
    #[error("SPIFFE ID is empty")]
    Empty,
    /// The whole ID is longer than the 2048 bytes SPIFFE-ID.md section 2.3 allows.
    #[error("SPIFFE ID is {len} bytes long; at most 2048 bytes are allowed")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
    },
    /// The input does not start with `spiffe://`.
    #[error("SPIFFE ID must start with the scheme `spiffe://` (byte {offset})")]
    WrongScheme {
        /// Where the scheme mismatch was found.
        offset: usize,
    },
    /// Nothing between `spiffe://` and the path.
    #[error("trust domain is missing (byte {offset})")]
    MissingTrustDomain {
        /// Where the trust domain should start.
        offset: usize,
    },
    /// The trust domain name is longer than 255 bytes.
    #[error("trust domain name is {len} bytes long; at most 255 bytes are allowed")]
    TrustDomainTooLong {
        /// Length of the trust domain name in bytes.
        len: usize,
    },
    /// An upper-case letter in the trust domain (strict mode).
    #[error(
        "trust domain must be lower case: {ch:?} at byte {offset} (use the normalizing constructor to accept and lower-case it)"
    )]
    UppercaseTrustDomain {
        /// Offset of the first upper-case letter.
        offset: usize,
        /// The offending character.
        ch: char,
    },
    /// A character outside `[a-z0-9._-]` in the trust domain.
    #[error("trust domain may contain only [a-z0-9._-]: {ch:?} at byte {offset}")]
    BadTrustDomainChar {
        /// Offset of the character.
        offset: usize,
        /// The offending character.
        ch: char,
    },
    /// A `@`: the authority carries userinfo.
    #[error("trust domain must not carry userinfo ('@' at byte {offset})")]
    Userinfo {
        /// Offset of the `@`.
        offset: usize,
    },
    /// A `:` in the authority: a port.
    #[error("trust domain must not carry a port (':' at byte {offset})")]
    Port {
        /// Offset of the `:`.
        offset: usize,
    },
    /// A `%`: percent-encoding is forbidden everywhere in a SPIFFE ID.
    #[error("SPIFFE ID must not contain percent-encoded characters ('%' at byte {offset})")]
    PercentEncoded {
        /// Offset of the `%`.
        offset: usize,
    },
    /// A `?`: SPIFFE IDs have no query.
    #[error("SPIFFE ID must not have a query ('?' at byte {offset})")]
    Query {
        /// Offset of the `?`.
        offset: usize,
    },
    /// A `#`: SPIFFE IDs have no fragment.
    #[error("SPIFFE ID must not have a fragment ('#' at byte {offset})")]
    Fragment {
        /// Offset of the `#`.
        offset: usize,
    },
    /// Two slashes in a row, or a path segment given as empty.
    #[error("path segment at byte {offset} is empty")]
    EmptySegment {
        /// Offset where the empty segment starts.
        offset: usize,
    },
    /// A `.` or `..` segment.
    #[error("path segment at byte {offset} is a relative path modifier ('.' or '..')")]
    DotSegment {
        /// Offset where the segment starts.
        offset: usize,
    },
    /// The path ends with `/`.
    #[error("path must not end with '/' (byte {offset})")]
    TrailingSlash {
        /// Offset of the trailing slash.
        offset: usize,
    },
    /// A character outside `[A-Za-z0-9._-]` in a path segment.
    #[error("path segments may contain only [A-Za-z0-9._-]: {ch:?} at byte {offset}")]
    BadPathChar {
        /// Offset of the character.
        offset: usize,
        /// The offending character.
        ch: char,
    },
    /// A path where only a trust domain name was expected.
    #[error("a trust domain must not have a path (byte {offset})")]
    UnexpectedPath {
        /// Offset where the path starts.
        offset: usize,
    },
    /// A path that does not start with `/` (in [`crate::SpiffeId::from_path`]).
    #[error("path must be empty or start with '/' (byte {offset})")]
    PathNotAbsolute {
        /// Offset of the first byte of the path.
        offset: usize,
    },
}

/// The `offset` field of an `&IdError` or `&mut IdError` (by reference, as the operand is),
/// for the variants that point at one place of the input; `None` for the others. Listing every
/// variant makes a new one say whether it has an offset.
macro_rules! offset_field {
    ($error:expr) => {
        match $error {
            IdError::Empty | IdError::TooLong { .. } | IdError::TrustDomainTooLong { .. } => None,
            IdError::WrongScheme { offset }
            | IdError::MissingTrustDomain { offset }
            | IdError::UppercaseTrustDomain { offset, .. }
            | IdError::BadTrustDomainChar { offset, .. }
            | IdError::Userinfo { offset }
            | IdError::Port { offset }
            | IdError::PercentEncoded { offset }
            | IdError::Query { offset }
            | IdError::Fragment { offset }
            | IdError::EmptySegment { offset }
            | IdError::DotSegment { offset }
            | IdError::TrailingSlash { offset }
            | IdError::BadPathChar { offset, .. }
            | IdError::UnexpectedPath { offset }
            | IdError::PathNotAbsolute { offset } => Some(offset),
        }
    };
}

impl IdError {
    /// The byte offset the error points at, if it concerns one place of the input.
    pub fn offset(&self) -> Option<usize> {
        offset_field!(self).copied()
    }

    /// The same error with every offset moved by `delta` bytes (used when a part is validated
    /// on its own and the error must point into the whole input).
    pub(crate) fn shifted(mut self, delta: usize) -> Self {
        if let Some(offset) = offset_field!(&mut self) {
            *offset += delta;
        }
        self
    }
}
