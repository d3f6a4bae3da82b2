//! Certificate and token factories for the integration tests: a tiny CA built on rcgen that can
//! issue correct X509-SVIDs and, on request, every kind of broken one.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use spiffe_core::{PrivateKey, TrustDomain, X509Bundle, X509Svid};

/// A certificate authority of a trust domain: a root, or an intermediate under one.
pub struct Ca {
    pub trust_domain: TrustDomain,
    pub params: CertificateParams,
    pub key: KeyPair,
    pub cert: CertificateDer<'static>,
    /// This CA's certificate and its parents' up to, not including, the root.
    pub chain: Vec<CertificateDer<'static>>,
    pub root: CertificateDer<'static>,
}

/// The parameters of a correct signing certificate for `td`.
pub fn ca_params(td: &str, cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.subject_alt_names = vec![SanType::URI(format!("spiffe://{td}").try_into().unwrap())];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "SPIFFE test");
    p.distinguished_name = dn;
    p.use_authority_key_identifier_extension = true;
    p
}

/// The parameters of a correct leaf X509-SVID for `id`.
pub fn leaf_params(id: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
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
    p.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
    p.distinguished_name = DistinguishedName::new();
    p.use_authority_key_identifier_extension = true;
    p
}

/// A Key Usage extension with the given DER BIT STRING contents and criticality (rcgen always
/// marks its own critical, so broken ones are written by hand).
pub fn raw_key_usage(bit_string: &[u8], critical: bool) -> CustomExtension {
    let mut value = vec![0x03, bit_string.len() as u8];
    value.extend_from_slice(bit_string);
    let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 15], value);
    ext.set_criticality(critical);
    ext
}

impl Ca {
    /// A self-signed root for `td`.
    pub fn root(td: &str) -> Ca {
        Self::root_with(td, |_| {})
    }

    /// A self-signed root for `td`, with its parameters adjusted by `f`.
    pub fn root_with(td: &str, f: impl FnOnce(&mut CertificateParams)) -> Ca {
        let mut params = ca_params(td, &format!("{td} root"));
        f(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap().der().clone();
        Ca {
            trust_domain: TrustDomain::parse(td).unwrap(),
            params,
            key,
            root: cert.clone(),
            cert,
            chain: Vec::new(),
        }
    }

    /// An intermediate CA signed by this one, with its parameters adjusted by `f`.
    pub fn intermediate_with(&self, f: impl FnOnce(&mut CertificateParams)) -> Ca {
        let td = self.trust_domain.name();
        let mut params = ca_params(td, &format!("{td} intermediate {}", self.chain.len() + 1));
        f(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = self.sign_params(&params, &key);
        let mut chain = vec![cert.clone()];
        chain.extend(self.chain.iter().cloned());
        Ca {
            trust_domain: self.trust_domain.clone(),
            params,
            key,
            cert,
            chain,
            root: self.root.clone(),
        }
    }

    /// A correct intermediate CA.
    pub fn intermediate(&self) -> Ca {
        self.intermediate_with(|_| {})
    }

    /// Signs certificate parameters for `subject_key`.
    pub fn sign_params(
        &self,
        params: &CertificateParams,
        subject_key: &KeyPair,
    ) -> CertificateDer<'static> {
        let issuer = Issuer::from_params(&self.params, &self.key);
        params
            .signed_by(subject_key, &issuer)
            .unwrap()
            .der()
            .clone()
    }

    /// Issues a leaf from `params`: the chain (leaf, then this CA's chain) and the key.
    pub fn issue(&self, params: &CertificateParams) -> (Vec<CertificateDer<'static>>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let leaf = self.sign_params(params, &key);
        let mut chain = vec![leaf];
        chain.extend(self.chain.iter().cloned());
        (chain, key)
    }

    /// A correct X509-SVID for `id`.
    pub fn svid(&self, id: &str) -> X509Svid {
        self.svid_with(id, |_| {})
    }

    /// An X509-SVID for `id` with its leaf parameters adjusted by `f` (it must stay valid).
    pub fn svid_with(&self, id: &str, f: impl FnOnce(&mut CertificateParams)) -> X509Svid {
        let mut params = leaf_params(id);
        f(&mut params);
        let (chain, key) = self.issue(&params);
        X509Svid::new(chain, private_key(&key)).unwrap()
    }

    /// The bundle holding this CA's root.
    pub fn bundle(&self) -> X509Bundle {
        X509Bundle::from_authorities(self.trust_domain.clone(), [self.root.clone()]).unwrap()
    }
}

/// The PKCS#8 private key of an rcgen key pair.
pub fn private_key(key: &KeyPair) -> PrivateKey {
    PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap()
}
