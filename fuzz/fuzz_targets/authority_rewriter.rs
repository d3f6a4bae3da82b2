//! The Workload API's `:authority` rewriter (HTTP/2 frames and HPACK from a local client): no
//! panic, output at most 4 times the input at every read, and what it accepts comes out
//! well-framed and rewrites again to itself. The first byte picks how the rest is cut into
//! reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_workload::server::authority::fuzzing::rewrite;

fuzz_target!(|data: &[u8]| {
    rewrite(data);
});
