//! `bundle show|list|set|delete|count`: the trust domain's bundle and federated bundles.

pub(crate) mod format;

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use spiffe_core::TrustDomain;
use spiffe_proto::spire::api::server::bundle::v1 as api;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use tonic::Code;

use self::format::{header, parse_format, render};
use crate::cli::client::{connect, rpc};
use crate::cli::flags::{Format, OutputArgs, SocketArgs};
use crate::cli::output::{self, go_json};
use crate::cli::pbjson;

/// The bundle commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum BundleCommand {
    /// Prints the server's trust bundle
    Show(ShowArgs),
    /// Lists federated bundles
    List(ListArgs),
    /// Creates or updates a federated bundle
    Set(SetArgs),
    /// Deletes a federated bundle
    Delete(DeleteArgs),
    /// Counts bundles (the server's and federated ones)
    Count(CountArgs),
}

/// Flags of `bundle show`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ShowArgs {
    /// The format of the bundle: pem or spiffe
    #[arg(long = "format", value_name = "FORMAT", default_value = "pem")]
    format: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Flags of `bundle list`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ListArgs {
    /// Show only the bundle of this trust domain (`spiffe://td`), without header
    #[arg(long = "id", value_name = "TD")]
    id: Option<String>,
    /// The format of the bundles: pem or spiffe
    #[arg(long = "format", value_name = "FORMAT", default_value = "pem")]
    format: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Flags of `bundle set`.
#[derive(Debug, Clone, Args)]
pub(crate) struct SetArgs {
    /// The trust domain of the bundle (`spiffe://td`)
    #[arg(long = "id", value_name = "TD")]
    id: Option<String>,
    /// Path to the bundle data [default: standard input]
    #[arg(long = "path", value_name = "PATH")]
    path: Option<String>,
    /// The format of the bundle data: pem or spiffe
    #[arg(long = "format", value_name = "FORMAT", default_value = "pem")]
    format: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Flags of `bundle delete`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeleteArgs {
    /// The trust domain of the bundle (`spiffe://td`)
    #[arg(long = "id", value_name = "TD")]
    id: Option<String>,
    /// restrict (refuse while entries federate with it), delete (delete those entries too), or
    /// dissociate (remove it from those entries)
    #[arg(long = "mode", value_name = "MODE", default_value = "restrict")]
    mode: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Flags of `bundle count`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CountArgs {
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Runs a bundle command.
pub(crate) async fn run(cmd: BundleCommand) -> Result<()> {
    match cmd {
        BundleCommand::Show(a) => show(a).await,
        BundleCommand::List(a) => list(a).await,
        BundleCommand::Set(a) => set(a).await,
        BundleCommand::Delete(a) => delete(a).await,
        BundleCommand::Count(a) => count(a).await,
    }
}

async fn show(a: ShowArgs) -> Result<()> {
    let format = parse_format(&a.format)?;
    let mut client = BundleClient::new(connect(&a.socket.path()).await?);
    let b = client
        .get_bundle(api::GetBundleRequest { output_mask: None })
        .await
        .map_err(rpc)?
        .into_inner();
    match a.output.output {
        Format::Pretty => output::out(&render(&b, format)?),
        Format::Json => output::out(&go_json(&pbjson::bundle(&b))),
    }
}

async fn list(a: ListArgs) -> Result<()> {
    let format = parse_format(&a.format)?;
    let mut client = BundleClient::new(connect(&a.socket.path()).await?);
    if let Some(id) = a.id.as_deref().filter(|s| !s.is_empty()) {
        let b = client
            .get_federated_bundle(api::GetFederatedBundleRequest {
                trust_domain: id.to_owned(),
                output_mask: None,
            })
            .await
            .map_err(rpc)?
            .into_inner();
        return match a.output.output {
            Format::Pretty => output::out(&render(&b, format)?),
            Format::Json => output::out(&go_json(&pbjson::bundle(&b))),
        };
    }
    let mut bundles = Vec::new();
    let mut page_token = String::new();
    loop {
        let resp = client
            .list_federated_bundles(api::ListFederatedBundlesRequest {
                output_mask: None,
                page_size: 0,
                page_token: page_token.clone(),
            })
            .await
            .map_err(rpc)?
            .into_inner();
        bundles.extend(resp.bundles);
        if resp.next_page_token.is_empty() {
            break;
        }
        page_token = resp.next_page_token;
    }
    match a.output.output {
        Format::Json => {
            let list: Vec<_> = bundles.iter().map(pbjson::bundle).collect();
            output::out(&go_json(&json!({"bundles": list, "next_page_token": ""})))
        }
        Format::Pretty => {
            let mut s = String::new();
            for (i, b) in bundles.iter().enumerate() {
                if i > 0 {
                    s.push('\n');
                }
                s.push_str(&header(&b.trust_domain));
                s.push_str(&render(b, format)?);
            }
            output::out(&s)
        }
    }
}

fn trust_domain(id: Option<&str>, missing: &str) -> Result<TrustDomain> {
    match id {
        None | Some("") => bail!("{missing}"),
        Some(s) => TrustDomain::parse_normalized(s).map_err(|e| anyhow!("invalid -id {s:?}: {e}")),
    }
}

async fn set(a: SetArgs) -> Result<()> {
    let td = trust_domain(a.id.as_deref(), "id flag is required")?;
    let format = parse_format(&a.format)?;
    let mut data = Vec::new();
    match a.path.as_deref().filter(|p| !p.is_empty() && *p != "-") {
        Some(p) => {
            data = std::fs::read(p).with_context(|| format!("unable to load bundle data: {p}"))?
        }
        None => {
            std::io::stdin()
                .read_to_end(&mut data)
                .context("unable to load bundle data from standard input")?;
        }
    }
    let bundle = format::parse(&td, &data, format)?;
    let mut client = BundleClient::new(connect(&a.socket.path()).await?);
    let resp = client
        .batch_set_federated_bundle(api::BatchSetFederatedBundleRequest {
            bundle: vec![bundle],
            output_mask: None,
        })
        .await
        .map_err(rpc)
        .context("failed to set federated bundle")?
        .into_inner();
    if a.output.output == Format::Json {
        let results: Vec<_> = resp
            .results
            .iter()
            .map(|r| pbjson::bundle_result(r.status.as_ref(), r.bundle.as_ref()))
            .collect();
        return output::out(&go_json(&json!({ "results": results })));
    }
    for r in &resp.results {
        if let Some(s) = r.status.as_ref().filter(|s| s.code != Code::Ok as i32) {
            bail!("failed to set federated bundle: {}", s.message);
        }
    }
    output::out("bundle set.\n")
}

async fn delete(a: DeleteArgs) -> Result<()> {
    let td = trust_domain(a.id.as_deref(), "id is required")?;
    use api::batch_delete_federated_bundle_request::Mode;
    let mode = match a.mode.to_ascii_lowercase().as_str() {
        "restrict" => Mode::Restrict,
        "delete" => Mode::Delete,
        "dissociate" => Mode::Dissociate,
        _ => bail!(
            "unsupported mode {:?} (restrict, delete, dissociate)",
            a.mode
        ),
    };
    let mut client = BundleClient::new(connect(&a.socket.path()).await?);
    let resp = client
        .batch_delete_federated_bundle(api::BatchDeleteFederatedBundleRequest {
            trust_domains: vec![td.name().to_owned()],
            mode: mode as i32,
        })
        .await
        .map_err(rpc)
        .context("failed to delete federated bundle")?
        .into_inner();
    if a.output.output == Format::Json {
        let results: Vec<_> = resp
            .results
            .iter()
            .map(|r| {
                let mut v = json!({ "trust_domain": r.trust_domain });
                if let (serde_json::Value::Object(m), Some(s)) =
                    (&mut v, pbjson::status(r.status.as_ref()))
                {
                    m.insert("status".into(), s);
                }
                v
            })
            .collect();
        return output::out(&go_json(&json!({ "results": results })));
    }
    for r in &resp.results {
        if let Some(s) = r.status.as_ref().filter(|s| s.code != Code::Ok as i32) {
            bail!(
                "failed to delete federated bundle {:?}: {}",
                r.trust_domain,
                s.message
            );
        }
    }
    output::out("bundle deleted.\n")
}

async fn count(a: CountArgs) -> Result<()> {
    let mut client = BundleClient::new(connect(&a.socket.path()).await?);
    let n = client
        .count_bundles(api::CountBundlesRequest {})
        .await
        .map_err(rpc)?
        .into_inner()
        .count;
    match a.output.output {
        Format::Pretty => {
            let noun = if n == 1 { "bundle" } else { "bundles" };
            output::out(&format!("{n} {noun}\n"))
        }
        Format::Json => output::out(&go_json(&json!({ "count": n }))),
    }
}
