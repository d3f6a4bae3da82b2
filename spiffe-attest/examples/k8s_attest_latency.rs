//! Latency of the k8s workload attestor with a warm pod list: a fake kubelet (HTTPS, CA
//! checked, bearer token) serving 110 pods (the kubelet's default pod limit), a process whose
//! cgroup file (in a fake proc tree) puts it in one of them, and the attestor asked again and
//! again. Prints p50/p99/max, sequential and with concurrent callers, and the cold first call.
//!
//! ```sh
//! cargo run --release -p spiffe-attest --example k8s_attest_latency
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/k8s_common/mod.rs"]
mod k8s_common;

use std::time::{Duration, Instant};

use k8s_common::{KubeletConfig, secure_kubelet};
use spiffe_attest::k8s::K8sAttestor;
use spiffe_testkit::kubelet::running_pod;

const PODS: usize = 110;
const SEQUENTIAL: usize = 20_000;
const CONCURRENT_TASKS: usize = 8;
const PER_TASK: usize = 2_500;

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{label:<34} n={:<6} p50={:>8.1?} p99={:>8.1?} max={:>8.1?}",
        samples.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let kubelet = secure_kubelet().await;
    let mut list = kubelet.pods().unwrap();
    let items = list["items"].as_array_mut().unwrap();
    for i in items.len()..PODS {
        items.push(running_pod(
            &format!("ns-{}", i % 7),
            &format!("workload-{i}"),
            &format!("00000000-0000-4000-8000-{i:012}"),
            &format!("{i:064x}"),
        ));
    }
    kubelet.set_pods(&list);

    // The workload: pod 57 of the list, systemd driver, containerd, cgroup v2.
    let pid = 4242;
    let proc_root = tempfile::tempdir().unwrap();
    std::fs::create_dir(proc_root.path().join(pid.to_string())).unwrap();
    std::fs::write(
        proc_root.path().join(pid.to_string()).join("cgroup"),
        format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{:064x}.scope\n",
            "00000000_0000_4000_8000_000000000057", 57
        ),
    )
    .unwrap();

    let mut config = kubelet.config(Some("localhost"));
    // Keep the list warm for the whole run.
    config.poll_retry_interval = Duration::from_secs(3600);
    let attestor = K8sAttestor::new(config)
        .unwrap()
        .with_proc_root(proc_root.path());

    let start = Instant::now();
    let selectors = attestor.selectors(pid).await.unwrap();
    let cold = start.elapsed();
    assert!(
        selectors
            .iter()
            .any(|s| s.value() == "pod-name:workload-57"),
        "{selectors:?}"
    );
    println!(
        "k8s attestor, {PODS} pods on the node, {} selectors per workload",
        selectors.len()
    );
    println!("cold (TLS connect + GET /pods + parse): {cold:.1?}");

    let mut samples = Vec::with_capacity(SEQUENTIAL);
    for _ in 0..SEQUENTIAL {
        let t = Instant::now();
        let s = attestor.selectors(pid).await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(s.len(), selectors.len());
    }
    percentiles("warm, sequential", samples);

    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|_| {
            let attestor = attestor.clone();
            tokio::spawn(async move {
                let mut samples = Vec::with_capacity(PER_TASK);
                for _ in 0..PER_TASK {
                    let t = Instant::now();
                    attestor.selectors(pid).await.unwrap();
                    samples.push(t.elapsed());
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    percentiles(&format!("warm, {CONCURRENT_TASKS} concurrent callers"), all);
    assert_eq!(
        kubelet.requests(),
        1,
        "the warm runs must not ask the kubelet"
    );
    println!("kubelet requests: {}", kubelet.requests());
}
