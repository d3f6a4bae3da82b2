//! Certificates and tokens shared by the benches and cost probes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use spiffe_core::{Bundle, BundleSet, JwtBundle, TrustDomain, X509Bundle};

/// A leaf SVID for `id`, under an intermediate, under a root of `example.org`.
pub struct Chain {
    /// Leaf, then intermediate.
    pub chain: Vec<CertificateDer<'static>>,
    /// The root.
    pub root: CertificateDer<'static>,
    /// A bundle set holding the root for `example.org`.
    pub bundles: BundleSet,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.subject_alt_names = vec![SanType::URI("spiffe://example.org".try_into().unwrap())];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p
}

/// Builds root -> intermediate -> leaf(`id`), as a server with an upstream CA issues them.
pub fn chain(id: &str) -> Chain {
    let root_params = ca_params("root");
    let root_key = KeyPair::generate().unwrap();
    let root = root_params.self_signed(&root_key).unwrap().der().clone();
    let inter_params = ca_params("intermediate");
    let inter_key = KeyPair::generate().unwrap();
    let root_issuer = Issuer::from_params(&root_params, &root_key);
    let inter = inter_params
        .signed_by(&inter_key, &root_issuer)
        .unwrap()
        .der()
        .clone();
    let mut leaf_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    leaf_params.subject_alt_names = vec![SanType::URI(id.try_into().unwrap())];
    let leaf_key = KeyPair::generate().unwrap();
    let inter_issuer = Issuer::from_params(&inter_params, &inter_key);
    let leaf = leaf_params
        .signed_by(&leaf_key, &inter_issuer)
        .unwrap()
        .der()
        .clone();
    let td = TrustDomain::parse("example.org").unwrap();
    let bundle = Bundle::from_parts(
        X509Bundle::from_authorities(td.clone(), [root.clone()]).unwrap(),
        JwtBundle::new(td),
    )
    .unwrap();
    Chain {
        chain: vec![leaf, inter],
        root,
        bundles: [bundle].into_iter().collect(),
    }
}
