//! The k8s workload attestor against a fake kubelet (`k8s_common`): HTTPS with the CA checked
//! (with and without the node name), with verification skipped, the read-only port, the
//! bearer token, the shared pod list, retries and their limit. The workload's cgroup file
//! comes from a fake proc tree; `k8s_real_cgroup.rs` uses the real kernel instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod k8s_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::FakeProc;
use k8s_common::*;
use spiffe_attest::k8s::{K8sAttestor, K8sError, KubeletAuth, KubeletVerification};
use spiffe_attest::{AttestError, WorkloadAttestor, attest_process_in};

/// A systemd/containerd cgroup v2 line for `pod_uid` and `container`.
fn systemd_line(pod_uid: &str, container: &str) -> String {
    format!(
        "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{}.slice/cri-containerd-{container}.scope\n",
        pod_uid.replace('-', "_")
    )
}

/// A fake proc tree whose process 4242 has `cgroup` as its cgroup file.
fn process_with_cgroup(cgroup: &str) -> FakeProc {
    let fake = FakeProc::new(4242, [1000; 4], [1000; 4], &[]);
    fake.write("cgroup", cgroup);
    fake
}

fn strings(selectors: &[spiffe_core::Selector]) -> Vec<String> {
    let mut v: Vec<String> = selectors.iter().map(ToString::to_string).collect();
    v.sort();
    v
}

/// The `K8sError` behind an attestation error.
fn k8s_error(err: &AttestError) -> &K8sError {
    match err {
        AttestError::Other { attestor, source } if attestor == "k8s" => {
            source.downcast_ref::<K8sError>().expect("a K8sError")
        }
        other => panic!("not a k8s error: {other:?}"),
    }
}

async fn attest(attestor: &K8sAttestor, fake: &FakeProc) -> Result<Vec<String>, AttestError> {
    attestor
        .clone()
        .with_proc_root(fake.root())
        .selectors(fake.pid)
        .await
        .map(|s| strings(&s))
}

#[tokio::test]
async fn secure_port_ca_checked_with_node_name() {
    let kubelet = secure_kubelet().await;
    // The node name is the host and the name the certificate must hold.
    let attestor = K8sAttestor::new(kubelet.config(Some("localhost"))).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    assert_eq!(attest(&attestor, &fake).await.unwrap(), payment_selectors());
    assert_eq!(
        kubelet.authorizations(),
        vec![Some(format!("Bearer {TOKEN}"))]
    );
}

#[tokio::test]
async fn secure_port_chain_only_without_node_name() {
    // Reached at 127.0.0.1, which the certificate does not name: only its chain is checked,
    // as in SPIRE.
    let kubelet = secure_kubelet().await;
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    assert_eq!(attest(&attestor, &fake).await.unwrap(), payment_selectors());
}

#[tokio::test]
async fn certificate_from_another_ca_is_refused() {
    let kubelet = secure_kubelet().await;
    for node_name in [None, Some("localhost")] {
        let mut config = kubelet.config(node_name);
        config.max_poll_attempts = 2;
        if let spiffe_attest::k8s::Kubelet::Secure { verification, .. } = &mut config.kubelet {
            *verification = KubeletVerification::CaFile(kubelet.other_ca_path());
        }
        let attestor = K8sAttestor::new(config).unwrap();
        let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
        let err = attest(&attestor, &fake).await.unwrap_err();
        let K8sError::PodList {
            attempts, source, ..
        } = k8s_error(&err)
        else {
            panic!("{err}")
        };
        assert_eq!(*attempts, 2);
        assert!(matches!(**source, K8sError::Handshake { .. }), "{source:?}");
        assert!(
            err.to_string().contains("TLS handshake with the kubelet"),
            "{err}"
        );
    }
    assert_eq!(kubelet.requests(), 0);
}

#[tokio::test]
async fn certificate_not_for_the_node_name_is_refused() {
    // With a node name, the name is checked: the certificate names localhost and kind-worker,
    // not 127.0.0.1.
    let kubelet = secure_kubelet().await;
    let mut config = kubelet.config(Some("127.0.0.1"));
    config.max_poll_attempts = 1;
    let attestor = K8sAttestor::new(config).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    let err = attest(&attestor, &fake).await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
    assert_eq!(kubelet.requests(), 0);
}

