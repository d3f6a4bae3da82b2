//! The controller's Go text/template subset: any template text parses or is refused, and a
//! parsed one renders (or fails with an error) against pod-shaped data, without a panic.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use spiffe_controller::template::{Struct, Template, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let Ok(template) = Template::parse(source) else { return };
    let labels: BTreeMap<String, String> = [("app", "payment"), ("tier", "")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let data = Value::Struct(
        Struct::new("spireentry.templateData")
            .field("TrustDomain", "example.org")
            .field("ClusterName", "demo")
            .field(
                "PodMeta",
                Struct::new("v1.ObjectMeta")
                    .field("Name", "payment-7d9f")
                    .field("Namespace", "prod")
                    .field("Labels", labels),
            )
            .field(
                "PodSpec",
                Struct::new("v1.PodSpec")
                    .field("ServiceAccountName", "payment-sa")
                    .field("HostNetwork", false),
            ),
    );
    let _ = template.render(&data);
});
