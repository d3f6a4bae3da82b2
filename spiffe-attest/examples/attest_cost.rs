//! Cost of attesting a caller with the unix attestor (the Workload API's per-call work), on
//! this process's own PID, in total and by part, beside the same `/proc` reads done with the
//! `procfs` crate:
//!
//! ```text
//! cargo run --release -p spiffe-attest --example attest_cost
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use spiffe_attest::{ProcessIdentity, UnixAttestor, UnixConfig, WorkloadAttestor, attest_process};

const N: usize = 2000;

fn report(what: &str, mut samples: Vec<f64>) {
    samples.sort_by(f64::total_cmp);
    println!(
        "{what:<48} p50 {:>7.1} us   p99 {:>7.1} us   (n = {})",
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
        samples.len()
    );
}

async fn time_async<F: Future>(mut f: impl FnMut() -> F) -> Vec<f64> {
    let mut samples = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples
}

fn time_sync(mut f: impl FnMut()) -> Vec<f64> {
    let mut samples = Vec::with_capacity(N);
    for _ in 0..N {
        let t = Instant::now();
        f();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    samples
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let unix = Arc::new(UnixAttestor::new(UnixConfig::default()));
    let attestors: Vec<Arc<dyn WorkloadAttestor>> = vec![unix.clone()];
    let pid = std::process::id() as i32;

    report(
        "whole attestation (capture, unix, verify)",
        time_async(|| async {
            assert!(
                !attest_process(pid, &attestors)
                    .await
                    .unwrap()
                    .selectors
                    .is_empty()
            )
        })
        .await,
    );
    report(
        "  PID-reuse guard: capture",
        time_sync(|| {
            ProcessIdentity::capture(pid).unwrap();
        }),
    );
    let captured = ProcessIdentity::capture(pid).unwrap();
    report(
        "  PID-reuse guard: verify",
        time_sync(|| captured.verify().unwrap()),
    );
    report(
        "  unix attestor (async, names cached)",
        time_async(|| async { unix.attest(pid).await.unwrap() }).await,
    );
    report(
        "  unix attestor on the calling thread",
        time_sync(|| {
            unix.attest_blocking(pid).unwrap();
        }),
    );
    report(
        "  baseline: tokio spawn_blocking round trip",
        time_async(|| async { tokio::task::spawn_blocking(|| ()).await.unwrap() }).await,
    );
    report(
        "  baseline: the guard's capture reads on procfs",
        time_sync(|| {
            // What `capture` reads (`stat`, then `status`), through procfs's full parsers.
            let process = procfs::process::Process::new(pid).unwrap();
            assert!(process.stat().unwrap().starttime > 0);
            assert!(process.status().unwrap().groups.len() < 65536);
        }),
    );
    report(
        "  baseline: read /proc/self/status",
        time_sync(|| {
            std::fs::read("/proc/self/status").unwrap();
        }),
    );
}
