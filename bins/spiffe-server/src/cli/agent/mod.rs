//! `agent list|show|evict|ban|count`: attested agents.

mod filter;
mod print;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use spiffe_proto::spire::api::server::agent::v1 as api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::types as pb;

use self::filter::AgentFilterArgs;
use crate::cli::client::{connect, rpc};
use crate::cli::flags::{self, Format, OutputArgs, SocketArgs};
use crate::cli::output::{self, go_json};
use crate::cli::pbjson;

/// Page size of ListAgents (SPIRE's).
const PAGE_SIZE: i32 = 1000;

/// The agent commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum AgentCommand {
    /// Lists attested agents and their SPIFFE IDs
    List(ListArgs),
    /// Shows the details of an attested agent given its SPIFFE ID
    Show(IdArgs),
    /// Evicts an attested agent given its SPIFFE ID (it must attest again)
    Evict(IdArgs),
    /// Bans an attested agent given its SPIFFE ID
    Ban(IdArgs),
    /// Counts attested agents
    Count(ListArgs),
}

/// Flags of `agent list` and `agent count`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    filter: AgentFilterArgs,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Flags of the commands about one agent.
#[derive(Debug, Clone, Args)]
pub(crate) struct IdArgs {
    /// The SPIFFE ID of the agent
    #[arg(long = "spiffeID", alias = "spiffe-id", value_name = "ID")]
    spiffe_id: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

impl IdArgs {
    fn id(&self) -> Result<pb::Spiffeid> {
        match self.spiffe_id.as_deref() {
            None | Some("") => bail!("a SPIFFE ID is required"),
            Some(s) => Ok(flags::id_pb(&flags::spiffe_id("SPIFFE ID", s)?)),
        }
    }
}

/// Runs an agent command.
pub(crate) async fn run(cmd: AgentCommand) -> Result<()> {
    match cmd {
        AgentCommand::List(a) => list(a).await,
        AgentCommand::Count(a) => count(a).await,
        AgentCommand::Show(a) => show(a).await,
        AgentCommand::Evict(a) => {
            let id = a.id()?;
            let mut client = AgentClient::new(connect(&a.socket.path()).await?);
            client
                .delete_agent(api::DeleteAgentRequest { id: Some(id) })
                .await
                .map_err(rpc)?;
            done(a.output.output, "Agent evicted successfully\n")
        }
        AgentCommand::Ban(a) => {
            let id = a.id()?;
            let mut client = AgentClient::new(connect(&a.socket.path()).await?);
            client
                .ban_agent(api::BanAgentRequest { id: Some(id) })
                .await
                .map_err(rpc)?;
            done(a.output.output, "Agent banned successfully\n")
        }
    }
}

fn done(format: Format, pretty: &str) -> Result<()> {
    match format {
        Format::Pretty => output::out(pretty),
        Format::Json => output::out(&go_json(&json!({}))),
    }
}

async fn list(a: ListArgs) -> Result<()> {
    let filter = a.filter.filter()?.list();
    let mut client = AgentClient::new(connect(&a.socket.path()).await?);
    let mut agents = Vec::new();
    let mut page_token = String::new();
    loop {
        let resp = client
            .list_agents(api::ListAgentsRequest {
                filter: Some(filter.clone()),
                output_mask: None,
                page_size: PAGE_SIZE,
                page_token: page_token.clone(),
            })
            .await
            .map_err(rpc)?
            .into_inner();
        agents.extend(resp.agents);
        if resp.next_page_token.is_empty() {
            break;
        }
        page_token = resp.next_page_token;
    }
    match a.output.output {
        Format::Pretty => output::out(&print::agents_listing(&agents)),
        Format::Json => {
            let list: Vec<_> = agents.iter().map(pbjson::agent).collect();
            output::out(&go_json(&json!({"agents": list, "next_page_token": ""})))
        }
    }
}

async fn count(a: ListArgs) -> Result<()> {
    let filter = a.filter.filter()?.count();
    let mut client = AgentClient::new(connect(&a.socket.path()).await?);
    let n = client
        .count_agents(api::CountAgentsRequest {
            filter: Some(filter),
        })
        .await
        .map_err(rpc)?
        .into_inner()
        .count;
    match a.output.output {
        Format::Pretty => {
            let noun = if n == 1 { "agent" } else { "agents" };
            output::out(&format!("{n} attested {noun}\n"))
        }
        Format::Json => output::out(&go_json(&json!({ "count": n }))),
    }
}

async fn show(a: IdArgs) -> Result<()> {
    let id = a.id()?;
    let mut client = AgentClient::new(connect(&a.socket.path()).await?);
    let agent = client
        .get_agent(api::GetAgentRequest {
            id: Some(id),
            output_mask: None,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    match a.output.output {
        Format::Pretty => output::out(&print::agent_details(&agent)),
        Format::Json => output::out(&go_json(&pbjson::agent(&agent))),
    }
}
