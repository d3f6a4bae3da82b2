//! [`JwtBundle`]: the JWT-SVID signing keys of one trust domain.

use std::collections::BTreeMap;

use super::BundleError;
use crate::id::TrustDomain;
use crate::key::PublicKey;

/// One JWT-SVID signing key: its key ID and public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtAuthority {
    /// The `kid` that tokens name in their header.
    pub key_id: String,
    /// The public key.
    pub public_key: PublicKey,
}

/// The JWT-SVID signing keys of one trust domain, by key ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtBundle {
    trust_domain: TrustDomain,
    keys: BTreeMap<String, PublicKey>,
}

impl JwtBundle {
    /// An empty bundle: it trusts no token.
    pub fn new(trust_domain: TrustDomain) -> Self {
        JwtBundle {
            trust_domain,
            keys: BTreeMap::new(),
        }
    }

    /// Parses the JWT part of a SPIFFE bundle document (a JWK Set; the Workload API's
    /// `FetchJWTBundles` form). X.509 entries in the document are checked and dropped.
    pub fn parse_json(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        Ok(super::Bundle::parse_json(trust_domain, json)?.jwt().clone())
    }

    /// Parses a plain JWK Set (RFC 7517) of JWT-SVID keys, as the Workload API's
    /// `FetchJWTBundles` carries them: keys without `use` count as `jwt-svid` keys.
    pub fn parse_jwks(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        Ok(super::Bundle::parse_plain_jwks(trust_domain, json)?
            .jwt()
            .clone())
    }

    /// Adds a key. A key ID that is present already gets the new key (the last one given wins,
    /// as in go-spiffe's bundles).
    ///
    /// # Errors
    ///
    /// [`BundleError::JwtEntry`] for an empty key ID.
    pub fn add_authority(
        &mut self,
        key_id: impl Into<String>,
        public_key: PublicKey,
    ) -> Result<(), BundleError> {
        let key_id = key_id.into();
        if key_id.is_empty() {
            return Err(BundleError::JwtEntry {
                index: self.keys.len(),
                reason: "key ID is empty".into(),
            });
        }
        self.keys.insert(key_id, public_key);
        Ok(())
    }

    /// Removes a key; returns whether it was present.
    pub fn remove_authority(&mut self, key_id: &str) -> bool {
        self.keys.remove(key_id).is_some()
    }

    /// The key with this ID.
    pub fn find(&self, key_id: &str) -> Option<&PublicKey> {
        self.keys.get(key_id)
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The keys, ordered by key ID.
    pub fn authorities(&self) -> impl Iterator<Item = (&str, &PublicKey)> {
        self.keys.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the bundle holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The bundle as a JWK Set document holding only the JWT keys.
    pub fn to_json(&self) -> String {
        super::document::encode(None, Some(self), None, None)
    }
}
