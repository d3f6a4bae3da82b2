//! [`CertificateInfo`]: what a certificate says, for people and for authorities.

use std::time::SystemTime;

use der::Encode;
use rustls_pki_types::CertificateDer;

use super::{Cert, KeyUsage, X509Error};
use crate::key::PublicKey;

/// The facts of a certificate that SPIFFE tools show and authorities need, read without
/// judging them (no SPIFFE rule is applied here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The serial number, as its DER INTEGER contents.
    pub serial: Vec<u8>,
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before: i64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
    /// The subject public key.
    pub public_key: PublicKey,
    /// Basic Constraints cA (false when the extension is absent).
    pub is_ca: bool,
    /// Basic Constraints `pathLenConstraint`, when present.
    pub path_len: Option<u8>,
    /// Key Usage bits and criticality, when present.
    pub key_usage: Option<(KeyUsage, bool)>,
    /// The first URI SAN, if any, and how many there are.
    pub uri_san: Option<String>,
    /// Number of URI SANs.
    pub uri_san_count: usize,
    /// The Subject Key Identifier, when present.
    pub subject_key_id: Option<Vec<u8>>,
    /// The Authority Key Identifier's key identifier, when present.
    pub authority_key_id: Option<Vec<u8>>,
    /// The subject name, as RFC 4514 text.
    pub subject: String,
    /// The subject name, DER-encoded (compare it with another certificate's
    /// [`issuer_der`](Self::issuer_der) to match issuers by name).
    pub subject_der: Vec<u8>,
    /// The issuer name, DER-encoded.
    pub issuer_der: Vec<u8>,
}

impl CertificateInfo {
    /// Reads a DER certificate.
    pub fn parse(der: &CertificateDer<'_>) -> Result<Self, X509Error> {
        let (c, cert) = Cert::decode(der)?;
        let tbs = cert.tbs_certificate();
        let name_der = |n: &x509_cert::name::Name| n.to_der().map_err(super::cert::malformed);
        Ok(CertificateInfo {
            serial: c.serial,
            not_before: c.not_before,
            not_after: c.not_after,
            public_key: c.public_key,
            is_ca: matches!(c.basic_constraints, Some((true, _))),
            path_len: c.basic_constraints.and_then(|(_, len)| len),
            key_usage: c.key_usage,
            uri_san: c.first_uri,
            uri_san_count: c.uri_count,
            subject_key_id: c.subject_key_id,
            authority_key_id: c.authority_key_id,
            subject: tbs.subject().to_string(),
            subject_der: name_der(tbs.subject())?,
            issuer_der: name_der(tbs.issuer())?,
        })
    }

    /// `notAfter` as a `SystemTime`.
    pub fn expires_at(&self) -> SystemTime {
        super::unix_to_system(self.not_after)
    }

    /// `notBefore` as a `SystemTime`.
    pub fn valid_from(&self) -> SystemTime {
        super::unix_to_system(self.not_before)
    }
}
