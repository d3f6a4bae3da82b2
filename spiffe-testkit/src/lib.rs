//! Test support shared by the workspace's tests, examples and benchmarks (not published).
//!
//! - [`apiserver`] (feature `k8s`): a fake Kubernetes API server speaking the real wire format
//!   (JSON objects, lists and watches), reached through kube's real HTTP client;
//!   [`psat`] (feature `k8s`): a cluster on it that answers the `TokenReview`s and pod and node
//!   reads of the `k8s_psat` node attestor, over HTTPS with a bearer token.
//! - [`kubelet`] (feature `http`): a fake kubelet answering `GET /pods` with a `PodList`.
//! - [`http`] and [`tls`] (feature `http`): the HTTP/1.1 server (plain or TLS) and the
//!   made-up certificate authorities these fakes share.
//! - [`grpc`] (feature `grpc`): clients of the server's gRPC APIs for hardening tests: raw
//!   messages, join-token attestation, agent channels.
//! - [`spire`]: configuration files of the real SPIRE server and agent, for the interop suite
//!   and the comparison benchmarks.
//!
//! They are fakes because a real API server (with etcd) or kubelet cannot run on the machines
//! this project builds and tests on: no container runtime, no cluster network.

#[cfg(feature = "k8s")]
pub mod apiserver;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod kubelet;
#[cfg(feature = "k8s")]
pub mod psat;
pub mod spire;
#[cfg(feature = "http")]
pub mod tls;

/// Any error of the test support (setting up a fake, writing its files).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Locks `m`, carrying on after a panic elsewhere (only a failing test panics while holding
/// a lock; the fakes keep serving).
#[cfg(feature = "http")]
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
