//! The JSON shapes of a SPIFFE bundle (RFC 7517 JWK Set) and JWK <-> key conversion.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::key::{KeyError, KeyType, PublicKey};

/// `use` of X.509 authorities.
pub(crate) const USE_X509: &str = "x509-svid";
/// `use` of JWT-SVID keys.
pub(crate) const USE_JWT: &str = "jwt-svid";

/// A JWK Set with the SPIFFE parameters. Unknown members are ignored; `keys` is required; a
/// member given twice is an error (serde refuses duplicate fields).
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct JwkSet {
    pub(crate) keys: Vec<Jwk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spiffe_sequence: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spiffe_refresh_hint: Option<i64>,
}

/// One JWK, with the members SPIFFE bundles use.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct Jwk {
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub(crate) use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) x5c: Option<Vec<String>>,
}

/// What a JWK's key members say.
pub(crate) enum JwkKey {
    /// A key of a type this crate reads.
    Known(PublicKey),
    /// A `kty` that is not `EC` or `RSA` (or a curve not supported): to be ignored.
    UnknownType,
    /// No key members at all (allowed for `x509-svid` entries, where `x5c` carries the key).
    Absent,
}

fn b64url(field: &'static str, value: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|e| format!("member {field:?} is not unpadded base64url: {e}"))
}

/// Reads the public key of a JWK.
pub(crate) fn key_of(jwk: &Jwk) -> Result<JwkKey, String> {
    let key_err = |e: KeyError| e.to_string();
    match jwk.kty.as_deref() {
        None => Ok(JwkKey::Absent),
        Some("EC") => {
            let key_type = match jwk.crv.as_deref() {
                Some("P-256") => KeyType::EcP256,
                Some("P-384") => KeyType::EcP384,
                Some("P-521") => KeyType::EcP521,
                Some(_) => return Ok(JwkKey::UnknownType),
                None => return Err("EC key without \"crv\"".into()),
            };
            let x = jwk.x.as_deref().ok_or("EC key without \"x\"")?;
            let y = jwk.y.as_deref().ok_or("EC key without \"y\"")?;
            let key = PublicKey::from_ec_coordinates(key_type, &b64url("x", x)?, &b64url("y", y)?)
                .map_err(key_err)?;
            Ok(JwkKey::Known(key))
        }
        Some("RSA") => {
            let n = jwk.n.as_deref().ok_or("RSA key without \"n\"")?;
            let e = jwk.e.as_deref().ok_or("RSA key without \"e\"")?;
            let key = PublicKey::from_rsa_components(&b64url("n", n)?, &b64url("e", e)?)
                .map_err(key_err)?;
            Ok(JwkKey::Known(key))
        }
        Some(_) => Ok(JwkKey::UnknownType),
    }
}

/// Fills the key members of a JWK from a public key. Returns false for a key type that JWK
/// bundles do not carry (Ed25519 JWT keys are not allowed by JWT-SVID.md).
pub(crate) fn set_key(jwk: &mut Jwk, key: &PublicKey) -> bool {
    if let (Some((x, y)), Some(crv)) = (key.ec_coordinates(), key.key_type().jwk_curve()) {
        jwk.kty = Some("EC".into());
        jwk.crv = Some(crv.into());
        jwk.x = Some(URL_SAFE_NO_PAD.encode(x));
        jwk.y = Some(URL_SAFE_NO_PAD.encode(y));
        true
    } else if let Some((n, e)) = key.rsa_components() {
        jwk.kty = Some("RSA".into());
        jwk.n = Some(URL_SAFE_NO_PAD.encode(n));
        jwk.e = Some(URL_SAFE_NO_PAD.encode(e));
        true
    } else {
        false
    }
}

/// Decodes one `x5c` value (standard base64 with padding, RFC 7517 4.7).
pub(crate) fn x5c_der(value: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(value)
        .map_err(|e| format!("\"x5c\" value is not standard base64: {e}"))
}

/// Encodes one `x5c` value.
pub(crate) fn x5c_value(der: &[u8]) -> String {
    STANDARD.encode(der)
}
