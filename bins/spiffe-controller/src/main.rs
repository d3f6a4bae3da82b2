//! `spiffe-controller`: turns ClusterSPIFFEID and ClusterStaticEntry resources into
//! registration entries and ClusterFederatedTrustDomain resources into federation
//! relationships (`run`), shows the entries YAML would produce without a cluster
//! (`render`), and prints its CRDs (`crd`). SPIRE-style single-dash flags (`-trustDomain`) are
//! accepted next to `--long` forms.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os()) {
        Ok(command) => cli::dispatch(command),
        Err(exit) => exit,
    }
}
