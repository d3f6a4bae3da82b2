//! `crd`: the CustomResourceDefinitions, generated from the Rust types.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

/// Prints the CRDs as multi-document YAML.
pub(crate) fn run() -> Result<ExitCode> {
    let yaml = spiffe_controller::crd::crds_yaml().context("rendering the CRDs")?;
    std::io::stdout()
        .write_all(yaml.as_bytes())
        .context("writing to standard output")?;
    Ok(ExitCode::SUCCESS)
}
