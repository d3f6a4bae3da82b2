//! Minting X509-SVIDs and JWT-SVIDs: every minted SVID passes spiffe-core verification and
//! openssl, and every bad request gets a typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::CertificateDer;
use spiffe_ca::keys::Signer as _;
use spiffe_ca::{
    CaConfig, CaError, CaKeyType, CertificateAuthority, JwtSvidParams, ManualClock,
    MemoryKeyManager, SoftSigner, SystemClock, TtlPolicy, UpstreamCa, UpstreamError,
    X509SvidParams,
};
use spiffe_core::jwt::JwtAlgorithm;
use spiffe_core::key::KeyType;
use spiffe_core::x509::{CertificateInfo, CsrError, verify_chain};
use spiffe_core::{BundleSet, JwtSvid, PrivateKey, SpiffeId, TrustDomain, X509Svid};

const ID: &str = "spiffe://example.org/ns/prod/sa/payment-service";

fn td() -> TrustDomain {
    TrustDomain::parse("example.org").unwrap()
}

fn ca_with(f: impl FnOnce(&mut CaConfig)) -> CertificateAuthority {
    let mut config = CaConfig::new(td());
    f(&mut config);
    CertificateAuthority::new(
        config,
        Arc::new(MemoryKeyManager::new()),
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn params(id: &str, ttl: u64) -> X509SvidParams {
    X509SvidParams {
        spiffe_id: SpiffeId::parse(id).unwrap(),
        ttl: Duration::from_secs(ttl),
        dns_names: Vec::new(),
    }
}

fn bundles(ca: &CertificateAuthority) -> BundleSet {
    let mut set = BundleSet::new();
    set.insert_shared(ca.bundle());
    set
}

fn csr(key: &KeyPair) -> Vec<u8> {
    CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(key)
        .unwrap()
        .der()
        .to_vec()
}

fn write_pem(dir: &Path, name: &str, certs: &[CertificateDer<'_>]) -> String {
    let path = dir.join(name);
    let pem: String = certs
        .iter()
        .map(|c| spiffe_core::pem::encode("CERTIFICATE", c))
        .collect();
    std::fs::write(&path, pem).unwrap();
    path.display().to_string()
}

/// Runs `openssl verify` on a chain (leaf first) against the bundle; returns its output.
fn openssl_verify(chain: &[CertificateDer<'_>], bundle_pem: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("bundle.pem");
    std::fs::write(&ca, bundle_pem).unwrap();
    let leaf = write_pem(dir.path(), "leaf.pem", &chain[..1]);
    let mut cmd = Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(&ca);
    if chain.len() > 1 {
        cmd.arg("-untrusted")
            .arg(write_pem(dir.path(), "untrusted.pem", &chain[1..]));
    }
    let out = cmd.arg(&leaf).output().expect("openssl runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn openssl_text(cert: &CertificateDer<'_>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write_pem(dir.path(), "c.pem", std::slice::from_ref(cert));
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", &path])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn minted_svids_verify_here_and_with_openssl() {
    let ca = ca_with(|_| {});
    let key = KeyPair::generate().unwrap();
    let mut p = params(ID, 3600);
    p.dns_names = vec!["payment.prod.svc".into(), "payment".into()];
    let chain = ca.mint_x509_svid_from_csr(&csr(&key), &p).unwrap();
    let svid = X509Svid::new(
        chain.clone(),
        PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
    )
    .unwrap();
    assert_eq!(svid.spiffe_id().as_str(), ID);
    verify_chain(&chain, &bundles(&ca)).unwrap();

    let (ok, out) = openssl_verify(&chain, &ca.bundle().x509().to_pem());
    assert!(ok, "openssl verify failed: {out}");

    let text = openssl_text(&chain[0]);
    for expected in [
        &format!("URI:{ID}"),
        "DNS:payment.prod.svc, DNS:payment",
        "X509v3 Key Usage: critical",
        "Digital Signature, Key Encipherment, Key Agreement",
        "CA:FALSE",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "CN = payment.prod.svc",
        "X509v3 Authority Key Identifier",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );

    // The CA certificate: cA, keyCertSign + cRLSign critical, the trust domain's ID.
    let ca_text = openssl_text(ca.active_x509().unwrap().certificate());
    for expected in [
        "CA:TRUE",
        "Certificate Sign, CRL Sign",
        "URI:spiffe://example.org",
        "X509v3 Subject Key Identifier",
        "C = US, O = SPIFFE",
    ] {
        assert!(
            ca_text.contains(expected),
            "missing {expected:?} in:\n{ca_text}"
        );
    }
}

#[test]
fn validity_is_backdated_and_capped() {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let clock = Arc::new(ManualClock::new(start));
    let mut config = CaConfig::new(td());
    config.ca_ttl = Duration::from_secs(3600);
    let ca = CertificateAuthority::new(config, Arc::new(MemoryKeyManager::new()), clock.clone())
        .unwrap();
    let key = SoftSigner::generate(CaKeyType::EcP256).unwrap();
    let chain = ca
        .mint_x509_svid(key.public_key(), &params(ID, 600))
        .unwrap();
    let info = CertificateInfo::parse(&chain[0]).unwrap();
    assert_eq!(info.not_before, 1_800_000_000 - 10);
    assert_eq!(info.not_after, 1_800_000_000 + 600);

    // 50 minutes later a 20-minute TTL is cut at the CA's end...
    clock.advance(Duration::from_secs(3000));
    let chain = ca
        .mint_x509_svid(key.public_key(), &params(ID, 1200))
        .unwrap();
    let ca_end = ca.active_x509().unwrap().not_after();
    assert_eq!(CertificateInfo::parse(&chain[0]).unwrap().not_after, ca_end);
    assert_eq!(ca_end, 1_800_000_000 + 3600);

    // ...or refused, with the refusing policy.
    let mut config = CaConfig::new(td());
    config.ca_ttl = Duration::from_secs(3600);
    config.ttl_policy = TtlPolicy::Refuse;
    let strict = CertificateAuthority::new(
        config,
        Arc::new(MemoryKeyManager::new()),
        Arc::new(ManualClock::new(start)),
    )
    .unwrap();
    match strict.mint_x509_svid(key.public_key(), &params(ID, 7200)) {
        Err(CaError::TtlBeyondAuthority {
            requested,
            available,
        }) => {
            assert_eq!(requested, Duration::from_secs(7200));
            assert_eq!(available, Duration::from_secs(3600));
        }
        other => panic!("expected TtlBeyondAuthority, got {other:?}"),
    }
}

#[test]
fn bad_requests_get_typed_errors() {
    let ca = ca_with(|_| {});
    let key = KeyPair::generate().unwrap();

    // A CSR whose signature is broken.
    let mut der = csr(&key);
    let last = der.len() - 1;
    der[last] ^= 0x01;
    assert!(matches!(
        ca.mint_x509_svid_from_csr(&der, &params(ID, 60)),
        Err(CaError::Csr(CsrError::BadSignature))
    ));
    // Garbage.
    assert!(matches!(
        ca.mint_x509_svid_from_csr(b"not a csr", &params(ID, 60)),
        Err(CaError::Csr(CsrError::Malformed(_)))
    ));
    // Key types the authority does not sign for.
    for alg in [&rcgen::PKCS_ED25519, &rcgen::PKCS_ECDSA_P521_SHA512] {
        let k = KeyPair::generate_for(alg).unwrap();
        match ca.mint_x509_svid_from_csr(&csr(&k), &params(ID, 60)) {
            Err(CaError::KeyTypeNotAllowed { key_type, .. }) => {
                assert!(matches!(key_type, KeyType::Ed25519 | KeyType::EcP521))
            }
            other => panic!("expected KeyTypeNotAllowed, got {other:?}"),
        }
    }
    // An ID of another trust domain, and the trust domain's own ID.
    match ca.mint_x509_svid_from_csr(&csr(&key), &params("spiffe://other.org/x", 60)) {
        Err(CaError::ForeignTrustDomain { id, trust_domain }) => {
            assert_eq!(id, "spiffe://other.org/x");
            assert_eq!(trust_domain, "example.org");
        }
        other => panic!("expected ForeignTrustDomain, got {other:?}"),
    }
    assert!(matches!(
        ca.mint_x509_svid_from_csr(&csr(&key), &params("spiffe://example.org", 60)),
        Err(CaError::RootId { .. })
    ));
    assert!(matches!(
        ca.mint_x509_svid_from_csr(&csr(&key), &params(ID, 0)),
        Err(CaError::ZeroTtl)
    ));
    let mut p = params(ID, 60);
    p.dns_names = vec!["bad_name!".into()];
    assert!(matches!(
        ca.mint_x509_svid_from_csr(&csr(&key), &p),
        Err(CaError::DnsName { .. })
    ));
    // JWT: no audience, foreign ID.
    let jwt = |id: &str, aud: Vec<String>| JwtSvidParams {
        spiffe_id: SpiffeId::parse(id).unwrap(),
        audience: aud,
        ttl: Duration::from_secs(60),
        issuer: None,
        with_jti: false,
    };
    assert!(matches!(
        ca.mint_jwt_svid(&jwt(ID, vec![])),
        Err(CaError::NoAudience)
    ));
    assert!(matches!(
        ca.mint_jwt_svid(&jwt("spiffe://other.org/x", vec!["a".into()])),
        Err(CaError::ForeignTrustDomain { .. })
    ));
}

#[test]
fn other_key_types_for_svids_and_authorities() {
    for (ca_key, jwt_alg) in [
        (CaKeyType::EcP384, JwtAlgorithm::ES384),
        (CaKeyType::Rsa2048, JwtAlgorithm::RS256),
        (CaKeyType::EcP256, JwtAlgorithm::PS256),
    ] {
        let ca = ca_with(|c| {
            c.ca_key_type = ca_key;
            c.jwt_algorithm = jwt_alg;
        });
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_RSA_SHA256,
        ] {
            let key = KeyPair::generate_for(alg).unwrap();
            let chain = ca
                .mint_x509_svid_from_csr(&csr(&key), &params(ID, 600))
                .unwrap();
            verify_chain(&chain, &bundles(&ca)).unwrap();
            let (ok, out) = openssl_verify(&chain, &ca.bundle().x509().to_pem());
            assert!(ok, "{ca_key}: {out}");
        }
        let token = ca
            .mint_jwt_svid(&JwtSvidParams {
                spiffe_id: SpiffeId::parse(ID).unwrap(),
                audience: vec!["payments".into()],
                ttl: Duration::from_secs(300),
                issuer: Some("https://oidc.example.org".into()),
                with_jti: true,
            })
            .unwrap();
        let svid = JwtSvid::parse_and_validate(&token, &bundles(&ca), "payments").unwrap();
        assert_eq!(svid.algorithm(), jwt_alg);
        let claims = svid.claims();
        assert_eq!(claims["iss"], "https://oidc.example.org");
        assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
        assert_eq!(claims["sub"], ID);
    }
}

#[test]
fn jwt_expiry_is_capped_by_the_key() {
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let clock = Arc::new(ManualClock::new(start));
    let mut config = CaConfig::new(td());
    config.ca_ttl = Duration::from_secs(600);
    let ca = CertificateAuthority::new(config, Arc::new(MemoryKeyManager::new()), clock.clone())
        .unwrap();
    clock.advance(Duration::from_secs(450));
    let token = ca
        .mint_jwt_svid(&JwtSvidParams {
            spiffe_id: SpiffeId::parse(ID).unwrap(),
            audience: vec!["a".into()],
            ttl: Duration::from_secs(3600),
            issuer: None,
            with_jti: false,
        })
        .unwrap();
    let svid = JwtSvid::parse_insecure(&token).unwrap();
    assert_eq!(svid.expiry_unix(), ca.active_jwt().unwrap().not_after());
    assert_eq!(svid.issued_at_unix(), Some(1_800_000_450));
}

#[test]
fn an_upstream_ca_signs_the_trust_domain_ca() {
    // An enterprise root and an intermediate under it, on disk.
    let root_key = KeyPair::generate().unwrap();
    let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Enterprise Root");
    let root = root_params.self_signed(&root_key).unwrap();
    let inter_key = KeyPair::generate().unwrap();
    let mut inter_params = root_params.clone();
    inter_params.distinguished_name = rcgen::DistinguishedName::new();
    inter_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Enterprise Issuing CA");
    let root_issuer = rcgen::Issuer::from_params(&root_params, &root_key);
    let inter = inter_params.signed_by(&inter_key, &root_issuer).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("upstream.pem");
    let key_path = dir.path().join("upstream.key");
    std::fs::write(&cert_path, format!("{}{}", inter.pem(), root.pem())).unwrap();
    std::fs::write(&key_path, inter_key.serialize_pem()).unwrap();
    let upstream = UpstreamCa::load(&cert_path, &key_path, None).unwrap();
    assert_eq!(upstream.roots(), std::slice::from_ref(root.der()));

    let ca = ca_with(|c| c.upstream = Some(Arc::new(upstream)));
    // The bundle publishes the upstream root, not the trust domain's CA.
    assert_eq!(
        ca.bundle().x509().authorities(),
        std::slice::from_ref(root.der())
    );
    let key = KeyPair::generate().unwrap();
    let chain = ca
        .mint_x509_svid_from_csr(&csr(&key), &params(ID, 600))
        .unwrap();
    // leaf, the trust domain's CA, the enterprise intermediate.
    assert_eq!(chain.len(), 3);
    assert_eq!(&chain[2], inter.der());
    verify_chain(&chain, &bundles(&ca)).unwrap();
    let (ok, out) = openssl_verify(&chain, &ca.bundle().x509().to_pem());
    assert!(ok, "{out}");

    // The wrong key for the upstream certificate is refused.
    std::fs::write(&key_path, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    assert!(matches!(
        UpstreamCa::load(&cert_path, &key_path, None),
        Err(CaError::Upstream(UpstreamError::KeyMismatch))
    ));
}

#[test]
fn minted_serials_are_unique_and_128_bit() {
    let ca = ca_with(|_| {});
    let key = SoftSigner::generate(CaKeyType::EcP256).unwrap();
    let mut serials = std::collections::HashSet::new();
    for _ in 0..2000 {
        let chain = ca
            .mint_x509_svid(key.public_key(), &params(ID, 60))
            .unwrap();
        let serial = CertificateInfo::parse(&chain[0]).unwrap().serial;
        assert_eq!(serial.len(), 16, "positive 128-bit serial: {serial:02x?}");
        assert!(serials.insert(serial));
    }
}
