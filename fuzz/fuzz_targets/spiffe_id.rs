//! SPIFFE ID and trust domain parsers: no panic, and what parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_core::{SpiffeId, TrustDomain};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(id) = SpiffeId::parse(s) {
        assert_eq!(SpiffeId::parse(id.as_str()).as_ref(), Ok(&id));
        let td = id.trust_domain();
        assert_eq!(SpiffeId::from_path(&td, id.path()).as_ref(), Ok(&id));
    }
    let _ = SpiffeId::parse_normalized(s);
    let _ = TrustDomain::parse(s);
});
