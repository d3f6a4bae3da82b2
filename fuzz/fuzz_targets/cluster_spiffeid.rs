//! `ClusterSPIFFEID` specs (YAML as users write them): parsed (templates, selectors, DNS name
//! templates) and, when valid, rendered into an entry for a sample pod, without a panic.
#![no_main]

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::{Node, Pod};
use libfuzzer_sys::fuzz_target;
use spiffe_controller::config::ControllerConfig;
use spiffe_controller::crd::ClusterSPIFFEIDSpec;
use spiffe_controller::render::{ParsedSpec, parent_id, pod_entry};
use spiffe_core::TrustDomain;

struct Fixture {
    config: ControllerConfig,
    pod: Pod,
    node: Node,
}

fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let config =
                ControllerConfig::new(TrustDomain::parse("example.org").ok()?, "demo").ok()?;
            let pod = serde_json::from_str(
                r#"{"metadata":{"name":"payment-7d9f","namespace":"prod","uid":"4b7c",
                    "labels":{"app":"payment"}},
                    "spec":{"serviceAccountName":"payment-sa","nodeName":"node-1",
                    "containers":[{"name":"app","image":"pay:1"}]}}"#,
            )
            .ok()?;
            let node = serde_json::from_str(
                r#"{"metadata":{"name":"node-1","uid":"9e1f","labels":{"zone":"a"}}}"#,
            )
            .ok()?;
            Some(Fixture { config, pod, node })
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(f) = fixture() else { return };
    let Ok(spec) = serde_yaml::from_slice::<ClusterSPIFFEIDSpec>(data) else { return };
    let Ok(parsed) = ParsedSpec::parse(&spec) else { return };
    let Ok(parent) = parent_id(&f.config, &f.node) else { return };
    let info = f.config.cluster_info();
    let _ = pod_entry(&f.config, &info, &parsed, &f.pod, &f.node, &parent);
});
