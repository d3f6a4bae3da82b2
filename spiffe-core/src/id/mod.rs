//! SPIFFE IDs and trust domain names (SPIFFE-ID.md).

mod error;
pub mod log_id;
mod rules;
mod spiffe_id;
mod trust_domain;

#[cfg(test)]
mod tests;

pub use error::IdError;
pub use log_id::LogId;
pub use spiffe_id::SpiffeId;
pub use trust_domain::TrustDomain;

use std::fmt;
use std::marker::PhantomData;

/// A serde visitor that parses a string with the type's own strict parser, so deserializing
/// applies exactly the rules of `parse`.
pub(crate) struct ParseVisitor<T, F> {
    expecting: &'static str,
    parse: F,
    _out: PhantomData<fn() -> T>,
}

impl<T, F: Fn(&str) -> Result<T, IdError>> ParseVisitor<T, F> {
    pub(crate) fn new(expecting: &'static str, parse: F) -> Self {
        ParseVisitor {
            expecting,
            parse,
            _out: PhantomData,
        }
    }
}

impl<T, F: Fn(&str) -> Result<T, IdError>> serde::de::Visitor<'_> for ParseVisitor<T, F> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
        (self.parse)(v).map_err(E::custom)
    }
}
