//! [`X509Bundle`]: the X.509 authorities of one trust domain.

use rustls_pki_types::{CertificateDer, TrustAnchor};

use super::BundleError;
use crate::id::TrustDomain;
use crate::x509::{Cert, X509Error};

/// The X.509 authorities (root CA certificates) of one trust domain, with their trust anchors
/// prepared once for path validation.
///
/// Authorities must parse as certificates and as trust anchors; the set is a union (the CA bundle
/// of the SPIFFE Trust Domain and Bundle spec), so the same certificate given twice is kept once,
/// as go-spiffe does. Their extensions and version are not judged: a trust anchor is trusted by
/// configuration, and RFC 5280 path validation uses only its name and key, so a legacy
/// version-1 root is a valid authority.
#[derive(Clone, Debug)]
pub struct X509Bundle {
    trust_domain: TrustDomain,
    authorities: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
}

impl PartialEq for X509Bundle {
    fn eq(&self, other: &Self) -> bool {
        self.trust_domain == other.trust_domain && self.authorities == other.authorities
    }
}

impl Eq for X509Bundle {}

impl X509Bundle {
    /// An empty bundle: it trusts nothing.
    pub fn new(trust_domain: TrustDomain) -> Self {
        X509Bundle {
            trust_domain,
            authorities: Vec::new(),
            anchors: Vec::new(),
        }
    }

    /// A bundle of the given authorities.
    pub fn from_authorities(
        trust_domain: TrustDomain,
        authorities: impl IntoIterator<Item = CertificateDer<'static>>,
    ) -> Result<Self, BundleError> {
        let mut bundle = Self::new(trust_domain);
        for (index, der) in authorities.into_iter().enumerate() {
            bundle.add_at(der, index)?;
        }
        Ok(bundle)
    }

    /// Parses PEM `CERTIFICATE` blocks (blocks of other kinds are skipped). Empty input is an
    /// empty bundle; input that holds no PEM block at all is an error, as in go-spiffe's
    /// `x509bundle.Parse`.
    ///
    /// # Errors
    ///
    /// [`BundleError::Pem`] for unreadable PEM or no PEM block at all,
    /// [`BundleError::Authority`] for a certificate that cannot be a trust anchor.
    pub fn parse_pem(trust_domain: TrustDomain, pem: &[u8]) -> Result<Self, BundleError> {
        use rustls_pki_types::pem::PemObject;
        if pem.is_empty() {
            return Ok(Self::new(trust_domain));
        }
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BundleError::Pem(e.to_string()))?;
        if certs.is_empty() && !pem.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(BundleError::Pem("no PEM blocks found".into()));
        }
        Self::from_authorities(trust_domain, certs)
    }

    /// Parses concatenated DER certificates (the Workload API's `bundle` field).
    pub fn parse_der(trust_domain: TrustDomain, der: &[u8]) -> Result<Self, BundleError> {
        if der.is_empty() {
            return Ok(Self::new(trust_domain));
        }
        let certs = crate::x509::svid_split_der(der).map_err(|e| match e {
            X509Error::InChain { index, source } => BundleError::Authority {
                index,
                source: *source,
            },
            other => BundleError::Authority {
                index: 0,
                source: other,
            },
        })?;
        Self::from_authorities(trust_domain, certs)
    }

    /// Adds an authority; one that is present already is kept once.
    ///
    /// # Errors
    ///
    /// [`BundleError::Authority`] for a certificate that does not parse or cannot be a trust
    /// anchor.
    pub fn add_authority(&mut self, der: CertificateDer<'static>) -> Result<(), BundleError> {
        let index = self.authorities.len();
        self.add_at(der, index)
    }

    fn add_at(&mut self, der: CertificateDer<'static>, index: usize) -> Result<(), BundleError> {
        if self.authorities.contains(&der) {
            return Ok(());
        }
        Cert::parse(&der).map_err(|source| BundleError::Authority { index, source })?;
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|e| BundleError::Authority {
                index,
                source: X509Error::Malformed(crate::asn1::DecodeError::new(
                    "trust anchor",
                    webpki_reason(&e),
                )),
            })?
            .to_owned();
        self.authorities.push(der);
        self.anchors.push(anchor);
        Ok(())
    }

    /// Removes an authority; returns whether it was present.
    pub fn remove_authority(&mut self, der: &CertificateDer<'_>) -> bool {
        match self.authorities.iter().position(|a| a == der) {
            Some(i) => {
                self.authorities.remove(i);
                self.anchors.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether the certificate is one of the authorities.
    pub fn contains(&self, der: &CertificateDer<'_>) -> bool {
        self.authorities.iter().any(|a| a == der)
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The authorities, in the order they were added.
    pub fn authorities(&self) -> &[CertificateDer<'static>] {
        &self.authorities
    }

    /// Whether the bundle holds no authority.
    pub fn is_empty(&self) -> bool {
        self.authorities.is_empty()
    }

    /// The trust anchors, in the order of [`X509Bundle::authorities`].
    pub fn trust_anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }

    /// The authorities as PEM `CERTIFICATE` blocks.
    pub fn to_pem(&self) -> String {
        crate::pem::encode_certificates(&self.authorities)
    }

    /// The authorities as concatenated DER (the Workload API's `bundle` field).
    pub fn to_der(&self) -> Vec<u8> {
        self.authorities
            .iter()
            .flat_map(|c| c.as_ref().iter().copied())
            .collect()
    }
}

/// A short, static description of a webpki error for trust-anchor parsing.
fn webpki_reason(e: &webpki::Error) -> &'static str {
    match e {
        webpki::Error::BadDer => "certificate is not valid DER",
        webpki::Error::UnsupportedCertVersion => "unsupported certificate version",
        _ => "certificate cannot be used as a trust anchor",
    }
}
