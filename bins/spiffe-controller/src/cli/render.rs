//! `render -f <yaml>...`: the entries the given ClusterSPIFFEID, ClusterStaticEntry, Pod,
//! Namespace, Node, Service and EndpointSlice documents produce, without a cluster or a
//! server. Text (SPIRE's `entry show` layout) or `-output json` (SPIRE's
//! `{"entries": [...]}`, which `spiffe-server entry create -data` reads). Render failures go
//! to stderr and make the exit code 1, so CI can gate on them. `ClusterFederatedTrustDomain`
//! documents are checked with the controller's rules: each relationship they give is a note on
//! stderr, each one refused an error (exit code 1); standard output keeps only entries.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use spiffe_controller::federation::{EndpointProfile, Refusal, plan_federation};
use spiffe_controller::offline::read_documents;
use spiffe_controller::plan::{Declared, plan};

use super::settings::EntryArgs;

/// `render`'s flags.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// YAML or JSON files (multi-document; `-` for standard input)
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    files: Vec<String>,
    #[command(flatten)]
    entries: EntryArgs,
    /// text or json
    #[arg(
        long = "output",
        alias = "o",
        value_name = "FORMAT",
        default_value = "text"
    )]
    output: String,
}

fn read(path: &str) -> Result<String> {
    if path == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading standard input")?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
    }
}

fn text_block(d: &Declared) -> String {
    let e = &d.entry;
    let mut s = String::new();
    let mut line = |label: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(s, "{label:<24}: {value}");
    };
    line("Entry ID", &e.id);
    line("SPIFFE ID", &e.spiffe_id);
    line("Parent ID", &e.parent_id);
    if e.downstream {
        line("Downstream", &true);
    }
    let ttl = |t: i32| {
        if t == 0 {
            "default".to_owned()
        } else {
            t.to_string()
        }
    };
    line("X509-SVID TTL", &ttl(e.x509_svid_ttl));
    line("JWT-SVID TTL", &ttl(e.jwt_svid_ttl));
    for sel in &e.selectors {
        line("Selector", sel);
    }
    for td in &e.federates_with {
        line("FederatesWith", td);
    }
    for dns in &e.dns_names {
        line("DNS name", dns);
    }
    if e.admin {
        line("Admin", &true);
    }
    if e.store_svid {
        line("StoreSvid", &true);
    }
    if !e.hint.is_empty() {
        line("Hint", &e.hint);
    }
    line("Declared by", &d.by);
    if let Some(p) = &d.pod {
        line("Pod", p);
    }
    s.push('\n');
    s
}

fn json_entry(d: &Declared) -> serde_json::Value {
    let e = &d.entry;
    json!({
        "entry_id": e.id,
        "spiffe_id": e.spiffe_id.as_str(),
        "parent_id": e.parent_id.as_str(),
        "selectors": e.selectors.iter()
            .map(|s| json!({"type": s.kind(), "value": s.value()}))
            .collect::<Vec<_>>(),
        "x509_svid_ttl": e.x509_svid_ttl,
        "jwt_svid_ttl": e.jwt_svid_ttl,
        "federates_with": e.federates_with.iter().map(|t| t.name()).collect::<Vec<_>>(),
        "dns_names": e.dns_names,
        "admin": e.admin,
        "downstream": e.downstream,
        "store_svid": e.store_svid,
        "hint": e.hint,
    })
}

/// Renders and prints.
pub(crate) fn run(a: &RenderArgs) -> Result<ExitCode> {
    if !matches!(a.output.as_str(), "text" | "json") {
        bail!("unknown -output {:?} (text or json)", a.output);
    }
    let config = a.entries.config()?;
    let texts = a
        .files
        .iter()
        .map(|f| read(f).map(|t| (f.clone(), t)))
        .collect::<Result<Vec<_>>>()?;
    let input = read_documents(texts.iter().map(|(n, t)| (n.as_str(), t.as_str())))?;
    let p = plan(&config, &input.snapshot);
    let mut stderr = std::io::stderr().lock();
    for note in &input.notes {
        let _ = writeln!(stderr, "note: {note}");
    }
    for f in &p.failures {
        let _ = writeln!(stderr, "error: {f}");
    }
    let fed = plan_federation(&config, &input.federated_trust_domains);
    for (td, d) in &fed.relationships {
        let r = &d.relationship;
        let profile = match &r.profile {
            EndpointProfile::HttpsWeb => "https_web".to_owned(),
            EndpointProfile::HttpsSpiffe(id) => format!("https_spiffe, endpoint {id}"),
        };
        let bundle = if r.bundle.is_some() {
            ", with a bundle"
        } else {
            ""
        };
        let _ = writeln!(
            stderr,
            "note: ClusterFederatedTrustDomain/{}: federation relationship with {td} at {} ({profile}{bundle})",
            d.by, r.bundle_endpoint_url
        );
    }
    for (name, why) in &fed.refused {
        let why = match why {
            Refusal::Invalid(e) => e.to_string(),
            Refusal::Conflict(first) => {
                format!("the older ClusterFederatedTrustDomain {first} names the same trust domain")
            }
        };
        let _ = writeln!(stderr, "error: ClusterFederatedTrustDomain/{name}: {why}");
    }
    let mut entries: Vec<&Declared> = p.entries.values().collect();
    entries.sort_by(|x, y| {
        (x.entry.spiffe_id.as_str(), &x.entry.id).cmp(&(y.entry.spiffe_id.as_str(), &y.entry.id))
    });
    let out = match a.output.as_str() {
        "json" => {
            let doc =
                json!({ "entries": entries.iter().map(|d| json_entry(d)).collect::<Vec<_>>() });
            let mut s = serde_json::to_string_pretty(&doc).context("encoding JSON")?;
            s.push('\n');
            s
        }
        _ => {
            let mut s = format!("Found {} entries\n\n", entries.len());
            for d in &entries {
                s.push_str(&text_block(d));
            }
            s
        }
    };
    std::io::stdout()
        .write_all(out.as_bytes())
        .context("writing to standard output")?;
    Ok(if p.failures.is_empty() && fed.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
