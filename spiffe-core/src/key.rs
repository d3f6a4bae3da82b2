//! Public and private keys: SPKI and PKCS#8 parsing, JWK conversion, key-pair matching.
//!
//! Supported key types are those SPIFFE deployments use: ECDSA on P-256, P-384 and P-521, RSA
//! (2048 to 8192 bits) and Ed25519 (X.509 only; JWT-SVIDs allow no EdDSA).

use std::fmt;

use aws_lc_rs::signature::{self, KeyPair};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::der::{self, DerError, Reader, tag};

/// Object identifiers (DER contents) of the algorithms handled here.
pub(crate) mod oid {
    pub(crate) const EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    pub(crate) const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    pub(crate) const P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
    pub(crate) const P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
    pub(crate) const RSA_ENCRYPTION: &[u8] =
        &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
    pub(crate) const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
}

/// The type of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// ECDSA on NIST P-521.
    EcP521,
    /// RSA.
    Rsa,
    /// Ed25519.
    Ed25519,
}

impl KeyType {
    /// The JWK `crv` of an EC key type.
    pub fn jwk_curve(self) -> Option<&'static str> {
        match self {
            KeyType::EcP256 => Some("P-256"),
            KeyType::EcP384 => Some("P-384"),
            KeyType::EcP521 => Some("P-521"),
            KeyType::Rsa | KeyType::Ed25519 => None,
        }
    }

    /// Size in bytes of one coordinate of an EC key type.
    fn coordinate_len(self) -> Option<usize> {
        match self {
            KeyType::EcP256 => Some(32),
            KeyType::EcP384 => Some(48),
            KeyType::EcP521 => Some(66),
            KeyType::Rsa | KeyType::Ed25519 => None,
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyType::EcP256 => "ECDSA P-256",
            KeyType::EcP384 => "ECDSA P-384",
            KeyType::EcP521 => "ECDSA P-521",
            KeyType::Rsa => "RSA",
            KeyType::Ed25519 => "Ed25519",
        })
    }
}

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The DER structure is malformed.
    #[error(transparent)]
    Der(#[from] DerError),
    /// An algorithm (or curve) that is not supported.
    #[error("unsupported key algorithm in {what}")]
    UnsupportedAlgorithm {
        /// Where the algorithm was found (`"SubjectPublicKeyInfo"`, `"PKCS#8"`, `"JWK"`).
        what: &'static str,
    },
    /// The key bytes are not a valid key of their type.
    #[error("invalid {key_type} key: {reason}")]
    Invalid {
        /// The key type.
        key_type: KeyType,
        /// What is wrong.
        reason: &'static str,
    },
    /// A PKCS#8 private key that the crypto library refused.
    #[error("private key is not a valid PKCS#8 {key_type} key")]
    BadPrivateKey {
        /// The key type announced by the PKCS#8 structure.
        key_type: KeyType,
    },
    /// A PEM block of another kind than expected.
    #[error("PEM: {0}")]
    Pem(String),
}

/// Reads an `AlgorithmIdentifier` for a public key and returns the key type.
fn algorithm(r: &mut Reader<'_>, what: &'static str) -> Result<KeyType, KeyError> {
    let mut alg = r.sequence("AlgorithmIdentifier")?;
    let alg_oid = alg.read(tag::OID)?;
    let key_type = if alg_oid == oid::EC_PUBLIC_KEY {
        let curve = alg.read(tag::OID)?;
        if curve == oid::P256 {
            KeyType::EcP256
        } else if curve == oid::P384 {
            KeyType::EcP384
        } else if curve == oid::P521 {
            KeyType::EcP521
        } else {
            return Err(KeyError::UnsupportedAlgorithm { what });
        }
    } else if alg_oid == oid::RSA_ENCRYPTION {
        // Parameters must be NULL (RFC 3279) but some encoders omit them.
        alg.read_optional(tag::NULL)?;
        KeyType::Rsa
    } else if alg_oid == oid::ED25519 {
        KeyType::Ed25519
    } else {
        return Err(KeyError::UnsupportedAlgorithm { what });
    };
    alg.finish()?;
    Ok(key_type)
}

/// A borrowed view of a `SubjectPublicKeyInfo`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SpkiRef<'a> {
    pub(crate) key_type: KeyType,
    /// The contents of the `subjectPublicKey` BIT STRING: an uncompressed EC point, a DER
    /// `RSAPublicKey`, or 32 Ed25519 bytes.
    pub(crate) key: &'a [u8],
    /// The whole SPKI encoding.
    pub(crate) der: &'a [u8],
}

