//! `api fetch jwt`: the JWT bundles, then JWT-SVIDs for `-audience` (comma-separated), printed
//! as SPIRE prints them.

use anyhow::{Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use serde_json::{Map, Value, json};
use spiffe_core::{BundleSet, JwtSvid, SpiffeId};

use super::jwks::standard_jwks;
use crate::cli::client::{client_error, connect, within};
use crate::cli::flags::{ClientArgs, Format, parse_format};
use crate::cli::output;

/// Flags of `api fetch jwt`.
#[derive(Debug, Clone, Args)]
pub(crate) struct JwtArgs {
    /// comma separated list of audience values
    #[arg(long = "audience", value_name = "AUDIENCES")]
    audience: Option<String>,
    /// SPIFFE ID subject (optional)
    #[arg(long = "spiffeID", alias = "spiffe-id", value_name = "ID")]
    spiffe_id: Option<String>,
    /// Desired output format (pretty, json); -format is its deprecated name
    #[arg(long = "output", alias = "format", value_name = "FORMAT", value_parser = parse_format,
          default_value = "pretty")]
    output: Format,
    #[command(flatten)]
    client: ClientArgs,
}

/// `-audience a,b` as a list, without empty values.
fn audiences(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Runs `api fetch jwt`.
pub(crate) async fn run(a: JwtArgs) -> Result<()> {
    let audience = audiences(a.audience.as_deref());
    if audience.is_empty() {
        return Err(anyhow!("audience must be specified"));
    }
    let spiffe_id = a
        .spiffe_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| SpiffeId::parse_normalized(s).map_err(|e| anyhow!("invalid -spiffeID {s:?}: {e}")))
        .transpose()?;
    let (svids, bundles) = within(a.client.timeout, async {
        let client = connect(&a.client.socket).await?;
        let bundles = client
            .fetch_jwt_bundles()
            .await
            .map_err(|e| client_error(e).context("failed to receive JWT bundles"))?;
        let svids = client
            .fetch_jwt_svids(&audience, spiffe_id.as_ref())
            .await
            .map_err(client_error)?;
        Ok((svids, bundles))
    })
    .await?;
    match a.output {
        Format::Pretty => output::out(&pretty(&svids, &bundles)),
        Format::Json => output::out(&output::go_json(&json(&svids, &bundles))),
    }
}

/// The bundles as `(spiffe://td, JWKS)`, sorted by trust domain.
fn jwks_by_td(bundles: &BundleSet) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = bundles
        .iter()
        .map(|b| (b.trust_domain().id_string(), standard_jwks(b.jwt())))
        .collect();
    out.sort();
    out
}

/// `token(<id>):` and `hint(<id>):` per SVID, then `bundle(<td>):` per bundle.
fn pretty(svids: &[JwtSvid], bundles: &BundleSet) -> String {
    let mut out = String::new();
    for svid in svids {
        let id = svid.spiffe_id();
        out.push_str(&format!("token({id}):\n\t{}\n", svid.token()));
        if let Some(hint) = svid.hint().filter(|h| !h.is_empty()) {
            out.push_str(&format!("hint({id}):\n\t{hint}\n"));
        }
    }
    for (td, jwks) in jwks_by_td(bundles) {
        out.push_str(&format!("bundle({td}):\n\t{jwks}\n"));
    }
    out
}

/// `[JWTSVIDResponse, JWTBundlesResponse]` as SPIRE's `-output json` prints them.
fn json(svids: &[JwtSvid], bundles: &BundleSet) -> Value {
    let svids: Vec<Value> = svids
        .iter()
        .map(|s| {
            json!({
                "spiffe_id": s.spiffe_id().to_string(),
                "svid": s.token(),
                "hint": s.hint().unwrap_or_default(),
            })
        })
        .collect();
    let bundles: Map<String, Value> = jwks_by_td(bundles)
        .into_iter()
        .map(|(td, jwks)| (td, Value::String(STANDARD.encode(jwks))))
        .collect();
    json!([{ "svids": svids }, { "bundles": bundles }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_separated_audiences() {
        assert_eq!(audiences(Some("a,b")), ["a", "b"]);
        assert_eq!(audiences(Some("a,,b ")), ["a", "b"]);
        assert!(audiences(None).is_empty());
        assert!(audiences(Some("")).is_empty());
    }
}