#[tokio::test]
async fn verification_skipped_accepts_any_certificate() {
    let kubelet = secure_kubelet().await;
    let mut config = kubelet.config(Some("127.0.0.1"));
    if let spiffe_attest::k8s::Kubelet::Secure { verification, .. } = &mut config.kubelet {
        *verification = KubeletVerification::Skip;
    }
    let attestor = K8sAttestor::new(config).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    assert_eq!(attest(&attestor, &fake).await.unwrap(), payment_selectors());
}

#[tokio::test]
async fn read_only_port() {
    let kubelet = read_only_kubelet().await;
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    assert_eq!(attest(&attestor, &fake).await.unwrap(), payment_selectors());
    assert_eq!(kubelet.authorizations(), vec![None]);
}

#[tokio::test]
async fn token_is_read_again_for_every_request() {
    let kubelet = secure_kubelet().await;
    let mut config = kubelet.config(Some("localhost"));
    config.max_poll_attempts = 1;
    let attestor = K8sAttestor::new(config).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    attest(&attestor, &fake).await.unwrap();
    // A rotated token the kubelet does not accept: the next request carries it and fails.
    std::fs::write(kubelet.token_path(), "rotated-token").unwrap();
    tokio::time::sleep(Duration::from_millis(60)).await;
    let err = attest(&attestor, &fake).await.unwrap_err();
    assert!(
        matches!(k8s_error(&err), K8sError::PodList { source, .. }
            if matches!(**source, K8sError::Status { status: 401, .. })),
        "{err}"
    );
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert_eq!(
        kubelet
            .authorizations()
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("Bearer rotated-token")
    );
}

#[tokio::test]
async fn anonymous_is_refused_by_a_kubelet_that_wants_a_token() {
    let kubelet = secure_kubelet().await;
    let mut config = kubelet.config(Some("localhost"));
    config.max_poll_attempts = 1;
    if let spiffe_attest::k8s::Kubelet::Secure { auth, .. } = &mut config.kubelet {
        *auth = KubeletAuth::Anonymous;
    }
    let attestor = K8sAttestor::new(config).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    let err = attest(&attestor, &fake).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 401"), "{err}");
    assert_eq!(kubelet.authorizations(), vec![None]);
}

#[tokio::test]
async fn bad_settings_are_refused_up_front() {
    let kubelet = secure_kubelet().await;
    let mut config = kubelet.config(None);
    config.max_poll_attempts = 0;
    assert_eq!(
        K8sAttestor::new(config).unwrap_err().to_string(),
        "k8s attestor: max_poll_attempts must be at least 1"
    );
    let mut config = kubelet.config(None);
    config.poll_retry_interval = Duration::ZERO;
    assert!(matches!(
        K8sAttestor::new(config),
        Err(K8sError::Config {
            field: "poll_retry_interval",
            ..
        })
    ));
    let mut config = kubelet.config(None);
    if let spiffe_attest::k8s::Kubelet::Secure { verification, .. } = &mut config.kubelet {
        *verification = KubeletVerification::CaFile(kubelet.dir().join("missing.pem"));
    }
    let err = K8sAttestor::new(config).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read the kubelet CA file"),
        "{err}"
    );
    std::fs::write(kubelet.dir().join("empty.pem"), "").unwrap();
    let mut config = kubelet.config(None);
    if let spiffe_attest::k8s::Kubelet::Secure { verification, .. } = &mut config.kubelet {
        *verification = KubeletVerification::CaFile(kubelet.dir().join("empty.pem"));
    }
    assert!(matches!(
        K8sAttestor::new(config),
        Err(K8sError::BadCa { .. })
    ));
}

