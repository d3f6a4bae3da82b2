//! PKCS#10 certificate requests (what agents send to be signed): no panic on any DER, and a
//! request that verifies yields its key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spiffe_core::x509::CertificateRequest;

fuzz_target!(|data: &[u8]| {
    let _ = CertificateRequest::parse_and_verify(data);
});
