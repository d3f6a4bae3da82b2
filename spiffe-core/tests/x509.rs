//! X509-SVID rules and verification, on certificates generated here for each broken case.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Ca, leaf_params, private_key, raw_key_usage};
use rcgen::{ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType};
use rustls_pki_types::{CertificateDer, UnixTime};
use spiffe_core::x509::{Usage, verify_chain, verify_chain_with};
use spiffe_core::{
    Bundle, BundleSet, IdError, JwtBundle, SpiffeId, X509Error, X509Svid, X509VerifyError,
};

const ID: &str = "spiffe://example.org/ns/prod/sa/payment";

/// Issues a leaf from `params` under `ca` and builds an SVID from it.
fn svid_from(ca: &Ca, params: rcgen::CertificateParams) -> Result<X509Svid, X509Error> {
    let (chain, key) = ca.issue(&params);
    X509Svid::new(chain, private_key(&key))
}

fn set_of(cas: &[&Ca]) -> BundleSet {
    cas.iter()
        .map(|ca| Bundle::from_parts(ca.bundle(), JwtBundle::new(ca.trust_domain.clone())).unwrap())
        .collect()
}

#[test]
fn a_correct_svid_parses_in_every_form() {
    let ca = Ca::root("example.org");
    let svid = ca.svid(ID);
    assert_eq!(svid.spiffe_id().as_str(), ID);
    assert_eq!(svid.chain().len(), 1);

    let from_der = X509Svid::parse_der(&svid.chain_der(), svid.private_key().pkcs8_der()).unwrap();
    assert_eq!(from_der.spiffe_id(), svid.spiffe_id());
    assert_eq!(from_der.chain(), svid.chain());

    let from_pem = X509Svid::parse_pem(
        svid.chain_pem().as_bytes(),
        svid.private_key().to_pkcs8_pem().as_bytes(),
    )
    .unwrap();
    assert_eq!(from_pem.chain(), svid.chain());
    assert_eq!(from_pem.expires_at(), svid.expires_at());
    assert!(svid.expires_at() > svid.not_before());
}

#[test]
fn each_broken_leaf_is_refused_with_its_rule() {
    let ca = Ca::root("example.org");
    type Adjust = Box<dyn Fn(&mut rcgen::CertificateParams)>;
    let cases: Vec<(&str, Adjust, X509Error)> = vec![
        (
            "CA leaf",
            Box::new(|p| p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained)),
            X509Error::LeafIsCa,
        ),
        (
            "no basic constraints",
            Box::new(|p| p.is_ca = IsCa::NoCa),
            X509Error::MissingBasicConstraints,
        ),
        (
            "keyCertSign leaf",
            Box::new(|p| p.key_usages.push(KeyUsagePurpose::KeyCertSign)),
            X509Error::LeafKeyCertSign,
        ),
        (
            "cRLSign leaf",
            Box::new(|p| p.key_usages.push(KeyUsagePurpose::CrlSign)),
            X509Error::LeafCrlSign,
        ),
        (
            "no digitalSignature",
            Box::new(|p| p.key_usages = vec![KeyUsagePurpose::KeyEncipherment]),
            X509Error::MissingDigitalSignature,
        ),
        (
            "no key usage",
            Box::new(|p| p.key_usages.clear()),
            X509Error::MissingKeyUsage,
        ),
        (
            "key usage not critical",
            Box::new(|p| {
                p.key_usages.clear();
                // digitalSignature only: one byte, 7 unused bits.
                p.custom_extensions
                    .push(raw_key_usage(&[0x07, 0x80], false));
            }),
            X509Error::KeyUsageNotCritical,
        ),
        (
            "no URI SAN",
            Box::new(|p| {
                p.subject_alt_names =
                    vec![SanType::DnsName("payment.example.org".try_into().unwrap())]
            }),
            X509Error::NoUriSan,
        ),
        (
            "two URI SANs",
            Box::new(|p| {
                p.subject_alt_names.push(SanType::URI(
                    "spiffe://example.org/other".try_into().unwrap(),
                ))
            }),
            X509Error::MultipleUriSans { count: 2 },
        ),
        (
            "root path",
            Box::new(|p| {
                p.subject_alt_names = vec![SanType::URI("spiffe://example.org".try_into().unwrap())]
            }),
            X509Error::RootPathId {
                id: "spiffe://example.org".into(),
            },
        ),
        (
            "URI SAN of another scheme",
            Box::new(|p| {
                p.subject_alt_names =
                    vec![SanType::URI("https://example.org/x".try_into().unwrap())]
            }),
            X509Error::InvalidUriSan(IdError::WrongScheme { offset: 0 }),
        ),
        (
            "EKU without clientAuth",
            Box::new(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]),
            X509Error::EkuMissingClientAuth,
        ),
        (
            "EKU without serverAuth",
            Box::new(|p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth]),
            X509Error::EkuMissingServerAuth,
        ),
    ];
    let bundles = set_of(&[&ca]);
    for (name, adjust, expected) in cases {
        let mut params = leaf_params(ID);
        adjust(&mut params);
        let (chain, key) = ca.issue(&params);
        assert_eq!(
            X509Svid::new(chain.clone(), private_key(&key)).unwrap_err(),
            expected,
            "{name}"
        );
        // Verification applies the same rules before looking at signatures.
        assert_eq!(
            verify_chain(&chain, &bundles).unwrap_err(),
            X509VerifyError::Svid(expected.clone()),
            "{name}"
        );
    }
}

