//! The SPIFFE bundle document, bundle maps and X.509 bundle PEM/DER forms.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::Ca;
use serde_json::json;
use spiffe_core::key::KeyType;
use spiffe_core::{
    Bundle, BundleError, BundleSet, BundleSource, JwtBundle, PublicKey, TrustDomain, X509Bundle,
};

fn td(s: &str) -> TrustDomain {
    TrustDomain::parse(s).unwrap()
}

fn ec_jwk(kid: Option<&str>) -> (serde_json::Value, PublicKey) {
    let key = rcgen::KeyPair::generate().unwrap();
    let public =
        PublicKey::from_spki_der(&rcgen::PublicKeyData::subject_public_key_info(&key)).unwrap();
    let (x, y) = public.ec_coordinates().unwrap();
    let mut v = json!({
        "use": "jwt-svid",
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
    });
    if let Some(kid) = kid {
        v["kid"] = json!(kid);
    }
    (v, public)
}

fn x509_jwk(ca: &Ca) -> serde_json::Value {
    json!({"use": "x509-svid", "x5c": [STANDARD.encode(&ca.root)]})
}

fn parse(doc: serde_json::Value) -> Result<Bundle, BundleError> {
    Bundle::parse_json(td("example.org"), doc.to_string().as_bytes())
}

#[test]
fn round_trip() {
    let ca = Ca::root("example.org");
    let (jwk, public) = ec_jwk(Some("key-1"));
    let doc = json!({
        "keys": [x509_jwk(&ca), jwk],
        "spiffe_sequence": 7,
        "spiffe_refresh_hint": 300,
        "extra_member": "ignored",
    });
    let bundle = parse(doc).unwrap();
    assert_eq!(bundle.x509().authorities(), std::slice::from_ref(&ca.root));
    assert_eq!(bundle.jwt().find("key-1"), Some(&public));
    assert_eq!(bundle.sequence(), Some(7));
    assert_eq!(bundle.refresh_hint(), Some(Duration::from_secs(300)));

    let json = bundle.to_json();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    // The x509-svid entry carries its key members (as SPIRE publishes) and no kid.
    assert_eq!(value["keys"][0]["use"], "x509-svid");
    assert_eq!(value["keys"][0]["kty"], "EC");
    assert!(value["keys"][0].get("kid").is_none());
    assert_eq!(value["keys"][1]["kid"], "key-1");
    let again = Bundle::parse_json(td("example.org"), json.as_bytes()).unwrap();
    assert_eq!(again, bundle);
    assert!(bundle.to_json_pretty().contains("\n"));
}

