//! `token generate`: a join token for an agent.

use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::json;
use spiffe_proto::spire::api::server::agent::v1 as api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;

use crate::cli::client::{connect, rpc};
use crate::cli::flags::{self, Format, OutputArgs, SocketArgs};
use crate::cli::output::{self, go_json};

/// The token commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum TokenCommand {
    /// Generates a join token
    Generate(GenerateArgs),
}

/// Flags of `token generate`.
#[derive(Debug, Clone, Args)]
pub(crate) struct GenerateArgs {
    /// Token TTL in seconds
    #[arg(long = "ttl", value_name = "SECONDS", default_value_t = 600)]
    ttl: i64,
    /// Additional SPIFFE ID to assign the token owner (optional): an entry parented by the
    /// agent the token admits
    #[arg(long = "spiffeID", alias = "spiffe-id", value_name = "ID")]
    spiffe_id: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Runs a token command.
pub(crate) async fn run(cmd: TokenCommand) -> Result<()> {
    let TokenCommand::Generate(a) = cmd;
    let agent_id = match a.spiffe_id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => Some(flags::id_pb(&flags::spiffe_id("SPIFFE ID", s)?)),
        None => None,
    };
    let ttl = flags::ttl_i32("TTL", a.ttl)?;
    if ttl < 1 {
        anyhow::bail!("invalid value for TTL: a positive number of seconds is required, got {ttl}");
    }
    let has_id = agent_id.is_some();
    let mut client = AgentClient::new(connect(&a.socket.path()).await?);
    let token = client
        .create_join_token(api::CreateJoinTokenRequest {
            ttl,
            token: String::new(),
            agent_id,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    match a.output.output {
        Format::Json => output::out(&go_json(&json!({
            "value": token.value,
            "expires_at": token.expires_at.to_string(),
        }))),
        Format::Pretty => {
            let mut s = format!("Token: {}\n", token.value);
            if !has_id {
                s.push_str("Warning: Missing SPIFFE ID.\n");
            }
            output::out(&s)
        }
    }
}
