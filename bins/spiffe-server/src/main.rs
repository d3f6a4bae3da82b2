//! `spiffe-server`: runs the SPIFFE server and administers it over its admin socket, with
//! SPIRE's command line (`-spiffeID`, `-parentID`, `-selector`, ...) next to `--long` forms.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os()) {
        Ok(command) => cli::dispatch(command),
        Err(exit) => exit,
    }
}
