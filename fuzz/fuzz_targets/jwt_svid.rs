//! JWT-SVID parsing and validation: no panic on any token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_core::{BundleSet, JwtSvid};

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let _ = JwtSvid::parse_insecure(token);
    let _ = JwtSvid::parse_and_validate(token, &BundleSet::new(), "audience");
});
