//! Attesting a process pinned by a pidfd: the one that connected, never one that got its PID
//! later.
//!
//! A pidfd (a file descriptor for a process, Linux 5.3+) names one process for its whole life:
//! it never comes to name another, and it becomes readable the moment that process exits. A
//! server that takes a pidfd for its peer when it accepts the connection (`SO_PEERPIDFD`,
//! Linux 6.5+, names the very process that called `connect()`; `pidfd_open` on the peer's PID
//! is the fallback on older kernels) can therefore tell, after reading `/proc/<pid>`, whether
//! what it read belonged to that process: if the pidfd's process is still running afterwards,
//! the PID could not have been reused in between.
//!
//! [`attest_pinned`] checks the pidfd before the process is captured, after it is captured and
//! after the attestors ran; a caller that exited at any point gets
//! [`AttestError::ProcessGone`]. The start-time check of [`ProcessIdentity`] runs as well.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::attest::{Attestation, WorkloadAttestor, attest_captured_in};
use crate::error::AttestError;
use crate::proc;
use crate::process::ProcessIdentity;

/// Whether the process of `pidfd` is still running (its pidfd is not readable yet).
///
/// # Errors
///
/// [`AttestError::Pidfd`] if `poll(2)` fails (the descriptor is not a pidfd, for example).
pub fn pidfd_is_running(pidfd: BorrowedFd<'_>) -> Result<bool, AttestError> {
    let mut fds = [PollFd::new(pidfd, PollFlags::POLLIN)];
    let ready = poll(&mut fds, PollTimeout::ZERO).map_err(|e| AttestError::Pidfd {
        reason: format!("poll: {e}"),
    })?;
    Ok(ready == 0)
}

/// Attests the process `pid`, pinned by `pidfd` (taken for the same process, ideally with
/// `SO_PEERPIDFD` when the connection was accepted), with every attestor, against the host's
/// `/proc`.
///
/// # Errors
///
/// [`AttestError::ProcessGone`] if the pinned process exited before or during attestation,
/// [`AttestError::ProcessChanged`] if the PID came to name another process, and any error of
/// the attestors.
pub async fn attest_pinned(
    pid: i32,
    pidfd: &impl AsFd,
    attestors: &[Arc<dyn WorkloadAttestor>],
) -> Result<Attestation, AttestError> {
    attest_pinned_in(&proc::default_proc_root(), pid, pidfd, attestors).await
}

/// [`attest_pinned`] with the proc filesystem at `proc_root`.
///
/// # Errors
///
/// As [`attest_pinned`].
pub async fn attest_pinned_in(
    proc_root: &Path,
    pid: i32,
    pidfd: &impl AsFd,
    attestors: &[Arc<dyn WorkloadAttestor>],
) -> Result<Attestation, AttestError> {
    let running = || -> Result<(), AttestError> {
        if pidfd_is_running(pidfd.as_fd())? {
            Ok(())
        } else {
            tracing::debug!(pid, "pinned process exited");
            Err(AttestError::ProcessGone { pid })
        }
    };
    running()?;
    let process = ProcessIdentity::capture_in(proc_root, pid)?;
    // The capture read `/proc/<pid>` of the pinned process only if it still runs now.
    running()?;
    let attestation = attest_captured_in(proc_root, process, attestors).await?;
    running()?;
    Ok(attestation)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};

    use futures::future::BoxFuture;
    use spiffe_core::Selector;

    use super::*;

    fn pidfd_of(pid: i32) -> OwnedFd {
        rustix::process::pidfd_open(
            rustix::process::Pid::from_raw(pid).unwrap(),
            rustix::process::PidfdFlags::empty(),
        )
        .unwrap()
    }

    struct Uid;

    impl WorkloadAttestor for Uid {
        fn name(&self) -> &str {
            "test"
        }
        fn attest(&self, pid: i32) -> BoxFuture<'_, Result<Vec<Selector>, AttestError>> {
            Box::pin(async move { Ok(vec![Selector::new("test", format!("pid:{pid}")).unwrap()]) })
        }
    }

    #[test]
    fn a_running_process_is_attested_and_an_exited_one_is_not() {
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        let pidfd = pidfd_of(pid);
        let attestors: Vec<Arc<dyn WorkloadAttestor>> = vec![Arc::new(Uid)];
        assert!(pidfd_is_running(pidfd.as_fd()).unwrap());
        let got = futures::executor::block_on(attest_pinned(pid, &pidfd, &attestors)).unwrap();
        assert_eq!(got.process.pid(), pid);

        // Exited but not reaped (a zombie, whose PID cannot be reused yet): already refused.
        child.kill().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!pidfd_is_running(pidfd.as_fd()).unwrap());
        let err = futures::executor::block_on(attest_pinned(pid, &pidfd, &attestors)).unwrap_err();
        assert!(
            matches!(err, AttestError::ProcessGone { pid: p } if p == pid),
            "{err}"
        );

        // Reaped: the PID is free for anyone; the pidfd still says the process is gone.
        child.wait().unwrap();
        let err = futures::executor::block_on(attest_pinned(pid, &pidfd, &attestors)).unwrap_err();
        assert!(matches!(err, AttestError::ProcessGone { .. }), "{err}");
    }

    #[test]
    fn a_pidfd_of_another_process_than_the_pid_is_refused() {
        // The pidfd pins one process; the PID given names another (as after PID reuse): the
        // pinned process exited, so nothing read under the PID is believed.
        let mut first = Command::new("sleep").arg("30").spawn().unwrap();
        let pidfd = pidfd_of(i32::try_from(first.id()).unwrap());
        first.kill().unwrap();
        first.wait().unwrap();
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        let attestors: Vec<Arc<dyn WorkloadAttestor>> = vec![Arc::new(Uid)];
        let err = futures::executor::block_on(attest_pinned(
            i32::try_from(other.id()).unwrap(),
            &pidfd,
            &attestors,
        ))
        .unwrap_err();
        assert!(matches!(err, AttestError::ProcessGone { .. }), "{err}");
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
