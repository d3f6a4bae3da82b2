//! PKCS#10 certificate signing requests: parsing and proof of possession.
//!
//! A signing authority takes only the public key from a CSR; everything else in the certificate
//! is its own decision. What matters is that the requester holds the private key, which the CSR's
//! self-signature proves.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use thiserror::Error;

use crate::der::{DerError, Reader, tag};
use crate::key::{KeyError, KeyType, PublicKey, SpkiRef};

/// Signature algorithm OIDs (DER contents) accepted on CSRs.
mod oid {
    pub(super) const ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
    pub(super) const ECDSA_SHA384: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x03];
    pub(super) const ECDSA_SHA512: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x04];
    pub(super) const RSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
    pub(super) const RSA_SHA384: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0C];
    pub(super) const RSA_SHA512: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0D];
    pub(super) const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
}

/// Why a CSR was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CsrError {
    /// Not a well-formed PKCS#10 structure.
    #[error("CSR is malformed: {0}")]
    Malformed(#[from] DerError),
    /// The public key cannot be used.
    #[error("CSR public key: {0}")]
    PublicKey(KeyError),
    /// A signature algorithm that is not accepted (or does not fit the key).
    #[error("CSR signature algorithm is not supported for a {key_type} key")]
    UnsupportedSignatureAlgorithm {
        /// The CSR's key type.
        key_type: KeyType,
    },
    /// The self-signature does not verify: the requester did not prove it holds the key.
    #[error("CSR signature does not verify with the CSR's own public key")]
    BadSignature,
}

/// A PKCS#10 CSR whose self-signature verified.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    public_key: PublicKey,
    uri_sans: Vec<String>,
    dns_sans: Vec<String>,
}

/// `pkcs-9-at-extensionRequest` (1.2.840.113549.1.9.14).
const EXTENSION_REQUEST: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x0E];
/// `id-ce-subjectAltName` (2.5.29.17).
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];

/// The URI and DNS names of a requested subjectAltName extension, from the CSR's attributes.
fn requested_sans(attributes: &[u8]) -> Result<(Vec<String>, Vec<String>), DerError> {
    let (mut uris, mut dns) = (Vec::new(), Vec::new());
    let mut attrs = Reader::new(attributes, "CSR attributes");
    while !attrs.is_empty() {
        let mut attr = attrs.sequence("CSR attribute")?;
        let oid = attr.read(tag::OID)?;
        let values = attr.read(tag::SET)?;
        if oid != EXTENSION_REQUEST {
            continue;
        }
        let mut values = Reader::new(values, "extensionRequest");
        while !values.is_empty() {
            let mut exts = values.sequence("requested extensions")?;
            while !exts.is_empty() {
                let mut ext = exts.sequence("requested extension")?;
                let id = ext.read(tag::OID)?;
                if ext.peek_tag() == Some(tag::BOOLEAN) {
                    ext.boolean()?;
                }
                let value = ext.read(tag::OCTET_STRING)?;
                if id != SUBJECT_ALT_NAME {
                    continue;
                }
                let mut outer = Reader::new(value, "requested subjectAltName");
                let mut names = outer.sequence("requested subjectAltName")?;
                while !names.is_empty() {
                    let (t, contents, _) = names.read_any()?;
                    let text = || {
                        std::str::from_utf8(contents)
                            .map(str::to_owned)
                            .map_err(|_| {
                                DerError::new("requested subjectAltName", "name is not text")
                            })
                    };
                    match t {
                        tag::IMPLICIT_6 => uris.push(text()?),
                        tag::IMPLICIT_2 => dns.push(text()?),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok((uris, dns))
}

impl CertificateRequest {
    /// Parses a DER CSR and verifies its signature with the key it carries.
    pub fn parse_and_verify(der: &[u8]) -> Result<Self, CsrError> {
        let mut outer = Reader::new(der, "CertificationRequest");
        let mut req = outer.sequence("CertificationRequest")?;
        outer.finish()?;
        let (_, info_contents, info_whole) = req.read_any()?;
        let mut alg = req.sequence("signatureAlgorithm")?;
        let alg_oid = alg.read(tag::OID)?;
        // Parameters: absent for ECDSA and Ed25519, NULL for RSA PKCS#1.
        alg.read_optional(tag::NULL)?;
        alg.finish()?;
        let sig = req.bit_string_octets()?;
        req.finish()?;

        let mut info = Reader::new(info_contents, "CertificationRequestInfo");
        if info.small_uint()? != 0 {
            return Err(DerError::new("CertificationRequestInfo", "version must be 0").into());
        }
        info.read(tag::SEQUENCE)?; // subject
        let spki_der = info.read_whole(tag::SEQUENCE)?;
        let attributes = info.read_optional(tag::CONTEXT_0)?;
        info.finish()?;
        let (uri_sans, dns_sans) = match attributes {
            Some(a) => requested_sans(a)?,
            None => (Vec::new(), Vec::new()),
        };
        let spki = SpkiRef::parse(spki_der).map_err(|e| match e {
            KeyError::Der(d) => CsrError::Malformed(d),
            other => CsrError::PublicKey(other),
        })?;

        let unsupported = CsrError::UnsupportedSignatureAlgorithm {
            key_type: spki.key_type,
        };
        let verification: &dyn VerificationAlgorithm = match (spki.key_type, alg_oid) {
            (KeyType::EcP256, oid::ECDSA_SHA256) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyType::EcP256, oid::ECDSA_SHA384) => &signature::ECDSA_P256_SHA384_ASN1,
            (KeyType::EcP384, oid::ECDSA_SHA384) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyType::EcP384, oid::ECDSA_SHA256) => &signature::ECDSA_P384_SHA256_ASN1,
            (KeyType::EcP521, oid::ECDSA_SHA512) => &signature::ECDSA_P521_SHA512_ASN1,
            (KeyType::Rsa, oid::RSA_SHA256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (KeyType::Rsa, oid::RSA_SHA384) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (KeyType::Rsa, oid::RSA_SHA512) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (KeyType::Ed25519, oid::ED25519) => &signature::ED25519,
            _ => return Err(unsupported),
        };
        UnparsedPublicKey::new(verification, spki.key)
            .verify(info_whole, sig)
            .map_err(|_| CsrError::BadSignature)?;
        Ok(CertificateRequest {
            public_key: spki.into(),
            uri_sans,
            dns_sans,
        })
    }

    /// The public key the CSR carries (and proved possession of).
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The URI SANs the CSR asks for (a signing authority may use them, or not).
    pub fn requested_uris(&self) -> &[String] {
        &self.uri_sans
    }

    /// The DNS SANs the CSR asks for.
    pub fn requested_dns_names(&self) -> &[String] {
        &self.dns_sans
    }

    /// Moves the public key out.
    pub fn into_public_key(self) -> PublicKey {
        self.public_key
    }
}
