//! Reading a process's facts from a proc root (`/proc`, or a fake tree in tests), and running
//! blocking reads off the async executor.

use std::path::PathBuf;

use crate::error::AttestError;

mod facts;

pub(crate) use facts::{ProcDir, StatusIds};

/// The host's proc filesystem.
pub(crate) const DEFAULT_PROC_ROOT: &str = "/proc";

/// The default proc root as a path.
pub(crate) fn default_proc_root() -> PathBuf {
    PathBuf::from(DEFAULT_PROC_ROOT)
}

/// Runs `f` on tokio's blocking pool when called inside a tokio runtime (reads of `/proc`, name
/// lookups through NSS and hashing a binary may block), and inline otherwise.
pub(crate) async fn run_blocking<T, F>(attestor: &'static str, f: F) -> Result<T, AttestError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AttestError> + Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(f)
            .await
            .map_err(|_| AttestError::Task { attestor })?,
        Err(_) => f(),
    }
}