#[test]
fn eku_is_optional() {
    let ca = Ca::root("example.org");
    let mut params = leaf_params(ID);
    params.extended_key_usages.clear();
    let svid = svid_from(&ca, params).unwrap();
    verify_chain(svid.chain(), &set_of(&[&ca])).unwrap();
}

#[test]
fn broken_intermediates_are_refused() {
    let root = Ca::root("example.org");
    let not_ca = root.intermediate_with(|p| p.is_ca = IsCa::ExplicitNoCa);
    assert_eq!(
        svid_from(&not_ca, leaf_params(ID)).unwrap_err(),
        X509Error::SigningCertNotCa { index: 1 }
    );
    let no_cert_sign = root.intermediate_with(|p| p.key_usages = vec![KeyUsagePurpose::CrlSign]);
    assert_eq!(
        svid_from(&no_cert_sign, leaf_params(ID)).unwrap_err(),
        X509Error::SigningCertNoKeyCertSign { index: 1 }
    );
    let (chain, _) = no_cert_sign.issue(&leaf_params(ID));
    assert_eq!(
        verify_chain(&chain, &set_of(&[&root])).unwrap_err(),
        X509VerifyError::Svid(X509Error::SigningCertNoKeyCertSign { index: 1 })
    );
}

#[test]
fn a_chain_through_intermediates_verifies() {
    let root = Ca::root("example.org");
    let inter2 = root.intermediate().intermediate();
    let svid = inter2.svid(ID);
    assert_eq!(svid.chain().len(), 3);
    let verified = verify_chain(svid.chain(), &set_of(&[&root])).unwrap();
    assert_eq!(verified.spiffe_id().as_str(), ID);
    // leaf, two intermediates, root.
    assert_eq!(verified.path().len(), 4);
    assert_eq!(verified.path()[3], root.root);
    // Without the intermediates the path cannot be built.
    let err = verify_chain(&svid.chain()[..1], &set_of(&[&root])).unwrap_err();
    assert!(matches!(err, X509VerifyError::Path { .. }), "{err}");
}

#[test]
fn the_key_must_match_the_leaf() {
    let ca = Ca::root("example.org");
    let svid = ca.svid(ID);
    let other = ca.svid("spiffe://example.org/other");
    assert_eq!(
        X509Svid::new(svid.chain().to_vec(), other.private_key().clone()).unwrap_err(),
        X509Error::KeyMismatch
    );
}

#[test]
fn other_key_types_are_supported() {
    let ca = Ca::root("example.org");
    for alg in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_RSA_SHA256] {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let leaf = ca.sign_params(&leaf_params(ID), &key);
        let svid = X509Svid::new(vec![leaf], private_key(&key)).unwrap();
        verify_chain(svid.chain(), &set_of(&[&ca])).unwrap();
    }
}

#[test]
fn expired_and_not_yet_valid_are_refused() {
    let ca = Ca::root("example.org");
    let svid = ca.svid_with(ID, |p| {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let bundles = set_of(&[&ca]);
    let err = verify_chain(svid.chain(), &bundles).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::Path { expired: true, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(ID), "{err}");
    // Inside its validity it verifies.
    let mid_2020 = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_593_561_600));
    verify_chain_with(svid.chain(), &bundles, mid_2020, Usage::ClientAuth).unwrap();
    let in_2019 = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_560_000_000));
    let err = verify_chain_with(svid.chain(), &bundles, in_2019, Usage::ClientAuth).unwrap_err();
    assert!(
        matches!(err, X509VerifyError::Path { expired: true, .. }),
        "{err}"
    );
}

