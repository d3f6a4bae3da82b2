//! `entry create`.

use anyhow::{Result, bail};
use clap::{ArgAction, Args};
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;

use super::batch::{self, Source};
use super::data;
use super::fields::EntryFields;
use crate::cli::client::{connect, rpc};
use crate::cli::flags::{self, go_bool};

/// Flags of `entry create`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    pub(crate) fields: EntryFields,
    /// The entry is for nodes: its parent is the server (`spiffe://<td>/spire/server`) and
    /// -parentID is ignored
    #[arg(long = "node", num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool, action = ArgAction::Set)]
    pub(crate) node: bool,
}

/// SPIRE's checks, in its order (skipped with `-data`).
fn validate(a: &CreateArgs) -> Result<()> {
    let f = &a.fields;
    if !f.selectors_given() {
        bail!("at least one selector is required");
    }
    if a.node && !f.federates_with.is_empty() {
        bail!("node entries can not federate");
    }
    if f.parent_id.as_deref().unwrap_or("").is_empty() && !a.node {
        bail!("a parent ID is required if the node flag is not set");
    }
    if f.spiffe_id.as_deref().unwrap_or("").is_empty() {
        bail!("a SPIFFE ID is required");
    }
    f.check_ttls()
}

/// The entry the flags describe.
fn from_flags(a: &CreateArgs) -> Result<pb::Entry> {
    let f = &a.fields;
    let spiffe_id = flags::spiffe_id("SPIFFE ID", f.spiffe_id.as_deref().unwrap_or(""))?;
    let parent_id = if a.node {
        spiffe_server::entry::server_id(&spiffe_id.trust_domain())
    } else {
        flags::spiffe_id("parent ID", f.parent_id.as_deref().unwrap_or(""))?
    };
    f.to_entry(flags::id_pb(&spiffe_id), flags::id_pb(&parent_id))
}

/// Runs `entry create`.
pub(crate) async fn run(a: CreateArgs) -> Result<()> {
    let (entries, source) = match &a.fields.data {
        Some(path) if !path.is_empty() => (data::read(path)?, Source::Data),
        _ => {
            validate(&a)?;
            (vec![from_flags(&a)?], Source::Flags)
        }
    };
    let mut client = EntryClient::new(connect(&a.fields.socket.path()).await?);
    let resp = client
        .batch_create_entry(api::BatchCreateEntryRequest {
            entries: entries.clone(),
            output_mask: None,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    let outcomes = batch::outcomes(
        entries,
        resp.results.into_iter().map(|r| (r.status, r.entry)),
    );
    batch::report("create", &outcomes, source, a.fields.output.output)
}
