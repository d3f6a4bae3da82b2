//! The `spiffe-helper` binary (see the `spiffe_helper` library).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    spiffe_helper::main()
}
