//! JWT-SVID validation against tokens signed here with aws-lc-rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::json;
use spiffe_core::jwt::{JwtAlgorithm, Validation, assemble, signing_input};
use spiffe_core::key::KeyType;
use spiffe_core::{Bundle, BundleSet, JwtError, JwtSvid, PublicKey, TrustDomain};

const SUB: &str = "spiffe://example.org/ns/prod/sa/payment";

enum Signer {
    Ec(EcdsaKeyPair, KeyType),
    Rsa(RsaKeyPair),
}

impl Signer {
    fn ec(alg: &'static signature::EcdsaSigningAlgorithm, kt: KeyType) -> Self {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).unwrap();
        Signer::Ec(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref()).unwrap(), kt)
    }

    fn rsa() -> Self {
        Signer::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    fn public(&self) -> PublicKey {
        match self {
            Signer::Ec(k, kt) => PublicKey::from_raw(*kt, k.public_key().as_ref()).unwrap(),
            Signer::Rsa(k) => PublicKey::from_raw(KeyType::Rsa, k.public_key().as_ref()).unwrap(),
        }
    }

    fn sign(&self, alg: &str, msg: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            Signer::Ec(k, _) => k.sign(&rng, msg).unwrap().as_ref().to_vec(),
            Signer::Rsa(k) => {
                let padding: &dyn signature::RsaEncoding = match alg {
                    "RS256" => &signature::RSA_PKCS1_SHA256,
                    "RS384" => &signature::RSA_PKCS1_SHA384,
                    "PS256" => &signature::RSA_PSS_SHA256,
                    other => panic!("no padding for {other}"),
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, msg, &mut sig).unwrap();
                sig
            }
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token(signer: &Signer, header: serde_json::Value, claims: serde_json::Value) -> String {
    let input = signing_input(&header.to_string(), &claims.to_string());
    let alg = header["alg"].as_str().unwrap_or("ES256");
    let sig = signer.sign(alg, input.as_bytes());
    assemble(input, &sig)
}

fn claims() -> serde_json::Value {
    json!({"sub": SUB, "aud": ["payments-api"], "exp": now() + 300, "iat": now()})
}

struct Fixture {
    signer: Signer,
    bundles: BundleSet,
}

fn fixture() -> Fixture {
    let signer = Signer::ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, KeyType::EcP256);
    let mut bundle = Bundle::new(TrustDomain::parse("example.org").unwrap());
    bundle
        .jwt_mut()
        .add_authority("k1", signer.public())
        .unwrap();
    Fixture {
        signer,
        bundles: [bundle].into_iter().collect(),
    }
}

fn header() -> serde_json::Value {
    json!({"alg": "ES256", "kid": "k1", "typ": "JWT"})
}

#[test]
fn a_valid_token_validates() {
    let f = fixture();
    let t = token(&f.signer, header(), claims());
    let svid = JwtSvid::parse_and_validate(&t, &f.bundles, "payments-api").unwrap();
    assert_eq!(svid.spiffe_id().as_str(), SUB);
    assert_eq!(svid.audience(), ["payments-api"]);
    assert_eq!(svid.algorithm(), JwtAlgorithm::ES256);
    assert_eq!(svid.key_id(), Some("k1"));
    assert_eq!(svid.token(), t);
    assert!(svid.claims().contains_key("iat"));
    // A single-string aud is accepted too.
    let mut c = claims();
    c["aud"] = json!("payments-api");
    let t = token(&f.signer, header(), c);
    JwtSvid::parse_and_validate(&t, &f.bundles, "payments-api").unwrap();
}

#[test]
fn every_allowed_algorithm_family_validates() {
    let cases = [
        (
            "ES384",
            Signer::ec(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, KeyType::EcP384),
        ),
        (
            "ES512",
            Signer::ec(&signature::ECDSA_P521_SHA512_FIXED_SIGNING, KeyType::EcP521),
        ),
        ("RS256", Signer::rsa()),
        ("PS256", Signer::rsa()),
    ];
    for (alg, signer) in cases {
        let mut bundle = Bundle::new(TrustDomain::parse("example.org").unwrap());
        bundle
            .jwt_mut()
            .add_authority("k", signer.public())
            .unwrap();
        let t = token(&signer, json!({"alg": alg, "kid": "k"}), claims());
        JwtSvid::parse_and_validate(&t, &bundle, "payments-api")
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[test]
fn each_broken_token_is_refused_with_its_rule() {
    let f = fixture();
    let h = header();
    let c = claims();
    let mut cases: Vec<(&str, String, JwtError)> = Vec::new();

    // alg none, unsigned.
    let none = assemble(
        signing_input(&json!({"alg": "none"}).to_string(), &c.to_string()),
        b"",
    );
    cases.push((
        "alg none",
        none,
        JwtError::AlgorithmNotAllowed { alg: "none".into() },
    ));

    // HS256 "signed" with the public key as the HMAC secret (the classic confusion attack).
    let input = signing_input(
        &json!({"alg": "HS256", "kid": "k1"}).to_string(),
        &c.to_string(),
    );
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, f.signer.public().raw());
    let tag = aws_lc_rs::hmac::sign(&hmac_key, input.as_bytes());
    cases.push((
        "HS256 with public key",
        assemble(input, tag.as_ref()),
        JwtError::AlgorithmNotAllowed {
            alg: "HS256".into(),
        },
    ));

    let mut extra = h.clone();
    extra["jku"] = json!("https://evil.example/keys");
    cases.push((
        "extra header",
        token(&f.signer, extra, c.clone()),
        JwtError::UnsupportedHeader { name: "jku".into() },
    ));
    let mut typ = h.clone();
    typ["typ"] = json!("at+jwt");
    cases.push((
        "bad typ",
        token(&f.signer, typ, c.clone()),
        JwtError::BadType {
            typ: "at+jwt".into(),
        },
    ));
    cases.push((
        "no kid",
        token(&f.signer, json!({"alg": "ES256"}), c.clone()),
        JwtError::MissingKeyId,
    ));
    cases.push((
        "unknown kid",
        token(&f.signer, json!({"alg": "ES256", "kid": "nope"}), c.clone()),
        JwtError::KeyNotFound {
            kid: "nope".into(),
            trust_domain: "example.org".into(),
        },
    ));
    cases.push((
        "no alg",
        token(&f.signer, json!({"kid": "k1"}), c.clone()),
        JwtError::MissingAlgorithm,
    ));

    let mut no_sub = c.clone();
    no_sub.as_object_mut().unwrap().remove("sub");
    cases.push((
        "no sub",
        token(&f.signer, h.clone(), no_sub),
        JwtError::MissingSubject,
    ));
    let mut bad_sub = c.clone();
    bad_sub["sub"] = json!("payment");
    cases.push((
        "sub not an ID",
        token(&f.signer, h.clone(), bad_sub),
        JwtError::InvalidSubject(spiffe_core::IdError::WrongScheme { offset: 0 }),
    ));
    let mut no_aud = c.clone();
    no_aud.as_object_mut().unwrap().remove("aud");
    cases.push((
        "no aud",
        token(&f.signer, h.clone(), no_aud),
        JwtError::MissingAudience,
    ));
    let mut empty_aud = c.clone();
    empty_aud["aud"] = json!([]);
    cases.push((
        "empty aud",
        token(&f.signer, h.clone(), empty_aud),
        JwtError::EmptyAudience,
    ));
    let mut other_aud = c.clone();
    other_aud["aud"] = json!(["billing-api"]);
    cases.push((
        "wrong aud",
        token(&f.signer, h.clone(), other_aud),
        JwtError::AudienceMismatch {
            expected: "payments-api".into(),
            actual: vec!["billing-api".into()],
        },
    ));
    let mut no_exp = c.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    cases.push((
        "no exp",
        token(&f.signer, h.clone(), no_exp),
        JwtError::MissingExpiry,
    ));

    let mut foreign = c.clone();
    foreign["sub"] = json!("spiffe://other.org/payment");
    cases.push((
        "other trust domain",
        token(&f.signer, h.clone(), foreign),
        JwtError::UntrustedTrustDomain {
            trust_domain: "other.org".into(),
        },
    ));

    // Tampered payload: a valid signature over other claims.
    let good = token(&f.signer, h.clone(), c.clone());
    let mut parts: Vec<&str> = good.split('.').collect();
    let mut tampered_claims = c.clone();
    tampered_claims["sub"] = json!("spiffe://example.org/admin");
    let forged_payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        tampered_claims.to_string(),
    );
    parts[1] = &forged_payload;
    cases.push(("tampered", parts.join("."), JwtError::BadSignature));

    cases.push((
        "JWE shape",
        "a.b.c.d.e".into(),
        JwtError::NotCompactJws { parts: 5 },
    ));
    cases.push((
        "bad base64",
        "a+b.c.d".into(),
        JwtError::Base64 { part: "header" },
    ));

    for (name, t, expected) in cases {
        let err = JwtSvid::parse_and_validate(&t, &f.bundles, "payments-api").unwrap_err();
        assert_eq!(err, expected, "{name}");
    }
}

#[test]
fn a_key_of_the_wrong_type_is_refused() {
    let rsa = Signer::rsa();
    let ec = Signer::ec(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, KeyType::EcP256);
    let mut bundle = Bundle::new(TrustDomain::parse("example.org").unwrap());
    bundle.jwt_mut().add_authority("k", rsa.public()).unwrap();
    let t = token(&ec, json!({"alg": "ES256", "kid": "k"}), claims());
    assert_eq!(
        JwtSvid::parse_and_validate(&t, &bundle, "payments-api").unwrap_err(),
        JwtError::KeyAlgorithmMismatch {
            alg: JwtAlgorithm::ES256,
            key_type: KeyType::Rsa
        }
    );
}

#[test]
fn times_and_leeway() {
    let f = fixture();
    let mut c = claims();
    c["exp"] = json!(now() - 10);
    let t = token(&f.signer, header(), c);
    assert!(matches!(
        JwtSvid::parse_and_validate(&t, &f.bundles, "payments-api").unwrap_err(),
        JwtError::Expired { .. }
    ));
    let v = Validation::new(&["payments-api"]).leeway(Duration::from_secs(30));
    JwtSvid::validate(&t, &f.bundles, &v).unwrap();

    let mut c = claims();
    c["nbf"] = json!(now() + 60);
    let t = token(&f.signer, header(), c);
    assert!(matches!(
        JwtSvid::parse_and_validate(&t, &f.bundles, "payments-api").unwrap_err(),
        JwtError::NotYetValid { .. }
    ));
    let later = SystemTime::now() + Duration::from_secs(120);
    JwtSvid::validate(
        &t,
        &f.bundles,
        &Validation::new(&["payments-api"]).at(later),
    )
    .unwrap();

    // Fractional NumericDates are accepted (truncated).
    let mut c = claims();
    c["exp"] = json!((now() + 100) as f64 + 0.5);
    let t = token(&f.signer, header(), c);
    JwtSvid::parse_and_validate(&t, &f.bundles, "payments-api").unwrap();

    // Several expected audiences must all be present.
    let mut c = claims();
    c["aud"] = json!(["a", "b"]);
    let t = token(&f.signer, header(), c);
    JwtSvid::validate(&t, &f.bundles, &Validation::new(&["a", "b"])).unwrap();
    assert!(JwtSvid::validate(&t, &f.bundles, &Validation::new(&["a", "c"])).is_err());
    assert_eq!(
        JwtSvid::validate(&t, &f.bundles, &Validation::new(&[])).unwrap_err(),
        JwtError::NoExpectedAudience
    );
}

#[test]
fn header_duplicates_and_insecure_parse() {
    let f = fixture();
    let input = format!(
        "{}.{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"ES256","alg":"none","kid":"k1"}"#
        ),
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            claims().to_string()
        )
    );
    let t = assemble(input.clone(), &f.signer.sign("ES256", input.as_bytes()));
    assert!(matches!(
        JwtSvid::parse_and_validate(&t, &f.bundles, "payments-api").unwrap_err(),
        JwtError::Header(m) if m.contains("duplicate")
    ));

    let t = token(&f.signer, header(), claims());
    let svid = JwtSvid::parse_insecure(&t).unwrap();
    assert_eq!(svid.spiffe_id().as_str(), SUB);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn validation_never_panics(s in "[A-Za-z0-9_.+/=-]{0,300}") {
            let f = &*FIXTURE;
            let _ = JwtSvid::parse_and_validate(&s, &f.bundles, "a");
            let _ = JwtSvid::parse_insecure(&s);
        }

        #[test]
        fn json_shaped_tokens_never_panic(h in ".{0,80}", c in ".{0,120}") {
            let t = assemble(signing_input(&h, &c), b"sig");
            let _ = JwtSvid::parse_and_validate(&t, &FIXTURE.bundles, "a");
        }
    }

    static FIXTURE: std::sync::LazyLock<Fixture> = std::sync::LazyLock::new(fixture);
}
