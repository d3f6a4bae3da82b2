//! From Workload API messages to typed values, with the client rules of SPIFFE_Workload_API.md
//! 4.5 (a mandatory field left at its default discards the message).

use std::collections::BTreeMap;
use std::sync::Arc;

use spiffe_core::{
    Bundle, BundleSet, JwtBundle, JwtSvid, SpiffeId, TrustDomain, X509Bundle, X509Svid,
};
use spiffe_proto::workload::{
    JwtBundlesResponse, JwtsvidResponse, ValidateJwtsvidResponse, X509BundlesResponse,
    X509svidResponse,
};

use super::{ClientError, ValidatedJwt, X509Context};

fn trust_domain(field: &'static str, key: &str) -> Result<TrustDomain, ClientError> {
    TrustDomain::parse(key).map_err(|source| ClientError::InvalidId {
        field,
        value: key.to_owned(),
        source,
    })
}

fn spiffe_id(field: &'static str, value: &str) -> Result<SpiffeId, ClientError> {
    SpiffeId::parse(value).map_err(|source| ClientError::InvalidId {
        field,
        value: value.to_owned(),
        source,
    })
}

fn x509_bundle(
    field: &'static str,
    td: TrustDomain,
    der: &[u8],
) -> Result<X509Bundle, ClientError> {
    X509Bundle::parse_der(td.clone(), der).map_err(|source| ClientError::InvalidBundle {
        field,
        trust_domain: td.to_string(),
        source,
    })
}

fn x509_only(x509: X509Bundle) -> Bundle {
    let mut bundle = Bundle::new(x509.trust_domain().clone());
    *bundle.x509_mut() = x509;
    bundle
}

/// Checks that a map names each trust domain once (keys may be `example.org` or
/// `spiffe://example.org`) and parses each value.
fn bundle_map<'a, T>(
    field: &'static str,
    entries: impl Iterator<Item = (&'a String, &'a Vec<u8>)>,
    parse: impl Fn(TrustDomain, &[u8]) -> Result<T, ClientError>,
) -> Result<BTreeMap<TrustDomain, T>, ClientError> {
    let mut out = BTreeMap::new();
    for (key, value) in entries {
        let td = trust_domain(field, key)?;
        let parsed = parse(td.clone(), value)?;
        if out.insert(td.clone(), parsed).is_some() {
            return Err(ClientError::DuplicateTrustDomain {
                field,
                trust_domain: td.to_string(),
            });
        }
    }
    Ok(out)
}

/// `FetchX509SVID`: the SVIDs in order, the bundle of each SVID's trust domain, and the
/// federated bundles.
pub(crate) fn x509_context(response: &X509svidResponse) -> Result<X509Context, ClientError> {
    if response.svids.is_empty() {
        return Err(ClientError::MissingField {
            field: "X509SVIDResponse.svids",
        });
    }
    let mut svids = Vec::with_capacity(response.svids.len());
    let mut bundles = BundleSet::new();
    for (index, entry) in response.svids.iter().enumerate() {
        for (empty, field) in [
            (entry.spiffe_id.is_empty(), "X509SVID.spiffe_id"),
            (entry.x509_svid.is_empty(), "X509SVID.x509_svid"),
            (entry.x509_svid_key.is_empty(), "X509SVID.x509_svid_key"),
            (entry.bundle.is_empty(), "X509SVID.bundle"),
        ] {
            if empty {
                return Err(ClientError::MissingField { field });
            }
        }
        let claimed = spiffe_id("X509SVID.spiffe_id", &entry.spiffe_id)?;
        let svid = X509Svid::parse_der(&entry.x509_svid, &entry.x509_svid_key)
            .map_err(|source| ClientError::InvalidX509Svid {
                index,
                spiffe_id: entry.spiffe_id.clone(),
                source,
            })?
            .with_hint(entry.hint.as_str());
        if *svid.spiffe_id() != claimed {
            return Err(ClientError::IdMismatch {
                field: "X509SVID.spiffe_id",
                claimed: entry.spiffe_id.clone(),
                actual: svid.spiffe_id().to_string(),
            });
        }
        let td = svid.spiffe_id().trust_domain();
        if bundles.get(td.name()).is_none() {
            bundles.insert(x509_only(x509_bundle(
                "X509SVID.bundle",
                td,
                &entry.bundle,
            )?));
        }
        svids.push(Arc::new(svid));
    }
    let federated = bundle_map(
        "X509SVIDResponse.federated_bundles",
        response.federated_bundles.iter(),
        |td, der| x509_bundle("X509SVIDResponse.federated_bundles", td, der),
    )?;
    for (td, bundle) in federated {
        // The SVIDs' own bundles win over a federated entry for the same trust domain.
        if bundles.get(td.name()).is_none() {
            bundles.insert(x509_only(bundle));
        }
    }
    Ok(X509Context { svids, bundles })
}

/// `FetchX509Bundles`: the X.509 bundles by trust domain.
pub(crate) fn x509_bundles(response: &X509BundlesResponse) -> Result<BundleSet, ClientError> {
    const FIELD: &str = "X509BundlesResponse.bundles";
    if response.bundles.is_empty() {
        return Err(ClientError::MissingField { field: FIELD });
    }
    let map = bundle_map(FIELD, response.bundles.iter(), |td, der| {
        x509_bundle(FIELD, td, der)
    })?;
    Ok(map.into_values().map(x509_only).collect())
}

