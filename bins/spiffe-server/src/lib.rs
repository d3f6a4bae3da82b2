//! `spiffe-server`: runs the SPIFFE server and administers it over its admin socket, with
//! SPIRE's command line (`-spiffeID`, `-parentID`, `-selector`, ...) next to `--long` forms.
//! The binary's `main` is [`main`]; the server itself is the `spiffe-server` library.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

/// Runs the command line of the process (the `spiffe-server` binary).
pub fn main() -> ExitCode {
    match cli::parse(std::env::args_os()) {
        Ok(command) => cli::dispatch(command),
        Err(exit) => exit,
    }
}

/// Entry points for the `cargo fuzz` targets in `fuzz/` (feature `fuzzing`; not part of the
/// supported API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    /// A configuration file's text as `spiffe-server run -config` reads it: parsed, then
    /// resolved into the server's configuration (files it names are read, bounded).
    pub fn config_file(text: &str) {
        crate::cli::fuzz_config_file(text);
    }
}
