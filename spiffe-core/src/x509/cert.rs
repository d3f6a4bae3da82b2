//! A borrowed, zero-copy view of the parts of an X.509 certificate that SPIFFE rules look at.

use crate::der::{DerError, Reader, tag};
use crate::key::{KeyError, SpkiRef};

use super::X509Error;

/// Extension OIDs (DER contents).
mod oid {
    pub(super) const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1D, 0x13];
    pub(super) const KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x0F];
    pub(super) const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1D, 0x25];
    pub(super) const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];
    pub(super) const SUBJECT_KEY_ID: &[u8] = &[0x55, 0x1D, 0x0E];
    pub(super) const AUTHORITY_KEY_ID: &[u8] = &[0x55, 0x1D, 0x23];
    pub(super) const SERVER_AUTH: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];
    pub(super) const CLIENT_AUTH: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];
    pub(super) const ANY_EKU: &[u8] = &[0x55, 0x1D, 0x25, 0x00];
}

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

/// The parts of a certificate that SPIFFE checks, borrowed from its DER.
#[derive(Debug, Clone)]
pub(crate) struct Cert<'a> {
    pub(crate) serial: &'a [u8],
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) spki: SpkiRef<'a>,
    /// `Some((cA, pathLen))` when Basic Constraints is present.
    pub(crate) basic_constraints: Option<(bool, Option<u64>)>,
    /// `Some((bits, critical))` when Key Usage is present.
    pub(crate) key_usage: Option<(KeyUsage, bool)>,
    pub(crate) ext_key_usage: Option<ExtKeyUsage>,
    /// Number of URI SANs, and the first one.
    pub(crate) uri_count: usize,
    pub(crate) first_uri: Option<&'a [u8]>,
    pub(crate) subject_key_id: Option<&'a [u8]>,
    pub(crate) authority_key_id: Option<&'a [u8]>,
}

impl<'a> Cert<'a> {
    /// Parses a DER certificate.
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, X509Error> {
        Self::parse_inner(der).map_err(|e| match e {
            Inner::Der(d) => X509Error::Malformed(d),
            Inner::Key(k) => X509Error::PublicKey(k),
        })
    }

    fn parse_inner(der: &'a [u8]) -> Result<Self, Inner> {
        let mut outer = Reader::new(der, "Certificate");
        let mut cert = outer.sequence("Certificate")?;
        outer.finish()?;
        let mut tbs = cert.sequence("TBSCertificate")?;
        cert.sequence("signatureAlgorithm")?;
        cert.read(tag::BIT_STRING)?;
        cert.finish()?;

        if let Some(v) = tbs.read_optional(tag::CONTEXT_0)? {
            let mut v = Reader::new(v, "version");
            if v.small_uint()? != 2 {
                return Err(
                    DerError::new("version", "only X.509 v3 certificates are supported").into(),
                );
            }
            v.finish()?;
        } else {
            return Err(
                DerError::new("version", "only X.509 v3 certificates are supported").into(),
            );
        }
        let serial = tbs.read(tag::INTEGER)?;
        tbs.sequence("signature")?;
        tbs.read(tag::SEQUENCE)?; // issuer
        let mut validity = tbs.sequence("validity")?;
        let not_before = crate::der::time(&mut validity)?;
        let not_after = crate::der::time(&mut validity)?;
        validity.finish()?;
        tbs.read(tag::SEQUENCE)?; // subject
        let spki = SpkiRef::parse(tbs.read_whole(tag::SEQUENCE)?)?;
        tbs.read_optional(tag::IMPLICIT_1)?;
        tbs.read_optional(tag::IMPLICIT_2)?;

        let mut out = Cert {
            serial,
            not_before,
            not_after,
            spki,
            basic_constraints: None,
            key_usage: None,
            ext_key_usage: None,
            uri_count: 0,
            first_uri: None,
            subject_key_id: None,
            authority_key_id: None,
        };

        if let Some(exts) = tbs.read_optional(tag::CONTEXT_3)? {
            let mut exts_outer = Reader::new(exts, "extensions");
            let mut exts = exts_outer.sequence("extensions")?;
            exts_outer.finish()?;
            // Each extension may appear once (RFC 5280 4.2); track the ones we interpret.
            let mut seen = 0u8;
            while !exts.is_empty() {
                let mut ext = exts.sequence("Extension")?;
                let id = ext.read(tag::OID)?;
                let critical = if ext.peek_tag() == Some(tag::BOOLEAN) {
                    ext.boolean()?
                } else {
                    false
                };
                let value = ext.read(tag::OCTET_STRING)?;
                ext.finish()?;
                let bit = match id {
                    oid::BASIC_CONSTRAINTS => {
                        out.basic_constraints = Some(basic_constraints(value)?);
                        1
                    }
                    oid::KEY_USAGE => {
                        out.key_usage = Some((key_usage(value)?, critical));
                        2
                    }
                    oid::EXT_KEY_USAGE => {
                        out.ext_key_usage = Some(ext_key_usage(value)?);
                        4
                    }
                    oid::SUBJECT_ALT_NAME => {
                        let (count, first) = uri_sans(value)?;
                        out.uri_count = count;
                        out.first_uri = first;
                        8
                    }
                    oid::SUBJECT_KEY_ID => {
                        let mut r = Reader::new(value, "subject key identifier");
                        out.subject_key_id = Some(r.read(tag::OCTET_STRING)?);
                        r.finish()?;
                        16
                    }
                    oid::AUTHORITY_KEY_ID => {
                        out.authority_key_id = authority_key_id(value)?;
                        32
                    }
                    _ => 0,
                };
                if seen & bit != 0 {
                    return Err(DerError::new("extensions", "an extension appears twice").into());
                }
                seen |= bit;
            }
        }
        tbs.finish()?;
        Ok(out)
    }
}

