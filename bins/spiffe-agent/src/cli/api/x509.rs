//! `api fetch x509` (also `api fetch`): the first `FetchX509SVID` message, each SVID verified
//! against its bundle, printed as SPIRE prints it and written to files with `-write`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::{ArgAction, Args};

use super::print::{self, TdLabel};
use super::view::{verify, views};
use super::write::write_all;
use crate::cli::client::{client_error, connect, within};
use crate::cli::flags::{ClientArgs, Format, OutputArgs, go_bool};
use crate::cli::output;

/// Flags of `api fetch x509`.
#[derive(Debug, Clone, Args)]
pub(crate) struct X509Args {
    /// Suppress stdout
    #[arg(long = "silent", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    silent: bool,
    /// Write SVID data to the specified path (optional; only available for pretty output
    /// format)
    #[arg(long = "write", value_name = "DIR")]
    write: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    client: ClientArgs,
}

/// Runs `api fetch x509`.
pub(crate) async fn run(a: X509Args) -> Result<()> {
    let start = Instant::now();
    let context = within(a.client.timeout, async {
        let client = connect(&a.client.socket).await?;
        client.fetch_x509_context().await.map_err(client_error)
    })
    .await?;
    let elapsed = start.elapsed();
    verify(&context)?;
    let views = views(&context);
    match a.output.output {
        Format::Json => output::out(&output::go_json(&print::json(&views))),
        Format::Pretty => {
            if !a.silent {
                output::out(&print::pretty(&views, elapsed, TdLabel::Id)?)?;
            }
            match &a.write {
                Some(dir) => write_all(dir, &views),
                None => Ok(()),
            }
        }
    }
}
