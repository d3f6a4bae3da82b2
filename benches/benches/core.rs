//! spiffe-core hot paths against their baselines, in one run:
//!
//! - `spiffe_id_parse`: ours against the `spiffe` crate (0.19);
//! - `x509_verify`: our SVID verification (SPIFFE rules + path validation) against bare
//!   rustls-webpki path validation of the same chain with the same anchors;
//! - `jwt_validate`: our JWT-SVID validation against a bare ECDSA P-256 signature check of the
//!   same token.
//!
//! Run: `cargo bench -p spiffe-benches --bench core`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
use criterion::{Criterion, criterion_group, criterion_main};
use rustls_pki_types::UnixTime;
use spiffe_core::jwt::{assemble, signing_input};
use spiffe_core::key::KeyType;
use spiffe_core::x509::{Usage, verify_chain_with};
use spiffe_core::{Bundle, JwtSvid, PublicKey, SpiffeId, TrustDomain};

const IDS: [&str; 4] = [
    "spiffe://example.org/ns/prod/sa/payment-service",
    "spiffe://mycompany.com/ns/spire/sa/spire-agent",
    "spiffe://cluster.local/spire/agent/k8s_psat/production/2b1c7a9e-58fa-4c2d-9b7e-0f3d6c9a1e22",
    "spiffe://td",
];

fn spiffe_id_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("spiffe_id_parse");
    g.bench_function("ours", |b| {
        b.iter(|| {
            for id in IDS {
                black_box(SpiffeId::parse(black_box(id)).unwrap());
            }
        })
    });
    g.bench_function("spiffe-0.19", |b| {
        b.iter(|| {
            for id in IDS {
                black_box(spiffe::SpiffeId::new(black_box(id)).unwrap());
            }
        })
    });
    g.finish();
}

fn x509_verify(c: &mut Criterion) {
    let spiffe_benches::fixtures::Chain {
        chain,
        root,
        bundles,
    } = spiffe_benches::fixtures::chain(IDS[0]);
    let leaf = chain[0].clone();
    let anchors = vec![webpki::anchor_from_trusted_cert(&root).unwrap().to_owned()];
    let now = UnixTime::now();
    let algs = webpki::ALL_VERIFICATION_ALGS;

    let mut g = c.benchmark_group("x509_verify");
    g.bench_function("ours", |b| {
        b.iter(|| {
            black_box(
                verify_chain_with(black_box(&chain), &bundles, now, Usage::ClientAuth).unwrap(),
            )
        })
    });
    g.bench_function("bare-webpki", |b| {
        b.iter(|| {
            let ee = webpki::EndEntityCert::try_from(black_box(&leaf)).unwrap();
            black_box(
                ee.verify_for_usage(
                    algs,
                    &anchors,
                    black_box(&chain[1..]),
                    now,
                    webpki::KeyUsage::client_auth(),
                    None,
                    None,
                )
                .unwrap()
                .anchor()
                .subject
                .len(),
            )
        })
    });
    g.finish();
}

fn jwt_validate(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
    let key = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap();
    let public = PublicKey::from_raw(KeyType::EcP256, key.public_key().as_ref()).unwrap();
    let mut bundle = Bundle::new(TrustDomain::parse("example.org").unwrap());
    bundle
        .jwt_mut()
        .add_authority("k1", public.clone())
        .unwrap();
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let claims =
        serde_json::json!({"sub": IDS[0], "aud": ["payments"], "exp": exp, "iat": exp - 3600});
    let input = signing_input(
        r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#,
        &claims.to_string(),
    );
    let sig = key.sign(&rng, input.as_bytes()).unwrap();
    let token = assemble(input.clone(), sig.as_ref());
    let raw = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_FIXED,
        public.raw().to_vec(),
    );

    let mut g = c.benchmark_group("jwt_validate");
    g.bench_function("ours", |b| {
        b.iter(|| {
            black_box(JwtSvid::parse_and_validate(black_box(&token), &bundle, "payments").unwrap())
        })
    });
    g.bench_function("bare-p256-verify", |b| {
        b.iter(|| {
            raw.verify(black_box(input.as_bytes()), black_box(sig.as_ref()))
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, spiffe_id_parse, x509_verify, jwt_validate);
criterion_main!(benches);
