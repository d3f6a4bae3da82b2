//! X509-SVID parsing and chain verification: no panic on any DER or PEM.
//!
//! Input: two bytes (big-endian) saying where the chain ends, the chain, then the key; the
//! seeds in `fuzz/seeds/x509_svid` are a real SVID and its key in DER and in PEM.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_core::x509::{CertificateDer, verify_chain};
use spiffe_core::{BundleSet, X509Svid};

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(2));
    let split = head
        .iter()
        .fold(0usize, |n, &b| (n << 8) | usize::from(b))
        .min(rest.len());
    let (chain, key) = rest.split_at(split);
    let _ = X509Svid::parse_der(chain, key);
    let _ = X509Svid::parse_pem(chain, key);
    let _ = verify_chain(&[CertificateDer::from(chain)], &BundleSet::new());
});
