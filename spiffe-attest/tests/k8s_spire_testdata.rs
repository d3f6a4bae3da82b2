//! The k8s workload attestor on SPIRE's own test data (`tests/data/spire`, from SPIRE v1.13.3's
//! `pkg/agent/plugin/workloadattestor/k8s/testdata`): each of SPIRE's pod lists served by the fake
//! kubelet, each cgroup file as the workload's `/proc/<pid>/cgroup`, and the selectors SPIRE's
//! tests (`k8s_test.go`, `k8s_posix_test.go`) expect for that pair.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod k8s_common;

use common::FakeProc;
use k8s_common::*;
use spiffe_attest::AttestError;
use spiffe_attest::k8s::{K8sAttestor, K8sError};

fn data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/spire")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `k8s:<value>` for each value, sorted.
fn k8s(values: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = values.iter().map(|s| format!("k8s:{s}")).collect();
    v.sort();
    v
}

/// SPIRE's `testPodSelectors` + `testContainerSelectors` (k8s_test.go): `pod_list.json`.
const BLOG: &[&str] = &[
    "node-name:k8s-node-1",
    "ns:default",
    "pod-image-count:2",
    "pod-image:docker-pullable://localhost/spiffe/blog@sha256:0cfdaced91cb46dd7af48309799a3c351e4ca2d5e1ee9737ca0cbd932cb79898",
    "pod-image:docker-pullable://localhost/spiffe/ghostunnel@sha256:b2fc20676c92a433b9a91f3f4535faddec0c2c3613849ac12f02c1d5cfcd4c3a",
    "pod-image:localhost/spiffe/blog:latest",
    "pod-image:localhost/spiffe/ghostunnel:latest",
    "pod-init-image-count:0",
    "pod-label:k8s-app:blog",
    "pod-label:version:v0",
    "pod-name:blog-24ck7",
    "pod-owner-uid:ReplicationController:2c401175-b29f-11e7-9350-020968147796",
    "pod-owner:ReplicationController:blog",
    "pod-uid:2c48913c-b29f-11e7-9350-020968147796",
    "sa:default",
    "container-image:docker-pullable://localhost/spiffe/blog@sha256:0cfdaced91cb46dd7af48309799a3c351e4ca2d5e1ee9737ca0cbd932cb79898",
    "container-image:localhost/spiffe/blog:latest",
    "container-name:blog",
];

/// SPIRE's `testInitPodSelectors` (k8s_posix_test.go): an init container of `pod_list.json`.
const FLANNEL_INIT: &[&str] = &[
    "container-image:docker-pullable://quay.io/coreos/flannel@sha256:1b401bf0c30bada9a539389c3be652b58fe38463361edf488e6543c8761d4970",
    "container-image:quay.io/coreos/flannel:v0.9.0-amd64",
    "container-name:install-cni",
    "node-name:k8s-node-1",
    "ns:kube-system",
    "pod-image-count:1",
    "pod-image:docker-pullable://quay.io/coreos/flannel@sha256:1b401bf0c30bada9a539389c3be652b58fe38463361edf488e6543c8761d4970",
    "pod-image:quay.io/coreos/flannel:v0.9.0-amd64",
    "pod-init-image-count:1",
    "pod-init-image:docker-pullable://quay.io/coreos/flannel@sha256:1b401bf0c30bada9a539389c3be652b58fe38463361edf488e6543c8761d4970",
    "pod-init-image:quay.io/coreos/flannel:v0.9.0-amd64",
    "pod-label:app:flannel",
    "pod-label:controller-revision-hash:1846323910",
    "pod-label:pod-template-generation:1",
    "pod-label:tier:node",
    "pod-name:kube-flannel-ds-gp1g9",
    "pod-owner-uid:DaemonSet:2f0350fc-b29d-11e7-9350-020968147796",
    "pod-owner:DaemonSet:kube-flannel-ds",
    "pod-uid:d488cae9-b2a0-11e7-9350-020968147796",
    "sa:flannel",
];

/// The pod of `kind_pod_list.json` and `crio_pod_list.json` (SPIRE's `testKindPodSelectors` and
/// `testCrioPodSelectors`, which differ in node name and namespace).
fn sample_workload(node: &str, ns: &str) -> Vec<String> {
    let node = format!("node-name:{node}");
    let ns = format!("ns:{ns}");
    let mut values = vec![
        "container-image:gcr.io/spiffe-io/spire-agent:0.8.1",
        "container-image:gcr.io/spiffe-io/spire-agent@sha256:1e4c481d76e9ecbd3d8684891e0e46aa021a30920ca04936e1fdcc552747d941",
        "container-name:workload-api-client",
        "pod-image-count:1",
        "pod-image:gcr.io/spiffe-io/spire-agent:0.8.1",
        "pod-image:gcr.io/spiffe-io/spire-agent@sha256:1e4c481d76e9ecbd3d8684891e0e46aa021a30920ca04936e1fdcc552747d941",
        "pod-init-image-count:0",
        "pod-label:app:sample-workload",
        "pod-label:pod-template-hash:6658cb9566",
        "pod-name:sample-workload-6658cb9566-5n4b4",
        "pod-owner-uid:ReplicaSet:349d135e-3781-43e3-bc25-c900aedf1d0c",
        "pod-owner:ReplicaSet:sample-workload-6658cb9566",
        "pod-uid:a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80",
        "sa:default",
    ];
    values.push(&node);
    values.push(&ns);
    k8s(&values)
}