#[tokio::test]
async fn not_in_a_pod_gets_no_selectors_and_no_kubelet_request() {
    let kubelet = secure_kubelet().await;
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = process_with_cgroup("0::/user.slice/user-1000.slice/session-3.scope\n");
    assert_eq!(
        attest(&attestor, &fake).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(kubelet.requests(), 0);
}

#[tokio::test]
async fn container_found_without_pod_uid() {
    // A container of the reader's own pod seen through a cgroup namespace: no pod UID.
    let kubelet = secure_kubelet().await;
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = process_with_cgroup(&format!("0::/../{PAYMENT_CONTAINER}\n"));
    assert_eq!(attest(&attestor, &fake).await.unwrap(), payment_selectors());
}

#[tokio::test]
async fn static_pod_and_init_container() {
    let kubelet = secure_kubelet().await;
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    // cgroupfs driver, cgroup v1, a static pod's 32-hex UID.
    let fake = process_with_cgroup(&format!(
        "12:pids:/kubepods/burstable/pod{STATIC_POD_UID}/{STATIC_CONTAINER}\n\
         1:name=systemd:/kubepods/burstable/pod{STATIC_POD_UID}/{STATIC_CONTAINER}\n"
    ));
    let selectors = attest(&attestor, &fake).await.unwrap();
    for s in [
        "k8s:ns:kube-system",
        "k8s:pod-owner:Node:kind-worker",
        "k8s:pod-owner-uid:Node:d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6",
        "k8s:container-name:kube-apiserver",
        "k8s:pod-label:tier:control-plane",
        // No service account: SPIRE emits the empty value.
        "k8s:sa:",
    ] {
        assert!(
            selectors.contains(&s.to_owned()),
            "{s} not in {selectors:?}"
        );
    }
    // An init container is found too, as in SPIRE.
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, INIT_CONTAINER));
    let selectors = attest(&attestor, &fake).await.unwrap();
    assert!(selectors.contains(&"k8s:container-name:init-config".to_owned()));
    assert!(selectors.contains(&"k8s:container-image:docker.io/library/busybox:1.36".to_owned()));
}

#[tokio::test]
async fn retries_until_the_container_shows_up() {
    let kubelet = Arc::new(secure_kubelet().await);
    let mut config = kubelet.config(None);
    config.max_poll_attempts = 100;
    let attestor = K8sAttestor::new(config).unwrap();
    let uid = "5f0d7b4a-0c1e-4f2a-9b3c-7d8e9f0a1b2c";
    let container = "ab".repeat(32);
    let fake = process_with_cgroup(&systemd_line(uid, &container));
    let later = Arc::clone(&kubelet);
    let c = container.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(120)).await;
        later.add_pod("prod", "late-starter", uid, &c).unwrap();
    });
    let selectors = attest(&attestor, &fake).await.unwrap();
    assert!(selectors.contains(&"k8s:pod-name:late-starter".to_owned()));
    assert!(selectors.contains(&format!("k8s:pod-uid:{uid}")));
    assert!(kubelet.requests() >= 2, "{}", kubelet.requests());
}

#[tokio::test]
async fn gives_up_after_max_poll_attempts() {
    let kubelet = secure_kubelet().await;
    let mut config = kubelet.config(None);
    config.max_poll_attempts = 3;
    let attestor = K8sAttestor::new(config).unwrap();
    let container = "cd".repeat(32);
    let fake = process_with_cgroup(&systemd_line(PENDING_POD_UID, &container));
    let started = Instant::now();
    let err = attest(&attestor, &fake).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "attestor \"k8s\" failed: process 4242: container {container} (pod {PENDING_POD_UID}) is not in the kubelet's \
             pod list after 3 attempts; is the container running?"
        )
    );
    // Three lists, requested at least poll_retry_interval (50 ms) apart.
    assert_eq!(kubelet.requests(), 3);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn pod_only_when_container_selectors_are_disabled() {
    // The pending pod's container has no ID yet; with the pod known from the cgroup file and
    // container selectors disabled, the pod's selectors are enough (SPIRE's behaviour).
    let kubelet = secure_kubelet().await;
    let mut config = kubelet.config(None);
    config.disable_container_selectors = true;
    let attestor = K8sAttestor::new(config).unwrap();
    let container = "ef".repeat(32);
    let fake = process_with_cgroup(&systemd_line(PENDING_POD_UID, &container));
    let selectors = attest(&attestor, &fake).await.unwrap();
    assert!(selectors.contains(&"k8s:pod-name:user-service-5c6d7e8f9a-b8k2m".to_owned()));
    assert!(selectors.contains(&"k8s:sa:user-sa".to_owned()));
    // imageID is empty before the pull: emitted as SPIRE does.
    assert!(selectors.contains(&"k8s:pod-image:".to_owned()));
    assert!(!selectors.iter().any(|s| s.starts_with("k8s:container-")));
    // And for a running container, still no container selectors.
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    let selectors = attest(&attestor, &fake).await.unwrap();
    assert!(selectors.contains(&"k8s:pod-label:app:payment-service".to_owned()));
    assert!(!selectors.iter().any(|s| s.starts_with("k8s:container-")));
}

