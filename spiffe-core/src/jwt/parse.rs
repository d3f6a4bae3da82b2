//! Splitting, decoding and reading a compact JWS.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::{JwtAlgorithm, JwtError, JwtSvid};
use crate::id::SpiffeId;

/// A token taken apart; its signature is not checked yet.
pub(super) struct Parsed<'t> {
    pub(super) svid: JwtSvid,
    pub(super) signing_input: &'t str,
    pub(super) signature: Vec<u8>,
}

/// Longest token accepted (a JWT-SVID is a few hundred bytes; this bounds the work done on
/// hostile input).
const MAX_TOKEN_LEN: usize = 64 * 1024;

pub(super) fn parse(token: &str) -> Result<Parsed<'_>, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Claims(format!(
            "token is {} bytes long; at most {MAX_TOKEN_LEN} are accepted",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::NotCompactJws {
            parts: token.split('.').count(),
        });
    };
    let signing_input = &token[..h.len() + 1 + p.len()];
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| JwtError::Base64 { part: "header" })?;
    let payload = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| JwtError::Base64 { part: "payload" })?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwtError::Base64 { part: "signature" })?;

    let header = header(&header_bytes)?;
    let algorithm: JwtAlgorithm = header.alg.ok_or(JwtError::MissingAlgorithm)?.parse()?;
    if let Some(typ) = header.typ
        && typ != "JWT"
        && typ != "JOSE"
    {
        return Err(JwtError::BadType { typ });
    }

    let claims_json =
        String::from_utf8(payload).map_err(|_| JwtError::Claims("payload is not UTF-8".into()))?;
    let claims: Claims =
        serde_json::from_str(&claims_json).map_err(|e| JwtError::Claims(e.to_string()))?;
    let sub = claims.sub.ok_or(JwtError::MissingSubject)?;
    let id = SpiffeId::parse(&sub).map_err(JwtError::InvalidSubject)?;
    let audience = match claims.aud {
        None => return Err(JwtError::MissingAudience),
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(list)) => list,
    };
    if audience.is_empty() || audience.iter().all(String::is_empty) {
        return Err(JwtError::EmptyAudience);
    }
    let expiry = claims.exp.ok_or(JwtError::MissingExpiry)?.0;

    Ok(Parsed {
        svid: JwtSvid {
            token: token.to_owned(),
            id,
            audience,
            expiry,
            issued_at: claims.iat.map(|d| d.0),
            not_before: claims.nbf.map(|d| d.0),
            algorithm,
            key_id: header.kid,
            claims_json,
            hint: None,
        },
        signing_input,
        signature,
    })
}

/// The JOSE header: only `alg`, `kid`, `typ`, each at most once, each a string.
#[derive(Default)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    typ: Option<String>,
}

/// Errors found while visiting the header, carried through serde's error type.
enum HeaderProblem {
    Unsupported(String),
}

fn header(bytes: &[u8]) -> Result<Header, JwtError> {
    struct V<'p>(&'p mut Option<HeaderProblem>);
    impl<'de> Visitor<'de> for V<'_> {
        type Value = Header;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object with alg, kid and typ")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
            let mut h = Header::default();
            while let Some(name) = map.next_key::<String>()? {
                let slot = match name.as_str() {
                    "alg" => &mut h.alg,
                    "kid" => &mut h.kid,
                    "typ" => &mut h.typ,
                    _ => {
                        *self.0 = Some(HeaderProblem::Unsupported(name));
                        return Err(de::Error::custom("unsupported header member"));
                    }
                };
                if slot.is_some() {
                    return Err(de::Error::custom(format!("duplicate member {name:?}")));
                }
                *slot = Some(map.next_value::<String>()?);
            }
            Ok(h)
        }
    }
    let mut problem = None;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = de
        .deserialize_map(V(&mut problem))
        .and_then(|h| de.end().map(|()| h));
    match (result, problem) {
        (_, Some(HeaderProblem::Unsupported(name))) => Err(JwtError::UnsupportedHeader { name }),
        (Ok(h), None) => Ok(h),
        (Err(e), None) => Err(JwtError::Header(e.to_string())),
    }
}

/// The registered claims JWT-SVID validation reads; other claims are kept as JSON only.
/// A registered claim given twice is an error.
#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    exp: Option<NumericDate>,
    #[serde(default)]
    iat: Option<NumericDate>,
    #[serde(default)]
    nbf: Option<NumericDate>,
}

/// `aud`: one string or an array of strings (RFC 7519 4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// A NumericDate (RFC 7519 2): seconds since the epoch, possibly fractional (truncated here).
struct NumericDate(i64);

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = NumericDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a NumericDate (seconds since the epoch)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                i64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::custom("NumericDate out of range"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumericDate, E> {
                if v.is_finite() && v.abs() < 1e15 {
                    Ok(NumericDate(v.trunc() as i64))
                } else {
                    Err(E::custom("NumericDate out of range"))
                }
            }
        }
        d.deserialize_any(V)
    }
}