impl<'a> SpkiRef<'a> {
    /// Parses a whole `SubjectPublicKeyInfo` encoding.
    pub(crate) fn parse(der: &'a [u8]) -> Result<Self, KeyError> {
        let mut outer = Reader::new(der, "SubjectPublicKeyInfo");
        let mut spki = outer.sequence("SubjectPublicKeyInfo")?;
        outer.finish()?;
        let key_type = algorithm(&mut spki, "SubjectPublicKeyInfo")?;
        let key = spki.bit_string_octets()?;
        spki.finish()?;
        check_public_key(key_type, key)?;
        Ok(SpkiRef { key_type, key, der })
    }
}

/// Structural checks of public key bytes (the curve arithmetic is left to the verifier).
fn check_public_key(key_type: KeyType, key: &[u8]) -> Result<(), KeyError> {
    let invalid = |reason| KeyError::Invalid { key_type, reason };
    match key_type {
        KeyType::EcP256 | KeyType::EcP384 | KeyType::EcP521 => {
            let n = key_type.coordinate_len().unwrap_or(0);
            if key.len() != 1 + 2 * n || key.first() != Some(&0x04) {
                return Err(invalid(
                    "EC point must be uncompressed and of the curve's size",
                ));
            }
        }
        KeyType::Rsa => {
            let (n, _) = rsa_components(key)?;
            if n.len() < 256 {
                return Err(invalid("RSA modulus shorter than 2048 bits"));
            }
            if n.len() > 1024 {
                return Err(invalid("RSA modulus longer than 8192 bits"));
            }
        }
        KeyType::Ed25519 => {
            if key.len() != 32 {
                return Err(invalid("Ed25519 key must be 32 bytes"));
            }
        }
    }
    Ok(())
}

/// The modulus and exponent magnitudes of a DER `RSAPublicKey`.
fn rsa_components(key: &[u8]) -> Result<(&[u8], &[u8]), KeyError> {
    let mut outer = Reader::new(key, "RSAPublicKey");
    let mut seq = outer.sequence("RSAPublicKey")?;
    outer.finish()?;
    let n = der::uint_bytes(seq.read(tag::INTEGER)?, "RSA modulus")?;
    let e = der::uint_bytes(seq.read(tag::INTEGER)?, "RSA exponent")?;
    seq.finish()?;
    Ok((n, e))
}

/// An owned public key: its type, its key bytes and its SPKI encoding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PublicKey {
    key_type: KeyType,
    key: Vec<u8>,
    spki: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("key_type", &self.key_type)
            .field("spki_len", &self.spki.len())
            .finish()
    }
}

impl PublicKey {
    /// Parses a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        Ok(SpkiRef::parse(der)?.into())
    }

    /// An EC public key from its JWK coordinates.
    pub fn from_ec_coordinates(key_type: KeyType, x: &[u8], y: &[u8]) -> Result<Self, KeyError> {
        let n = key_type
            .coordinate_len()
            .ok_or(KeyError::UnsupportedAlgorithm { what: "JWK" })?;
        if x.len() != n || y.len() != n {
            return Err(KeyError::Invalid {
                key_type,
                reason: "JWK coordinate has the wrong length for its curve",
            });
        }
        let mut point = Vec::with_capacity(1 + 2 * n);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Ok(Self::from_parts(key_type, point))
    }

    /// An RSA public key from its modulus and exponent (big-endian magnitudes).
    pub fn from_rsa_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        let mut body = Vec::with_capacity(n.len() + e.len() + 16);
        der::push_uint(&mut body, n);
        der::push_uint(&mut body, e);
        let mut key = Vec::with_capacity(body.len() + 4);
        der::push_tlv(&mut key, tag::SEQUENCE, &body);
        check_public_key(KeyType::Rsa, &key)?;
        Ok(Self::from_parts(KeyType::Rsa, key))
    }

    /// A public key from its raw form (see [`PublicKey::raw`]): an uncompressed EC point, a DER
    /// `RSAPublicKey` (PKCS#1), or 32 Ed25519 bytes.
    pub fn from_raw(key_type: KeyType, raw: &[u8]) -> Result<Self, KeyError> {
        check_public_key(key_type, raw)?;
        Ok(Self::from_parts(key_type, raw.to_vec()))
    }

    fn from_parts(key_type: KeyType, key: Vec<u8>) -> Self {
        let mut alg = Vec::with_capacity(24);
        match key_type {
            KeyType::EcP256 | KeyType::EcP384 | KeyType::EcP521 => {
                der::push_tlv(&mut alg, tag::OID, oid::EC_PUBLIC_KEY);
                let curve = match key_type {
                    KeyType::EcP256 => oid::P256,
                    KeyType::EcP384 => oid::P384,
                    _ => oid::P521,
                };
                der::push_tlv(&mut alg, tag::OID, curve);
            }
            KeyType::Rsa => {
                der::push_tlv(&mut alg, tag::OID, oid::RSA_ENCRYPTION);
                der::push_tlv(&mut alg, tag::NULL, &[]);
            }
            KeyType::Ed25519 => der::push_tlv(&mut alg, tag::OID, oid::ED25519),
        }
        let mut body = Vec::with_capacity(alg.len() + key.len() + 8);
        der::push_tlv(&mut body, tag::SEQUENCE, &alg);
        let mut bits = Vec::with_capacity(key.len() + 1);
        bits.push(0);
        bits.extend_from_slice(&key);
        der::push_tlv(&mut body, tag::BIT_STRING, &bits);
        let mut spki = Vec::with_capacity(body.len() + 4);
        der::push_tlv(&mut spki, tag::SEQUENCE, &body);
        PublicKey {
            key_type,
            key,
            spki,
        }
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The DER `SubjectPublicKeyInfo`.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// The raw key: an uncompressed EC point, a DER `RSAPublicKey`, or Ed25519 bytes.
    pub fn raw(&self) -> &[u8] {
        &self.key
    }

    /// The `x` and `y` coordinates of an EC key.
    pub fn ec_coordinates(&self) -> Option<(&[u8], &[u8])> {
        let n = self.key_type.coordinate_len()?;
        let point = self.key.get(1..)?;
        point.split_at_checked(n)
    }

    /// The modulus and exponent magnitudes of an RSA key.
    pub fn rsa_components(&self) -> Option<(&[u8], &[u8])> {
        if self.key_type != KeyType::Rsa {
            return None;
        }
        rsa_components(&self.key).ok()
    }
}

