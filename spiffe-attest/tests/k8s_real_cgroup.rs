//! The k8s attestor on the real kernel: a child process moved into a pod-shaped cgroup
//! (systemd driver, containerd: `kubepods.slice/kubepods-besteffort.slice/
//! kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`) under a writable cgroup v2
//! hierarchy, attested through the real `/proc/<pid>/cgroup` against the fake kubelet.
//!
//! Needs root and a writable cgroup hierarchy; where either is missing the test says why and
//! passes without checking anything. The cgroups it made are removed afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod k8s_common;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::ChildGuard;
use k8s_common::{KubeletConfig, secure_kubelet};
use spiffe_attest::k8s::K8sAttestor;
use spiffe_attest::{UnixAttestor, WorkloadAttestor, attest_process};

/// Cgroups made by the test, removed (deepest first) when dropped.
struct CgroupDirs(Vec<PathBuf>);

impl Drop for CgroupDirs {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            if let Err(e) = std::fs::remove_dir(dir) {
                eprintln!("could not remove cgroup {}: {e}", dir.display());
            }
        }
    }
}

impl CgroupDirs {
    /// Makes `root/<segments...>`, remembering each directory it created.
    fn make(root: &Path, segments: &[String]) -> std::io::Result<(Self, PathBuf)> {
        let mut made = CgroupDirs(Vec::new());
        let mut dir = root.to_path_buf();
        for segment in segments {
            dir.push(segment);
            match std::fs::create_dir(&dir) {
                Ok(()) => made.0.push(dir.clone()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok((made, dir))
    }
}

/// The mount points of cgroup v2 (from `/proc/self/mountinfo`), then of named cgroup v1
/// hierarchies, which hold any process.
fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v2 = Vec::new();
    let mut v1 = Vec::new();
    for line in info.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = left.split(' ').nth(4).map(PathBuf::from);
        let mut fields = right.split(' ');
        let (fstype, options) = (fields.next(), fields.nth(1).unwrap_or_default());
        match (fstype, mount_point) {
            (Some("cgroup2"), Some(mp)) => v2.push(mp),
            (Some("cgroup"), Some(mp)) if options.contains("name=") => v1.push(mp),
            _ => {}
        }
    }
    v2.extend(v1);
    v2
}

/// `n` random hex digits.
fn hex(n: usize) -> String {
    let mut out = String::new();
    while out.len() < n {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(n);
    out
}

#[tokio::test]
async fn child_in_a_pod_cgroup_gets_its_pods_selectors() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIP: moving a process into a cgroup needs root");
        return;
    }
    let pod_uid = format!("{}-{}-4{}-8{}-{}", hex(8), hex(4), hex(3), hex(3), hex(12));
    let container = hex(64);
    let segments = [
        "kubepods.slice".to_owned(),
        "kubepods-besteffort.slice".to_owned(),
        format!("kubepods-besteffort-pod{}.slice", pod_uid.replace('-', "_")),
        format!("cri-containerd-{container}.scope"),
    ];

    let mut reasons = Vec::new();
    let mut made = None;
    for root in cgroup_mounts() {
        match CgroupDirs::make(&root, &segments) {
            Ok(found) => {
                made = Some((root, found));
                break;
            }
            Err(e) => reasons.push(format!("{}: {e}", root.display())),
        }
    }
    let Some((root, (dirs, leaf))) = made else {
        println!(
            "SKIP: no writable cgroup hierarchy ({})",
            reasons.join("; ")
        );
        return;
    };
    println!("pod cgroup under {}: {}", root.display(), leaf.display());

    let mut child = ChildGuard::sleep();
    if let Err(e) = std::fs::write(leaf.join("cgroup.procs"), child.pid().to_string()) {
        child.kill_and_reap();
        drop(dirs);
        println!("SKIP: cannot move a process into {}: {e}", leaf.display());
        return;
    }
    let cgroup_file = std::fs::read_to_string(format!("/proc/{}/cgroup", child.pid())).unwrap();
    println!("/proc/{}/cgroup:\n{cgroup_file}", child.pid());

    let kubelet = secure_kubelet().await;
    kubelet
        .add_pod("prod", "payment-service-abc12", &pod_uid, &container)
        .unwrap();
    let attestors: Vec<Arc<dyn WorkloadAttestor>> = vec![
        Arc::new(K8sAttestor::new(kubelet.config(Some("localhost"))).unwrap()),
        Arc::new(UnixAttestor::default()),
    ];
    let result = attest_process(child.pid(), &attestors).await;

    // Clean up before checking: the child leaves the cgroups, then they go.
    child.kill_and_reap();
    drop(dirs);

    let selectors: Vec<String> = result
        .unwrap()
        .selectors
        .iter()
        .map(ToString::to_string)
        .collect();
    for expected in [
        "k8s:ns:prod".to_owned(),
        "k8s:sa:default".to_owned(),
        "k8s:pod-name:payment-service-abc12".to_owned(),
        format!("k8s:pod-uid:{pod_uid}"),
        "k8s:pod-label:app:payment-service-abc12".to_owned(),
        "k8s:container-name:app".to_owned(),
        "k8s:container-image:docker.io/library/app:1".to_owned(),
        "k8s:node-name:kind-worker".to_owned(),
        "unix:uid:0".to_owned(),
    ] {
        assert!(
            selectors.contains(&expected),
            "{expected} not in {selectors:?}"
        );
    }
    assert!(!leaf.exists(), "the pod cgroup was not removed");
}

#[tokio::test]
async fn this_process_is_in_no_pod() {
    // The test process runs in no pod here: no k8s selectors, the unix ones still there, and
    // the kubelet never asked.
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    if cgroup.contains("kubepods") {
        println!("SKIP: this test process runs in a Kubernetes pod");
        return;
    }
    let kubelet = secure_kubelet().await;
    let attestors: Vec<Arc<dyn WorkloadAttestor>> = vec![
        Arc::new(K8sAttestor::new(kubelet.config(None)).unwrap()),
        Arc::new(UnixAttestor::default()),
    ];
    let pid = i32::try_from(std::process::id()).unwrap();
    let attestation = attest_process(pid, &attestors).await;
    match attestation {
        Ok(a) => {
            assert!(a.selectors.iter().all(|s| s.kind() == "unix"));
            assert!(!a.selectors.is_empty());
            assert_eq!(kubelet.requests(), 0);
        }
        // A container that is not a pod (a CI runner in Docker): the k8s attestor looks for it
        // in the pod list and gives up, as SPIRE's does.
        Err(e) => {
            println!("SKIP: this process runs in a container outside Kubernetes: {e}");
        }
    }
}
