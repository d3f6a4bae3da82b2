//! The `spiffe-server` binary (see the `spiffe_server_bin` library).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    spiffe_server_bin::main()
}
