//! `jwt mint`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::json;
use spiffe_proto::spire::api::server::svid::v1 as api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;

use super::{capped, files, parse_ttl, ttl_seconds};
use crate::cli::client::{connect, rpc};
use crate::cli::flags::{self, Format, OutputArgs, SocketArgs};
use crate::cli::gotime;
use crate::cli::output::{self, go_json};
use crate::cli::pbjson;

/// Flags of `jwt mint`.
#[derive(Debug, Clone, Args)]
pub(crate) struct JwtMintArgs {
    /// SPIFFE ID of the JWT-SVID
    #[arg(long = "spiffeID", alias = "spiffe-id", value_name = "ID")]
    spiffe_id: Option<String>,
    /// Audience claim; repeat for more
    #[arg(long = "audience", value_name = "AUD")]
    audience: Vec<String>,
    /// TTL of the JWT-SVID, a Go duration such as 5m (0: the server default)
    #[arg(long = "ttl", value_name = "DURATION", value_parser = parse_ttl, default_value = "0")]
    ttl: Duration,
    /// File to write the token to (0600), instead of stdout
    #[arg(long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Runs `jwt mint`.
pub(crate) async fn run(a: JwtMintArgs) -> Result<()> {
    let id = match a.spiffe_id.as_deref() {
        None | Some("") => bail!("spiffeID must be specified"),
        Some(s) => flags::spiffe_id("SPIFFE ID", s)?,
    };
    if a.audience.is_empty() {
        bail!("at least one audience must be specified");
    }
    let ttl = ttl_seconds(a.ttl)?;
    let mut client = SvidClient::new(connect(&a.socket.path()).await?);
    let svid = client
        .mint_jwtsvid(api::MintJwtsvidRequest {
            id: Some(flags::id_pb(&id)),
            audience: a.audience.clone(),
            ttl,
        })
        .await
        .map_err(rpc)
        .context("unable to mint SVID")?
        .into_inner()
        .svid
        .filter(|s| !s.token.is_empty())
        .ok_or_else(|| anyhow!("server response missing token"))?;
    if capped(svid.expires_at, a.ttl) {
        output::err(&format!(
            "JWT-SVID lifetime was capped shorter than specified ttl; expires {:?}\n",
            gotime::rfc3339(svid.expires_at)
        ));
    }
    if let Some(path) = &a.write {
        files::write(path, svid.token.as_bytes(), 0o600).context("unable to write token")?;
        return output::out(&format!("JWT-SVID written to {}\n", path.display()));
    }
    match a.output.output {
        Format::Pretty => output::out(&format!("{}\n", svid.token)),
        Format::Json => output::out(&go_json(&json!({ "svid": pbjson::jwt_svid(&svid) }))),
    }
}
