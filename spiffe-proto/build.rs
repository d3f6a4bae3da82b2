//! Compiles the protos under `../proto` with protox (pure Rust; no protoc needed).

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "spiffe/workload.proto",
    "spire/api/server/entry/v1/entry.proto",
    "spire/api/server/agent/v1/agent.proto",
    "spire/api/server/svid/v1/svid.proto",
    "spire/api/server/bundle/v1/bundle.proto",
    "spiffers/sync/v1/sync.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let fds = protox::compile(PROTOS, [&root])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        .include_file("protos.rs")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed={}", root.display());
    Ok(())
}
