//! The CA side of signing: an authority key as rcgen's signer, and the path length of every CA
//! certificate this crate creates. Both [`crate::x509`] (our CAs and SVIDs) and
//! [`crate::upstream`] (an upstream CA that signs ours) use them.

use std::sync::Arc;

use rcgen::{PublicKeyData, SignatureAlgorithm};
use spiffe_core::key::KeyType;

use crate::keys::Signer;

/// The Basic Constraints `pathLenConstraint` of every CA certificate this authority creates:
/// 0, since such a CA signs only end-entity certificates (X509-SVIDs), never another CA.
///
/// SPIRE leaves the constraint out of its CA certificates because a SPIRE server may also sign
/// a "downstream" CA for a nested server (`NewDownstreamX509CA`); this implementation has no
/// downstream mode (the API answers `Unimplemented`), so nothing it issues needs a longer path,
/// and a stolen CA key cannot mint a CA that verifiers would accept under it. A future
/// downstream mode would raise this to the nesting depth it supports; an upstream CA must allow
/// `1 + CA_PATH_LEN` CA certificates below it, which [`crate::UpstreamCa`] checks when it loads.
pub const CA_PATH_LEN: u8 = 0;

/// The signature algorithm rcgen writes for a key type.
pub(crate) fn rcgen_alg(key_type: KeyType) -> &'static SignatureAlgorithm {
    match key_type {
        KeyType::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyType::EcP521 => &rcgen::PKCS_ECDSA_P521_SHA512,
        KeyType::Rsa => &rcgen::PKCS_RSA_SHA256,
        KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        _ => &rcgen::PKCS_ECDSA_P256_SHA256,
    }
}

/// An authority key, as rcgen wants it to sign.
#[derive(Clone)]
pub(crate) struct IssuerKey(pub(crate) Arc<dyn Signer>);

impl PublicKeyData for IssuerKey {
    fn subject_public_key_info(&self) -> Vec<u8> {
        self.0.public_key().spki_der().to_vec()
    }
    fn der_bytes(&self) -> &[u8] {
        self.0.public_key().raw()
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        rcgen_alg(self.0.public_key().key_type())
    }
}

impl rcgen::SigningKey for IssuerKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.0.sign_x509(msg).map_err(|e| {
            tracing::error!(error = %e, "authority key failed to sign");
            rcgen::Error::RemoteKeyError
        })
    }
}
