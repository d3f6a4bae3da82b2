//! [`SoftSigner`]: a key held in this process by aws-lc-rs.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use spiffe_core::jwt::JwtAlgorithm;
use spiffe_core::key::KeyType;
use spiffe_core::{PrivateKey, PublicKey};

use super::{CaKeyType, Signer};
use crate::{CaError, CryptoError};

enum Pair {
    /// Two handles on one EC key: DER signatures (X.509) and fixed ones (JWS).
    Ec {
        asn1: EcdsaKeyPair,
        fixed: EcdsaKeyPair,
    },
    Rsa(RsaKeyPair),
}

/// A private key in this process's memory. Its PKCS#8 bytes are kept in a [`PrivateKey`],
/// whose buffer is zeroized on drop (aws-lc-rs clears its own copy when the key pair is freed;
/// the PKCS#8 documents it generates are zeroized on drop too).
pub struct SoftSigner {
    key_type: CaKeyType,
    pkcs8: PrivateKey,
    pair: Pair,
    public: PublicKey,
    rng: SystemRandom,
}

impl fmt::Debug for SoftSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftSigner")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

/// Maps the crypto library's reasonless failure of `operation`.
fn crypto(operation: &'static str) -> impl Fn(aws_lc_rs::error::Unspecified) -> CaError {
    move |_| CryptoError::Operation { operation }.into()
}

impl SoftSigner {
    /// Generates a new key.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] ([`CryptoError::Operation`]) if the crypto library fails to generate
    /// or encode the key.
    pub fn generate(key_type: CaKeyType) -> Result<Self, CaError> {
        let rng = SystemRandom::new();
        // Both aws-lc-rs buffers (`pkcs8::Document`, `encoding::Buffer`) zeroize on drop.
        match key_type {
            CaKeyType::EcP256 | CaKeyType::EcP384 => {
                let alg = ec_alg(key_type, false);
                let document =
                    EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(crypto("EC key generation"))?;
                Self::from_pkcs8(document.as_ref())
            }
            CaKeyType::Rsa2048 | CaKeyType::Rsa4096 => {
                let size = if key_type == CaKeyType::Rsa2048 {
                    KeySize::Rsa2048
                } else {
                    KeySize::Rsa4096
                };
                let pair = RsaKeyPair::generate(size).map_err(crypto("RSA key generation"))?;
                let der = pair.as_der().map_err(crypto("RSA key encoding"))?;
                Self::from_pkcs8(der.as_ref())
            }
        }
    }

    /// Loads a PKCS#8 key (P-256, P-384, or RSA 2048 to 4096 bits).
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] if `der` is not a PKCS#8 key, the crypto library rejects it, or it
    /// is not P-256, P-384 or RSA; [`CaError::RsaKeySize`] for an RSA key that is neither 2048
    /// nor 4096 bits.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CaError> {
        let parsed = PrivateKey::from_pkcs8_der(der).map_err(CryptoError::PrivateKey)?;
        let (key_type, pair) = match parsed.key_type() {
            KeyType::EcP256 | KeyType::EcP384 => {
                let kt = if parsed.key_type() == KeyType::EcP256 {
                    CaKeyType::EcP256
                } else {
                    CaKeyType::EcP384
                };
                let load = |fixed| {
                    EcdsaKeyPair::from_pkcs8(ec_alg(kt, fixed), der).map_err(|source| {
                        CryptoError::KeyRejected {
                            algorithm: "EC",
                            source,
                        }
                    })
                };
                (
                    kt,
                    Pair::Ec {
                        asn1: load(false)?,
                        fixed: load(true)?,
                    },
                )
            }
            KeyType::Rsa => {
                let pair =
                    RsaKeyPair::from_pkcs8(der).map_err(|source| CryptoError::KeyRejected {
                        algorithm: "RSA",
                        source,
                    })?;
                let kt = match pair.public_modulus_len() {
                    256 => CaKeyType::Rsa2048,
                    512 => CaKeyType::Rsa4096,
                    n => return Err(CaError::RsaKeySize { bits: n * 8 }),
                };
                (kt, Pair::Rsa(pair))
            }
            other => {
                return Err(CryptoError::UnsupportedKeyType { key_type: other }.into());
            }
        };
        let public = match &pair {
            Pair::Ec { asn1, .. } => {
                let kt = if key_type == CaKeyType::EcP256 {
                    KeyType::EcP256
                } else {
                    KeyType::EcP384
                };
                PublicKey::from_raw(kt, asn1.public_key().as_ref())
            }
            Pair::Rsa(pair) => PublicKey::from_raw(KeyType::Rsa, pair.public_key().as_ref()),
        }
        .map_err(CryptoError::PublicKey)?;
        Ok(SoftSigner {
            key_type,
            pkcs8: parsed,
            pair,
            public,
            rng: SystemRandom::new(),
        })
    }

    /// The PKCS#8 encoding (secret; for key stores).
    pub fn pkcs8_der(&self) -> &[u8] {
        self.pkcs8.pkcs8_der()
    }

    /// The PEM encoding (`PRIVATE KEY`; secret, for key stores), in a buffer that is zeroized
    /// on drop.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        self.pkcs8.to_pkcs8_pem()
    }
}

/// The key's PKCS#8 bytes live in a [`PrivateKey`] (zeroized on drop) and in aws-lc-rs key
/// pairs (cleared when freed).
impl zeroize::ZeroizeOnDrop for SoftSigner {}

fn ec_alg(kt: CaKeyType, fixed: bool) -> &'static signature::EcdsaSigningAlgorithm {
    match (kt, fixed) {
        (CaKeyType::EcP384, false) => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
        (CaKeyType::EcP384, true) => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        (_, false) => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        (_, true) => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

impl Signer for SoftSigner {
    fn key_type(&self) -> CaKeyType {
        self.key_type
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign_x509(&self, message: &[u8]) -> Result<Vec<u8>, CaError> {
        match &self.pair {
            Pair::Ec { asn1, .. } => Ok(asn1
                .sign(&self.rng, message)
                .map_err(crypto("ECDSA signing"))?
                .as_ref()
                .to_vec()),
            Pair::Rsa(pair) => {
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(crypto("RSA signing"))?;
                Ok(sig)
            }
        }
    }

    fn sign_jws(&self, alg: JwtAlgorithm, message: &[u8]) -> Result<Vec<u8>, CaError> {
        let mismatch = || {
            CaError::from(CryptoError::AlgorithmMismatch {
                key_type: self.key_type,
                algorithm: alg,
            })
        };
        match &self.pair {
            Pair::Ec { fixed, .. } => {
                let ok = matches!(
                    (self.key_type, alg),
                    (CaKeyType::EcP256, JwtAlgorithm::ES256)
                        | (CaKeyType::EcP384, JwtAlgorithm::ES384)
                );
                if !ok {
                    return Err(mismatch());
                }
                Ok(fixed
                    .sign(&self.rng, message)
                    .map_err(crypto("ECDSA signing"))?
                    .as_ref()
                    .to_vec())
            }
            Pair::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    JwtAlgorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    JwtAlgorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    JwtAlgorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    JwtAlgorithm::PS256 => &signature::RSA_PSS_SHA256,
                    JwtAlgorithm::PS384 => &signature::RSA_PSS_SHA384,
                    JwtAlgorithm::PS512 => &signature::RSA_PSS_SHA512,
                    _ => return Err(mismatch()),
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &self.rng, message, &mut sig)
                    .map_err(crypto("RSA signing"))?;
                Ok(sig)
            }
        }
    }
}
