//! `/proc/<pid>/cgroup` content (cgroup v1 and v2, every runtime's path shape): no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    spiffe_attest::fuzzing::cgroup_file(data);
});
