//! Attestation: finding out who a caller is from facts it cannot forge.
//!
//! - [`WorkloadAttestor`]: a source of selectors (`unix:uid:1000`) for a process, by PID.
//! - [`attest_process`]: runs several attestors on one process, sorts and de-duplicates their
//!   selectors, and checks that the PID still names the same process afterwards
//!   ([`ProcessIdentity`]; see [`process`] for the PID-reuse threat); [`attest_pinned`] does the
//!   same for a process pinned by a pidfd taken when its connection was accepted ([`pinned`]).
//! - [`UnixAttestor`]: SPIRE's `unix` selectors (uid, gid, user, group, supplementary groups, and
//!   optionally the binary's path and SHA-256), read from `/proc`.
//! - [`K8sAttestor`]: SPIRE's `k8s` selectors (namespace, service account, pod labels, owners,
//!   images, container), from the pod and container of `/proc/<pid>/cgroup` looked up in the
//!   kubelet's pod list; [`k8s::cgroup`] reads the cgroup file.
//!
//! Every fact comes from the kernel (`/proc/<pid>/...`) or the kubelet, never from what the
//! workload sends.
#![forbid(unsafe_code)]

mod attest;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod k8s;
pub mod pinned;
mod proc;
pub mod process;
pub mod unix;

pub use attest::{
    Attestation, WorkloadAttestor, attest_captured, attest_captured_in, attest_process,
    attest_process_in,
};
pub use error::AttestError;
pub use k8s::{K8sAttestor, K8sConfig, K8sError};
pub use pinned::{attest_pinned, attest_pinned_in, pidfd_is_running};
pub use process::ProcessIdentity;
pub use unix::{UnixAttestor, UnixConfig, WorkloadSizeLimit};
