//! A JWT bundle as SPIRE's agent sends it in `FetchJWTBundles` (bundleutil.Marshal with
//! `StandardJWKS`): `{"keys":[...]}` without SPIFFE members and without `use`, members in
//! go-jose's order, indented by 4 spaces.

use serde::{Deserialize, Serialize};
use spiffe_core::JwtBundle;

use crate::cli::output::go_indent;

/// A JWK set.
#[derive(Debug, Deserialize, Serialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// One key, members in go-jose's order (`use` is read and dropped).
#[derive(Debug, Deserialize, Serialize)]
struct Jwk {
    #[serde(rename = "use", default, skip_serializing)]
    _use: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}

/// The bundle's JWT keys as a standard JWK set, indented.
pub(crate) fn standard_jwks(bundle: &JwtBundle) -> String {
    let compact = bundle.to_json();
    let standard = serde_json::from_str::<Jwks>(&compact)
        .ok()
        .and_then(|set| serde_json::to_string(&set).ok())
        .unwrap_or(compact);
    go_indent(&standard, "    ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_dropped_and_indented() {
        let set: Jwks = serde_json::from_str(
            r#"{"keys":[{"use":"jwt-svid","kty":"EC","kid":"k1","crv":"P-256","x":"AA","y":"BB"}]}"#,
        )
        .unwrap_or(Jwks { keys: Vec::new() });
        let compact = serde_json::to_string(&set).unwrap_or_default();
        assert_eq!(
            go_indent(&compact, "    "),
            "{\n    \"keys\": [\n        {\n            \"kty\": \"EC\",\n            \"kid\": \"k1\",\n            \"crv\": \"P-256\",\n            \"x\": \"AA\",\n            \"y\": \"BB\"\n        }\n    ]\n}"
        );
    }
}
