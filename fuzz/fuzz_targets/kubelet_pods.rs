//! The kubelet's pod list (`/pods`, JSON as the kubelet sends it): parsed, indexed, looked up
//! and turned into `k8s` selectors without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    spiffe_attest::fuzzing::kubelet_pods(data);
});