enum Inner {
    Der(DerError),
    Key(KeyError),
}

impl From<DerError> for Inner {
    fn from(e: DerError) -> Self {
        Inner::Der(e)
    }
}

impl From<KeyError> for Inner {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Der(d) => Inner::Der(d),
            other => Inner::Key(other),
        }
    }
}

fn basic_constraints(value: &[u8]) -> Result<(bool, Option<u64>), DerError> {
    let mut outer = Reader::new(value, "basic constraints");
    let mut seq = outer.sequence("basic constraints")?;
    outer.finish()?;
    let ca = if seq.peek_tag() == Some(tag::BOOLEAN) {
        seq.boolean()?
    } else {
        false
    };
    let path_len = if seq.peek_tag() == Some(tag::INTEGER) {
        Some(seq.small_uint()?)
    } else {
        None
    };
    seq.finish()?;
    Ok((ca, path_len))
}

fn key_usage(value: &[u8]) -> Result<KeyUsage, DerError> {
    let mut r = Reader::new(value, "key usage");
    let bits = r.read(tag::BIT_STRING)?;
    r.finish()?;
    let (&unused, bytes) = bits
        .split_first()
        .ok_or(DerError::new("key usage", "empty BIT STRING"))?;
    if unused > 7 || (bytes.is_empty() && unused != 0) {
        return Err(DerError::new("key usage", "bad unused-bits count"));
    }
    if bytes.len() > 2 {
        return Err(DerError::new("key usage", "more than 9 bits"));
    }
    // Bit 0 of RFC 5280 numbering is the most significant bit of the first byte.
    let mut out = 0u16;
    for (i, byte) in bytes.iter().enumerate() {
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                out |= 1 << (i * 8 + bit);
            }
        }
    }
    Ok(KeyUsage(out))
}

fn ext_key_usage(value: &[u8]) -> Result<ExtKeyUsage, DerError> {
    let mut outer = Reader::new(value, "extended key usage");
    let mut seq = outer.sequence("extended key usage")?;
    outer.finish()?;
    let mut out = ExtKeyUsage::default();
    let mut any_entry = false;
    while !seq.is_empty() {
        any_entry = true;
        match seq.read(tag::OID)? {
            oid::SERVER_AUTH => out.server_auth = true,
            oid::CLIENT_AUTH => out.client_auth = true,
            oid::ANY_EKU => out.any = true,
            _ => {}
        }
    }
    if !any_entry {
        return Err(DerError::new(
            "extended key usage",
            "empty KeyPurposeId list",
        ));
    }
    Ok(out)
}

/// Counts the URI names of a SubjectAltName extension and returns the first.
fn uri_sans(value: &[u8]) -> Result<(usize, Option<&[u8]>), DerError> {
    let mut outer = Reader::new(value, "subject alternative name");
    let mut names = outer.sequence("subject alternative name")?;
    outer.finish()?;
    let mut count = 0;
    let mut first = None;
    while !names.is_empty() {
        let (t, contents, _) = names.read_any()?;
        if t == tag::IMPLICIT_6 {
            count += 1;
            if first.is_none() {
                first = Some(contents);
            }
        }
    }
    Ok((count, first))
}

fn authority_key_id(value: &[u8]) -> Result<Option<&[u8]>, DerError> {
    let mut outer = Reader::new(value, "authority key identifier");
    let mut seq = outer.sequence("authority key identifier")?;
    outer.finish()?;
    // keyIdentifier is [0] IMPLICIT OCTET STRING (primitive, tag 0x80).
    let id = seq.read_optional(0x80)?;
    // authorityCertIssuer [1] and authorityCertSerialNumber [2] are skipped.
    while !seq.is_empty() {
        seq.read_any()?;
    }
    Ok(id)
}