#[test]
fn unknown_uses_and_key_types_are_ignored() {
    let ca = Ca::root("example.org");
    let bundle = parse(json!({"keys": [
        x509_jwk(&ca),
        {"use": "wit-svid", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "kid": "w"},
        {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"use": "jwt-svid", "kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "ed"},
        {"use": "jwt-svid", "kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA", "kid": "k1"},
    ]}))
    .unwrap();
    assert_eq!(bundle.x509().authorities().len(), 1);
    assert!(bundle.jwt().is_empty());
}

#[test]
fn each_bad_document_gets_a_typed_error() {
    let ca = Ca::root("example.org");
    let (jwk, _) = ec_jwk(Some("k"));
    let (no_kid, _) = ec_jwk(None);
    let root_b64 = STANDARD.encode(&ca.root);

    type Check = fn(&BundleError) -> bool;
    let cases: Vec<(&str, serde_json::Value, Check)> = vec![
        (
            "keys missing",
            json!({"spiffe_sequence": 1}),
            |e| matches!(e, BundleError::Json(m) if m.contains("keys")),
        ),
        ("not an object", json!([1, 2]), |e| {
            matches!(e, BundleError::Json(_))
        }),
        (
            "x509 with kid",
            json!({"keys": [{"use": "x509-svid", "kid": "a", "x5c": [root_b64]}]}),
            |e| matches!(e, BundleError::X509Entry { index: 0, reason } if reason.contains("kid")),
        ),
        (
            "x509 without x5c",
            json!({"keys": [{"use": "x509-svid"}]}),
            |e| matches!(e, BundleError::X509Entry { index: 0, reason } if reason.contains("none")),
        ),
        (
            "x509 with two x5c",
            json!({"keys": [{"use": "x509-svid", "x5c": [root_b64, root_b64]}]}),
            |e| matches!(e, BundleError::X509Entry { index: 0, reason } if reason.contains("found 2")),
        ),
        (
            "x5c not base64",
            json!({"keys": [{"use": "x509-svid", "x5c": ["@@@"]}]}),
            |e| matches!(e, BundleError::X509Entry { index: 0, .. }),
        ),
        (
            "x5c not a certificate",
            json!({"keys": [{"use": "x509-svid", "x5c": ["AAEC"]}]}),
            |e| matches!(e, BundleError::Authority { index: 0, .. }),
        ),
        (
            "duplicate authority",
            json!({"keys": [x509_jwk(&ca), x509_jwk(&ca)]}),
            |e| matches!(e, BundleError::DuplicateAuthority { index: 1 }),
        ),
        (
            "jwt without kid",
            json!({"keys": [no_kid]}),
            |e| matches!(e, BundleError::JwtEntry { index: 0, reason } if reason.contains("kid")),
        ),
        (
            "duplicate kid",
            json!({"keys": [jwk.clone(), jwk.clone()]}),
            |e| matches!(e, BundleError::DuplicateKeyId { kid } if kid == "k"),
        ),
        (
            "EC without y",
            json!({"keys": [{"use": "jwt-svid", "kid": "a", "kty": "EC", "crv": "P-256", "x": "AA"}]}),
            |e| matches!(e, BundleError::JwtEntry { index: 0, reason } if reason.contains("\"y\"")),
        ),
        (
            "short coordinates",
            json!({"keys": [{"use": "jwt-svid", "kid": "a", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}),
            |e| matches!(e, BundleError::JwtEntry { index: 0, reason } if reason.contains("length")),
        ),
        (
            "RSA too small",
            json!({"keys": [{"use": "jwt-svid", "kid": "a", "kty": "RSA", "n": "AQAB", "e": "AQAB"}]}),
            |e| matches!(e, BundleError::JwtEntry { index: 0, reason } if reason.contains("2048")),
        ),
        (
            "negative refresh hint",
            json!({"keys": [], "spiffe_refresh_hint": -5}),
            |e| matches!(e, BundleError::Json(m) if m.contains("non-negative")),
        ),
    ];
    for (name, doc, check) in cases {
        let err = parse(doc).expect_err(name);
        assert!(check(&err), "{name}: {err}");
    }
    // A duplicate member of the document itself.
    let err = Bundle::parse_json(td("example.org"), br#"{"keys": [], "keys": []}"#).unwrap_err();
    assert!(
        matches!(&err, BundleError::Json(m) if m.contains("duplicate")),
        "{err}"
    );
}

#[test]
fn x509_key_members_must_match_the_certificate() {
    let ca = Ca::root("example.org");
    let (mut other, _) = ec_jwk(None);
    other["use"] = json!("x509-svid");
    other["x5c"] = json!([STANDARD.encode(&ca.root)]);
    let err = parse(json!({"keys": [other]})).unwrap_err();
    assert!(
        matches!(&err, BundleError::X509Entry { reason, .. } if reason.contains("do not match")),
        "{err}"
    );
}

#[test]
fn lenient_parsing_follows_the_consumer_rules() {
    let ca = Ca::root("example.org");
    let root_b64 = STANDARD.encode(&ca.root);
    let other = STANDARD.encode(&Ca::root("example.org").root);
    let doc = json!({"keys": [
        {"use": "x509-svid"},
        {"use": "x509-svid", "x5c": []},
        {"use": "x509-svid", "x5c": [root_b64, other]},
    ]});
    let bundle = Bundle::parse_json_lenient(td("example.org"), doc.to_string().as_bytes()).unwrap();
    assert_eq!(bundle.x509().authorities(), std::slice::from_ref(&ca.root));
}

#[test]
fn bundle_maps_refuse_duplicate_trust_domains() {
    let a = Ca::root("a.org");
    let b = Ca::root("b.org");
    let map = format!(
        r#"{{"trust_domains": {{"a.org": {{"keys": [{}]}}, "b.org": {{"keys": [{}]}}}}}}"#,
        x509_jwk(&a),
        x509_jwk(&b)
    );
    let set = BundleSet::parse_bundle_map(map.as_bytes()).unwrap();
    assert_eq!(set.len(), 2);
    assert_eq!(
        set.get("a.org").unwrap().x509().authorities(),
        std::slice::from_ref(&a.root)
    );
    // Never merged: each trust domain answers with its own bundle only.
    assert_eq!(
        set.x509_bundle(&td("b.org")).unwrap().authorities(),
        std::slice::from_ref(&b.root)
    );
    assert!(set.x509_bundle(&td("c.org")).is_none());

    let round = BundleSet::parse_bundle_map(set.to_bundle_map_json().as_bytes()).unwrap();
    assert_eq!(round, set);

    let dup = format!(
        r#"{{"trust_domains": {{"a.org": {{"keys": [{}]}}, "a.org": {{"keys": [{}]}}}}}}"#,
        x509_jwk(&a),
        x509_jwk(&b)
    );
    assert_eq!(
        BundleSet::parse_bundle_map(dup.as_bytes()).unwrap_err(),
        BundleError::DuplicateTrustDomain("a.org".into())
    );
    let bad_key = r#"{"trust_domains": {"A.org": {"keys": []}}}"#;
    assert!(matches!(
        BundleSet::parse_bundle_map(bad_key.as_bytes()).unwrap_err(),
        BundleError::TrustDomain { .. }
    ));
    assert!(matches!(
        BundleSet::parse_bundle_map(b"{}").unwrap_err(),
        BundleError::Json(_)
    ));
}

#[test]
fn x509_bundle_pem_and_der() {
    let a = Ca::root("example.org");
    let b = Ca::root("example.org");
    let bundle =
        X509Bundle::from_authorities(td("example.org"), [a.root.clone(), b.root.clone()]).unwrap();
    let pem = bundle.to_pem();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
    assert_eq!(
        X509Bundle::parse_pem(td("example.org"), pem.as_bytes()).unwrap(),
        bundle
    );
    assert_eq!(
        X509Bundle::parse_der(td("example.org"), &bundle.to_der()).unwrap(),
        bundle
    );
    assert!(
        X509Bundle::parse_der(td("example.org"), &[])
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        X509Bundle::parse_der(td("example.org"), &[0x30, 0x02, 0x05, 0x00]).unwrap_err(),
        BundleError::Authority { index: 0, .. }
    ));

    let mut changed = bundle.clone();
    assert!(changed.remove_authority(&a.root));
    assert!(!changed.remove_authority(&a.root));
    assert_eq!(changed.authorities(), std::slice::from_ref(&b.root));
    assert_eq!(
        changed.add_authority(b.root.clone()).unwrap_err(),
        BundleError::DuplicateAuthority { index: 1 }
    );
}

#[test]
fn jwt_bundle_keys() {
    let mut bundle = JwtBundle::new(td("example.org"));
    let (_, key) = ec_jwk(None);
    bundle.add_authority("a", key.clone()).unwrap();
    assert_eq!(
        bundle.add_authority("a", key.clone()).unwrap_err(),
        BundleError::DuplicateKeyId { kid: "a".into() }
    );
    assert!(bundle.add_authority("", key.clone()).is_err());
    assert_eq!(bundle.find("a").unwrap().key_type(), KeyType::EcP256);
    let parsed = JwtBundle::parse_json(td("example.org"), bundle.to_json().as_bytes()).unwrap();
    assert_eq!(parsed, bundle);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn bundle_parsers_never_panic(s in ".{0,400}") {
            let _ = Bundle::parse_json(td("example.org"), s.as_bytes());
            let _ = Bundle::parse_json_lenient(td("example.org"), s.as_bytes());
            let _ = BundleSet::parse_bundle_map(s.as_bytes());
            let _ = X509Bundle::parse_pem(td("example.org"), s.as_bytes());
            let _ = X509Bundle::parse_der(td("example.org"), s.as_bytes());
        }

        #[test]
        fn jwk_shaped_input_never_panics(
            kty in prop_oneof![Just("EC"), Just("RSA"), Just("OKP"), Just("")],
            crv in prop_oneof![Just("P-256"), Just("P-384"), Just("P-521"), Just("X")],
            x in "[A-Za-z0-9_-]{0,90}",
            y in "[A-Za-z0-9_-]{0,90}",
            x5c in "[A-Za-z0-9+/=]{0,200}",
            use_ in prop_oneof![Just("x509-svid"), Just("jwt-svid")],
        ) {
            let doc = json!({"keys": [{"use": use_, "kty": kty, "crv": crv, "x": x, "y": y,
                "n": x, "e": y, "kid": "k", "x5c": [x5c]}]});
            let _ = parse(doc);
        }
    }
}

#[test]
fn plain_jwks_keys_without_use_are_jwt_keys() {
    let (mut jwk, key) = ec_jwk(Some("k1"));
    jwk.as_object_mut().unwrap().remove("use");
    let doc = json!({"keys": [jwk]}).to_string();
    // Strict SPIFFE bundle parsing ignores a key without `use`...
    assert!(
        JwtBundle::parse_json(td("example.org"), doc.as_bytes())
            .unwrap()
            .is_empty()
    );
    // ...a plain JWK Set (FetchJWTBundles) takes it as a JWT key.
    let b = JwtBundle::parse_jwks(td("example.org"), doc.as_bytes()).unwrap();
    assert_eq!(b.find("k1"), Some(&key));
}
