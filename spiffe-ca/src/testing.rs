//! An in-process trust domain for tests (feature `testing`): mint X509-SVIDs and JWT-SVIDs for
//! any ID in one line, and get the bundle that verifies them, with no server running.
//!
//! ```
//! # fn main() -> Result<(), spiffe_ca::CaError> {
//! use spiffe_ca::testing::TestTrustDomain;
//!
//! let td = TestTrustDomain::new("example.org")?;
//! let svid = td.x509_svid("spiffe://example.org/ns/prod/sa/payment")?;
//! let bundles = td.bundle_set();
//! spiffe_core::x509::verify_chain(svid.chain(), &bundles).expect("verifies");
//! # Ok(())
//! # }
//! ```

use std::sync::Arc;
use std::time::Duration;

use spiffe_core::{BundleSet, JwtSvid, PrivateKey, SpiffeId, SvidCell, TrustDomain, X509Svid};

use crate::keys::{CaKeyType, Signer, SoftSigner};
use crate::{
    CaConfig, CaError, CertificateAuthority, CertificateError, Clock, CryptoError, JwtSvidParams,
    MemoryKeyManager, SystemClock, X509SvidParams,
};

/// A trust domain whose authority lives in this process.
#[derive(Debug)]
pub struct TestTrustDomain {
    ca: CertificateAuthority,
}

fn id(s: &str) -> Result<SpiffeId, CaError> {
    SpiffeId::parse(s).map_err(|source| CaError::InvalidId {
        input: s.to_owned(),
        what: "SPIFFE ID",
        source,
    })
}

impl TestTrustDomain {
    /// A trust domain with SPIRE's defaults (24 h CA, ES256 JWT key) on the system clock.
    ///
    /// # Errors
    ///
    /// [`CaError::InvalidId`] if `trust_domain` is not a trust domain name; otherwise as
    /// [`CertificateAuthority::new`].
    pub fn new(trust_domain: &str) -> Result<Self, CaError> {
        Self::with_clock(trust_domain, Arc::new(SystemClock))
    }

    /// The same on a given clock (for example a [`crate::ManualClock`]).
    ///
    /// # Errors
    ///
    /// [`CaError::InvalidId`] if `trust_domain` is not a trust domain name; otherwise as
    /// [`CertificateAuthority::new`].
    pub fn with_clock(trust_domain: &str, clock: Arc<dyn Clock>) -> Result<Self, CaError> {
        let td = TrustDomain::parse(trust_domain).map_err(|source| CaError::InvalidId {
            input: trust_domain.to_owned(),
            what: "trust domain",
            source,
        })?;
        Self::with_config(CaConfig::new(td), clock)
    }

    /// A trust domain with the given authority configuration.
    ///
    /// # Errors
    ///
    /// As [`CertificateAuthority::new`] (with keys in memory).
    pub fn with_config(config: CaConfig, clock: Arc<dyn Clock>) -> Result<Self, CaError> {
        Ok(TestTrustDomain {
            ca: CertificateAuthority::new(config, Arc::new(MemoryKeyManager::new()), clock)?,
        })
    }

    /// An X509-SVID (fresh P-256 key, 1 h) for `spiffe_id`.
    ///
    /// # Errors
    ///
    /// As [`TestTrustDomain::x509_svid_with`].
    pub fn x509_svid(&self, spiffe_id: &str) -> Result<X509Svid, CaError> {
        self.x509_svid_with(spiffe_id, Duration::from_secs(3600), &[])
    }

    /// An X509-SVID with a TTL and DNS names.
    ///
    /// # Errors
    ///
    /// [`CaError::InvalidId`] if `spiffe_id` is not a SPIFFE ID; what
    /// [`CertificateAuthority::mint_x509_svid`] refuses; [`CaError::Crypto`] if the key cannot
    /// be made; [`CaError::Certificate`] ([`CertificateError::NotAnSvid`]) if the minted chain
    /// is not a valid X509-SVID.
    pub fn x509_svid_with(
        &self,
        spiffe_id: &str,
        ttl: Duration,
        dns_names: &[&str],
    ) -> Result<X509Svid, CaError> {
        let key = SoftSigner::generate(CaKeyType::EcP256)?;
        let chain = self.ca.mint_x509_svid(
            key.public_key(),
            &X509SvidParams {
                spiffe_id: id(spiffe_id)?,
                ttl,
                dns_names: dns_names.iter().map(|s| (*s).to_owned()).collect(),
            },
        )?;
        let private =
            PrivateKey::from_pkcs8_der(key.pkcs8_der()).map_err(CryptoError::PrivateKey)?;
        X509Svid::new(chain, private).map_err(|e| CertificateError::NotAnSvid(e).into())
    }

    /// An [`SvidCell`] holding a fresh X509-SVID for `spiffe_id`, ready for rustls configs.
    ///
    /// # Errors
    ///
    /// As [`TestTrustDomain::x509_svid_with`].
    pub fn svid_cell(&self, spiffe_id: &str) -> Result<Arc<SvidCell>, CaError> {
        Ok(Arc::new(SvidCell::new(self.x509_svid(spiffe_id)?)))
    }

    /// A JWT-SVID (5 minutes) for `spiffe_id` and `audience`.
    ///
    /// # Errors
    ///
    /// As [`TestTrustDomain::jwt_svid_with`].
    pub fn jwt_svid(&self, spiffe_id: &str, audience: &[&str]) -> Result<JwtSvid, CaError> {
        self.jwt_svid_with(spiffe_id, audience, Duration::from_secs(300))
    }

    /// A JWT-SVID with a TTL.
    ///
    /// # Errors
    ///
    /// [`CaError::InvalidId`] if `spiffe_id` is not a SPIFFE ID; what
    /// [`CertificateAuthority::mint_jwt_svid`] refuses; [`CaError::JwtSvid`] if the minted
    /// token does not parse back.
    pub fn jwt_svid_with(
        &self,
        spiffe_id: &str,
        audience: &[&str],
        ttl: Duration,
    ) -> Result<JwtSvid, CaError> {
        let token = self.ca.mint_jwt_svid(&JwtSvidParams {
            spiffe_id: id(spiffe_id)?,
            audience: audience.iter().map(|s| (*s).to_owned()).collect(),
            ttl,
            issuer: None,
            with_jti: false,
        })?;
        JwtSvid::parse_insecure(&token).map_err(CaError::JwtSvid)
    }

    /// A bundle set holding this trust domain's bundle.
    pub fn bundle_set(&self) -> BundleSet {
        let mut set = BundleSet::new();
        set.insert_shared(self.ca.bundle());
        set
    }

    /// A bundle set holding this trust domain's bundle and the bundles of `others`
    /// (federation).
    pub fn bundle_set_with(&self, others: &[&TestTrustDomain]) -> BundleSet {
        let mut set = self.bundle_set();
        for other in others {
            set.insert_shared(other.ca.bundle());
        }
        set
    }

    /// The authority behind it.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }
}
