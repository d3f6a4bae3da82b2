//! [`BundleSet`]: bundles keyed by trust domain, and the SPIFFE bundle map format.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::jwk::JwkSet;
use super::{Bundle, BundleError, JwtBundle, X509Bundle};
use crate::id::TrustDomain;
use crate::source::BundleSource;

/// Bundles of several trust domains, at most one each, kept apart: a lookup by trust domain
/// returns that trust domain's bundle and never merges in another's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BundleSet {
    bundles: BTreeMap<TrustDomain, Arc<Bundle>>,
}

impl BundleSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the bundle of its trust domain; returns the one replaced.
    pub fn insert(&mut self, bundle: Bundle) -> Option<Arc<Bundle>> {
        self.insert_shared(Arc::new(bundle))
    }

    /// Adds or replaces a shared bundle; returns the one replaced.
    pub fn insert_shared(&mut self, bundle: Arc<Bundle>) -> Option<Arc<Bundle>> {
        self.bundles.insert(bundle.trust_domain().clone(), bundle)
    }

    /// Removes the bundle of a trust domain.
    pub fn remove(&mut self, trust_domain: &str) -> Option<Arc<Bundle>> {
        self.bundles.remove(trust_domain)
    }

    /// The bundle of a trust domain.
    pub fn get(&self, trust_domain: &str) -> Option<&Arc<Bundle>> {
        self.bundles.get(trust_domain)
    }

    /// The bundles, ordered by trust domain name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Bundle>> {
        self.bundles.values()
    }

    /// The trust domains present.
    pub fn trust_domains(&self) -> impl Iterator<Item = &TrustDomain> {
        self.bundles.keys()
    }

    /// Number of bundles.
    pub fn len(&self) -> usize {
        self.bundles.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.bundles.is_empty()
    }

    /// Parses a SPIFFE bundle map (`{"trust_domains": {"<name>": <bundle>, ...}}`).
    ///
    /// A trust domain named twice is refused (SPIFFE_Trust_Domain_and_Bundle.md 5.1.1 and 6.3),
    /// as is a key that is not a trust domain name. Each bundle is parsed strictly, as by
    /// [`Bundle::parse_json`].
    pub fn parse_bundle_map(json: &[u8]) -> Result<Self, BundleError> {
        let raw: RawBundleMap = serde_json::from_slice(json).map_err(|e| {
            // Our own duplicate check travels through serde as a message; give it its type back.
            let msg = e.to_string();
            match msg.strip_prefix(DUPLICATE_PREFIX) {
                Some(rest) => BundleError::DuplicateTrustDomain(
                    rest.split(" at line").next().unwrap_or(rest).to_owned(),
                ),
                None => BundleError::Json(msg),
            }
        })?;
        let mut set = BundleSet::new();
        for (key, jwks) in raw.trust_domains.0 {
            let td = TrustDomain::parse(&key).map_err(|source| BundleError::TrustDomain {
                key: key.clone(),
                source,
            })?;
            if set.get(td.name()).is_some() {
                return Err(BundleError::DuplicateTrustDomain(key));
            }
            set.insert(Bundle::from_jwk_set_strict(td, jwks)?);
        }
        Ok(set)
    }

    /// The set as a SPIFFE bundle map; refresh hints are left out, as 5.1.1 asks of producers.
    pub fn to_bundle_map_json(&self) -> String {
        let trust_domains: BTreeMap<&str, JwkSet> = self
            .bundles
            .iter()
            .map(|(td, b)| {
                let mut set = b.to_jwk_set();
                set.spiffe_refresh_hint = None;
                (td.name(), set)
            })
            .collect();
        #[derive(Serialize)]
        struct Out<'a> {
            trust_domains: BTreeMap<&'a str, JwkSet>,
        }
        serde_json::to_string(&Out { trust_domains }).unwrap_or_default()
    }
}

impl FromIterator<Bundle> for BundleSet {
    fn from_iter<I: IntoIterator<Item = Bundle>>(iter: I) -> Self {
        let mut set = BundleSet::new();
        for b in iter {
            set.insert(b);
        }
        set
    }
}

impl BundleSource for BundleSet {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.bundles.get(trust_domain).map(|b| b.x509_shared())
    }

    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.bundles.get(trust_domain).map(|b| b.jwt_shared())
    }
}

const DUPLICATE_PREFIX: &str = "duplicate trust domain: ";

#[derive(Deserialize)]
struct RawBundleMap {
    trust_domains: EntriesNoDuplicates,
}

/// A JSON object read as a list of entries, refusing a repeated name.
struct EntriesNoDuplicates(Vec<(String, JwkSet)>);

impl<'de> Deserialize<'de> for EntriesNoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EntriesNoDuplicates;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of bundles keyed by trust domain name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out: Vec<(String, JwkSet)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if out.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("{DUPLICATE_PREFIX}{key}")));
                    }
                    let value = map.next_value::<JwkSet>()?;
                    out.push((key, value));
                }
                Ok(EntriesNoDuplicates(out))
            }
        }
        d.deserialize_map(V)
    }
}
