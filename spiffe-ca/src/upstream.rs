//! [`UpstreamCa`]: an existing CA, read from disk, that signs this trust domain's CA.

use std::path::Path;
use std::sync::Arc;

use rcgen::Issuer;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use spiffe_core::PrivateKey;
use spiffe_core::x509::CertificateInfo;

use crate::issuer::{CA_PATH_LEN, IssuerKey};
use crate::keys::{Signer, SoftSigner};
use crate::{CaError, UpstreamError};

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

fn certs(pem: &[u8], file: &'static str) -> Result<Vec<CertificateDer<'static>>, CaError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| UpstreamError::Pem {
            file,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(UpstreamError::NoCertificate { file }.into());
    }
    Ok(certs)
}

fn parse_info(der: &CertificateDer<'_>, what: &str) -> Result<CertificateInfo, CaError> {
    CertificateInfo::parse(der).map_err(|source| {
        UpstreamError::Certificate {
            certificate: what.to_owned(),
            source,
        }
        .into()
    })
}

fn check_constraint(c: &CertificateInfo, what: String, required: usize) -> Result<(), CaError> {
    let required = u32::try_from(required).unwrap_or(u32::MAX);
    match c.path_len.map(u32::from) {
        Some(path_len) if path_len < required => Err(CaError::UpstreamPathLen {
            certificate: format!("{what} ({})", c.subject),
            path_len,
            required,
        }),
        _ => Ok(()),
    }
}

/// Refuses an upstream chain that does not allow this trust domain's CA below it.
///
/// `chain` is the certificate file as read (the upstream CA first, then the certificates above
/// it, perhaps the root); `roots` the separate bundle, if any. In a path root -> ... ->
/// `chain[i]` -> ... -> `chain[0]` -> our CA -> SVID, `chain[i]` is followed by `i + 1` CA
/// certificates (plus whatever our CA may itself sign, [`CA_PATH_LEN`]) before the leaf, so its
/// `pathLenConstraint`, when present, must be at least that. Bundle roots that issued the top
/// of the chain (matched by name) count one more. Self-issued certificates are counted like any
/// other, as rustls-webpki counts them.
fn check_path_len(
    chain: &[CertificateDer<'_>],
    roots: &[CertificateDer<'_>],
) -> Result<(), CaError> {
    let below_ours = usize::from(CA_PATH_LEN);
    let mut top_issuer: Option<Vec<u8>> = None;
    for (i, der) in chain.iter().enumerate() {
        let what = if i == 0 {
            "the upstream CA certificate".to_owned()
        } else {
            format!("certificate {} of the upstream certificate file", i + 1)
        };
        let cert = parse_info(der, &what)?;
        check_constraint(&cert, what, i + 1 + below_ours)?;
        top_issuer = Some(cert.issuer_der);
    }
    let Some(top_issuer) = top_issuer else {
        return Ok(());
    };
    for (i, der) in roots.iter().enumerate() {
        if chain.contains(der) {
            continue;
        }
        let what = format!("root {} of the upstream bundle file", i + 1);
        let cert = parse_info(der, &what)?;
        if cert.subject_der == top_issuer {
            check_constraint(&cert, what, chain.len() + 1 + below_ours)?;
        }
    }
    Ok(())
}

impl UpstreamCa {
    /// Reads the upstream CA from PEM files: `cert` holds the upstream CA certificate first and
    /// then any certificates above it; `key` its PKCS#8 key; `bundle`, if given, the roots. With
    /// no bundle, the last certificate of `cert` is taken as the root.
    ///
    /// A chain whose Basic Constraints forbid a CA below the upstream CA (a `pathLenConstraint`
    /// of 0 on the upstream CA, or one too small higher up) is refused with
    /// [`CaError::UpstreamPathLen`]: the CAs it would sign, and so every SVID, would fail
    /// verification. The server loads the upstream CA once and signs every rotated CA with it,
    /// so the check covers every rotation.
    ///
    /// # Errors
    ///
    /// [`CaError::Io`] when a file cannot be read, and as [`UpstreamCa::from_pem`].
    pub fn load(cert: &Path, key: &Path, bundle: Option<&Path>) -> Result<Self, CaError> {
        let read = |p: &Path| std::fs::read(p).map_err(|e| CaError::io(p, e));
        let bundle_pem = bundle.map(read).transpose()?;
        Self::from_pem(
            &read(cert)?,
            &Zeroizing::new(read(key)?),
            bundle_pem.as_deref(),
        )
    }

    /// Same as [`UpstreamCa::load`], from PEM text. `key` is the caller's to zeroize; the
    /// copies made here are zeroized when dropped.
    ///
    /// # Errors
    ///
    /// [`CaError::Upstream`] for unreadable PEM, a certificate that does not parse, a key that
    /// is not PKCS#8 or not the certificate's, or a certificate that is not a CA;
    /// [`CaError::UpstreamPathLen`] for a chain whose `pathLenConstraint` leaves no room for
    /// this trust domain's CA.
    pub fn from_pem(cert: &[u8], key: &[u8], bundle: Option<&[u8]>) -> Result<Self, CaError> {
        let mut chain = certs(cert, "upstream certificate file")?;
        // Decoded into a buffer zeroized on drop (and the base64 scratch with it).
        let key = PrivateKey::from_pkcs8_pem(key).map_err(UpstreamError::Key)?;
        let signer: Arc<dyn Signer> = Arc::new(SoftSigner::from_pkcs8(key.pkcs8_der())?);
        let info = parse_info(&chain[0], "the upstream CA certificate")?;
        if !info.is_ca {
            return Err(UpstreamError::NotCa.into());
        }
        if info.public_key != *signer.public_key() {
            return Err(UpstreamError::KeyMismatch.into());
        }
        let bundle_roots = bundle
            .map(|pem| certs(pem, "upstream bundle file"))
            .transpose()?;
        check_path_len(&chain, bundle_roots.as_deref().unwrap_or_default())?;
        let roots = match bundle_roots {
            Some(roots) => roots,
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
        let issuer = Issuer::from_ca_cert_der(&chain[0], IssuerKey(signer))?;
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
