//! Path length constraints: every CA certificate the authority creates says pathLenConstraint 0
//! (it signs SVIDs, never another CA), so a CA minted under it does not verify; and an upstream
//! chain that does not allow a CA below the upstream CA is refused when it is loaded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::CertificateDer;
use spiffe_ca::keys::Signer;
use spiffe_ca::{
    CA_PATH_LEN, CaConfig, CaError, CaKeyType, CertificateAuthority, MemoryKeyManager, SoftSigner,
    SystemClock, UpstreamCa, X509SvidParams,
};
use spiffe_core::x509::{X509VerifyError, verify_chain};
use spiffe_core::{BundleSet, SpiffeId, TrustDomain};

const ID: &str = "spiffe://example.org/ns/prod/sa/payment-service";

fn ca_with(upstream: Option<UpstreamCa>) -> CertificateAuthority {
    let mut config = CaConfig::new(TrustDomain::parse("example.org").unwrap());
    config.upstream = upstream.map(Arc::new);
    CertificateAuthority::new(
        config,
        Arc::new(MemoryKeyManager::new()),
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn bundles(ca: &CertificateAuthority) -> BundleSet {
    let mut set = BundleSet::new();
    set.insert_shared(ca.bundle());
    set
}

fn mint(ca: &CertificateAuthority) -> Vec<CertificateDer<'static>> {
    let key = SoftSigner::generate(CaKeyType::EcP256).unwrap();
    ca.mint_x509_svid(
        key.public_key(),
        &X509SvidParams {
            spiffe_id: SpiffeId::parse(ID).unwrap(),
            ttl: Duration::from_secs(600),
            dns_names: Vec::new(),
        },
    )
    .unwrap()
}

/// (cA, pathLenConstraint, critical) of a certificate's Basic Constraints.
fn basic_constraints(der: &CertificateDer<'_>) -> (bool, Option<u32>, bool) {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).unwrap();
    let (critical, bc) = cert
        .tbs_certificate()
        .get_extension::<x509_cert::ext::pkix::BasicConstraints>()
        .unwrap()
        .expect("Basic Constraints");
    (bc.ca, bc.path_len_constraint.map(u32::from), critical)
}

fn pem(certs: &[CertificateDer<'_>]) -> String {
    certs
        .iter()
        .map(|c| spiffe_core::pem::encode("CERTIFICATE", c))
        .collect()
}

/// `openssl verify` of a chain (leaf first) against a PEM bundle: (success, output).
fn openssl_verify(dir: &Path, chain: &[CertificateDer<'_>], bundle_pem: &str) -> (bool, String) {
    let bundle = dir.join("bundle.pem");
    let leaf = dir.join("leaf.pem");
    let untrusted = dir.join("untrusted.pem");
    std::fs::write(&bundle, bundle_pem).unwrap();
    std::fs::write(&leaf, pem(&chain[..1])).unwrap();
    let mut cmd = Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(&bundle);
    if chain.len() > 1 {
        std::fs::write(&untrusted, pem(&chain[1..])).unwrap();
        cmd.arg("-untrusted").arg(&untrusted);
    }
    let out = cmd.arg(&leaf).output().expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A CA certificate and its key, made with rcgen (an enterprise PKI).
struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
}

fn ca_params(cn: &str, constraint: BasicConstraints) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(constraint);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

fn root(cn: &str, constraint: BasicConstraints) -> TestCa {
    let params = ca_params(cn, constraint);
    let key = KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().clone();
    TestCa { params, key, der }
}

fn sub(cn: &str, constraint: BasicConstraints, parent: &TestCa) -> TestCa {
    let params = ca_params(cn, constraint);
    let key = KeyPair::generate().unwrap();
    let issuer = Issuer::from_params(&parent.params, &parent.key);
    let der = params.signed_by(&key, &issuer).unwrap().der().clone();
    TestCa { params, key, der }
}

fn load(
    chain: &[&TestCa],
    key: &TestCa,
    bundle: Option<&[&TestCa]>,
) -> Result<UpstreamCa, CaError> {
    let ders: Vec<_> = chain.iter().map(|c| c.der.clone()).collect();
    let bundle_pem = bundle.map(|b| pem(&b.iter().map(|c| c.der.clone()).collect::<Vec<_>>()));
    UpstreamCa::from_pem(
        pem(&ders).as_bytes(),
        key.key.serialize_pem().as_bytes(),
        bundle_pem.as_deref().map(str::as_bytes),
    )
}

/// The trust domain's key, as rcgen wants it (to forge what a stolen CA key could sign).
struct CaKey(Arc<dyn Signer>);

impl rcgen::PublicKeyData for CaKey {
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key().raw()
    }
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl rcgen::SigningKey for CaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0
            .sign_x509(msg)
            .map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// What the trust domain's CA key could sign if it signed CAs: a sub-CA, and an SVID under
/// it. Returns the SVID chain, leaf first, then the sub-CA and whatever follows the trust
/// domain's CA in its own SVIDs.
fn forged_chain(ca: &CertificateAuthority) -> Vec<CertificateDer<'static>> {
    let authority = ca.active_x509().unwrap();
    let issuer = Issuer::from_ca_cert_der(
        authority.certificate(),
        CaKey(Arc::clone(authority.signer())),
    )
    .unwrap();
    let sub_params = ca_params("rogue", BasicConstraints::Unconstrained);
    let sub_key = KeyPair::generate().unwrap();
    let sub_ca = sub_params.signed_by(&sub_key, &issuer).unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.subject_alt_names = vec![SanType::URI(ID.try_into().unwrap())];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let sub_issuer = Issuer::from_params(&sub_params, &sub_key);
    let leaf = leaf
        .signed_by(&KeyPair::generate().unwrap(), &sub_issuer)
        .unwrap();
    let mut chain = vec![leaf.der().clone(), sub_ca.der().clone()];
    chain.extend(authority.chain().iter().cloned());
    chain
}

#[test]
fn a_self_signed_ca_has_path_len_zero_and_its_svids_verify() {
    assert_eq!(CA_PATH_LEN, 0);
    let ca = ca_with(None);
    let cert = ca.active_x509().unwrap().certificate().clone();
    assert_eq!(basic_constraints(&cert), (true, Some(0), true));

    let chain = mint(&ca);
    verify_chain(&chain, &bundles(&ca)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = openssl_verify(dir.path(), &chain, &ca.bundle().x509().to_pem());
    assert!(ok, "{out}");
}

#[test]
fn a_ca_minted_by_a_self_signed_ca_does_not_verify() {
    let ca = ca_with(None);
    let forged = forged_chain(&ca);
    // rustls-webpki takes bundle authorities as bare trust anchors and ignores their Basic
    // Constraints; openssl (like Go's crypto/x509 and BoringSSL) enforces them on the root.
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = openssl_verify(dir.path(), &forged, &ca.bundle().x509().to_pem());
    assert!(!ok, "a CA under the trust domain's CA verified:\n{out}");
    assert!(out.contains("path length"), "{out}");
}

#[test]
fn a_ca_under_an_upstream_has_path_len_zero_and_its_svids_verify() {
    let root = root("Enterprise Root", BasicConstraints::Unconstrained);
    let issuing = sub(
        "Enterprise Issuing CA",
        BasicConstraints::Constrained(1),
        &root,
    );
    let ca = ca_with(Some(load(&[&issuing, &root], &issuing, None).unwrap()));
    let authority = ca.active_x509().unwrap();
    assert_eq!(
        basic_constraints(authority.certificate()),
        (true, Some(0), true)
    );

    let chain = mint(&ca);
    assert_eq!(chain.len(), 3);
    verify_chain(&chain, &bundles(&ca)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = openssl_verify(dir.path(), &chain, &ca.bundle().x509().to_pem());
    assert!(ok, "{out}");

    // A CA signed by the trust domain's CA (an intermediate here) fails both verifiers.
    let forged = forged_chain(&ca);
    assert!(
        matches!(
            verify_chain(&forged, &bundles(&ca)),
            Err(X509VerifyError::Path { ref reason, .. }) if reason.to_lowercase().contains("path")
        ),
        "{:?}",
        verify_chain(&forged, &bundles(&ca))
    );
    let (ok, out) = openssl_verify(dir.path(), &forged, &ca.bundle().x509().to_pem());
    assert!(!ok, "{out}");
}

#[test]
fn an_upstream_with_path_len_zero_is_refused() {
    // A self-signed upstream CA that may sign only leaves.
    let upstream = root("Leaf-only Root", BasicConstraints::Constrained(0));
    let err = load(&[&upstream], &upstream, None).unwrap_err();
    assert!(
        matches!(
            &err,
            CaError::UpstreamPathLen { certificate, path_len: 0, required: 1 }
                if certificate.starts_with("the upstream CA certificate")
                    && certificate.contains("Leaf-only Root")
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("pathLenConstraint 0") && message.contains("RFC 5280 4.2.1.9"),
        "{message}"
    );

    // An issuing CA with pathLen 0 under an unconstrained root: the same.
    let root_ca = root("Enterprise Root", BasicConstraints::Unconstrained);
    let issuing = sub("Issuing CA", BasicConstraints::Constrained(0), &root_ca);
    assert!(matches!(
        load(&[&issuing, &root_ca], &issuing, None),
        Err(CaError::UpstreamPathLen {
            path_len: 0,
            required: 1,
            ..
        })
    ));
    // pathLen 1 leaves room for exactly our CA.
    let issuing = sub("Issuing CA", BasicConstraints::Constrained(1), &root_ca);
    load(&[&issuing, &root_ca], &issuing, None).unwrap();
}

#[test]
fn every_certificate_above_the_upstream_must_leave_room_for_our_ca() {
    // root (pathLen 1) -> issuing -> our CA: two CAs below the root.
    let root_ca = root("Enterprise Root", BasicConstraints::Constrained(1));
    let issuing = sub("Issuing CA", BasicConstraints::Unconstrained, &root_ca);
    let err = load(&[&issuing, &root_ca], &issuing, None).unwrap_err();
    assert!(
        matches!(
            &err,
            CaError::UpstreamPathLen { certificate, path_len: 1, required: 2 }
                if certificate.starts_with("certificate 2 of the upstream certificate file")
        ),
        "{err:?}"
    );
    // The same root in a separate bundle is checked as the issuer of the chain's top.
    let err = load(&[&issuing], &issuing, Some(&[&root_ca])).unwrap_err();
    assert!(
        matches!(
            &err,
            CaError::UpstreamPathLen { certificate, path_len: 1, required: 2 }
                if certificate.starts_with("root 1 of the upstream bundle file")
        ),
        "{err:?}"
    );
    // A bundle root that did not issue the chain does not constrain it.
    let other = root("Other Root", BasicConstraints::Constrained(0));
    let fine_root = root("Fine Root", BasicConstraints::Constrained(2));
    let issuing = sub("Issuing CA", BasicConstraints::Unconstrained, &fine_root);
    let upstream = load(&[&issuing], &issuing, Some(&[&other, &fine_root])).unwrap();
    let ca = ca_with(Some(upstream));
    let chain = mint(&ca);
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = openssl_verify(
        dir.path(),
        &chain,
        &pem(std::slice::from_ref(&fine_root.der)),
    );
    assert!(ok, "{out}");
}
