//! The fake kubelet of `spiffe_testkit::kubelet` for the k8s attestor's tests and bench,
//! serving this crate's fixture (`tests/fixtures/kubelet_pods.json`: the pods, containers and
//! selectors below), and the attestor's configuration for it.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::time::Duration;

use spiffe_attest::k8s::{K8sConfig, Kubelet, KubeletAuth, KubeletVerification};
pub use spiffe_testkit::kubelet::FakeKubelet;

/// The fixture: three pods as a kind node's kubelet lists them.
pub const PODS_FIXTURE: &str = include_str!("../fixtures/kubelet_pods.json");

/// The payment-service pod of the fixture.
pub const PAYMENT_POD_UID: &str = "9a3c1f2e-5b7d-4e8a-b1c2-3d4e5f6a7b8c";
/// Its `payment` container.
pub const PAYMENT_CONTAINER: &str =
    "3333333333333333333333333333333333333333333333333333333333333333";
/// Its `envoy` container.
pub const ENVOY_CONTAINER: &str =
    "2222222222222222222222222222222222222222222222222222222222222222";
/// Its init container.
pub const INIT_CONTAINER: &str = "1111111111111111111111111111111111111111111111111111111111111111";
/// The static pod of the fixture (32-hex UID, the manifest's hash).
pub const STATIC_POD_UID: &str = "7c3b8a6d5e4f3a2b1c0d9e8f7a6b5c4d";
/// Its container.
pub const STATIC_CONTAINER: &str =
    "4444444444444444444444444444444444444444444444444444444444444444";
/// The pending user-service pod (its container has no ID yet).
pub const PENDING_POD_UID: &str = "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e";

/// The service account token the fake accepts.
pub const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImZha2UifQ.agent-sa-token.sig";

/// Every `k8s` selector of the payment container, as SPIRE forms them.
pub fn payment_selectors() -> Vec<String> {
    let mut v: Vec<String> = [
        "k8s:sa:payment-sa",
        "k8s:ns:prod",
        "k8s:node-name:kind-worker",
        "k8s:pod-uid:9a3c1f2e-5b7d-4e8a-b1c2-3d4e5f6a7b8c",
        "k8s:pod-name:payment-service-7d9f8b6c5d-x2x7q",
        "k8s:pod-image-count:2",
        "k8s:pod-init-image-count:1",
        "k8s:pod-image:docker.io/envoyproxy/envoy:v1.30.1",
        "k8s:pod-image:docker.io/envoyproxy/envoy@sha256:bf862e5f5eca0a73e7e538224578c5cf867ce2be91b5eaed22afc153c00363eb",
        "k8s:pod-image:registry.example.com/payment-service:1.4.2",
        "k8s:pod-image:registry.example.com/payment-service@sha256:4b1d7c3e9f0a2b5c8d6e1f3a7b9c0d2e4f6a8b1c3d5e7f9a0b2c4d6e8f1a3b5c",
        "k8s:pod-init-image:docker.io/library/busybox:1.36",
        "k8s:pod-init-image:docker.io/library/busybox@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
        "k8s:pod-label:app:payment-service",
        "k8s:pod-label:pod-template-hash:7d9f8b6c5d",
        "k8s:pod-owner:ReplicaSet:payment-service-7d9f8b6c5d",
        "k8s:pod-owner-uid:ReplicaSet:c4d5e6f7-0a1b-4c2d-8e3f-405162738495",
        "k8s:container-name:payment",
        "k8s:container-image:registry.example.com/payment-service:1.4.2",
        "k8s:container-image:registry.example.com/payment-service@sha256:4b1d7c3e9f0a2b5c8d6e1f3a7b9c0d2e4f6a8b1c3d5e7f9a0b2c4d6e8f1a3b5c",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.sort();
    v
}

/// A fake kubelet on the secure port (HTTPS, the bearer token [`TOKEN`] required) serving
/// the fixture: its certificate names `localhost` and the node name `kind-worker` (not
/// 127.0.0.1).
pub async fn secure_kubelet() -> FakeKubelet {
    FakeKubelet::start_secure(PODS_FIXTURE, TOKEN)
        .await
        .unwrap()
}

/// A fake kubelet on the read-only port (plain HTTP, no authentication) serving the fixture.
pub async fn read_only_kubelet() -> FakeKubelet {
    FakeKubelet::start_read_only(PODS_FIXTURE).await.unwrap()
}

/// The attestor's configuration for a fake kubelet.
pub trait KubeletConfig {
    /// CA-checked with the token on HTTPS (the node name is the host), or the read-only
    /// port; short retries.
    fn config(&self, node_name: Option<&str>) -> K8sConfig;
}

impl KubeletConfig for FakeKubelet {
    fn config(&self, node_name: Option<&str>) -> K8sConfig {
        let kubelet = if self.is_tls() {
            Kubelet::Secure {
                port: self.addr().port(),
                verification: KubeletVerification::CaFile(self.ca_path()),
                auth: KubeletAuth::Token(self.token_path()),
            }
        } else {
            Kubelet::ReadOnly {
                port: self.addr().port(),
            }
        };
        K8sConfig {
            kubelet,
            node_name: node_name.map(str::to_owned),
            max_poll_attempts: 5,
            poll_retry_interval: Duration::from_millis(50),
            disable_container_selectors: false,
        }
    }
}