impl From<SpkiRef<'_>> for PublicKey {
    fn from(s: SpkiRef<'_>) -> Self {
        PublicKey {
            key_type: s.key_type,
            key: s.key.to_vec(),
            spki: s.der.to_vec(),
        }
    }
}

/// A PKCS#8 private key. The bytes are zeroized when it is dropped; `Debug` prints no secret.
#[derive(Clone)]
pub struct PrivateKey {
    der: Zeroizing<Vec<u8>>,
    key_type: KeyType,
    public: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("key_type", &self.key_type)
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Parses a DER PKCS#8 `PrivateKeyInfo` (v1 or v2), checking it with the crypto library.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let mut outer = Reader::new(der, "PKCS#8 PrivateKeyInfo");
        let mut info = outer.sequence("PKCS#8 PrivateKeyInfo")?;
        outer.finish()?;
        let version = info.small_uint()?;
        if version > 1 {
            return Err(DerError::new("PKCS#8 PrivateKeyInfo", "unknown version").into());
        }
        let key_type = algorithm(&mut info, "PKCS#8")?;
        let bad = || KeyError::BadPrivateKey { key_type };
        let public = match key_type {
            KeyType::EcP256 | KeyType::EcP384 | KeyType::EcP521 => {
                let alg = match key_type {
                    KeyType::EcP256 => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                    KeyType::EcP384 => &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                    _ => &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                };
                signature::EcdsaKeyPair::from_pkcs8(alg, der)
                    .map_err(|_| bad())?
                    .public_key()
                    .as_ref()
                    .to_vec()
            }
            KeyType::Rsa => signature::RsaKeyPair::from_pkcs8(der)
                .map_err(|_| bad())?
                .public_key()
                .as_ref()
                .to_vec(),
            KeyType::Ed25519 => signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map_err(|_| bad())?
                .public_key()
                .as_ref()
                .to_vec(),
        };
        Ok(PrivateKey {
            der: Zeroizing::new(der.to_vec()),
            key_type,
            public,
        })
    }

    /// Parses a PEM `PRIVATE KEY` block (PKCS#8).
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, KeyError> {
        use rustls_pki_types::PrivatePkcs8KeyDer;
        use rustls_pki_types::pem::PemObject;
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem).map_err(|e| match e {
            rustls_pki_types::pem::Error::NoItemsFound => {
                KeyError::Pem("no PKCS#8 'PRIVATE KEY' block found".into())
            }
            other => KeyError::Pem(other.to_string()),
        })?;
        Self::from_pkcs8_der(der.secret_pkcs8_der())
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The DER PKCS#8 encoding (secret).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`PRIVATE KEY`), in a buffer that is zeroized on drop.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::pem::encode("PRIVATE KEY", &self.der))
    }

    /// The raw public key, in the form [`PublicKey::raw`] uses.
    pub fn public_key_raw(&self) -> &[u8] {
        &self.public
    }

    /// Whether this key is the private half of `public`.
    pub fn matches(&self, key_type: KeyType, public_raw: &[u8]) -> bool {
        self.key_type == key_type && self.public == public_raw
    }
}
