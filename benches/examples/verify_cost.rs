//! Runs one X.509 verification N times, for counting instructions with
//! `valgrind --tool=callgrind` (deterministic, unlike wall time on a shared machine):
//!
//! ```text
//! cargo build --release -p spiffe-benches --example verify_cost
//! valgrind --tool=callgrind target/release/examples/verify_cost ours 200
//! valgrind --tool=callgrind target/release/examples/verify_cost bare-webpki 200
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rustls_pki_types::UnixTime;
use spiffe_core::x509::{Usage, verify_chain_with};

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "ours".into());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let f = spiffe_benches::fixtures::chain("spiffe://example.org/ns/prod/sa/payment-service");
    let anchors = vec![
        webpki::anchor_from_trusted_cert(&f.root)
            .unwrap()
            .to_owned(),
    ];
    let now = UnixTime::now();
    let mut ok = 0usize;
    for _ in 0..n {
        match mode.as_str() {
            "ours" => {
                verify_chain_with(&f.chain, &f.bundles, now, Usage::ClientAuth).unwrap();
            }
            "bare-webpki" => {
                let ee = webpki::EndEntityCert::try_from(&f.chain[0]).unwrap();
                ee.verify_for_usage(
                    webpki::ALL_VERIFICATION_ALGS,
                    &anchors,
                    &f.chain[1..],
                    now,
                    webpki::KeyUsage::client_auth(),
                    None,
                    None,
                )
                .unwrap();
            }
            "setup" => {}
            other => {
                eprintln!("unknown mode {other}: ours | bare-webpki | setup");
                std::process::exit(2);
            }
        }
        ok += 1;
    }
    println!("{mode}: {ok} verifications");
}