#[tokio::test]
async fn two_pods_with_one_container_is_an_error() {
    let kubelet = secure_kubelet().await;
    let container = "12".repeat(32);
    kubelet
        .add_pod(
            "a",
            "one",
            "0a0a0a0a-0000-4000-8000-000000000001",
            &container,
        )
        .unwrap();
    kubelet
        .add_pod(
            "b",
            "two",
            "0a0a0a0a-0000-4000-8000-000000000002",
            &container,
        )
        .unwrap();
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = process_with_cgroup(&format!("0::/../{container}\n"));
    let err = attest(&attestor, &fake).await.unwrap_err();
    assert!(
        matches!(
            k8s_error(&err),
            K8sError::DuplicateContainer { pid: 4242, .. }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn concurrent_attestations_share_one_request() {
    let kubelet = secure_kubelet().await;
    kubelet.set_delay(Duration::from_millis(200));
    let mut config = kubelet.config(None);
    config.poll_retry_interval = Duration::from_secs(5);
    let attestor = K8sAttestor::new(config).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    let attestor = attestor.with_proc_root(fake.root());
    // A cold cache: 50 attestations wait for one request.
    let results = futures::future::join_all((0..50).map(|_| attestor.selectors(4242))).await;
    for r in results {
        assert_eq!(strings(&r.unwrap()), payment_selectors());
    }
    assert_eq!(kubelet.requests(), 1);
    // A warm cache: no request at all.
    let results = futures::future::join_all((0..50).map(|_| attestor.attest(4242))).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(kubelet.requests(), 1);
}

#[tokio::test]
async fn pod_list_expires_after_poll_retry_interval() {
    let kubelet = secure_kubelet().await;
    // Long enough that two attestations in a row fall within it on a loaded machine (the
    // common 50 ms made this test fail under CI load).
    let mut config = kubelet.config(None);
    config.poll_retry_interval = Duration::from_millis(500);
    let attestor = K8sAttestor::new(config).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    attest(&attestor, &fake).await.unwrap();
    attest(&attestor, &fake).await.unwrap();
    assert_eq!(kubelet.requests(), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    attest(&attestor, &fake).await.unwrap();
    assert_eq!(kubelet.requests(), 2);
}

#[tokio::test]
async fn with_the_pid_reuse_guard() {
    // Through attest_process_in: the k8s selectors of a (fake) process, its identity checked
    // before and after.
    let kubelet = secure_kubelet().await;
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    let attestors: Vec<Arc<dyn WorkloadAttestor>> =
        vec![Arc::new(attestor.with_proc_root(fake.root()))];
    let attestation = attest_process_in(fake.root(), fake.pid, &attestors)
        .await
        .unwrap();
    assert_eq!(strings(&attestation.selectors), payment_selectors());
    assert_eq!(attestation.process.pid(), 4242);
}

/// A client-certificate configuration for `kubelet` (SPIRE's `certificate_path` and
/// `private_key_path`).
fn client_cert_config(
    kubelet: &FakeKubelet,
    certificate: std::path::PathBuf,
    private_key: std::path::PathBuf,
) -> spiffe_attest::k8s::K8sConfig {
    let mut config = kubelet.config(Some("localhost"));
    config.max_poll_attempts = 1;
    if let spiffe_attest::k8s::Kubelet::Secure { auth, .. } = &mut config.kubelet {
        *auth = KubeletAuth::ClientCertificate {
            certificate,
            private_key,
        };
    }
    config
}

#[tokio::test]
async fn client_certificate_authenticates_to_the_kubelet() {
    // The fake requires a certificate from its client CA, as a kubelet started with
    // --client-ca-file authenticates one; no token is sent.
    let kubelet = FakeKubelet::start_secure_client_cert(PODS_FIXTURE)
        .await
        .unwrap();
    let config = client_cert_config(
        &kubelet,
        kubelet.client_cert_path(),
        kubelet.client_key_path(),
    );
    let attestor = K8sAttestor::new(config).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    assert_eq!(attest(&attestor, &fake).await.unwrap(), payment_selectors());
    assert_eq!(kubelet.authorizations(), vec![None]);
}

#[tokio::test]
async fn kubelet_refuses_a_client_certificate_it_does_not_trust_or_none() {
    let kubelet = FakeKubelet::start_secure_client_cert(PODS_FIXTURE)
        .await
        .unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, PAYMENT_CONTAINER));
    // A certificate from another CA.
    let stranger = client_cert_config(
        &kubelet,
        kubelet.other_client_cert_path(),
        kubelet.other_client_key_path(),
    );
    let err = attest(&K8sAttestor::new(stranger).unwrap(), &fake)
        .await
        .unwrap_err();
    assert!(matches!(k8s_error(&err), K8sError::PodList { .. }), "{err}");
    // No certificate at all (anonymous).
    let mut anonymous = kubelet.config(Some("localhost"));
    anonymous.max_poll_attempts = 1;
    if let spiffe_attest::k8s::Kubelet::Secure { auth, .. } = &mut anonymous.kubelet {
        *auth = KubeletAuth::Anonymous;
    }
    assert!(
        attest(&K8sAttestor::new(anonymous).unwrap(), &fake)
            .await
            .is_err()
    );
    assert_eq!(kubelet.requests(), 0);
}

#[tokio::test]
async fn unusable_client_certificate_files_are_refused_up_front() {
    let kubelet = FakeKubelet::start_secure_client_cert(PODS_FIXTURE)
        .await
        .unwrap();
    // Missing files.
    let missing = kubelet.dir().join("missing.pem");
    let err = K8sAttestor::new(client_cert_config(
        &kubelet,
        missing.clone(),
        kubelet.client_key_path(),
    ))
    .unwrap_err();
    assert!(
        matches!(&err, K8sError::ReadFile { what: "client certificate", path, .. } if *path == missing),
        "{err}"
    );
    let err = K8sAttestor::new(client_cert_config(
        &kubelet,
        kubelet.client_cert_path(),
        missing.clone(),
    ))
    .unwrap_err();
    assert!(
        matches!(
            &err,
            K8sError::ReadFile {
                what: "client private key",
                ..
            }
        ),
        "{err}"
    );
    // A certificate file without a certificate, a key file without a key.
    let empty = kubelet.dir().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    for (cert, key, what) in [
        (empty.clone(), kubelet.client_key_path(), "certificate"),
        (kubelet.client_cert_path(), empty.clone(), "private key"),
    ] {
        let err = K8sAttestor::new(client_cert_config(&kubelet, cert, key)).unwrap_err();
        assert!(
            matches!(&err, K8sError::BadClientCertificate { what: w, .. } if *w == what),
            "{err}"
        );
    }
    // A certificate with another certificate's key.
    let err = K8sAttestor::new(client_cert_config(
        &kubelet,
        kubelet.client_cert_path(),
        kubelet.other_client_key_path(),
    ))
    .unwrap_err();
    assert!(
        matches!(
            &err,
            K8sError::BadClientCertificate {
                what: "certificate",
                ..
            }
        ) && err.to_string().contains("does not go with the key"),
        "{err}"
    );
}

#[tokio::test]
async fn ephemeral_container_is_found() {
    // `kubectl debug` adds an ephemeral container to the running payment pod.
    const DEBUG_CONTAINER: &str =
        "5555555555555555555555555555555555555555555555555555555555555555";
    let kubelet = secure_kubelet().await;
    let mut list = kubelet.pods().unwrap();
    let pod = list["items"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["metadata"]["uid"] == PAYMENT_POD_UID)
        .unwrap();
    pod["spec"]["ephemeralContainers"] = serde_json::json!([{
        "name": "debugger-x7k2p",
        "image": "docker.io/library/busybox:1.36",
        "targetContainerName": "payment"
    }]);
    pod["status"]["ephemeralContainerStatuses"] = serde_json::json!([{
        "name": "debugger-x7k2p",
        "state": {"running": {"startedAt": "2025-05-12T11:00:00Z"}},
        "lastState": {},
        "ready": false,
        "restartCount": 0,
        "image": "docker.io/library/busybox:1.36",
        "imageID": "docker.io/library/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
        "containerID": format!("containerd://{DEBUG_CONTAINER}")
    }]);
    kubelet.set_pods(&list);
    let attestor = K8sAttestor::new(kubelet.config(None)).unwrap();
    let fake = process_with_cgroup(&systemd_line(PAYMENT_POD_UID, DEBUG_CONTAINER));
    let selectors = attest(&attestor, &fake).await.unwrap();
    // The pod's selectors are SPIRE's (ephemeral containers count in no image selector); the
    // container's are the debugger's, so an entry can tell it from the payment container.
    let mut expected: Vec<String> = payment_selectors()
        .into_iter()
        .filter(|s| !s.starts_with("k8s:container-"))
        .chain([
            "k8s:container-name:debugger-x7k2p".to_owned(),
            "k8s:container-image:docker.io/library/busybox:1.36".to_owned(),
            "k8s:container-image:docker.io/library/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7".to_owned(),
        ])
        .collect();
    expected.sort();
    assert_eq!(selectors, expected);
}