/// Attests process 4242, whose cgroup file is SPIRE's `cgroup`, against a kubelet serving
/// SPIRE's `pods`.
async fn attest(pods: &str, cgroup: &str) -> Result<Vec<String>, AttestError> {
    let kubelet = FakeKubelet::start_read_only(&data(pods)).await.unwrap();
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = FakeProc::new(4242, [1000; 4], [1000; 4], &[]);
    fake.write("cgroup", &data(cgroup));
    attestor
        .with_proc_root(fake.root())
        .selectors(fake.pid)
        .await
        .map(|s| {
            let mut v: Vec<String> = s.iter().map(ToString::to_string).collect();
            v.sort();
            v
        })
}

#[tokio::test]
async fn spire_pod_lists_and_cgroups_give_spires_selectors() {
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        ("pod_list.json", "cgroups_pid_in_pod.txt", k8s(BLOG)),
        ("pod_list.json", "systemd_cgroups_pid_in_pod.txt", k8s(BLOG)),
        (
            "pod_list.json",
            "cgroups_init_pid_in_pod.txt",
            k8s(FLANNEL_INIT),
        ),
        (
            "kind_pod_list.json",
            "cgroups_pid_in_kind_pod.txt",
            sample_workload("kind-control-plane", "default"),
        ),
        (
            "crio_pod_list.json",
            "cgroups_pid_in_crio_pod.txt",
            sample_workload("a37b7d23-d32a-4932-8f33-40950ac16ee9", "sfh-199"),
        ),
        (
            "crio_pod_list.json",
            "systemd_crio_cgroups_pid_in_pod.txt",
            sample_workload("a37b7d23-d32a-4932-8f33-40950ac16ee9", "sfh-199"),
        ),
        // Not in a pod: no selectors, and no error (SPIRE's TestAttestWithPidNotInPod).
        ("pod_list.json", "cgroups_pid_not_in_pod.txt", Vec::new()),
    ];
    let mut failures = Vec::new();
    for (pods, cgroup, want) in cases {
        match attest(pods, cgroup).await {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{pods} + {cgroup}:\n  missing {:?}\n  extra {:?}",
                want.iter().filter(|s| !got.contains(s)).collect::<Vec<_>>(),
                got.iter().filter(|s| !want.contains(s)).collect::<Vec<_>>()
            )),
            Err(e) => failures.push(format!("{pods} + {cgroup}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Two pods with one container ID (SPIRE's TestAttestFailDuplicateContainerId): refused.
#[tokio::test]
async fn a_container_id_in_two_pods_is_refused() {
    let err = attest(
        "crio_pod_list_duplicate_containerId.json",
        "cgroups_pid_in_crio_pod.txt",
    )
    .await
    .unwrap_err();
    match &err {
        AttestError::Other { source, .. } => assert!(
            matches!(
                source.downcast_ref::<K8sError>(),
                Some(K8sError::DuplicateContainer { .. })
            ),
            "{err}"
        ),
        other => panic!("{other:?}"),
    }
}

/// A process with no cgroup file (`/proc/<pid>/cgroup` absent) is in no pod: no selectors, no
/// error, as SPIRE's attestor answers.
#[tokio::test]
async fn no_cgroup_file_means_no_selectors() {
    let kubelet = FakeKubelet::start_read_only(&data("pod_list.json"))
        .await
        .unwrap();
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = FakeProc::new(4242, [1000; 4], [1000; 4], &[]);
    let selectors = attestor
        .with_proc_root(fake.root())
        .selectors(fake.pid)
        .await
        .unwrap();
    assert!(selectors.is_empty(), "{selectors:?}");
}

/// A kubelet answer without `items` is an error, not an empty pod list.
#[tokio::test]
async fn a_pod_list_without_items_is_an_error() {
    let kubelet =
        FakeKubelet::start_read_only(r#"{"kind":"PodList","apiVersion":"v1","metadata":{}}"#)
            .await
            .unwrap();
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = FakeProc::new(4242, [1000; 4], [1000; 4], &[]);
    fake.write("cgroup", &data("cgroups_pid_in_pod.txt"));
    let err = attestor
        .with_proc_root(fake.root())
        .selectors(fake.pid)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("items"), "{err}");
}
