//! [`AttestError`]: why a workload could not be attested.

use std::path::PathBuf;

use spiffe_core::SelectorError;
use thiserror::Error;

use crate::k8s::cgroup::CgroupError;

/// Why attestation failed.
///
/// Every variant names the PID (or the attestor) concerned, and the fact that could not be read or
/// the rule that was broken. No variant means "not attested as X": an attestor with nothing to say
/// about a process returns no selectors, not an error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AttestError {
    /// The PID is not a process ID (zero or negative).
    #[error("pid {pid} is not a valid process id (must be > 0)")]
    InvalidPid {
        /// The PID given.
        pid: i32,
    },
    /// The process exited (or is a zombie) before or while it was attested.
    #[error("process {pid} is gone: it exited before attestation completed")]
    ProcessGone {
        /// The PID.
        pid: i32,
    },
    /// The PID now names another process than the one captured when attestation started (its
    /// start time, uid or gid differ): the caller exited and its PID was reused.
    #[error(
        "process {pid} changed during attestation (start time, uid or gid differ): its pid was reused"
    )]
    ProcessChanged {
        /// The PID.
        pid: i32,
    },
    /// The pidfd pinning the caller could not be checked.
    #[error("cannot check the caller's pidfd: {reason}")]
    Pidfd {
        /// What failed.
        reason: String,
    },
    /// `/proc/<pid>/<file>` could not be read or parsed.
    #[error("cannot read /proc/{pid}/{file}: {detail}")]
    ProcRead {
        /// The PID.
        pid: i32,
        /// The file under `/proc/<pid>` (`stat`, `status`, `exe`, ...).
        file: &'static str,
        /// What went wrong, as the proc reader said it.
        detail: String,
    },
    /// The workload's executable path is not UTF-8, so it cannot be a `unix:path` selector.
    #[error("process {pid}: executable path {path:?} is not valid UTF-8")]
    NonUtf8ExePath {
        /// The PID.
        pid: i32,
        /// The path as read from `/proc/<pid>/exe`.
        path: PathBuf,
    },
    /// The workload's binary is larger than `workload_size_limit`, so it is not hashed and the
    /// attestation fails (as SPIRE's unix attestor does).
    #[error(
        "process {pid}: workload binary {path:?} exceeds workload_size_limit ({size} > {limit} bytes)"
    )]
    WorkloadTooLarge {
        /// The PID.
        pid: i32,
        /// The executable's path as the workload sees it.
        path: PathBuf,
        /// The binary's size in bytes (as far as it was read).
        size: u64,
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The workload's binary could not be read for its SHA-256 digest.
    #[error("process {pid}: cannot hash workload binary /proc/{pid}/exe: {source}")]
    Digest {
        /// The PID.
        pid: i32,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An attestor produced a value that is not a valid selector.
    #[error("attestor {attestor:?} produced an invalid selector: {source}")]
    Selector {
        /// The attestor's name.
        attestor: String,
        /// Why the selector is invalid.
        #[source]
        source: SelectorError,
    },
    /// An attestor produced a selector of another attestor's type (each attestor may only emit
    /// selectors whose type is its own name).
    #[error("attestor {attestor:?} produced selector {selector:?} of a foreign type")]
    ForeignSelector {
        /// The attestor's name.
        attestor: String,
        /// The selector, as `type:value`.
        selector: String,
    },
    /// The blocking task an attestor ran on was cancelled or panicked.
    #[error("attestor {attestor:?}: its blocking task did not complete")]
    Task {
        /// The attestor's name.
        attestor: &'static str,
    },
    /// The process's cgroup file could not be read or interpreted.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// Any other failure of an attestor (for attestors outside this crate).
    #[error("attestor {attestor:?} failed: {source}")]
    Other {
        /// The attestor's name.
        attestor: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
