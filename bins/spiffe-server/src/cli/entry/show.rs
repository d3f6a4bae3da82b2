//! `entry show` and `entry count`.

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;
use tonic::transport::Channel;

use super::filter::FilterArgs;
use super::print::{entries_listing, sort_entries};
use crate::cli::client::{connect, rpc};
use crate::cli::flags::{Format, OutputArgs, SocketArgs};
use crate::cli::output::{self, go_json};
use crate::cli::pbjson;

/// Page size of ListEntries (SPIRE's).
const PAGE_SIZE: i32 = 500;

/// Flags of `entry show`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ShowArgs {
    /// Show the entry with this ID (not combinable with -parentID, -spiffeID, -selector)
    #[arg(long = "entryID", alias = "entry-id", value_name = "ID")]
    pub(crate) entry_id: Option<String>,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
}

/// Flags of `entry count`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CountArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
}

async fn list_all(
    client: &mut EntryClient<Channel>,
    filter: api::list_entries_request::Filter,
) -> Result<Vec<pb::Entry>> {
    let mut entries = Vec::new();
    let mut page_token = String::new();
    loop {
        let resp = client
            .list_entries(api::ListEntriesRequest {
                filter: Some(filter.clone()),
                output_mask: None,
                page_size: PAGE_SIZE,
                page_token: page_token.clone(),
            })
            .await
            .map_err(rpc)
            .context("error fetching entries")?
            .into_inner();
        entries.extend(resp.entries);
        if resp.next_page_token.is_empty() {
            return Ok(entries);
        }
        page_token = resp.next_page_token;
    }
}

/// Runs `entry show`.
pub(crate) async fn show(a: ShowArgs) -> Result<()> {
    let entry_id = a.entry_id.clone().filter(|id| !id.is_empty());
    let f = &a.filter;
    if entry_id.is_some()
        && (f.parent_id.as_deref().is_some_and(|s| !s.is_empty())
            || f.spiffe_id.as_deref().is_some_and(|s| !s.is_empty())
            || !f.selectors.is_empty())
    {
        bail!("the -entryID flag can't be combined with others");
    }
    // Parse the filter before dialing, so bad input is reported as such.
    let filter = match &entry_id {
        Some(_) => None,
        None => Some(f.filter()?),
    };
    let mut client = EntryClient::new(connect(&a.socket.path()).await?);
    let mut entries = match (&entry_id, filter) {
        (Some(id), _) => vec![
            client
                .get_entry(api::GetEntryRequest {
                    id: id.clone(),
                    output_mask: None,
                })
                .await
                .map_err(rpc)
                .with_context(|| format!("error fetching entry ID {id}"))?
                .into_inner(),
        ],
        (None, Some(filter)) => list_all(&mut client, filter.list()).await?,
        (None, None) => Vec::new(),
    };
    sort_entries(&mut entries);
    match a.output.output {
        Format::Pretty => output::out(&entries_listing(&entries)),
        Format::Json => {
            let list: Vec<_> = entries.iter().map(pbjson::entry).collect();
            output::out(&go_json(&json!({"entries": list, "next_page_token": ""})))
        }
    }
}

/// Runs `entry count`.
pub(crate) async fn count(a: CountArgs) -> Result<()> {
    let filter = a.filter.filter()?;
    let mut client = EntryClient::new(connect(&a.socket.path()).await?);
    let n = client
        .count_entries(api::CountEntriesRequest {
            filter: Some(filter.count()),
        })
        .await
        .map_err(rpc)?
        .into_inner()
        .count;
    match a.output.output {
        Format::Pretty => {
            let noun = if n == 1 { "entry" } else { "entries" };
            output::out(&format!("{n} registration {noun}\n"))
        }
        Format::Json => output::out(&go_json(&json!({ "count": n }))),
    }
}
