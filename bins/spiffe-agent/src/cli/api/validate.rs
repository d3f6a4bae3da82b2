//! `api validate jwt`: has the agent validate a JWT-SVID for an audience.

use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::{Value, json};
use spiffe_workload::ClientError;
use spiffe_workload::client::ValidatedJwt;
use tonic::Code;

use crate::cli::client::{client_error, connect, within};
use crate::cli::flags::{ClientArgs, Format, OutputArgs};
use crate::cli::output;

/// Flags of `api validate jwt`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ValidateJwtArgs {
    /// expected audience value
    #[arg(long = "audience", value_name = "AUDIENCE")]
    audience: Option<String>,
    /// JWT SVID
    #[arg(long = "svid", value_name = "TOKEN")]
    svid: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    client: ClientArgs,
}

/// What SPIRE says when validation fails: the agent's reason for an InvalidArgument, the call's
/// error otherwise.
fn refusal(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Status {
            code: Code::InvalidArgument,
            message,
            ..
        } => anyhow!("SVID is not valid: {message}"),
        other => client_error(other).context("unable to validate JWT SVID"),
    }
}

/// Runs `api validate jwt`.
pub(crate) async fn run(a: ValidateJwtArgs) -> Result<()> {
    let audience = a.audience.as_deref().unwrap_or_default();
    if audience.is_empty() {
        return Err(anyhow!("audience must be specified"));
    }
    let token = a.svid.as_deref().unwrap_or_default();
    if token.is_empty() {
        return Err(anyhow!("svid must be specified"));
    }
    let validated = within(a.client.timeout, async {
        let client = connect(&a.client.socket).await?;
        client
            .validate_jwt_svid(audience, token)
            .await
            .map_err(refusal)
    })
    .await?;
    match a.output.output {
        Format::Pretty => output::out(&pretty(&validated)),
        Format::Json => output::out(&output::go_json(&json(&validated))),
    }
}

/// `SVID is valid.`, the subject and the claims (compact JSON).
fn pretty(v: &ValidatedJwt) -> String {
    let claims = Value::Object(v.claims.clone());
    format!(
        "SVID is valid.\nSPIFFE ID : {}\nClaims    : {}",
        v.spiffe_id,
        output::go_json(&claims)
    )
}

/// `ValidateJWTSVIDResponse` as SPIRE's `-output json` prints it.
fn json(v: &ValidatedJwt) -> Value {
    json!({
        "spiffe_id": v.spiffe_id.to_string(),
        "claims": Value::Object(v.claims.clone()),
    })
}
