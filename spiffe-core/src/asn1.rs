//! The seam to the RustCrypto `der` family: decoding errors in this crate's terms, and the
//! object identifiers SPIFFE rules look at.
//!
//! Certificates, CSRs and keys are decoded by `x509-cert`, `spki`, `pkcs8` and `pkcs1`, which
//! enforce DER (shortest lengths, no indefinite lengths, sorted sets). No ASN.1 is parsed by
//! hand in this crate.

use thiserror::Error;

/// Bytes that are not the structure they should be: a certificate, a CSR, a key or a chain
/// that does not decode as DER.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{structure} is not well-formed DER: {reason}")]
pub struct DecodeError {
    structure: &'static str,
    reason: String,
}

impl DecodeError {
    /// An error for `structure` (`"certificate"`, `"CSR"`, ...), with the decoder's reason.
    pub(crate) fn new(structure: &'static str, reason: impl ToString) -> Self {
        DecodeError {
            structure,
            reason: reason.to_string(),
        }
    }

    /// The structure that did not decode (`"certificate"`, `"SubjectPublicKeyInfo"`, ...).
    pub fn structure(&self) -> &'static str {
        self.structure
    }

    /// Why it did not decode, as the decoder put it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The object identifiers of the algorithms, extensions and key purposes used here.
pub(crate) mod oid {
    use const_oid::ObjectIdentifier;
    use const_oid::db::{rfc5280, rfc5912, rfc8410};

    pub(crate) const EC_PUBLIC_KEY: ObjectIdentifier = rfc5912::ID_EC_PUBLIC_KEY;
    pub(crate) const P256: ObjectIdentifier = rfc5912::SECP_256_R_1;
    pub(crate) const P384: ObjectIdentifier = rfc5912::SECP_384_R_1;
    pub(crate) const P521: ObjectIdentifier = rfc5912::SECP_521_R_1;
    pub(crate) const RSA_ENCRYPTION: ObjectIdentifier = rfc5912::RSA_ENCRYPTION;
    pub(crate) const ED25519: ObjectIdentifier = rfc8410::ID_ED_25519;

    pub(crate) const ECDSA_SHA256: ObjectIdentifier = rfc5912::ECDSA_WITH_SHA_256;
    pub(crate) const ECDSA_SHA384: ObjectIdentifier = rfc5912::ECDSA_WITH_SHA_384;
    pub(crate) const ECDSA_SHA512: ObjectIdentifier = rfc5912::ECDSA_WITH_SHA_512;
    pub(crate) const RSA_SHA256: ObjectIdentifier = rfc5912::SHA_256_WITH_RSA_ENCRYPTION;
    pub(crate) const RSA_SHA384: ObjectIdentifier = rfc5912::SHA_384_WITH_RSA_ENCRYPTION;
    pub(crate) const RSA_SHA512: ObjectIdentifier = rfc5912::SHA_512_WITH_RSA_ENCRYPTION;

    pub(crate) const BASIC_CONSTRAINTS: ObjectIdentifier = rfc5280::ID_CE_BASIC_CONSTRAINTS;
    pub(crate) const KEY_USAGE: ObjectIdentifier = rfc5280::ID_CE_KEY_USAGE;
    pub(crate) const EXT_KEY_USAGE: ObjectIdentifier = rfc5280::ID_CE_EXT_KEY_USAGE;
    pub(crate) const SUBJECT_ALT_NAME: ObjectIdentifier = rfc5280::ID_CE_SUBJECT_ALT_NAME;
    pub(crate) const SUBJECT_KEY_ID: ObjectIdentifier = rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER;
    pub(crate) const AUTHORITY_KEY_ID: ObjectIdentifier = rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER;
    pub(crate) const SERVER_AUTH: ObjectIdentifier = rfc5280::ID_KP_SERVER_AUTH;
    pub(crate) const CLIENT_AUTH: ObjectIdentifier = rfc5280::ID_KP_CLIENT_AUTH;
    pub(crate) const ANY_EKU: ObjectIdentifier = rfc5280::ANY_EXTENDED_KEY_USAGE;
    /// `pkcs-9-at-extensionRequest`.
    pub(crate) const EXTENSION_REQUEST: ObjectIdentifier = rfc5912::ID_EXTENSION_REQ;
}

/// Splits concatenated DER values (a certificate chain as the Workload API sends it) into the
/// encodings of each, checking only that each is a whole SEQUENCE.
pub(crate) fn split_sequences(der: &[u8]) -> Result<Vec<&[u8]>, (usize, DecodeError)> {
    use der::{Reader, SliceReader, Tag};

    let bad = |index: usize, e: der::Error| (index, DecodeError::new("certificate chain", e));
    let mut reader = SliceReader::new(der).map_err(|e| bad(0, e))?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        let index = out.len();
        let tag = Tag::peek(&reader).map_err(|e| bad(index, e))?;
        if tag != Tag::Sequence {
            return Err((
                index,
                DecodeError::new(
                    "certificate chain",
                    format!("expected a certificate SEQUENCE, found {tag}"),
                ),
            ));
        }
        out.push(reader.tlv_bytes().map_err(|e| bad(index, e))?);
    }
    Ok(out)
}
