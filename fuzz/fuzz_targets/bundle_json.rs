//! SPIFFE bundle documents and bundle maps: no panic, and what parses re-encodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_core::{Bundle, BundleSet, TrustDomain};

fuzz_target!(|data: &[u8]| {
    let Ok(td) = TrustDomain::parse("example.org") else { return };
    if let Ok(bundle) = Bundle::parse_json(td.clone(), data) {
        let again = Bundle::parse_json(td.clone(), bundle.to_json().as_bytes());
        assert_eq!(again.as_ref(), Ok(&bundle));
    }
    let _ = Bundle::parse_json_lenient(td, data);
    let _ = BundleSet::parse_bundle_map(data);
});
