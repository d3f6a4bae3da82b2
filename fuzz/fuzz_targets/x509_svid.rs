//! X509-SVID parsing and chain verification: no panic on any DER.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_core::x509::{CertificateDer, verify_chain};
use spiffe_core::{BundleSet, X509Svid};

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |&b| usize::from(b)).min(data.len());
    let (chain, key) = data.split_at(split);
    let _ = X509Svid::parse_der(chain, key);
    let _ = X509Svid::parse_pem(chain, key);
    let _ = verify_chain(&[CertificateDer::from(data)], &BundleSet::new());
});
