//! [`SlotAuthority`]: what the generic lifecycle needs from an authority kind (X.509 CA or JWT
//! key): how one is made for a slot, named, timed and published.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use rustls_pki_types::CertificateDer;

use spiffe_core::PublicKey;

use crate::CaError;
use crate::config::CaConfig;
use crate::jwt::JwtAuthority;
use crate::keys::{CaKeyType, KeyManager, Signer};
use crate::rotation::{AuthorityKind, SlotId};
use crate::x509::X509Authority;

/// What a new authority is made from.
pub(crate) struct Forge<'a> {
    /// The authority's configuration.
    pub(crate) config: &'a CaConfig,
    /// Where the new key is generated.
    pub(crate) keys: &'a dyn KeyManager,
    /// The time it is made at.
    pub(crate) now: SystemTime,
}

/// An authority that lives in a rotation slot.
pub(crate) trait SlotAuthority: fmt::Debug + Send + Sync + Sized {
    /// Which kind it is.
    const KIND: AuthorityKind;
    /// What the bundle publishes for it.
    type Public: Clone + fmt::Debug + Send + Sync;

    /// The ID of its key in the key manager for a slot (`x509-CA-A`, `JWT-Signer-B`).
    fn key_id(slot: SlotId) -> String;

    /// The type of key it signs with under `config`.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] if the configuration asks for a key type this authority does not
    /// generate.
    fn key_type(config: &CaConfig) -> Result<CaKeyType, CaError>;

    /// Makes a new authority around a freshly generated key.
    ///
    /// # Errors
    ///
    /// Whatever creating the CA certificate or JWT key refuses ([`CaError::Certificate`],
    /// [`CaError::Crypto`]).
    fn create(forge: &Forge<'_>, signer: Arc<dyn Signer>) -> Result<Self, CaError>;

    /// Its ID: the hex Subject Key Identifier of a CA, the key ID of a JWT key.
    fn id(&self) -> &str;

    /// Start of its lifetime, seconds since the Unix epoch.
    fn not_before(&self) -> i64;

    /// End of its lifetime, seconds since the Unix epoch.
    fn not_after(&self) -> i64;

    /// What the bundle publishes for it.
    fn public(&self) -> Self::Public;
}

impl SlotAuthority for X509Authority {
    const KIND: AuthorityKind = AuthorityKind::X509;
    /// The roots of the bundle: the CA itself, or the upstream roots.
    type Public = Vec<CertificateDer<'static>>;

    fn key_id(slot: SlotId) -> String {
        format!("x509-CA-{}", slot.as_str())
    }

    fn key_type(config: &CaConfig) -> Result<CaKeyType, CaError> {
        Ok(config.ca_key_type)
    }

    fn create(forge: &Forge<'_>, signer: Arc<dyn Signer>) -> Result<Self, CaError> {
        X509Authority::create(
            &forge.config.trust_domain,
            signer,
            &forge.config.ca_subject,
            forge.now,
            forge.config.ca_ttl,
            forge.config.upstream.as_deref(),
        )
    }

    fn id(&self) -> &str {
        X509Authority::id(self)
    }

    fn not_before(&self) -> i64 {
        X509Authority::not_before(self)
    }

    fn not_after(&self) -> i64 {
        X509Authority::not_after(self)
    }

    fn public(&self) -> Self::Public {
        self.roots().to_vec()
    }
}

impl SlotAuthority for JwtAuthority {
    const KIND: AuthorityKind = AuthorityKind::Jwt;
    /// The public key.
    type Public = PublicKey;

    fn key_id(slot: SlotId) -> String {
        format!("JWT-Signer-{}", slot.as_str())
    }

    fn key_type(config: &CaConfig) -> Result<CaKeyType, CaError> {
        CaKeyType::for_jwt_algorithm(config.jwt_algorithm)
    }

    fn create(forge: &Forge<'_>, signer: Arc<dyn Signer>) -> Result<Self, CaError> {
        JwtAuthority::create(
            signer,
            forge.config.jwt_algorithm,
            forge.now,
            forge.config.ca_ttl,
        )
    }

    fn id(&self) -> &str {
        self.key_id()
    }

    fn not_before(&self) -> i64 {
        JwtAuthority::not_before(self)
    }

    fn not_after(&self) -> i64 {
        JwtAuthority::not_after(self)
    }

    fn public(&self) -> Self::Public {
        self.signer().public_key().clone()
    }
}
