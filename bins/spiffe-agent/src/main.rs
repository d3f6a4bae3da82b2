//! The `spiffe-agent` binary (see the `spiffe_agent_bin` library).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    spiffe_agent_bin::main()
}