/// `FetchJWTBundles`: the JWT bundles by trust domain.
pub(crate) fn jwt_bundles(response: &JwtBundlesResponse) -> Result<BundleSet, ClientError> {
    const FIELD: &str = "JWTBundlesResponse.bundles";
    if response.bundles.is_empty() {
        return Err(ClientError::MissingField { field: FIELD });
    }
    let map = bundle_map(FIELD, response.bundles.iter(), |td, json| {
        jwks(td.clone(), json).map_err(|source| ClientError::InvalidBundle {
            field: FIELD,
            trust_domain: td.to_string(),
            source,
        })
    })?;
    Ok(map
        .into_values()
        .map(|jwt| {
            let mut bundle = Bundle::new(jwt.trust_domain().clone());
            *bundle.jwt_mut() = jwt;
            bundle
        })
        .collect())
}

/// Reads a JWK Set of JWT-SVID keys. `FetchJWTBundles` carries a plain RFC 7517 JWK Set, and
/// servers (SPIRE among them) leave out `use`: a key without `use` is taken as a `jwt-svid` key
/// here, a key of another `use` is dropped, and then the SPIFFE bundle rules apply.
pub(crate) fn jwks(td: TrustDomain, json: &[u8]) -> Result<JwtBundle, spiffe_core::BundleError> {
    JwtBundle::parse_jwks(td, json)
}

/// `FetchJWTSVID`: the tokens in order (read, not validated: they come from our own agent).
pub(crate) fn jwt_svids(response: &JwtsvidResponse) -> Result<Vec<JwtSvid>, ClientError> {
    if response.svids.is_empty() {
        return Err(ClientError::MissingField {
            field: "JWTSVIDResponse.svids",
        });
    }
    response
        .svids
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            for (empty, field) in [
                (entry.spiffe_id.is_empty(), "JWTSVID.spiffe_id"),
                (entry.svid.is_empty(), "JWTSVID.svid"),
            ] {
                if empty {
                    return Err(ClientError::MissingField { field });
                }
            }
            let svid = JwtSvid::parse_insecure(&entry.svid)
                .map_err(|source| ClientError::InvalidJwtSvid { index, source })?
                .with_hint(entry.hint.as_str());
            if svid.spiffe_id().as_str() != entry.spiffe_id {
                return Err(ClientError::IdMismatch {
                    field: "JWTSVID.spiffe_id",
                    claimed: entry.spiffe_id.clone(),
                    actual: svid.spiffe_id().to_string(),
                });
            }
            Ok(svid)
        })
        .collect()
}

/// `ValidateJWTSVID`: the ID and the claims.
pub(crate) fn validated(response: ValidateJwtsvidResponse) -> Result<ValidatedJwt, ClientError> {
    if response.spiffe_id.is_empty() {
        return Err(ClientError::MissingField {
            field: "ValidateJWTSVIDResponse.spiffe_id",
        });
    }
    let id = spiffe_id("ValidateJWTSVIDResponse.spiffe_id", &response.spiffe_id)?;
    let claims = response.claims.ok_or(ClientError::MissingField {
        field: "ValidateJWTSVIDResponse.claims",
    })?;
    Ok(ValidatedJwt {
        spiffe_id: id,
        claims: struct_to_json(claims),
    })
}

fn struct_to_json(s: prost_types::Struct) -> serde_json::Map<String, serde_json::Value> {
    s.fields
        .into_iter()
        .map(|(k, v)| (k, value_to_json(v)))
        .collect()
}

fn value_to_json(v: prost_types::Value) -> serde_json::Value {
    use prost_types::value::Kind;
    match v.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(b)) => serde_json::Value::Bool(b),
        Some(Kind::NumberValue(n)) => number(n),
        Some(Kind::StringValue(s)) => serde_json::Value::String(s),
        Some(Kind::ListValue(l)) => {
            serde_json::Value::Array(l.values.into_iter().map(value_to_json).collect())
        }
        Some(Kind::StructValue(s)) => serde_json::Value::Object(struct_to_json(s)),
    }
}

/// A protobuf number (always a double) as JSON: whole numbers as integers (so `exp` reads as
/// the integer it was), others as floats, NaN and infinities as null.
fn number(n: f64) -> serde_json::Value {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact.
    if n.fract() == 0.0 && n.abs() < LIMIT {
        #[allow(clippy::cast_possible_truncation)]
        return serde_json::Value::from(n as i64);
    }
    serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_as_integers_when_whole() {
        assert_eq!(number(1_700_000_000.0), serde_json::json!(1_700_000_000));
        assert_eq!(number(1.5), serde_json::json!(1.5));
        assert_eq!(number(f64::NAN), serde_json::Value::Null);
    }

    #[test]
    fn plain_jwks_without_use_is_read_as_jwt_keys() {
        let td = TrustDomain::parse("example.org").unwrap();
        let json = br#"{"keys":[{"kty":"EC","kid":"k1","crv":"P-256",
            "x":"ngLYQnlfF6GsojUwqtcEE3WgTNG2RUlsGhK73RNEl5k",
            "y":"tKbiDSUSsQ3F1P7wteeHNXIcU-cx6CgSbroeQrQHTLM"},
            {"use":"x509-svid","kty":"EC","crv":"P-256","x":"a","y":"b"}]}"#;
        let bundle = jwks(td, json).unwrap();
        assert_eq!(bundle.len(), 1);
        assert!(bundle.find("k1").is_some());
    }

    #[test]
    fn empty_mandatory_fields_discard_the_message() {
        let e = x509_context(&X509svidResponse::default()).unwrap_err();
        assert!(matches!(
            e,
            ClientError::MissingField {
                field: "X509SVIDResponse.svids"
            }
        ));
        let e = jwt_bundles(&JwtBundlesResponse::default()).unwrap_err();
        assert!(matches!(e, ClientError::MissingField { .. }));
        let e = validated(ValidateJwtsvidResponse::default()).unwrap_err();
        assert!(matches!(e, ClientError::MissingField { .. }));
    }
}
