//! Reading a process's facts from a proc root (`/proc`, or a fake tree in tests), and running
//! blocking reads off the async executor.

use std::path::{Path, PathBuf};

use procfs::ProcError;
use procfs::process::Process;

use crate::error::AttestError;

/// The host's proc filesystem.
pub(crate) const DEFAULT_PROC_ROOT: &str = "/proc";

/// The default proc root as a path.
pub(crate) fn default_proc_root() -> PathBuf {
    PathBuf::from(DEFAULT_PROC_ROOT)
}

/// Opens `<proc_root>/<pid>`; the handle holds a directory descriptor, so later reads through it
/// fail (rather than read another process) if the PID is reused meanwhile.
pub(crate) fn open(proc_root: &Path, pid: i32) -> Result<Process, AttestError> {
    if pid <= 0 {
        return Err(AttestError::InvalidPid { pid });
    }
    Process::new_with_root(proc_root.join(pid.to_string())).map_err(|e| map_err(pid, "", e))
}

/// Maps a proc reader error: a missing process (ENOENT, ESRCH) is [`AttestError::ProcessGone`],
/// anything else names the file.
pub(crate) fn map_err(pid: i32, file: &'static str, err: ProcError) -> AttestError {
    match err {
        ProcError::NotFound(_) => AttestError::ProcessGone { pid },
        ProcError::Io(ref io, _) if io.raw_os_error() == Some(nix::libc::ESRCH) => {
            AttestError::ProcessGone { pid }
        }
        other => AttestError::ProcRead {
            pid,
            file,
            detail: other.to_string(),
        },
    }
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
