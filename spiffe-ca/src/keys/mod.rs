//! Keys of the authority: the [`Signer`] and [`KeyManager`] traits, and two key managers (in
//! memory, and on disk). A KMS or HSM plugs in by implementing [`KeyManager`] and [`Signer`].

pub(crate) mod disk;
mod memory;
mod soft;

pub use disk::DiskKeyManager;
pub use memory::MemoryKeyManager;
pub use soft::SoftSigner;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use spiffe_core::PublicKey;
use spiffe_core::jwt::JwtAlgorithm;

use crate::{CaError, CryptoError};

/// The type of a key the authority generates.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub enum CaKeyType {
    /// ECDSA on P-256 (the default, as in SPIRE).
    #[default]
    #[serde(rename = "ec-p256")]
    EcP256,
    /// ECDSA on P-384.
    #[serde(rename = "ec-p384")]
    EcP384,
    /// RSA with a 2048-bit modulus.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA with a 4096-bit modulus.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl CaKeyType {
    /// The name used in configuration (SPIRE's `ca_key_type` values).
    pub fn as_str(self) -> &'static str {
        match self {
            CaKeyType::EcP256 => "ec-p256",
            CaKeyType::EcP384 => "ec-p384",
            CaKeyType::Rsa2048 => "rsa-2048",
            CaKeyType::Rsa4096 => "rsa-4096",
        }
    }

    /// The JWS algorithm a key of this type signs JWT-SVIDs with by default.
    pub fn default_jwt_algorithm(self) -> JwtAlgorithm {
        match self {
            CaKeyType::EcP256 => JwtAlgorithm::ES256,
            CaKeyType::EcP384 => JwtAlgorithm::ES384,
            CaKeyType::Rsa2048 | CaKeyType::Rsa4096 => JwtAlgorithm::RS256,
        }
    }

    /// The key type that signs with `alg` (RSA algorithms get 2048-bit keys).
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] ([`CryptoError::AlgorithmNotGenerated`]) for ES512: this authority
    /// does not generate P-521 keys.
    pub fn for_jwt_algorithm(alg: JwtAlgorithm) -> Result<Self, CaError> {
        match alg {
            JwtAlgorithm::ES256 => Ok(CaKeyType::EcP256),
            JwtAlgorithm::ES384 => Ok(CaKeyType::EcP384),
            JwtAlgorithm::RS256
            | JwtAlgorithm::RS384
            | JwtAlgorithm::RS512
            | JwtAlgorithm::PS256
            | JwtAlgorithm::PS384
            | JwtAlgorithm::PS512 => Ok(CaKeyType::Rsa2048),
            JwtAlgorithm::ES512 => {
                Err(CryptoError::AlgorithmNotGenerated { algorithm: alg }.into())
            }
        }
    }
}

impl fmt::Display for CaKeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CaKeyType {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ec-p256" => Ok(CaKeyType::EcP256),
            "ec-p384" => Ok(CaKeyType::EcP384),
            "rsa-2048" => Ok(CaKeyType::Rsa2048),
            "rsa-4096" => Ok(CaKeyType::Rsa4096),
            other => Err(CryptoError::UnknownKeyType {
                name: other.to_owned(),
            }
            .into()),
        }
    }
}

/// A private key that signs, wherever it lives. The private key never leaves it.
pub trait Signer: Send + Sync + fmt::Debug {
    /// The key type.
    fn key_type(&self) -> CaKeyType;

    /// The public key.
    fn public_key(&self) -> &PublicKey;

    /// Signs a certificate's TBS bytes: ECDSA with the curve's hash (DER signature), or RSA
    /// PKCS#1 v1.5 with SHA-256.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] if the key fails to sign (a KMS that cannot be reached, say).
    fn sign_x509(&self, message: &[u8]) -> Result<Vec<u8>, CaError>;

    /// Signs a JWS signing input with `alg` (ECDSA signatures in the fixed `r || s` form).
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`]: [`CryptoError::AlgorithmMismatch`] if the key's type does not suit
    /// `alg`, or the key fails to sign.
    fn sign_jws(&self, alg: JwtAlgorithm, message: &[u8]) -> Result<Vec<u8>, CaError>;
}

/// Where the authority's keys are made and kept, by ID (`x509-CA-A`, `JWT-Signer-B`, ...).
/// Generating under an ID that exists replaces that key.
pub trait KeyManager: Send + Sync + fmt::Debug {
    /// Generates a new key under `id`.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] if `id` cannot name a key or the key cannot be generated;
    /// [`CaError::Io`] if it cannot be stored.
    fn generate(&self, id: &str, key_type: CaKeyType) -> Result<Arc<dyn Signer>, CaError>;

    /// The key under `id`, if any.
    ///
    /// # Errors
    ///
    /// [`CaError::Crypto`] if `id` cannot name a key; [`CaError::Corrupt`] if the stored key
    /// cannot be read or loaded back.
    fn get(&self, id: &str) -> Result<Option<Arc<dyn Signer>>, CaError>;
}
