//! `federation create|list|show|update|delete|refresh`: the server's dynamic federation
//! relationships (the `TrustDomain` API), with SPIRE's flags, text and `-output json`.

mod data;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use spiffe_proto::spire::api::server::trustdomain::v1 as api;
use spiffe_proto::spire::api::server::trustdomain::v1::trust_domain_client::TrustDomainClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_proto::spire::api::types::federation_relationship::BundleEndpointProfile as P;
use tonic::Code;
use tonic::transport::Channel;

use self::data::RelationshipConfig;
use crate::cli::client::{connect, rpc, status_code_name};
use crate::cli::flags::{Format, OutputArgs, SocketArgs};
use crate::cli::output::{self, go_json};
use crate::cli::pbjson;

/// The federation commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum FederationCommand {
    /// Creates a dynamic federation relationship with a foreign trust domain
    Create(WriteArgs),
    /// Lists all dynamic federation relationships
    List(ListArgs),
    /// Shows a dynamic federation relationship
    Show(ShowArgs),
    /// Updates a dynamic federation relationship with a foreign trust domain
    Update(WriteArgs),
    /// Deletes a dynamic federation relationship
    Delete(IdArgs),
    /// Refreshes the bundle from the specified federated trust domain
    Refresh(IdArgs),
}

/// Flags of `federation create` and `federation update`.
#[derive(Debug, Clone, Args)]
pub(crate) struct WriteArgs {
    /// Path to a file containing federation relationships in JSON format (optional). If set to
    /// '-', read the JSON from stdin.
    #[arg(long = "data", value_name = "PATH")]
    data: Option<String>,
    /// Name of the trust domain to federate with (e.g., example.org)
    #[arg(
        long = "trustDomain",
        value_name = "TD",
        default_value = "",
        hide_default_value = true
    )]
    trust_domain: String,
    /// URL of the SPIFFE bundle endpoint that provides the trust bundle (must use the HTTPS
    /// protocol)
    #[arg(
        long = "bundleEndpointURL",
        value_name = "URL",
        default_value = "",
        hide_default_value = true
    )]
    bundle_endpoint_url: String,
    /// Endpoint profile type (either "https_web" or "https_spiffe")
    #[arg(
        long = "bundleEndpointProfile",
        value_name = "PROFILE",
        default_value = "",
        hide_default_value = true
    )]
    bundle_endpoint_profile: String,
    /// SPIFFE ID of the SPIFFE bundle endpoint server. Only used for 'spiffe' profile.
    #[arg(
        long = "endpointSpiffeID",
        value_name = "ID",
        default_value = "",
        hide_default_value = true
    )]
    endpoint_spiffe_id: String,
    /// Path to the trust domain bundle data (optional).
    #[arg(
        long = "trustDomainBundlePath",
        value_name = "PATH",
        default_value = "",
        hide_default_value = true
    )]
    trust_domain_bundle_path: String,
    /// The format of the bundle data (optional). Either "pem" or "spiffe".
    #[arg(
        long = "trustDomainBundleFormat",
        value_name = "FORMAT",
        default_value = "pem"
    )]
    trust_domain_bundle_format: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

impl WriteArgs {
    fn config(&self) -> RelationshipConfig {
        RelationshipConfig {
            trust_domain: self.trust_domain.clone(),
            bundle_endpoint_url: self.bundle_endpoint_url.clone(),
            bundle_endpoint_profile: self.bundle_endpoint_profile.clone(),
            endpoint_spiffe_id: self.endpoint_spiffe_id.clone(),
            trust_domain_bundle_path: self.trust_domain_bundle_path.clone(),
            trust_domain_bundle: None,
            trust_domain_bundle_format: self.trust_domain_bundle_format.clone(),
        }
    }
}

/// Flags of `federation list`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Flags of `federation show`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ShowArgs {
    /// The trust domain name of the federation relationship to show
    #[arg(
        long = "trustDomain",
        value_name = "TD",
        default_value = "",
        hide_default_value = true
    )]
    trust_domain: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Flags of `federation delete` and `federation refresh`.
#[derive(Debug, Clone, Args)]
pub(crate) struct IdArgs {
    /// SPIFFE ID of the trust domain
    #[arg(
        long = "id",
        value_name = "TD",
        default_value = "",
        hide_default_value = true
    )]
    id: String,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Runs a federation command.
