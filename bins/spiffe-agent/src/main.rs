//! `spiffe-agent`: runs the SPIFFE agent and uses the Workload API from the command line, with
//! SPIRE's command line (`-socketPath`, `-joinToken`, `-trustBundle`, ...) next to `--long`
//! forms.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os()) {
        Ok(command) => cli::dispatch(command),
        Err(exit) => exit,
    }
}
