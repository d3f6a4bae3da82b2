//! PKCS#10 certificate signing requests: parsing and proof of possession.
//!
//! A signing authority takes only the public key from a CSR; everything else in the certificate
//! is its own decision. What matters is that the requester holds the private key, which the CSR's
//! self-signature proves.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use thiserror::Error;

use der::asn1::BitStringRef;
use der::{Decode, Encode, Reader, SliceReader};
use spki::AlgorithmIdentifierRef;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::request::{CertReqInfo, Version};

use crate::asn1::{DecodeError, oid};
use crate::key::{KeyError, KeyType, PublicKey, SpkiRef};

/// Why a CSR was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CsrError {
    /// Not a well-formed PKCS#10 structure.
    #[error(transparent)]
    Malformed(#[from] DecodeError),
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

/// What this crate calls the structure in decoding errors.
const WHAT: &str = "CSR";

fn malformed(e: impl ToString) -> CsrError {
    CsrError::Malformed(DecodeError::new(WHAT, e))
}

/// The URI and DNS names of a requested subjectAltName extension, from the CSR's attributes.
fn requested_sans(info: &CertReqInfo) -> Result<(Vec<String>, Vec<String>), CsrError> {
    let (mut uris, mut dns) = (Vec::new(), Vec::new());
    let requests = info
        .attributes
        .iter()
        .filter(|a| a.oid == oid::EXTENSION_REQUEST);
    for value in requests.flat_map(|a| a.values.iter()) {
        let extensions: Extensions = value.decode_as().map_err(malformed)?;
        for ext in extensions
            .iter()
            .filter(|e| e.extn_id == oid::SUBJECT_ALT_NAME)
        {
            let san = SubjectAltName::from_der(ext.extn_value.as_bytes()).map_err(malformed)?;
            for name in san.0 {
                match name {
                    GeneralName::UniformResourceIdentifier(u) => uris.push(u.to_string()),
                    GeneralName::DnsName(d) => dns.push(d.to_string()),
                    _ => {}
                }
            }
        }
    }
    Ok((uris, dns))
}

/// The signed parts of a PKCS#10 structure: the encoded `CertificationRequestInfo` (the signed
/// bytes, as they appear), the signature algorithm and the signature.
type SignedParts<'a> = (&'a [u8], AlgorithmIdentifierRef<'a>, BitStringRef<'a>);

fn signed_parts(der: &[u8]) -> der::Result<SignedParts<'_>> {
    let mut reader = SliceReader::new(der)?;
    let parts = reader.sequence(|r| -> der::Result<SignedParts<'_>> {
        Ok((r.tlv_bytes()?, r.decode()?, r.decode()?))
    })?;
    reader.finish()?;
    Ok(parts)
}

impl CertificateRequest {
    /// Parses a DER CSR and verifies its signature with the key it carries.
    ///
    /// # Errors
    ///
    /// [`CsrError::Malformed`] when it does not decode as PKCS#10 (version 0),
    /// [`CsrError::PublicKey`] for a key type or size that is not supported,
    /// [`CsrError::UnsupportedSignatureAlgorithm`] for a signature algorithm that does not fit
    /// the key, [`CsrError::BadSignature`] when the self-signature does not verify.
    pub fn parse_and_verify(der: &[u8]) -> Result<Self, CsrError> {
        let (info_der, alg, sig) = signed_parts(der).map_err(malformed)?;
        let info = CertReqInfo::from_der(info_der).map_err(malformed)?;
        if info.version != Version::V1 {
            return Err(malformed("CertificationRequestInfo version must be 0"));
        }
        // Parameters: absent for ECDSA and Ed25519, NULL for RSA PKCS#1.
        if alg.parameters.is_some_and(|p| !p.is_null()) {
            return Err(malformed(
                "signature algorithm parameters must be absent or NULL",
            ));
        }
        let sig = sig
            .as_bytes()
            .ok_or_else(|| malformed("the signature BIT STRING has unused bits"))?;
        let (uri_sans, dns_sans) = requested_sans(&info)?;
        let spki_der = info.public_key.to_der().map_err(malformed)?;
        let spki = SpkiRef::parse(&spki_der).map_err(|e| match e {
            KeyError::Malformed(d) => CsrError::Malformed(d),
            other => CsrError::PublicKey(other),
        })?;

        let unsupported = CsrError::UnsupportedSignatureAlgorithm {
            key_type: spki.key_type,
        };
        let verification: &dyn VerificationAlgorithm = match (spki.key_type, alg.oid) {
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
            .verify(info_der, sig)
            .map_err(|_| CsrError::BadSignature)?;
        Ok(CertificateRequest {
            public_key: PublicKey::from(spki),
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
