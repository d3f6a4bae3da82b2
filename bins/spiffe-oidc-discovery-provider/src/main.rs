//! The `spiffe-oidc-discovery-provider` binary (see the `spiffe_oidc_discovery_provider` library).
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    spiffe_oidc_discovery_provider::main()
}
