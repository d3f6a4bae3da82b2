//! Where SVIDs and bundles come from: the [`SvidSource`] and [`BundleSource`] traits.
//!
//! Both are synchronous and hand out `Arc` snapshots, so a TLS handshake can read the current
//! SVID or bundle without blocking on I/O. The Workload API client implements them over a
//! stream that follows rotation; [`SvidCell`] and the bundle types implement them over values
//! held in memory.

use std::sync::{Arc, PoisonError, RwLock};

use thiserror::Error;

use crate::bundle::{Bundle, JwtBundle, X509Bundle};
use crate::id::TrustDomain;
use crate::x509::X509Svid;

/// Why a source has no SVID to give.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SourceError {
    /// The source holds no SVID (yet, or matching the picker).
    #[error("no X509-SVID available: {0}")]
    NoSvid(String),
    /// The source was closed.
    #[error("source is closed")]
    Closed,
}

/// Something that holds the current X509-SVID of this workload.
pub trait SvidSource: Send + Sync {
    /// The current SVID. Called at every TLS handshake: it must be cheap and must not block.
    fn x509_svid(&self) -> Result<Arc<X509Svid>, SourceError>;
}

/// Something that holds the trust bundles this workload trusts, by trust domain.
pub trait BundleSource: Send + Sync {
    /// The X.509 authorities of a trust domain, or `None` if that trust domain is not trusted.
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>>;

    /// The JWT-SVID keys of a trust domain, or `None` if that trust domain is not trusted.
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>>;
}

impl<T: SvidSource + ?Sized> SvidSource for Arc<T> {
    fn x509_svid(&self) -> Result<Arc<X509Svid>, SourceError> {
        (**self).x509_svid()
    }
}

impl<T: BundleSource + ?Sized> BundleSource for Arc<T> {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        (**self).x509_bundle(trust_domain)
    }
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        (**self).jwt_bundle(trust_domain)
    }
}

impl BundleSource for Bundle {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        (self.trust_domain() == trust_domain).then(|| self.x509_shared())
    }
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        (self.trust_domain() == trust_domain).then(|| self.jwt_shared())
    }
}

/// A single X.509 bundle trusts only its own trust domain.
///
/// This copies the bundle on every lookup; to serve lookups on a hot path, put it in a
/// [`Bundle`] or a [`crate::BundleSet`], which share it.
impl BundleSource for X509Bundle {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        (self.trust_domain() == trust_domain).then(|| Arc::new(self.clone()))
    }
    fn jwt_bundle(&self, _: &TrustDomain) -> Option<Arc<JwtBundle>> {
        None
    }
}

/// A single JWT bundle trusts only its own trust domain (copied on every lookup).
impl BundleSource for JwtBundle {
    fn x509_bundle(&self, _: &TrustDomain) -> Option<Arc<X509Bundle>> {
        None
    }
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        (self.trust_domain() == trust_domain).then(|| Arc::new(self.clone()))
    }
}

/// An [`SvidSource`] over a value that can be swapped: every reader sees the newest SVID at its
/// next call. Useful when the SVID comes from files, a test, or any other feed.
#[derive(Debug)]
pub struct SvidCell {
    current: RwLock<Arc<X509Svid>>,
}

impl SvidCell {
    /// A cell holding `svid`.
    pub fn new(svid: X509Svid) -> Self {
        SvidCell {
            current: RwLock::new(Arc::new(svid)),
        }
    }

    /// Replaces the SVID; returns the previous one.
    pub fn set(&self, svid: X509Svid) -> Arc<X509Svid> {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *guard, Arc::new(svid))
    }

    /// The current SVID.
    pub fn get(&self) -> Arc<X509Svid> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl SvidSource for SvidCell {
    fn x509_svid(&self) -> Result<Arc<X509Svid>, SourceError> {
        Ok(self.get())
    }
}

/// A [`BundleSource`] over a [`crate::BundleSet`] that can be swapped: every lookup sees the
/// newest set (for an agent following its server's bundle, or a service reloading files).
#[derive(Debug, Default)]
pub struct BundleSetCell {
    current: RwLock<Arc<crate::BundleSet>>,
}

impl BundleSetCell {
    /// A cell holding `set`.
    pub fn new(set: crate::BundleSet) -> Self {
        BundleSetCell {
            current: RwLock::new(Arc::new(set)),
        }
    }

    /// Replaces the set; returns the previous one.
    pub fn set(&self, set: crate::BundleSet) -> Arc<crate::BundleSet> {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *guard, Arc::new(set))
    }

    /// Adds or replaces one bundle.
    pub fn insert(&self, bundle: Bundle) {
        let mut guard = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = (**guard).clone();
        next.insert(bundle);
        *guard = Arc::new(next);
    }

    /// The current set.
    pub fn get(&self) -> Arc<crate::BundleSet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl BundleSource for BundleSetCell {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.get().x509_bundle(trust_domain)
    }
    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.get().jwt_bundle(trust_domain)
    }
}
