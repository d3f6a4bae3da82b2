//! `entry delete`.

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use serde_json::{Value, json};
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use tonic::Code;

use crate::cli::client::{connect, rpc, status_code_name};
use crate::cli::flags::{Format, OutputArgs, SocketArgs};
use crate::cli::output::{self, go_json};
use crate::cli::pbjson;

/// Flags of `entry delete`.
#[derive(Debug, Clone, Args)]
pub(crate) struct DeleteArgs {
    /// The ID of the entry to delete
    #[arg(long = "entryID", alias = "entry-id", value_name = "ID")]
    pub(crate) entry_id: Option<String>,
    /// A JSON file of IDs to delete (`{"ids":["id1","id2"]}`); `-` reads standard input
    #[arg(long = "file", value_name = "PATH")]
    pub(crate) file: Option<String>,
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
}

/// The IDs of a `BatchDeleteEntryRequest` in JSON (`ids`, any case).
fn parse_ids(text: &str) -> Result<Vec<String>> {
    let doc: Value = serde_json::from_str(text).map_err(|e| anyhow!("invalid JSON: {e}"))?;
    let Value::Object(obj) = doc else {
        bail!("expected an object with \"ids\"");
    };
    let ids = obj
        .get("ids")
        .or_else(|| {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("ids"))
                .map(|(_, v)| v)
        })
        .cloned()
        .unwrap_or(Value::Null);
    match ids {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(anyhow!("\"ids\" must be an array of strings")),
            })
            .collect(),
        _ => bail!("\"ids\" must be an array of strings"),
    }
}

fn read_ids(path: &str) -> Result<Vec<String>> {
    let mut text = String::new();
    if path == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading -file from standard input")?;
    } else {
        text = std::fs::read_to_string(path).with_context(|| format!("reading -file {path}"))?;
    }
    parse_ids(&text).with_context(|| format!("-file {path}"))
}

/// Runs `entry delete`.
pub(crate) async fn run(a: DeleteArgs) -> Result<()> {
    let ids = match a.file.as_deref().filter(|f| !f.is_empty()) {
        Some(path) => read_ids(path)?,
        None => match a.entry_id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) => vec![id.to_owned()],
            None => bail!("an entry ID is required"),
        },
    };
    let mut client = EntryClient::new(connect(&a.socket.path()).await?);
    let resp = client
        .batch_delete_entry(api::BatchDeleteEntryRequest { ids })
        .await
        .map_err(rpc)?
        .into_inner();
    if a.output.output == Format::Json {
        let results: Vec<_> = resp
            .results
            .iter()
            .map(|r| {
                let mut v = json!({ "id": r.id });
                if let (Value::Object(m), Some(s)) = (&mut v, pbjson::status(r.status.as_ref())) {
                    m.insert("status".into(), s);
                }
                v
            })
            .collect();
        return output::out(&go_json(&json!({ "results": results })));
    }
    let ok = |r: &&api::batch_delete_entry_response::Result| {
        r.status.as_ref().is_none_or(|s| s.code == Code::Ok as i32)
    };
    let (succeeded, failed): (Vec<_>, Vec<_>) = resp.results.iter().partition(ok);
    let mut stdout = String::new();
    for r in &succeeded {
        stdout.push_str(&format!("Deleted entry with ID: {}\n", r.id));
    }
    if !succeeded.is_empty() {
        stdout.push_str("\n\n");
    }
    if failed.is_empty() {
        stdout.push_str(&format!("Deleted {} entries successfully", succeeded.len()));
        return output::out(&stdout);
    }
    output::out(&stdout)?;
    let mut stderr = String::new();
    for r in &failed {
        let (code, msg) = r
            .status
            .as_ref()
            .map(|s| (status_code_name(s.code), s.message.as_str()))
            .unwrap_or_default();
        stderr.push_str(&format!(
            "Failed to delete entry with ID {} (code: {code}, msg: {msg:?})\n",
            r.id
        ));
    }
    output::err(&stderr);
    let summary = if succeeded.is_empty() {
        format!("Failed to delete {} entries", failed.len())
    } else {
        format!(
            "Deleted {} entries successfully, but failed to delete {} entries",
            succeeded.len(),
            failed.len()
        )
    };
    output::out(&format!("\n\n{summary}"))?;
    Err(anyhow!("failed to delete one or more entries"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_any_case() {
        assert_eq!(
            parse_ids(r#"{"Ids":["a","b"]}"#).ok(),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(parse_ids(r#"{"ids":[1]}"#).is_err());
    }
}
