//! `entry update`: replaces whole entries (SPIRE sends no input mask: fields not given are
//! reset), except the additional attributes, which are merged with the stored ones.

use anyhow::{Context, Result, bail};
use clap::Args;
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;

use super::batch::{self, Source};
use super::data;
use super::fields::EntryFields;
use crate::cli::client::{connect, rpc};
use crate::cli::flags;

/// Flags of `entry update`.
#[derive(Debug, Clone, Args)]
pub(crate) struct UpdateArgs {
    #[command(flatten)]
    pub(crate) fields: EntryFields,
}

/// SPIRE's checks, in its order (skipped with `-data`).
fn validate(f: &EntryFields) -> Result<()> {
    if f.entry_id.as_deref().unwrap_or("").is_empty() {
        bail!("entry ID is required");
    }
    if !f.selectors_given() {
        bail!("at least one selector is required");
    }
    if f.parent_id.as_deref().unwrap_or("").is_empty() {
        bail!("a parent ID is required");
    }
    if f.spiffe_id.as_deref().unwrap_or("").is_empty() {
        bail!("a SPIFFE ID is required");
    }
    f.check_ttls()
}

/// The entry the flags describe.
fn from_flags(f: &EntryFields) -> Result<pb::Entry> {
    let parent_id = flags::spiffe_id("parent ID", f.parent_id.as_deref().unwrap_or(""))?;
    let spiffe_id = flags::spiffe_id("SPIFFE ID", f.spiffe_id.as_deref().unwrap_or(""))?;
    f.to_entry(flags::id_pb(&spiffe_id), flags::id_pb(&parent_id))
}

/// Keeps the stored additional attributes that were not given.
fn merge_attributes(e: &mut pb::Entry, existing: &pb::Entry, f: &EntryFields) {
    let mut merged = existing.additional_attributes.unwrap_or_default();
    if let Some(v) = f.disable_x509_svid_prefetch {
        merged.disable_x509_svid_prefetch = v;
    }
    if let Some(v) = f.jwt_svid_include_jti {
        merged.jwt_svid_include_jti = v;
    }
    e.additional_attributes = Some(merged);
}

/// Runs `entry update`.
pub(crate) async fn run(a: UpdateArgs) -> Result<()> {
    let f = &a.fields;
    let (mut entries, source) = match &f.data {
        Some(path) if !path.is_empty() => (data::read(path)?, Source::Data),
        _ => {
            validate(f)?;
            (vec![from_flags(f)?], Source::Flags)
        }
    };
    let mut client = EntryClient::new(connect(&f.socket.path()).await?);
    let attributes_given =
        f.disable_x509_svid_prefetch.is_some() || f.jwt_svid_include_jti.is_some();
    if source == Source::Flags
        && attributes_given
        && let Some(e) = entries.first_mut()
    {
        let existing = client
            .get_entry(api::GetEntryRequest {
                id: e.id.clone(),
                output_mask: None,
            })
            .await
            .map_err(rpc)
            .context("failed to fetch existing entry to merge additional attributes")?
            .into_inner();
        merge_attributes(e, &existing, f);
    }
    let resp = client
        .batch_update_entry(api::BatchUpdateEntryRequest {
            entries: entries.clone(),
            input_mask: None,
            output_mask: None,
        })
        .await
        .map_err(rpc)?
        .into_inner();
    let outcomes = batch::outcomes(
        entries,
        resp.results.into_iter().map(|r| (r.status, r.entry)),
    );
    batch::report("update", &outcomes, source, f.output.output)
}
