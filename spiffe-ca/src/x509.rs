//! X.509 signing authorities: creating a CA certificate (self-signed or under an upstream CA)
//! and minting X509-SVIDs with it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber, SignatureAlgorithm,
};
use rustls_pki_types::CertificateDer;

use spiffe_core::x509::CertificateInfo;
use spiffe_core::{PublicKey, SpiffeId, TrustDomain};

use crate::issuer::{CA_PATH_LEN, IssuerKey, rcgen_alg};
use crate::keys::Signer;
use crate::upstream::UpstreamCa;
use crate::{CaError, CertificateError, CryptoError};

/// How far back a certificate's `notBefore` is set, for clocks that run a little behind.
pub const BACKDATE: Duration = Duration::from_secs(10);

/// The subject of CA certificates (SPIRE's `ca_subject`; default `C=US, O=SPIFFE`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CaSubject {
    /// Country (C).
    #[serde(default)]
    pub country: Vec<String>,
    /// Organization (O).
    #[serde(default)]
    pub organization: Vec<String>,
    /// Common name (CN).
    #[serde(default)]
    pub common_name: Option<String>,
}

impl Default for CaSubject {
    fn default() -> Self {
        CaSubject {
            country: vec!["US".into()],
            organization: vec!["SPIFFE".into()],
            common_name: None,
        }
    }
}

/// A subject public key, as rcgen wants it.
struct SubjectKey<'a>(&'a PublicKey);

impl PublicKeyData for SubjectKey<'_> {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.0.spki_der().to_vec()
    }
    fn der_bytes(&self) -> &[u8] {
        self.0.raw()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        rcgen_alg(self.0.key_type())
    }
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 octets), so two servers
/// of one trust domain never collide.
pub(crate) fn random_serial() -> Result<SerialNumber, CaError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CryptoError::Random {
            purpose: "serial number",
        })?;
    bytes[0] &= 0x7F; // positive
    bytes[0] |= 0x40; // and a full 16 octets, never a zero serial
    Ok(SerialNumber::from_slice(&bytes))
}

pub(crate) fn unix(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn offset_date_time(
    field: &'static str,
    unix_secs: i64,
) -> Result<time::OffsetDateTime, CertificateError> {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .map_err(|_| CertificateError::TimeOutOfRange { field, unix_secs })
}

/// A SPIFFE ID or trust domain ID as a URI SAN.
fn uri_san(uri: &str) -> Result<SanType, CertificateError> {
    let ia5 = uri.try_into().map_err(|source| CertificateError::UriSan {
        uri: uri.to_owned(),
        source,
    })?;
    Ok(SanType::URI(ia5))
}

/// An X.509 signing authority: a CA certificate and the key that signs with it.
pub struct X509Authority {
    id: String,
    cert: CertificateDer<'static>,
    /// What follows a leaf in an SVID chain: nothing for a self-signed CA (it is in the
    /// bundle); under an upstream CA, this CA's certificate, then the upstream intermediates
    /// (never the upstream root).
    chain: Vec<CertificateDer<'static>>,
    /// What the bundle publishes for this authority.
    roots: Vec<CertificateDer<'static>>,
    signer: Arc<dyn Signer>,
    issuer: Issuer<'static, IssuerKey>,
    not_before: i64,
    not_after: i64,
}

impl std::fmt::Debug for X509Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("X509Authority")
            .field("id", &self.id)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// What an X509-SVID should say, besides its key.
#[derive(Debug, Clone)]
pub struct X509SvidParams {
    /// The SPIFFE ID (the one URI SAN).
    pub spiffe_id: SpiffeId,
    /// Requested lifetime.
    pub ttl: Duration,
    /// DNS SANs; the first is also the subject CN.
    pub dns_names: Vec<String>,
}

/// How to treat a TTL that would outlive the signing authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlPolicy {
    /// Cut the SVID's `notAfter` at the authority's (SPIRE's behaviour).
    #[default]
    Cap,
    /// Refuse the request with [`CaError::TtlBeyondAuthority`].
    Refuse,
}

