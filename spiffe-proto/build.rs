//! Compiles the protos under `../proto` with protox (pure Rust; no protoc needed).

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "spiffe/workload.proto",
    "spire/api/server/entry/v1/entry.proto",
    "spire/api/server/agent/v1/agent.proto",
    "spire/api/server/svid/v1/svid.proto",
    "spire/api/server/bundle/v1/bundle.proto",
    "spire/api/server/trustdomain/v1/trustdomain.proto",
    "spiffers/sync/v1/sync.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let fds = protox::compile(PROTOS, [&root])?;
    if std::env::var_os("CARGO_FEATURE_JSON").is_some() {
        // protojson's form, as SPIRE's CLI prints it: proto field names, unset fields emitted.
        // Only SPIRE's types (pbjson-build needs a package, which workload.proto has not).
        let mut types = fds.clone();
        types.file.retain(|f| f.package() == "spire.api.types");
        let descriptors = prost::Message::encode_to_vec(&types);
        pbjson_build::Builder::new()
            .register_descriptors(&descriptors)?
            .preserve_proto_field_names()
            .emit_fields()
            .build(&[".spire.api.types"])?;
    }
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
