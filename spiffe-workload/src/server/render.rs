//! From a [`WorkloadState`] snapshot to the messages of SPIFFE_Workload_API.md 5 and 6.
//!
//! Bundle maps are keyed by the SPIFFE ID of the trust domain (`spiffe://example.org`), as the
//! standard says; bundles are concatenated DER (X.509) or a JWK Set (JWT).

use std::collections::{BTreeMap, HashSet};

use spiffe_core::{BundleSource, JwtSvid};
use spiffe_proto::workload::{
    JwtBundlesResponse, Jwtsvid, X509BundlesResponse, X509svid, X509svidResponse,
};
use tonic::Status;

use super::{CallerInfo, WorkloadState};

/// The `FetchX509SVID` message: every SVID (a repeated hint drops the later SVID), each with the
/// bundle of its own trust domain, and the federated bundles.
pub(crate) fn x509_svid_response(
    state: &WorkloadState,
    caller: &CallerInfo,
) -> Result<X509svidResponse, Status> {
    let mut hints = HashSet::new();
    let mut svids = Vec::with_capacity(state.svids.len());
    for svid in &state.svids {
        let hint = svid.hint().unwrap_or_default();
        if !hint.is_empty() && !hints.insert(hint) {
            tracing::warn!(
                %caller,
                spiffe_id = %svid.spiffe_id(),
                hint,
                "X509-SVID left out: its hint repeats an earlier SVID's"
            );
            continue;
        }
        let td = svid.spiffe_id().trust_domain();
        let bundle = state.x509_bundle(&td).ok_or_else(|| {
            tracing::error!(
                %caller,
                spiffe_id = %svid.spiffe_id(),
                "no X.509 bundle for the SVID's trust domain"
            );
            Status::internal(format!(
                "no X.509 bundle for trust domain {td} of SVID {}",
                svid.spiffe_id()
            ))
        })?;
        svids.push(X509svid {
            spiffe_id: svid.spiffe_id().to_string(),
            x509_svid: svid.chain_der(),
            x509_svid_key: svid.private_key().pkcs8_der().to_vec(),
            bundle: bundle.to_der(),
            hint: hint.to_owned(),
        });
    }
    if svids.is_empty() {
        return Err(Status::permission_denied(format!(
            "no X509-SVID issued to caller {caller}"
        )));
    }
    let own = state.bundle.as_ref().map(|b| b.trust_domain());
    let federated_bundles = state
        .federated_bundles
        .iter()
        .filter(|(td, _)| Some(*td) != own)
        .map(|(td, b)| (td.id_string(), b.to_der()))
        .collect();
    Ok(X509svidResponse {
        svids,
        crl: Vec::new(),
        federated_bundles,
    })
}

/// The `FetchX509Bundles` message: the own and federated X.509 bundles.
pub(crate) fn x509_bundles_response(
    state: &WorkloadState,
    caller: &CallerInfo,
) -> Result<X509BundlesResponse, Status> {
    let bundles: std::collections::HashMap<String, Vec<u8>> = state
        .x509_bundles()
        .map(|b| (b.trust_domain().id_string(), b.to_der()))
        .collect();
    if bundles.is_empty() {
        return Err(Status::permission_denied(format!(
            "no X.509 bundle available to caller {caller}"
        )));
    }
    Ok(X509BundlesResponse {
        crl: Vec::new(),
        bundles,
    })
}

/// The `FetchJWTBundles` message: each JWT bundle as a JWK Set of its `jwt-svid` keys.
pub(crate) fn jwt_bundles_response(
    state: &WorkloadState,
    caller: &CallerInfo,
) -> Result<JwtBundlesResponse, Status> {
    if state.jwt_bundles.is_empty() {
        return Err(Status::permission_denied(format!(
            "no JWT bundle available to caller {caller}"
        )));
    }
    let bundles = state
        .jwt_bundles
        .iter()
        .map(|(td, b)| (td.id_string(), b.to_json().into_bytes()))
        .collect();
    Ok(JwtBundlesResponse { bundles })
}

/// One `JWTSVID` message per token; a repeated hint drops the later token.
pub(crate) fn jwt_svids(svids: &[JwtSvid]) -> Vec<Jwtsvid> {
    let mut hints = HashSet::new();
    svids
        .iter()
        .filter(|s| s.hint().is_none_or(|h| hints.insert(h)))
        .map(|s| Jwtsvid {
            spiffe_id: s.spiffe_id().to_string(),
            svid: s.token().to_owned(),
            hint: s.hint().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// JSON claims as a `google.protobuf.Struct`.
pub(crate) fn claims_struct(
    claims: serde_json::Map<String, serde_json::Value>,
) -> prost_types::Struct {
    prost_types::Struct {
        fields: claims
            .into_iter()
            .map(|(k, v)| (k, json_value(v)))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn json_value(v: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(b) => Kind::BoolValue(b),
        serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Kind::StringValue(s),
        serde_json::Value::Array(a) => Kind::ListValue(prost_types::ListValue {
            values: a.into_iter().map(json_value).collect(),
        }),
        serde_json::Value::Object(o) => Kind::StructValue(claims_struct(o)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_become_a_struct() {
        let json = serde_json::json!({
            "sub": "spiffe://example.org/a",
            "aud": ["x", "y"],
            "exp": 12,
            "nested": {"ok": true, "none": null}
        });
        let serde_json::Value::Object(map) = json else {
            unreachable!()
        };
        let s = claims_struct(map);
        use prost_types::value::Kind;
        assert_eq!(
            s.fields["sub"].kind,
            Some(Kind::StringValue("spiffe://example.org/a".into()))
        );
        assert_eq!(s.fields["exp"].kind, Some(Kind::NumberValue(12.0)));
        let Some(Kind::ListValue(aud)) = &s.fields["aud"].kind else {
            unreachable!()
        };
        assert_eq!(aud.values.len(), 2);
        let Some(Kind::StructValue(nested)) = &s.fields["nested"].kind else {
            unreachable!()
        };
        assert_eq!(nested.fields["ok"].kind, Some(Kind::BoolValue(true)));
        assert_eq!(nested.fields["none"].kind, Some(Kind::NullValue(0)));
    }

    #[test]
    fn empty_state_is_permission_denied_everywhere() {
        let caller = CallerInfo {
            pid: 1,
            uid: 2,
            gid: 3,
            pidfd: None,
        };
        let state = WorkloadState::empty();
        for code in [
            x509_svid_response(&state, &caller).map(drop),
            x509_bundles_response(&state, &caller).map(drop),
            jwt_bundles_response(&state, &caller).map(drop),
        ]
        .map(|r| r.map_err(|s| s.code()))
        {
            assert_eq!(code, Err(tonic::Code::PermissionDenied));
        }
    }
}
