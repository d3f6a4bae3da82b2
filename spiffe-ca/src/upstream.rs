//! [`UpstreamCa`]: an existing CA, read from disk, that signs this trust domain's CA.

use std::path::Path;
use std::sync::Arc;

use rcgen::Issuer;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use spiffe_core::x509::CertificateInfo;

use crate::CaError;
use crate::keys::{Signer, SoftSigner};
use crate::x509::IssuerKey;

/// An upstream CA (SPIRE's "disk" UpstreamAuthority): its certificate and key, the chain above
/// it, and the roots that trust domains' bundles publish. The chain travels with every SVID;
/// the roots are what the bundle holds.
pub struct UpstreamCa {
    issuer: Issuer<'static, IssuerKey>,
    intermediates: Vec<CertificateDer<'static>>,
    roots: Vec<CertificateDer<'static>>,
    not_after: i64,
}

impl std::fmt::Debug for UpstreamCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCa")
            .field("intermediates", &self.intermediates.len())
            .field("roots", &self.roots.len())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CaError::Upstream(format!("{what}: {e}")))?;
    if certs.is_empty() {
        return Err(CaError::Upstream(format!("{what}: no CERTIFICATE block")));
    }
    Ok(certs)
}

impl UpstreamCa {
    /// Reads the upstream CA from PEM files: `cert` holds the upstream CA certificate first and
    /// then any certificates above it; `key` its PKCS#8 key; `bundle`, if given, the roots. With
    /// no bundle, the last certificate of `cert` is taken as the root.
    pub fn load(cert: &Path, key: &Path, bundle: Option<&Path>) -> Result<Self, CaError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| CaError::io(p, e));
        let bundle_pem = bundle.map(read).transpose()?;
        Self::from_pem(
            &read(cert)?,
            &Zeroizing::new(read(key)?),
            bundle_pem.as_deref(),
        )
    }

    /// Same as [`UpstreamCa::load`], from PEM text.
    pub fn from_pem(cert: &[u8], key: &[u8], bundle: Option<&[u8]>) -> Result<Self, CaError> {
        let mut chain = certs(cert, "upstream certificate file")?;
        let key = PrivatePkcs8KeyDer::from_pem_slice(key)
            .map_err(|e| CaError::Upstream(format!("upstream key file: {e}")))?;
        let signer: Arc<dyn Signer> = Arc::new(SoftSigner::from_pkcs8(key.secret_pkcs8_der())?);
        let info = CertificateInfo::parse(&chain[0])
            .map_err(|e| CaError::Upstream(format!("upstream certificate: {e}")))?;
        if !info.is_ca {
            return Err(CaError::Upstream(
                "upstream certificate is not a CA (Basic Constraints cA=true required)".into(),
            ));
        }
        if info.public_key != *signer.public_key() {
            return Err(CaError::Upstream(
                "upstream key does not match the upstream certificate".into(),
            ));
        }
        let roots = match bundle {
            Some(pem) => certs(pem, "upstream bundle file")?,
            None => {
                // The last certificate is the root; it does not travel with SVIDs.
                let root = if chain.len() > 1 {
                    chain.pop()
                } else {
                    chain.first().cloned()
                };
                root.into_iter().collect()
            }
        };
        // A self-signed upstream CA is its own root and is not repeated in SVID chains.
        let intermediates: Vec<_> = chain
            .iter()
            .filter(|c| !roots.contains(c))
            .cloned()
            .collect();
        let issuer = Issuer::from_ca_cert_der(&chain[0], crate::x509::IssuerKey(signer))?;
        Ok(UpstreamCa {
            issuer,
            intermediates,
            roots,
            not_after: info.not_after,
        })
    }

    pub(crate) fn issuer(&self) -> &Issuer<'static, IssuerKey> {
        &self.issuer
    }

    /// Certificates between this trust domain's CA and the roots.
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.intermediates
    }

    /// The roots the bundle publishes.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The upstream CA's `notAfter`: no CA it signs outlives it.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }
}
