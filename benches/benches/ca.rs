//! spiffe-ca minting against the physical floor, in one run:
//!
//! - `x509_mint`: an X509-SVID minted from a P-256 CSR (CSR signature checked, certificate
//!   built and signed) against a raw P-256 verify + sign (the two signature operations minting
//!   cannot avoid);
//! - `jwt_mint`: a JWT-SVID minted (claims serialized and signed) against a raw P-256 sign.
//!
//! Run: `cargo bench -p spiffe-benches --bench ca`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use criterion::{Criterion, criterion_group, criterion_main};
use spiffe_ca::{
    CaConfig, CertificateAuthority, JwtSvidParams, MemoryKeyManager, SystemClock, X509SvidParams,
};
use spiffe_core::{SpiffeId, TrustDomain};

const ID: &str = "spiffe://example.org/ns/prod/sa/payment-service";

fn ca() -> CertificateAuthority {
    CertificateAuthority::new(
        CaConfig::new(TrustDomain::parse("example.org").unwrap()),
        Arc::new(MemoryKeyManager::new()),
        Arc::new(SystemClock),
    )
    .unwrap()
}

fn x509_mint(c: &mut Criterion) {
    let ca = ca();
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .der()
        .to_vec();
    let params = X509SvidParams {
        spiffe_id: SpiffeId::parse(ID).unwrap(),
        ttl: Duration::from_secs(3600),
        dns_names: Vec::new(),
    };
    // The floor: verify one P-256 signature (the CSR's) and make one (the certificate's).
    let rng = SystemRandom::new();
    let signing = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    let msg = vec![0x5a_u8; 400];
    let sig = signing.sign(&rng, &msg).unwrap();
    let verifier = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        signing.public_key().as_ref().to_vec(),
    );

    let mut g = c.benchmark_group("x509_mint");
    g.bench_function("from-csr", |b| {
        b.iter(|| {
            black_box(
                ca.mint_x509_svid_from_csr(black_box(&csr), &params)
                    .unwrap(),
            )
        })
    });
    g.bench_function("raw-p256-verify+sign", |b| {
        b.iter(|| {
            verifier.verify(black_box(&msg), sig.as_ref()).unwrap();
            black_box(signing.sign(&rng, black_box(&msg)).unwrap())
        })
    });
    g.finish();
}

fn jwt_mint(c: &mut Criterion) {
    let ca = ca();
    let params = JwtSvidParams {
        spiffe_id: SpiffeId::parse(ID).unwrap(),
        audience: vec!["payments".into()],
        ttl: Duration::from_secs(300),
        issuer: None,
        with_jti: false,
    };
    let rng = SystemRandom::new();
    let signing = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let msg = vec![0x5a_u8; 250];

    let mut g = c.benchmark_group("jwt_mint");
    g.bench_function("mint", |b| {
        b.iter(|| black_box(ca.mint_jwt_svid(&params).unwrap()))
    });
    g.bench_function("raw-p256-sign", |b| {
        b.iter(|| black_box(signing.sign(&rng, black_box(&msg)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, x509_mint, jwt_mint);
criterion_main!(benches);
