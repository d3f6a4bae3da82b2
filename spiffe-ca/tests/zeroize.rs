//! The authority's private keys are held only in buffers zeroized on drop: the signer and
//! what it hands out say so in their types (a regression stops this test from compiling), and
//! the upstream key is read through the same zeroizing PEM reader.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use spiffe_ca::keys::Signer as _;
use spiffe_ca::{CaError, CaKeyType, SoftSigner, UpstreamCa, UpstreamError};
use spiffe_core::PrivateKey;
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// Compiles only for types that zeroize their secret when dropped.
fn zeroized_on_drop<T: ZeroizeOnDrop>(_: &T) {}

#[test]
fn soft_signers_and_their_pem_are_zeroized_on_drop() {
    for key_type in [CaKeyType::EcP256, CaKeyType::EcP384, CaKeyType::Rsa2048] {
        let signer = SoftSigner::generate(key_type).unwrap();
        zeroized_on_drop(&signer);
        let pem: Zeroizing<String> = signer.to_pkcs8_pem();
        zeroized_on_drop(&pem);
        let back = PrivateKey::from_pkcs8_pem(pem.as_bytes()).unwrap();
        assert_eq!(back.pkcs8_der(), signer.pkcs8_der(), "{key_type}");
        let again = SoftSigner::from_pkcs8(back.pkcs8_der()).unwrap();
        assert_eq!(again.public_key(), signer.public_key(), "{key_type}");
    }
}

#[test]
fn the_upstream_key_is_read_by_the_zeroizing_reader() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, "Root");
    let cert = params.self_signed(&key).unwrap();
    // CRLF line ends and a certificate before the key, as operators' files have them.
    let key_pem = format!("{}{}", cert.pem(), key.serialize_pem()).replace('\n', "\r\n");
    UpstreamCa::from_pem(cert.pem().as_bytes(), key_pem.as_bytes(), None).unwrap();

    // A truncated key file is refused, and the message quotes none of it.
    let body: String = key
        .serialize_pem()
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    let secret_line = body.lines().nth(1).unwrap().to_owned();
    let err = UpstreamCa::from_pem(cert.pem().as_bytes(), body.as_bytes(), None).unwrap_err();
    assert!(
        matches!(&err, CaError::Upstream(UpstreamError::Key(_))),
        "{err:?}"
    );
    assert!(!err.to_string().contains(&secret_line), "{err}");
}