pub(crate) async fn run(cmd: FederationCommand) -> Result<()> {
    match cmd {
        FederationCommand::Create(a) => write(a, Verb::Create).await,
        FederationCommand::Update(a) => write(a, Verb::Update).await,
        FederationCommand::List(a) => list(a).await,
        FederationCommand::Show(a) => show(a).await,
        FederationCommand::Delete(a) => delete(a).await,
        FederationCommand::Refresh(a) => refresh(a).await,
    }
}

async fn client(socket: &SocketArgs) -> Result<TrustDomainClient<Channel>> {
    Ok(TrustDomainClient::new(connect(&socket.path()).await?))
}

/// A relationship as SPIRE prints it.
fn block(fr: &pb::FederationRelationship) -> String {
    let mut s = format!(
        "Trust domain              : {}\nBundle endpoint URL       : {}\n",
        fr.trust_domain, fr.bundle_endpoint_url
    );
    match &fr.bundle_endpoint_profile {
        Some(P::HttpsWeb(_)) => s.push_str("Bundle endpoint profile   : https_web\n"),
        Some(P::HttpsSpiffe(p)) => {
            s.push_str("Bundle endpoint profile   : https_spiffe\n");
            s.push_str(&format!(
                "Endpoint SPIFFE ID        : {}\n",
                p.endpoint_spiffe_id
            ));
        }
        None => {}
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Create,
    Update,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Create => "create",
            Verb::Update => "update",
        }
    }
}

async fn write(a: WriteArgs, verb: Verb) -> Result<()> {
    let requested = data::relationships(&a.config(), a.data.as_deref())?;
    let mut c = client(&a.socket).await?;
    let results: Vec<(Option<pb::Status>, Option<pb::FederationRelationship>)> = match verb {
        Verb::Create => c
            .batch_create_federation_relationship(api::BatchCreateFederationRelationshipRequest {
                federation_relationships: requested.clone(),
                output_mask: None,
            })
            .await
            .map_err(rpc)
            .context("request failed")?
            .into_inner()
            .results
            .into_iter()
            .map(|r| (r.status, r.federation_relationship))
            .collect(),
        Verb::Update => c
            .batch_update_federation_relationship(api::BatchUpdateFederationRelationshipRequest {
                federation_relationships: requested.clone(),
                input_mask: None,
                output_mask: None,
            })
            .await
            .map_err(rpc)
            .context("request failed")?
            .into_inner()
            .results
            .into_iter()
            .map(|r| (r.status, r.federation_relationship))
            .collect(),
    };
    if a.output.output == Format::Json {
        let results: Vec<Value> = results
            .iter()
            .map(|(s, fr)| pbjson::federation_relationship_result(s.as_ref(), fr.as_ref()))
            .collect();
        return output::out(&go_json(&json!({ "results": results })));
    }
    if results.len() > requested.len() {
        bail!(
            "the server answered {} results for {} relationships",
            results.len(),
            requested.len()
        );
    }
    let is_ok = |s: &Option<pb::Status>| s.as_ref().is_some_and(|s| s.code == Code::Ok as i32);
    let mut stdout = String::new();
    for (_, fr) in results.iter().filter(|(s, _)| is_ok(s)) {
        stdout.push('\n');
        stdout.push_str(&fr.as_ref().map(block).unwrap_or_default());
    }
    let mut stderr = String::new();
    for ((s, _), req) in results
        .iter()
        .zip(&requested)
        .filter(|((s, _), _)| !is_ok(s))
    {
        stdout.push('\n');
        let (code, msg) = s
            .as_ref()
            .map(|s| (status_code_name(s.code), s.message.as_str()))
            .unwrap_or_else(|| ("OK".into(), ""));
        stderr.push_str(&format!(
            "Failed to {} the following federation relationship (code: {code}, msg: {msg:?}):\n",
            verb.name()
        ));
        stderr.push_str(&block(req));
    }
    // SPIRE prints each failure's blank line on stdout before its block on stderr; the
    // blank lines are written first here, each stream in its order.
    output::out(&stdout)?;
    if stderr.is_empty() {
        return Ok(());
    }
    output::err(&stderr);
    Err(anyhow!(
        "failed to {} one or more federation relationships",
        verb.name()
    ))
}

