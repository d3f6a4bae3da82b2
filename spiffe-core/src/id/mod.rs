//! SPIFFE IDs and trust domain names (SPIFFE-ID.md).

/// The string-like impls [`SpiffeId`] and [`TrustDomain`] share, over their text in field
/// `$field`: `Display` (the text), `Debug` (`Type(text)`), `FromStr`, `TryFrom<&str>` and
/// `TryFrom<String>` (by the type's strict `parse`), `AsRef<str>`, and serde as a string
/// (deserialized by `parse`; `$expecting` names what was expected).
macro_rules! string_id_impls {
    ($ty:ident, $field:ident, $expecting:literal) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.$field)
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($ty), "({})"), self.$field)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::id::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::id::IdError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::id::IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.$field
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.$field)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_str($crate::id::ParseVisitor::new($expecting, $ty::parse))
            }
        }
    };
}
use string_id_impls;

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
