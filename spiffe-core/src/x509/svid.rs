//! [`X509Svid`]: a certificate chain with its private key.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::{Cert, X509Error, rules};
use crate::id::SpiffeId;
use crate::key::PrivateKey;

/// An X509-SVID: the leaf certificate first, then the intermediates up to (not including) a
/// root in the bundle, and the leaf's private key (PKCS#8, zeroized on drop).
///
/// Every constructor checks the leaf rules of X509-SVID.md, that each certificate after the leaf
/// is a signing certificate (cA=true, keyCertSign), and that the private key belongs to the leaf.
/// It does not check the chain against a bundle; that is [`crate::x509::verify_chain`]'s job.
#[derive(Clone)]
pub struct X509Svid {
    id: SpiffeId,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKey,
    not_before: i64,
    not_after: i64,
    hint: Option<String>,
}

impl fmt::Debug for X509Svid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("X509Svid")
            .field("id", &self.id)
            .field("chain_len", &self.chain.len())
            .field("key_type", &self.key.key_type())
            .field("not_after", &self.not_after)
            .field("hint", &self.hint)
            .finish()
    }
}

impl X509Svid {
    /// Builds an SVID from certificates (leaf first) and a PKCS#8 private key.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKey) -> Result<Self, X509Error> {
        let leaf_der = chain.first().ok_or(X509Error::EmptyChain)?;
        let leaf = Cert::parse(leaf_der).map_err(|e| e.in_chain(0))?;
        let id = rules::leaf(&leaf)?;
        for (index, der) in chain.iter().enumerate().skip(1) {
            let cert = Cert::parse(der).map_err(|e| e.in_chain(index))?;
            rules::signing(&cert, index)?;
        }
        if !key.matches(leaf.public_key.key_type(), leaf.public_key.raw()) {
            return Err(X509Error::KeyMismatch);
        }
        let (not_before, not_after) = (leaf.not_before, leaf.not_after);
        Ok(X509Svid {
            id,
            chain,
            key,
            not_before,
            not_after,
            hint: None,
        })
    }

    /// Parses the Workload API form: the certificates as concatenated DER, and the key as DER
    /// PKCS#8.
    pub fn parse_der(chain_der: &[u8], key_pkcs8_der: &[u8]) -> Result<Self, X509Error> {
        let chain = split_der_certificates(chain_der)?;
        let key = PrivateKey::from_pkcs8_der(key_pkcs8_der).map_err(X509Error::PrivateKey)?;
        Self::new(chain, key)
    }

    /// Parses PEM: `CERTIFICATE` blocks (leaf first) and a `PRIVATE KEY` block (PKCS#8).
    pub fn parse_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<Self, X509Error> {
        let chain = certificates_from_pem(chain_pem)?;
        let key = PrivateKey::from_pkcs8_pem(key_pem).map_err(X509Error::PrivateKey)?;
        Self::new(chain, key)
    }

    /// The same SVID with a hint (the Workload API's `hint` field: which SVID to pick).
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        let hint = hint.into();
        self.hint = if hint.is_empty() { None } else { Some(hint) };
        self
    }

    /// The SPIFFE ID of the leaf.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.id
    }

    /// The chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `new` refuses an empty chain, so index 0 exists.
        &self.chain[0]
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }

    /// The hint, if any.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// Start of the leaf's validity.
    pub fn not_before(&self) -> SystemTime {
        unix_to_system(self.not_before)
    }

    /// End of the leaf's validity (`notAfter`).
    pub fn expires_at(&self) -> SystemTime {
        unix_to_system(self.not_after)
    }

    /// End of the leaf's validity in seconds since the Unix epoch.
    pub fn expires_at_unix(&self) -> i64 {
        self.not_after
    }

    /// Start of the leaf's validity in seconds since the Unix epoch.
    pub fn not_before_unix(&self) -> i64 {
        self.not_before
    }

    /// The chain as concatenated DER (the Workload API's `x509_svid` field).
    pub fn chain_der(&self) -> Vec<u8> {
        self.chain
            .iter()
            .flat_map(|c| c.as_ref().iter().copied())
            .collect()
    }

    /// The chain as PEM `CERTIFICATE` blocks, leaf first.
    pub fn chain_pem(&self) -> String {
        crate::pem::encode_certificates(&self.chain)
    }
}

/// Converts seconds since the epoch to `SystemTime` (times before 1970 clamp to the epoch).
pub(crate) fn unix_to_system(secs: i64) -> SystemTime {
    u64::try_from(secs)
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
        .unwrap_or(UNIX_EPOCH)
}

/// Splits concatenated DER certificates.
pub(crate) fn split_der_certificates(
    der: &[u8],
) -> Result<Vec<CertificateDer<'static>>, X509Error> {
    let certs = crate::asn1::split_sequences(der)
        .map_err(|(index, e)| X509Error::Malformed(e).in_chain(index))?;
    if certs.is_empty() {
        return Err(X509Error::EmptyChain);
    }
    Ok(certs
        .into_iter()
        .map(|c| CertificateDer::from(c.to_vec()))
        .collect())
}

/// Reads every `CERTIFICATE` block of a PEM text.
pub(crate) fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, X509Error> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| X509Error::Pem(e.to_string()))?;
    if chain.is_empty() {
        return Err(X509Error::Pem("no CERTIFICATE block found".into()));
    }
    Ok(chain)
}