async fn list(a: ListArgs) -> Result<()> {
    let resp = client(&a.socket)
        .await?
        .list_federation_relationships(api::ListFederationRelationshipsRequest::default())
        .await
        .map_err(rpc)
        .context("error listing federation relationship")?
        .into_inner();
    if a.output.output == Format::Json {
        let list: Vec<Value> = resp
            .federation_relationships
            .iter()
            .map(pbjson::federation_relationship)
            .collect();
        return output::out(&go_json(&json!({
            "federation_relationships": list,
            "next_page_token": resp.next_page_token,
        })));
    }
    let n = resp.federation_relationships.len();
    let noun = if n == 1 {
        "federation relationship"
    } else {
        "federation relationships"
    };
    let mut s = format!("Found {n} {noun}\n");
    for fr in &resp.federation_relationships {
        s.push('\n');
        s.push_str(&block(fr));
    }
    output::out(&s)
}

async fn show(a: ShowArgs) -> Result<()> {
    if a.trust_domain.is_empty() {
        bail!("a trust domain name is required");
    }
    let fr = client(&a.socket)
        .await?
        .get_federation_relationship(api::GetFederationRelationshipRequest {
            trust_domain: a.trust_domain.clone(),
            output_mask: None,
        })
        .await
        .map_err(rpc)
        .context("error showing federation relationship")?
        .into_inner();
    match a.output.output {
        Format::Json => output::out(&go_json(&pbjson::federation_relationship(&fr))),
        Format::Pretty => output::out(&format!(
            "Found a federation relationship with trust domain {}:\n\n{}",
            a.trust_domain,
            block(&fr)
        )),
    }
}

async fn delete(a: IdArgs) -> Result<()> {
    if a.id.is_empty() {
        bail!("id is required");
    }
    let resp = client(&a.socket)
        .await?
        .batch_delete_federation_relationship(api::BatchDeleteFederationRelationshipRequest {
            trust_domains: vec![a.id.clone()],
        })
        .await
        .map_err(rpc)
        .context("failed to delete federation relationship")?
        .into_inner();
    if a.output.output == Format::Json {
        let results: Vec<Value> = resp
            .results
            .iter()
            .map(|r| {
                let mut v = json!({ "trust_domain": r.trust_domain });
                if let (Value::Object(m), Some(s)) = (&mut v, pbjson::status(r.status.as_ref())) {
                    m.insert("status".into(), s);
                }
                v
            })
            .collect();
        return output::out(&go_json(&json!({ "results": results })));
    }
    let Some(r) = resp.results.first() else {
        bail!("the server answered no result");
    };
    match r.status.as_ref() {
        Some(s) if s.code == Code::Ok as i32 => output::out("federation relationship deleted.\n"),
        s => bail!(
            "failed to delete federation relationship {:?}: {}",
            r.trust_domain,
            s.map(|s| s.message.as_str()).unwrap_or_default()
        ),
    }
}

async fn refresh(a: IdArgs) -> Result<()> {
    if a.id.is_empty() {
        bail!("id is required");
    }
    let outcome = client(&a.socket)
        .await?
        .refresh_bundle(api::RefreshBundleRequest {
            trust_domain: a.id.clone(),
        })
        .await;
    match outcome {
        Ok(_) => match a.output.output {
            Format::Json => output::out(&go_json(
                &pbjson::status(Some(&pb::Status {
                    code: 0,
                    message: "OK".into(),
                }))
                .unwrap_or(Value::Null),
            )),
            Format::Pretty => output::out("Bundle refreshed\n"),
        },
        Err(s) if s.code() == Code::NotFound => bail!(
            "there is no federation relationship with trust domain {:?}",
            a.id
        ),
        Err(s) => Err(rpc(s).context("failed to refresh bundle")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_as_spire_prints_them() {
        let fr = pb::FederationRelationship {
            trust_domain: "a.org".into(),
            bundle_endpoint_url: "https://a/".into(),
            bundle_endpoint_profile: Some(P::HttpsSpiffe(pb::HttpsspiffeProfile {
                endpoint_spiffe_id: "spiffe://a.org/s".into(),
            })),
            trust_domain_bundle: None,
        };
        assert_eq!(
            block(&fr),
            "Trust domain              : a.org\nBundle endpoint URL       : https://a/\n\
             Bundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : spiffe://a.org/s\n"
        );
        let web = pb::FederationRelationship {
            bundle_endpoint_profile: Some(P::HttpsWeb(pb::HttpsWebProfile {})),
            ..fr
        };
        assert!(block(&web).ends_with("Bundle endpoint profile   : https_web\n"));
    }
}
