//! Public and private keys: SPKI and PKCS#8 parsing, JWK conversion, key-pair matching.
//!
//! Supported key types are those SPIFFE deployments use: ECDSA on P-256, P-384 and P-521, RSA
//! (2048 to 8192 bits) and Ed25519 (X.509 only; JWT-SVIDs allow no EdDSA).

use std::fmt;

use aws_lc_rs::signature::{self, KeyPair};
use thiserror::Error;
use zeroize::Zeroizing;

use der::asn1::{AnyRef, BitStringRef, UintRef};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::asn1::{DecodeError, oid};

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
    Malformed(#[from] DecodeError),
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

/// The key type an `AlgorithmIdentifier` of a public or private key names.
fn algorithm(alg: &AlgorithmIdentifierRef<'_>, what: &'static str) -> Result<KeyType, KeyError> {
    let unsupported = KeyError::UnsupportedAlgorithm { what };
    match alg.oid {
        oid::EC_PUBLIC_KEY => {
            let curve = alg
                .parameters
                .ok_or(unsupported.clone())?
                .decode_as::<const_oid::ObjectIdentifier>()
                .map_err(|e| DecodeError::new(what, e))?;
            match curve {
                oid::P256 => Ok(KeyType::EcP256),
                oid::P384 => Ok(KeyType::EcP384),
                oid::P521 => Ok(KeyType::EcP521),
                _ => Err(unsupported),
            }
        }
        // Parameters must be NULL (RFC 3279), but some encoders omit them.
        oid::RSA_ENCRYPTION => match alg.parameters {
            None => Ok(KeyType::Rsa),
            Some(p) if p.is_null() => Ok(KeyType::Rsa),
            Some(_) => Err(DecodeError::new(what, "RSA parameters must be NULL").into()),
        },
        // RFC 8410 3: the parameters MUST be absent.
        oid::ED25519 if alg.parameters.is_none() => Ok(KeyType::Ed25519),
        oid::ED25519 => Err(DecodeError::new(what, "Ed25519 parameters must be absent").into()),
        _ => Err(unsupported),
    }
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
        const WHAT: &str = "SubjectPublicKeyInfo";
        let spki = SubjectPublicKeyInfoRef::from_der(der).map_err(|e| DecodeError::new(WHAT, e))?;
        let key_type = algorithm(&spki.algorithm, WHAT)?;
        let key = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| DecodeError::new(WHAT, "the key BIT STRING has unused bits"))?;
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
    let key =
        pkcs1::RsaPublicKeyRef::from_der(key).map_err(|e| DecodeError::new("RSAPublicKey", e))?;
    Ok((key.modulus.as_bytes(), key.public_exponent.as_bytes()))
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

    /// Parses an owned DER `SubjectPublicKeyInfo`, keeping the buffer.
    pub(crate) fn from_spki_vec(spki: Vec<u8>) -> Result<Self, KeyError> {
        let parsed = SpkiRef::parse(&spki)?;
        let (key_type, key) = (parsed.key_type, parsed.key.to_vec());
        Ok(PublicKey {
            key_type,
            key,
            spki,
        })
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
        Self::from_parts(key_type, point)
    }

    /// An RSA public key from its modulus and exponent (big-endian magnitudes).
    pub fn from_rsa_components(n: &[u8], e: &[u8]) -> Result<Self, KeyError> {
        const WHAT: &str = "RSAPublicKey";
        let uint = |bytes| UintRef::new(bytes).map_err(|e| DecodeError::new(WHAT, e));
        let key = pkcs1::RsaPublicKeyRef {
            modulus: uint(n)?,
            public_exponent: uint(e)?,
        }
        .to_der()
        .map_err(|e| DecodeError::new(WHAT, e))?;
        check_public_key(KeyType::Rsa, &key)?;
        Self::from_parts(KeyType::Rsa, key)
    }

    /// A public key from its raw form (see [`PublicKey::raw`]): an uncompressed EC point, a DER
    /// `RSAPublicKey` (PKCS#1), or 32 Ed25519 bytes.
    pub fn from_raw(key_type: KeyType, raw: &[u8]) -> Result<Self, KeyError> {
        check_public_key(key_type, raw)?;
        Self::from_parts(key_type, raw.to_vec())
    }

    fn from_parts(key_type: KeyType, key: Vec<u8>) -> Result<Self, KeyError> {
        const WHAT: &str = "SubjectPublicKeyInfo";
        let algorithm = match key_type {
            KeyType::Rsa => AlgorithmIdentifierRef {
                oid: oid::RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            KeyType::Ed25519 => AlgorithmIdentifierRef {
                oid: oid::ED25519,
                parameters: None,
            },
            KeyType::EcP256 | KeyType::EcP384 | KeyType::EcP521 => AlgorithmIdentifierRef {
                oid: oid::EC_PUBLIC_KEY,
                parameters: Some(AnyRef::from(match key_type {
                    KeyType::EcP256 => &oid::P256,
                    KeyType::EcP384 => &oid::P384,
                    _ => &oid::P521,
                })),
            },
        };
        let spki = SubjectPublicKeyInfoRef {
            algorithm,
            subject_public_key: BitStringRef::from_bytes(&key)
                .map_err(|e| DecodeError::new(WHAT, e))?,
        }
        .to_der()
        .map_err(|e| DecodeError::new(WHAT, e))?;
        Ok(PublicKey {
            key_type,
            key,
            spki,
        })
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

/// The label of a PKCS#8 private key's PEM block.
const PRIVATE_KEY_LABEL: &str = "PRIVATE KEY";
/// DER bytes per PEM line: 48 bytes are the 64 base64 characters RFC 7468 puts on a line.
const PEM_LINE_BYTES: usize = 48;

/// Encodes secret DER as a PEM block (64 characters a line, as [`crate::pem::encode`]), with
/// no copy of the key or its base64 left behind: the output is allocated once at its final
/// size, and each line's scratch buffer is zeroized.
fn encode_secret_pem(label: &str, der: &[u8]) -> Zeroizing<String> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use zeroize::Zeroize;

    let b64_len = der.len().div_ceil(3) * 4;
    let lines = der.len().div_ceil(PEM_LINE_BYTES);
    // "-----BEGIN " + label + "-----\n", the lines, "-----END " + label + "-----\n".
    let capacity = 17 + label.len() + b64_len + lines + 15 + label.len();
    let mut out = Zeroizing::new(String::with_capacity(capacity));
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut line = [0u8; 64];
    for chunk in der.chunks(PEM_LINE_BYTES) {
        // 48 input bytes never need more than 64 output bytes, so this cannot fail.
        if let Ok(n) = STANDARD.encode_slice(chunk, &mut line)
            && let Ok(text) = std::str::from_utf8(&line[..n])
        {
            out.push_str(text);
        }
        out.push('\n');
    }
    line.zeroize();
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Reads the first `PRIVATE KEY` block of PEM text (other blocks are skipped, lines may end in
/// CRLF) into a buffer that is zeroized on drop, as is the scratch copy of its base64: neither
/// is ever reallocated, so no copy of the key is left in freed memory. Errors never quote the
/// block's content.
fn decode_private_key_pem(pem: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    let begin = format!("-----BEGIN {PRIVATE_KEY_LABEL}-----");
    let end = format!("-----END {PRIVATE_KEY_LABEL}-----");
    let mut lines = pem
        .split(|b| *b == b'\n' || *b == b'\r')
        .map(<[u8]>::trim_ascii);
    if !lines.any(|l| l == begin.as_bytes()) {
        return Err(KeyError::Pem("no PKCS#8 'PRIVATE KEY' block found".into()));
    }
    let mut b64 = Zeroizing::new(Vec::with_capacity(pem.len()));
    loop {
        match lines.next() {
            None => {
                return Err(KeyError::Pem(format!(
                    "the 'PRIVATE KEY' block has no {end:?} line"
                )));
            }
            Some(l) if l == end.as_bytes() => break,
            Some(l) => b64.extend(l.iter().filter(|b| !b.is_ascii_whitespace())),
        }
    }
    let mut der = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(b64.len())]);
    let n = STANDARD
        .decode_slice(&b64[..], &mut der[..])
        .map_err(|_| KeyError::Pem("the 'PRIVATE KEY' block is not valid base64".into()))?;
    der.truncate(n);
    Ok(der)
}

/// A PKCS#8 private key. The bytes are zeroized when it is dropped (see
/// [`zeroize::ZeroizeOnDrop`]); `Debug` prints no secret.
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
        const WHAT: &str = "PKCS#8 PrivateKeyInfo";
        // Decoding checks the version (v1, or v2 with a public key) and the structure.
        let info =
            pkcs8::PrivateKeyInfoRef::try_from(der).map_err(|e| DecodeError::new(WHAT, e))?;
        let key_type = algorithm(&info.algorithm, "PKCS#8")?;
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

    /// Parses the first PEM `PRIVATE KEY` block (PKCS#8) of `pem`; other blocks are skipped.
    /// The decoded key and the scratch copy of its base64 are zeroized when done.
    pub fn from_pkcs8_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let der = decode_private_key_pem(pem)?;
        Self::from_pkcs8_der(&der)
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The DER PKCS#8 encoding (secret).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding (`PRIVATE KEY`), in a buffer that is zeroized on drop; no other copy
    /// of the key or its base64 is made on the way.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        encode_secret_pem(PRIVATE_KEY_LABEL, &self.der)
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

/// The only secret of a [`PrivateKey`], its PKCS#8 bytes, is held in a [`Zeroizing`] buffer,
/// which zeroizes them when the key (or a clone of it) is dropped.
impl zeroize::ZeroizeOnDrop for PrivateKey {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_keys_round_trip_through_their_encodings() {
        for (key_type, alg) in [
            (KeyType::EcP256, &rcgen::PKCS_ECDSA_P256_SHA256),
            (KeyType::EcP384, &rcgen::PKCS_ECDSA_P384_SHA384),
            (KeyType::Ed25519, &rcgen::PKCS_ED25519),
        ] {
            let pair = rcgen::KeyPair::generate_for(alg).unwrap();
            // Built from the raw key, the SPKI is byte for byte the one rcgen writes.
            let key = PublicKey::from_raw(key_type, pair.public_key_raw()).unwrap();
            assert_eq!(
                key.spki_der(),
                rcgen::PublicKeyData::subject_public_key_info(&pair).as_slice(),
                "{key_type}"
            );
            let parsed = PublicKey::from_spki_der(key.spki_der()).unwrap();
            assert_eq!(parsed, key, "{key_type}");
            if let Some((x, y)) = key.ec_coordinates() {
                assert_eq!(PublicKey::from_ec_coordinates(key_type, x, y).unwrap(), key);
            }
            let private = PrivateKey::from_pkcs8_der(&pair.serialize_der()).unwrap();
            assert!(private.matches(key_type, key.raw()), "{key_type}");
        }
        // RSA: modulus and exponent back and forth, a leading zero byte kept off the magnitude.
        let n: Vec<u8> = std::iter::once(0xC1)
            .chain((1..256).map(|i| i as u8))
            .collect();
        let key = PublicKey::from_rsa_components(&n, &[1, 0, 1]).unwrap();
        assert_eq!(key.rsa_components(), Some((n.as_slice(), &[1u8, 0, 1][..])));
        assert_eq!(PublicKey::from_spki_der(key.spki_der()).unwrap(), key);
        let short = PublicKey::from_rsa_components(&n[..128], &[1, 0, 1]).unwrap_err();
        assert!(
            short.to_string().contains("shorter than 2048 bits"),
            "{short}"
        );
    }

    #[test]
    fn unsupported_and_malformed_keys_are_named() {
        // An SPKI of an unsupported curve (secp256k1).
        let mut spki = PublicKey::from_raw(KeyType::EcP256, &[4; 65])
            .unwrap()
            .spki_der()
            .to_vec();
        let p256 = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
        let at = spki.windows(8).position(|w| w == p256).unwrap();
        spki.splice(at - 2..at + 8, [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A]);
        spki[1] -= 3;
        spki[3] -= 3;
        assert_eq!(
            PublicKey::from_spki_der(&spki).unwrap_err(),
            KeyError::UnsupportedAlgorithm {
                what: "SubjectPublicKeyInfo"
            }
        );
        let err = PublicKey::from_spki_der(&[0x30, 0x03, 0x30, 0x01]).unwrap_err();
        assert!(
            matches!(&err, KeyError::Malformed(e) if e.structure() == "SubjectPublicKeyInfo"),
            "{err}"
        );
    }

    #[test]
    fn secret_pem_is_the_plain_pem_encoding() {
        for len in [0, 1, 2, 3, 47, 48, 49, 96, 121, 138, 1217, 2375] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let secret = encode_secret_pem(PRIVATE_KEY_LABEL, &der);
            assert_eq!(
                secret.as_str(),
                crate::pem::encode(PRIVATE_KEY_LABEL, &der),
                "{len} bytes"
            );
            // Allocated once, at its final size.
            assert_eq!(secret.capacity(), secret.len(), "{len} bytes");
            let back = decode_private_key_pem(secret.as_bytes()).unwrap();
            assert_eq!(back.as_slice(), der.as_slice(), "{len} bytes");
        }
    }

    #[test]
    fn private_key_pem_is_found_among_other_blocks_and_crlf() {
        let der: Vec<u8> = (0..200u8).collect();
        let key = crate::pem::encode(PRIVATE_KEY_LABEL, &der);
        let cert = crate::pem::encode("CERTIFICATE", &[1, 2, 3]);
        let mixed = format!("junk\n{cert}{}", key.replace('\n', "\r\n"));
        assert_eq!(
            decode_private_key_pem(mixed.as_bytes()).unwrap().as_slice(),
            der.as_slice()
        );
    }

    #[test]
    fn broken_private_key_pem_is_refused_without_quoting_it() {
        let key = crate::pem::encode(PRIVATE_KEY_LABEL, &[0xAB; 64]);
        let cases = [
            (String::from("no pem at all"), "no PKCS#8"),
            (crate::pem::encode("EC PRIVATE KEY", &[1; 32]), "no PKCS#8"),
            (
                key.replace("-----END PRIVATE KEY-----\n", ""),
                "no \"-----END",
            ),
            (key.replacen("q6ur", "q6*r", 1), "not valid base64"),
        ];
        for (pem, want) in cases {
            let err = decode_private_key_pem(pem.as_bytes()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(want), "{pem:?}: {text}");
            assert!(!text.contains("q6ur") && !text.contains('*'), "{text}");
        }
    }
}
