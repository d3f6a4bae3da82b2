//! Printing the results of `entry create` and `entry update`: SPIRE's blocks for successes on
//! stdout; a failed entry given by flags as one `Error:` line; failed `-data` entries as
//! SPIRE prints them (`Failed to create the following entry ...` and the block, on stderr).

use anyhow::{Result, anyhow};
use serde_json::json;
use spiffe_proto::spire::api::types as pb;
use tonic::Code;

use super::print::entry_block;
use crate::cli::client::status_code_name;
use crate::cli::flags::Format;
use crate::cli::output::{self, go_json};
use crate::cli::pbjson;

/// Where the entries came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// One entry from flags.
    Flags,
    /// `-data`.
    Data,
}

/// One result: the status, and the entry (the stored one on success, the request's on failure).
pub(crate) struct Outcome {
    /// The per-entry status.
    pub(crate) status: Option<pb::Status>,
    /// The entry.
    pub(crate) entry: pb::Entry,
}

impl Outcome {
    fn ok(&self) -> bool {
        self.status
            .as_ref()
            .is_none_or(|s| s.code == Code::Ok as i32)
    }
}

/// Pairs results with the request's entries (the server answers in request order).
pub(crate) fn outcomes(
    requested: Vec<pb::Entry>,
    results: impl IntoIterator<Item = (Option<pb::Status>, Option<pb::Entry>)>,
) -> Vec<Outcome> {
    results
        .into_iter()
        .zip(requested)
        .map(|((status, stored), requested)| {
            let failed = status.as_ref().is_some_and(|s| s.code != Code::Ok as i32);
            let entry = match stored {
                Some(e) if !failed => e,
                _ => requested,
            };
            Outcome { status, entry }
        })
        .collect()
}

/// Prints the outcomes of `verb` (`create`, `update`); an error when any entry failed.
pub(crate) fn report(
    verb: &str,
    outcomes: &[Outcome],
    source: Source,
    format: Format,
) -> Result<()> {
    if format == Format::Json {
        let results: Vec<_> = outcomes
            .iter()
            .map(|o| pbjson::entry_result(o.status.as_ref(), Some(&o.entry)))
            .collect();
        return output::out(&go_json(&json!({ "results": results })));
    }
    let mut stdout = String::new();
    for o in outcomes.iter().filter(|o| o.ok()) {
        stdout.push_str(&entry_block(&o.entry));
    }
    output::out(&stdout)?;
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.ok()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    if let ([one], Source::Flags) = (failed.as_slice(), source) {
        return Err(single_failure(verb, one));
    }
    let mut stderr = String::new();
    for o in &failed {
        let (code, msg) = o
            .status
            .as_ref()
            .map(|s| (status_code_name(s.code), s.message.as_str()))
            .unwrap_or_default();
        stderr.push_str(&format!(
            "Failed to {verb} the following entry (code: {code}, msg: {msg:?}):\n"
        ));
        stderr.push_str(&entry_block(&o.entry));
    }
    output::err(&stderr);
    Err(anyhow!("failed to {verb} one or more entries"))
}

/// One line for the one entry given by flags.
fn single_failure(verb: &str, o: &Outcome) -> anyhow::Error {
    let (code, msg) = o
        .status
        .as_ref()
        .map(|s| (s.code, s.message.clone()))
        .unwrap_or_default();
    // The server's message often repeats what this line says first.
    let repeated = format!("failed to {verb} entry: ");
    let msg = msg.strip_prefix(&repeated).unwrap_or(&msg);
    let explain = if code == Code::AlreadyExists as i32 {
        ": an entry with the same SPIFFE ID, parent ID and selectors is registered"
    } else {
        ""
    };
    anyhow!(
        "failed to {verb} entry (code: {}): {msg}{explain}",
        status_code_name(code)
    )
}