impl X509Authority {
    /// Creates a CA certificate for `td` valid from `now` (backdated) for `ttl` (cut at the
    /// upstream CA's expiry), self-signed or signed by `upstream`. The certificate is a CA
    /// (Basic Constraints cA=true, critical) with `pathLenConstraint` [`CA_PATH_LEN`] (0): it
    /// signs SVIDs, not other CAs.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] if the serial number cannot be drawn; [`CaError::Certificate`] if
    /// the trust domain cannot be a URI SAN, the validity is out of range, or signing the
    /// certificate fails (the key or the upstream CA refused).
    pub fn create(
        td: &TrustDomain,
        signer: Arc<dyn Signer>,
        subject: &CaSubject,
        now: SystemTime,
        ttl: Duration,
        upstream: Option<&UpstreamCa>,
    ) -> Result<Self, CaError> {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(CA_PATH_LEN));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.subject_alt_names = vec![uri_san(&td.id_string())?];
        let mut dn = DistinguishedName::new();
        for c in &subject.country {
            dn.push(DnType::CountryName, c.as_str());
        }
        for o in &subject.organization {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        if let Some(cn) = &subject.common_name {
            dn.push(DnType::CommonName, cn.as_str());
        }
        // A unique serialNumber attribute keeps the subjects of successive CAs apart, so path
        // building never confuses two generations.
        let serial = random_serial()?;
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            hex::encode(serial.as_ref()),
        );
        params.distinguished_name = dn;
        params.serial_number = Some(serial);
        params.use_authority_key_identifier_extension = upstream.is_some();
        let now_unix = unix(now);
        let mut not_after =
            now_unix.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        if let Some(up) = upstream {
            not_after = not_after.min(up.not_after());
        }
        params.not_before = offset_date_time("notBefore", now_unix - BACKDATE.as_secs() as i64)?;
        params.not_after = offset_date_time("notAfter", not_after)?;

