//! Private keys are held, read and written only in buffers that are zeroized on drop: the types
//! say so (a regression to a plain `String` or a key type without the guarantee stops these
//! tests from compiling), and the zeroizing PEM reader and writer agree with the plain ones for
//! every key type.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use spiffe_core::PrivateKey;
use spiffe_core::key::{KeyError, KeyType};
use zeroize::{ZeroizeOnDrop, Zeroizing};

/// Compiles only for types that zeroize their secret when dropped.
fn zeroized_on_drop<T: ZeroizeOnDrop>(_: &T) {}

fn pkcs8_keys() -> Vec<(KeyType, Vec<u8>)> {
    let rng = SystemRandom::new();
    let ec = |alg| {
        EcdsaKeyPair::generate_pkcs8(alg, &rng)
            .unwrap()
            .as_ref()
            .to_vec()
    };
    vec![
        (
            KeyType::EcP256,
            ec(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        ),
        (
            KeyType::EcP384,
            ec(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        ),
        (
            KeyType::EcP521,
            ec(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
        ),
        (
            KeyType::Rsa,
            RsaKeyPair::generate(KeySize::Rsa2048)
                .unwrap()
                .as_der()
                .unwrap()
                .as_ref()
                .to_vec(),
        ),
        (
            KeyType::Ed25519,
            Ed25519KeyPair::generate_pkcs8(&rng)
                .unwrap()
                .as_ref()
                .to_vec(),
        ),
    ]
}

#[test]
fn private_keys_and_their_pem_are_zeroized_on_drop() {
    for (key_type, der) in pkcs8_keys() {
        let key = PrivateKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(key.key_type(), key_type);
        zeroized_on_drop(&key);
        zeroized_on_drop(&key.clone());

        let pem: Zeroizing<String> = key.to_pkcs8_pem();
        zeroized_on_drop(&pem);
        assert_eq!(
            pem.as_str(),
            spiffe_core::pem::encode("PRIVATE KEY", &der),
            "{key_type}"
        );
        let back = PrivateKey::from_pkcs8_pem(pem.as_bytes()).unwrap();
        assert_eq!(back.pkcs8_der(), der.as_slice(), "{key_type}");
        assert_eq!(back.public_key_raw(), key.public_key_raw(), "{key_type}");
    }
}

#[test]
fn a_private_key_pem_with_certificates_and_crlf_reads_as_before() {
    let (_, der) = pkcs8_keys().swap_remove(0);
    let key = PrivateKey::from_pkcs8_der(&der).unwrap();
    let pem = format!(
        "{}{}",
        spiffe_core::pem::encode("CERTIFICATE", &[0x30, 0x00]),
        key.to_pkcs8_pem().replace('\n', "\r\n")
    );
    assert_eq!(
        PrivateKey::from_pkcs8_pem(pem.as_bytes())
            .unwrap()
            .pkcs8_der(),
        der.as_slice()
    );
    // A SEC1 block is not PKCS#8.
    let sec1 = spiffe_core::pem::encode("EC PRIVATE KEY", &der);
    assert!(matches!(
        PrivateKey::from_pkcs8_pem(sec1.as_bytes()),
        Err(KeyError::Pem(m)) if m.contains("no PKCS#8 'PRIVATE KEY' block")
    ));
}
