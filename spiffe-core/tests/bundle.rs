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
            "jwt without kid",
            json!({"keys": [no_kid]}),
            |e| matches!(e, BundleError::JwtEntry { index: 0, reason } if reason.contains("kid")),
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
    changed.add_authority(b.root.clone()).unwrap();
    assert_eq!(changed.authorities(), std::slice::from_ref(&b.root));
}

#[test]
fn jwt_bundle_keys() {
    let mut bundle = JwtBundle::new(td("example.org"));
    let (_, key) = ec_jwk(None);
    bundle.add_authority("a", key.clone()).unwrap();
    bundle.add_authority("a", key.clone()).unwrap();
    assert_eq!(bundle.len(), 1);
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

/// The CA bundle is a union (SPIFFE Trust Domain and Bundle 4.1): a repeated authority is kept
/// once; a repeated `kid` takes the last key given, as go-spiffe's bundles do.
#[test]
fn bundles_are_unions_and_the_last_kid_wins() {
    let ca = Ca::root("example.org");
    let (first, _) = ec_jwk(Some("k"));
    let (second, second_key) = ec_jwk(Some("k"));
    let doc = json!({"keys": [x509_jwk(&ca), x509_jwk(&ca), first, second]});
    let bundle = Bundle::parse_json(td("example.org"), doc.to_string().as_bytes()).unwrap();
    assert_eq!(bundle.x509().authorities().len(), 1);
    assert_eq!(bundle.jwt().len(), 1);
    assert_eq!(bundle.jwt().find("k"), Some(&second_key));

    let pem = spiffe_core::pem::encode("CERTIFICATE", &ca.root);
    let twice = X509Bundle::parse_pem(td("example.org"), format!("{pem}{pem}").as_bytes()).unwrap();
    assert_eq!(twice.authorities().len(), 1);
    let mut x509 = X509Bundle::new(td("example.org"));
    x509.add_authority(ca.root.clone()).unwrap();
    x509.add_authority(ca.root.clone()).unwrap();
    assert_eq!(x509.authorities().len(), 1);
}

/// Input with no PEM block is an error, not an empty bundle; empty input and input with only
/// other blocks are empty bundles (go-spiffe's `x509bundle.Parse`).
#[test]
fn pem_bundles_without_pem_are_refused() {
    for text in ["not pem at all", " ", "{\"keys\": []}"] {
        let err = X509Bundle::parse_pem(td("example.org"), text.as_bytes()).unwrap_err();
        assert!(
            matches!(&err, BundleError::Pem(r) if r.contains("no PEM blocks")),
            "{text:?}: {err}"
        );
    }
    let empty = X509Bundle::parse_pem(td("example.org"), b"").unwrap();
    assert!(empty.authorities().is_empty());
    let key_only = spiffe_core::pem::encode("PRIVATE KEY", &[1, 2, 3]);
    let other = X509Bundle::parse_pem(td("example.org"), key_only.as_bytes()).unwrap();
    assert!(other.authorities().is_empty());
}

/// A legacy version-1 root (OpenSSL-made, tests/data/README.md) is a trust anchor like any
/// other: the bundle takes it and an SVID it signs verifies.
#[test]
fn version_1_roots_are_authorities() {
    let root_pem = include_str!("data/v1-root.pem");
    let bundle = X509Bundle::parse_pem(td("example.org"), root_pem.as_bytes()).unwrap();
    assert_eq!(bundle.authorities().len(), 1);

    // The root's key signs a leaf whose issuer is the root's subject.
    let key = rcgen::KeyPair::from_pem(include_str!("data/v1-root.key")).unwrap();
    let mut issuer_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "legacy v1 root");
    issuer_params.distinguished_name = dn;
    let issuer = rcgen::Issuer::new(issuer_params, key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let mut leaf = common::leaf_params("spiffe://example.org/legacy");
    leaf.use_authority_key_identifier_extension = false;
    let leaf_der = leaf.signed_by(&leaf_key, &issuer).unwrap().der().clone();
    let svid = spiffe_core::X509Svid::new(
        vec![leaf_der],
        spiffe_core::PrivateKey::from_pkcs8_der(&leaf_key.serialize_der()).unwrap(),
    )
    .unwrap();
    let mut set = BundleSet::new();
    set.insert(Bundle::from_parts(bundle, JwtBundle::new(td("example.org"))).unwrap());
    let verified = spiffe_core::x509::verify_chain(svid.chain(), &set).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), "spiffe://example.org/legacy");
}
