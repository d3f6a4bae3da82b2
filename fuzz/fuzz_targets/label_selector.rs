//! Label selectors (`matchLabels`, `matchExpressions`, as JSON the API server sends): checked
//! and compiled without a panic, and a compiled one evaluated against labels from the input.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use spiffe_controller::labels::{LabelSelector, Selector};

fuzz_target!(|data: &[u8]| {
    // The first line is the selector, the rest a label map.
    let (selector, labels) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"{}"[..]),
    };
    let Ok(selector) = serde_json::from_slice::<LabelSelector>(selector) else { return };
    let Ok(compiled) = Selector::new(&selector) else {
        return;
    };
    let labels: Option<BTreeMap<String, String>> = serde_json::from_slice(labels).ok();
    let _ = compiled.matches(labels.as_ref());
    let _ = compiled.matches(None);
});
