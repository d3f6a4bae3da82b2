//! Presenting the current SVID at every handshake.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::source::SvidSource;
use crate::x509::X509Svid;

/// Resolves the certificate of both TLS roles from an [`SvidSource`], read at every handshake:
/// when the source rotates its SVID, the next handshake presents the new one, with no new
/// config. The signing key is loaded once per SVID and cached.
pub struct SvidResolver {
    source: Arc<dyn SvidSource>,
    cache: RwLock<Option<(Arc<X509Svid>, Arc<CertifiedKey>)>>,
}

impl fmt::Debug for SvidResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SvidResolver").finish_non_exhaustive()
    }
}

impl SvidResolver {
    /// A resolver reading from `source`.
    pub fn new(source: Arc<dyn SvidSource>) -> Self {
        SvidResolver {
            source,
            cache: RwLock::new(None),
        }
    }

    /// The certificate and key to present now, or `None` when the source has no SVID (the
    /// handshake then fails).
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        let svid = self.source.x509_svid().ok()?;
        {
            let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((cached, key)) = &*cache
                && Arc::ptr_eq(cached, &svid)
            {
                return Some(Arc::clone(key));
            }
        }
        // The key bytes stay in the SVID's zeroizing buffer; only a borrow is handed over.
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(svid.private_key().pkcs8_der()));
        let signing_key = rustls::crypto::aws_lc_rs::sign::any_supported_type(&der).ok()?;
        let certified = Arc::new(CertifiedKey::new(svid.chain().to_vec(), signing_key));
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        *cache = Some((svid, Arc::clone(&certified)));
        Some(certified)
    }
}

impl ResolvesServerCert for SvidResolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

impl ResolvesClientCert for SvidResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.current()
    }

    fn has_certs(&self) -> bool {
        true
    }
}