        let key = IssuerKey(Arc::clone(&signer));
        let (cert, chain_tail, roots) = match upstream {
            None => {
                let cert = params
                    .self_signed(&key)
                    .map_err(CertificateError::SignCa)?
                    .der()
                    .clone();
                (cert.clone(), Vec::new(), vec![cert])
            }
            Some(up) => {
                let cert = params
                    .signed_by(&key, up.issuer())
                    .map_err(CertificateError::SignCa)?
                    .der()
                    .clone();
                (cert, up.intermediates().to_vec(), up.roots().to_vec())
            }
        };
        // A self-signed CA is in the bundle and not repeated in SVID chains (as SPIRE sends
        // them); a CA under an upstream travels with its SVIDs, with the upstream intermediates.
        let chain = if upstream.is_some() {
            let mut chain = vec![cert.clone()];
            chain.extend(chain_tail);
            chain
        } else {
            Vec::new()
        };
        Self::assemble(cert, chain, roots, signer, Issuer::new(params, key))
    }

    /// Rebuilds an authority from its certificate, what follows a leaf in its SVID chains
    /// (empty for a self-signed CA), its published roots and its key.
    ///
    /// # Errors
    ///
    /// [`CaError::Certificate`] if `cert` does not parse, cannot be used as an issuer, or does
    /// not carry `signer`'s public key.
    pub fn restore(
        cert: CertificateDer<'static>,
        chain: Vec<CertificateDer<'static>>,
        roots: Vec<CertificateDer<'static>>,
        signer: Arc<dyn Signer>,
    ) -> Result<Self, CaError> {
        let issuer = Issuer::from_ca_cert_der(&cert, IssuerKey(Arc::clone(&signer)))
            .map_err(CertificateError::Issuer)?;
        Self::assemble(cert, chain, roots, signer, issuer)
    }

    fn assemble(
        cert: CertificateDer<'static>,
        chain: Vec<CertificateDer<'static>>,
        roots: Vec<CertificateDer<'static>>,
        signer: Arc<dyn Signer>,
        issuer: Issuer<'static, IssuerKey>,
    ) -> Result<Self, CaError> {
        let info = CertificateInfo::parse(&cert).map_err(CertificateError::Unreadable)?;
        if info.public_key != *signer.public_key() {
            return Err(CertificateError::KeyMismatch.into());
        }
        let id = info
            .subject_key_id
            .as_deref()
            .map_or_else(|| hex::encode(info.not_after.to_be_bytes()), hex::encode);
        Ok(X509Authority {
            id,
            cert,
            chain,
            roots,
            signer,
            issuer,
            not_before: info.not_before,
            not_after: info.not_after,
        })
    }

    /// The authority's ID: the hex of its Subject Key Identifier (as SPIRE names authorities).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// What follows a leaf in the SVIDs this authority signs.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The certificates the bundle publishes for this authority (itself, or the upstream
    /// roots).
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The signing key.
    pub fn signer(&self) -> &Arc<dyn Signer> {
        &self.signer
    }

    /// `notBefore`, in seconds since the Unix epoch.
    pub fn not_before(&self) -> i64 {
        self.not_before
    }

    /// `notAfter`, in seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// Mints an X509-SVID for `public_key`: one URI SAN, the DNS SANs (the first also the CN),
    /// Key Usage digitalSignature + keyEncipherment + keyAgreement (critical), EKU serverAuth +
    /// clientAuth, Basic Constraints cA=false (critical), AKID, a random serial; `notBefore`
    /// backdated by [`BACKDATE`], `notAfter` = now + TTL, cut at (or, with
    /// [`TtlPolicy::Refuse`], refused beyond) the authority's own `notAfter`. Returns the chain,
    /// leaf first.
    ///
    /// # Errors
    ///
    /// [`CaError::ZeroTtl`] for a zero TTL; [`CaError::TtlBeyondAuthority`] for a TTL past the
    /// authority's expiry under [`TtlPolicy::Refuse`]; [`CaError::DnsName`] for a DNS name that
    /// cannot be in a certificate; [`CaError::Crypto`] if the serial number cannot be drawn;
    /// [`CaError::Certificate`] if the SPIFFE ID cannot be a URI SAN or signing fails.
    pub fn mint(
        &self,
        public_key: &PublicKey,
        params: &X509SvidParams,
        now: SystemTime,
        policy: TtlPolicy,
    ) -> Result<Vec<CertificateDer<'static>>, CaError> {
        let now_unix = unix(now);
        let not_after = self.svid_not_after(now_unix, params.ttl, policy)?;
        let mut p = CertificateParams::default();
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
            KeyUsagePurpose::KeyAgreement,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.subject_alt_names = vec![uri_san(params.spiffe_id.as_str())?];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::OrganizationName, "SPIRE");
        for name in &params.dns_names {
            check_dns_name(name)?;
            let ia5 = name.as_str().try_into().map_err(|_| CaError::DnsName {
                name: name.clone(),
                reason: "not ASCII",
            })?;
            p.subject_alt_names.push(SanType::DnsName(ia5));
        }
        if let Some(first) = params.dns_names.first() {
            dn.push(DnType::CommonName, first.as_str());
        }
        p.distinguished_name = dn;
        p.serial_number = Some(random_serial()?);
        p.use_authority_key_identifier_extension = true;
        p.not_before = offset_date_time("notBefore", now_unix - BACKDATE.as_secs() as i64)?;
        p.not_after = offset_date_time("notAfter", not_after)?;
        let leaf = p
            .signed_by(&SubjectKey(public_key), &self.issuer)
            .map_err(CertificateError::SignSvid)?
            .der()
            .clone();
        let mut chain = Vec::with_capacity(1 + self.chain.len());
        chain.push(leaf);
        chain.extend(self.chain.iter().cloned());
        Ok(chain)
    }

    /// The `notAfter` an SVID minted now with `ttl` gets.
    pub(crate) fn svid_not_after(
        &self,
        now_unix: i64,
        ttl: Duration,
        policy: TtlPolicy,
    ) -> Result<i64, CaError> {
        if ttl.is_zero() {
            return Err(CaError::ZeroTtl);
        }
        let wanted = now_unix.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        if wanted <= self.not_after {
            return Ok(wanted);
        }
        match policy {
            TtlPolicy::Cap => Ok(self.not_after),
            TtlPolicy::Refuse => Err(CaError::TtlBeyondAuthority {
                requested: ttl,
                available: Duration::from_secs(
                    u64::try_from(self.not_after - now_unix).unwrap_or(0),
                ),
            }),
        }
    }
}

/// A DNS name as a certificate may carry it ([`spiffe_core::dns::check_dns_name`]).
pub(crate) fn check_dns_name(name: &str) -> Result<(), CaError> {
    spiffe_core::dns::check_dns_name(name)
        .map_err(|spiffe_core::DnsNameError { name, reason }| CaError::DnsName { name, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hundred_thousand_serials_without_a_collision() {
        let mut seen = std::collections::HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let serial = random_serial().unwrap();
            let bytes = serial.as_ref().to_vec();
            assert_eq!(bytes.len(), 16);
            assert_eq!(bytes[0] & 0xC0, 0x40, "positive, full-width");
            assert!(seen.insert(bytes), "collision");
        }
    }

    #[test]
    fn dns_names() {
        for ok in ["a", "payment.prod.svc", "*.example.org", "x-1.y"] {
            check_dns_name(ok).unwrap();
        }
        for bad in ["", "-a", "a-", "a..b", "a_b", "*", "a.*.b", &"a".repeat(64)] {
            assert!(check_dns_name(bad).is_err(), "{bad}");
        }
    }
}