#[test]
fn only_the_bundle_of_the_leafs_trust_domain_is_used() {
    let ours = Ca::root("example.org");
    let theirs = Ca::root("other.org");
    // A leaf claiming example.org but issued by other.org's CA.
    let (chain, _) = theirs.issue(&leaf_params(ID));
    let both = set_of(&[&ours, &theirs]);
    let err = verify_chain(&chain, &both).unwrap_err();
    match &err {
        X509VerifyError::Path {
            id, trust_domain, ..
        } => {
            assert_eq!(id.as_str(), ID);
            assert_eq!(trust_domain, "example.org");
        }
        other => panic!("unexpected {other}"),
    }
    // A trust domain with no bundle at all.
    let (chain, _) = theirs.issue(&leaf_params("spiffe://third.org/x"));
    let err = verify_chain(&chain, &both).unwrap_err();
    assert_eq!(
        err,
        X509VerifyError::UntrustedTrustDomain {
            id: SpiffeId::parse("spiffe://third.org/x").unwrap(),
            trust_domain: "third.org".into()
        }
    );
    // Their own leaves verify against their own bundle.
    let theirs_leaf = theirs.svid("spiffe://other.org/x");
    verify_chain(theirs_leaf.chain(), &both).unwrap();
}

#[test]
fn malformed_input_gets_typed_errors() {
    assert_eq!(
        X509Svid::new(
            Vec::new(),
            private_key(&rcgen::KeyPair::generate().unwrap())
        )
        .unwrap_err(),
        X509Error::EmptyChain
    );
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
    let err = verify_chain(&[garbage], &BundleSet::new()).unwrap_err();
    assert!(
        matches!(
            err,
            X509VerifyError::Svid(X509Error::InChain { index: 0, .. })
        ),
        "{err}"
    );
    let err = X509Svid::parse_der(&[0x30, 0x80], &[]).unwrap_err();
    assert!(matches!(err, X509Error::InChain { index: 0, .. }), "{err}");
    let err = X509Svid::parse_pem(b"not pem", b"").unwrap_err();
    assert!(matches!(err, X509Error::Pem(_)), "{err}");

    // The error says which structure, and which certificate of a chain, did not decode.
    let ca = Ca::root("example.org");
    let svid = ca.svid(ID);
    let mut chain = svid.chain_der();
    chain.extend_from_slice(&[0x30, 0x03, 0x02, 0x01]);
    match X509Svid::parse_der(&chain, svid.private_key().pkcs8_der()).unwrap_err() {
        X509Error::InChain { index: 1, source } => match *source {
            X509Error::Malformed(e) => assert_eq!(e.structure(), "certificate chain", "{e}"),
            other => panic!("{other}"),
        },
        other => panic!("{other}"),
    }
    let mut truncated = svid.chain_der();
    truncated.truncate(truncated.len() - 1);
    let err = verify_chain(&[CertificateDer::from(truncated)], &set_of(&[&ca])).unwrap_err();
    assert!(
        err.to_string()
            .contains("certificate is not well-formed DER"),
        "{err}"
    );
    let key_err = spiffe_core::PrivateKey::from_pkcs8_der(&[0x30, 0x00]).unwrap_err();
    assert!(
        matches!(&key_err, spiffe_core::KeyError::Malformed(e) if e.structure() == "PKCS#8 PrivateKeyInfo"),
        "{key_err}"
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn svid_parsers_never_panic(
            chain in proptest::collection::vec(any::<u8>(), 0..600),
            key in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = X509Svid::parse_der(&chain, &key);
            let _ = X509Svid::parse_pem(&chain, &key);
            let _ = verify_chain(&[CertificateDer::from(chain)], &BundleSet::new());
        }

        #[test]
        fn mutated_certificates_never_panic(idx in 0usize..2000, byte in any::<u8>()) {
            // Flip one byte of a real SVID and parse it.
            static FIXTURE: std::sync::OnceLock<(X509Svid, BundleSet)> = std::sync::OnceLock::new();
            let (svid, bundles) = FIXTURE.get_or_init(|| {
                let ca = Ca::root("example.org");
                (ca.svid(ID), set_of(&[&ca]))
            });
            let mut der = svid.chain_der();
            let i = idx % der.len();
            der[i] = byte;
            let _ = X509Svid::parse_der(&der, svid.private_key().pkcs8_der());
            let _ = verify_chain(&[CertificateDer::from(der)], bundles);
        }
    }
}
