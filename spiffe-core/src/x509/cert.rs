//! The parts of an X.509 certificate that SPIFFE rules look at, read with `x509-cert`.

use der::{Decode, Encode};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage as PkixKeyUsage,
    SubjectAltName, SubjectKeyIdentifier,
};

use crate::asn1::{DecodeError, oid};
use crate::key::{KeyError, PublicKey};

use super::X509Error;

/// Key usage bits as numbered in RFC 5280 4.2.1.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyUsage(u16);

impl KeyUsage {
    /// `digitalSignature` (bit 0).
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    /// `keyEncipherment` (bit 2).
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    /// `keyAgreement` (bit 4).
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    /// `keyCertSign` (bit 5).
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    /// `cRLSign` (bit 6).
    pub const CRL_SIGN: u16 = 1 << 6;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u16) -> bool {
        self.0 & bits == bits
    }

    /// All bits, numbered as in RFC 5280 (bit 0 = `digitalSignature`).
    pub fn bits(self) -> u16 {
        self.0
    }
}

/// What the extended key usage extension holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtKeyUsage {
    /// `id-kp-serverAuth` present.
    pub server_auth: bool,
    /// `id-kp-clientAuth` present.
    pub client_auth: bool,
    /// `anyExtendedKeyUsage` present.
    pub any: bool,
}

/// The parts of a certificate that SPIFFE checks.
#[derive(Debug, Clone)]
pub(crate) struct Cert {
    pub(crate) serial: Vec<u8>,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) public_key: PublicKey,
    /// `Some((cA, pathLen))` when Basic Constraints is present.
    pub(crate) basic_constraints: Option<(bool, Option<u8>)>,
    /// `Some((bits, critical))` when Key Usage is present.
    pub(crate) key_usage: Option<(KeyUsage, bool)>,
    pub(crate) ext_key_usage: Option<ExtKeyUsage>,
    /// Number of URI SANs, and the first one.
    pub(crate) uri_count: usize,
    pub(crate) first_uri: Option<String>,
    pub(crate) subject_key_id: Option<Vec<u8>>,
    pub(crate) authority_key_id: Option<Vec<u8>>,
}

/// What this crate calls the structure in decoding errors.
const WHAT: &str = "certificate";

pub(crate) fn malformed(e: impl ToString) -> X509Error {
    X509Error::Malformed(DecodeError::new(WHAT, e))
}

impl Cert {
    /// Decodes a DER certificate (any version: a v1 certificate simply has no extensions, which
    /// the SPIFFE rules then refuse where they require one).
    pub(crate) fn parse(der: &[u8]) -> Result<Self, X509Error> {
        Self::decode(der).map(|(cert, _)| cert)
    }

    /// [`Cert::parse`], also returning the decoded certificate (for the fields SPIFFE rules do
    /// not read, such as names).
    pub(crate) fn decode(der: &[u8]) -> Result<(Self, Certificate), X509Error> {
        let cert = Certificate::from_der(der).map_err(malformed)?;
        let tbs = cert.tbs_certificate();
        let validity = tbs.validity();
        let unix = |t: x509_cert::time::Time| {
            i64::try_from(t.to_unix_duration().as_secs())
                .map_err(|_| malformed("time out of range"))
        };
        let spki_der = tbs.subject_public_key_info().to_der().map_err(malformed)?;
        let public_key = PublicKey::from_spki_vec(spki_der).map_err(|e| match e {
            KeyError::Malformed(d) => X509Error::Malformed(d),
            other => X509Error::PublicKey(other),
        })?;
        let mut out = Cert {
            serial: tbs.serial_number().as_bytes().to_vec(),
            not_before: unix(validity.not_before)?,
            not_after: unix(validity.not_after)?,
            public_key,
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            uri_count: 0,
            first_uri: None,
            subject_key_id: None,
            authority_key_id: None,
        };
        // Each extension may appear once (RFC 5280 4.2); track the ones we interpret.
        let mut seen = 0u8;
        for ext in tbs.extensions().map(Vec::as_slice).unwrap_or_default() {
            let value = ext.extn_value.as_bytes();
            let bit = match ext.extn_id {
                oid::BASIC_CONSTRAINTS => {
                    let bc = BasicConstraints::from_der(value).map_err(malformed)?;
                    out.basic_constraints = Some((bc.ca, bc.path_len_constraint));
                    1
                }
                oid::KEY_USAGE => {
                    let ku = PkixKeyUsage::from_der(value).map_err(malformed)?;
                    out.key_usage = Some((KeyUsage(ku.0.bits()), ext.critical));
                    2
                }
                oid::EXT_KEY_USAGE => {
                    out.ext_key_usage = Some(ext_key_usage(value)?);
                    4
                }
                oid::SUBJECT_ALT_NAME => {
                    let san = SubjectAltName::from_der(value).map_err(malformed)?;
                    let mut uris = san.0.iter().filter_map(|n| match n {
                        GeneralName::UniformResourceIdentifier(u) => Some(u.as_str()),
                        _ => None,
                    });
                    out.first_uri = uris.next().map(str::to_owned);
                    out.uri_count = usize::from(out.first_uri.is_some()) + uris.count();
                    8
                }
                oid::SUBJECT_KEY_ID => {
                    let ski = SubjectKeyIdentifier::from_der(value).map_err(malformed)?;
                    out.subject_key_id = Some(ski.0.as_bytes().to_vec());
                    16
                }
                oid::AUTHORITY_KEY_ID => {
                    let aki = AuthorityKeyIdentifier::from_der(value).map_err(malformed)?;
                    out.authority_key_id = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                    32
                }
                _ => 0,
            };
            if seen & bit != 0 {
                return Err(malformed(format!(
                    "extension {} appears twice",
                    ext.extn_id
                )));
            }
            seen |= bit;
        }
        Ok((out, cert))
    }
}

fn ext_key_usage(value: &[u8]) -> Result<ExtKeyUsage, X509Error> {
    let eku = ExtendedKeyUsage::from_der(value).map_err(malformed)?;
    if eku.0.is_empty() {
        return Err(malformed(
            "extended key usage has an empty KeyPurposeId list",
        ));
    }
    let mut out = ExtKeyUsage::default();
    for purpose in &eku.0 {
        match *purpose {
            oid::SERVER_AUTH => out.server_auth = true,
            oid::CLIENT_AUTH => out.client_auth = true,
            oid::ANY_EKU => out.any = true,
            _ => {}
        }
    }
    Ok(out)
}
