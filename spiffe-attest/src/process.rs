//! [`ProcessIdentity`]: the guard against PID reuse during attestation.
//!
//! # The threat
//!
//! The agent learns the caller's PID from the kernel (`SO_PEERCRED`) and then reads facts about
//! that PID from `/proc`. A PID names a process only while it lives: if the caller exits, the
//! kernel may hand the same PID to a new process. A malicious workload can exploit this: it
//! connects, exits, and arranges (by forking many processes) for a more privileged process, say a
//! payment service, to receive its PID while the agent is still reading `/proc/<pid>`. The agent
//! would then answer the first caller's connection with the payment service's identity.
//!
//! # The guard
//!
//! A process is identified not by its PID alone but by the PID together with its start time
//! (field 22 of `/proc/<pid>/stat`, in clock ticks since boot) and its effective uid and gid.
//! [`ProcessIdentity::capture`] records them before the attestors run;
//! [`ProcessIdentity::verify`] records them again afterwards and fails with
//! [`AttestError::ProcessChanged`] if they differ, or [`AttestError::ProcessGone`] if the process
//! exited (including as a zombie, which can no longer be the caller). Selectors gathered in
//! between are used only if the check passes. [`crate::attest_process`] does both.
//!
//! The window this closes is "during attestation". To close the window between `accept()` and
//! the first capture too, capture the identity as soon as the connection is accepted and pass it
//! to [`crate::attest_captured`]; a server may also compare [`ProcessIdentity::uid`] with the
//! peer credentials' uid.

use std::path::Path;

use tracing::{debug, warn};

use crate::error::AttestError;
use crate::proc;

/// What identifies one process over its lifetime: PID, start time and effective uid/gid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessIdentity {
    pid: i32,
    start_time: u64,
    uid: u32,
    gid: u32,
}

impl ProcessIdentity {
    /// Captures the identity of the process `pid` from the host's `/proc`.
    pub fn capture(pid: i32) -> Result<Self, AttestError> {
        Self::capture_in(&proc::default_proc_root(), pid)
    }

    /// Captures the identity of the process `pid` from the proc filesystem mounted at
    /// `proc_root` (the host's `/proc`, or a fake tree in tests).
    ///
    /// Fails with [`AttestError::ProcessGone`] if there is no such process or it is a zombie.
    pub fn capture_in(proc_root: &Path, pid: i32) -> Result<Self, AttestError> {
        Self::read(proc_root, pid, None)
    }

    /// Checks, against the host's `/proc`, that `pid` still names the captured process.
    pub fn verify(&self) -> Result<(), AttestError> {
        self.verify_in(&proc::default_proc_root())
    }

    /// Checks, against the proc filesystem at `proc_root`, that `pid` still names the captured
    /// process: [`AttestError::ProcessGone`] if it exited, [`AttestError::ProcessChanged`] if
    /// its start time, uid or gid differ.
    pub fn verify_in(&self, proc_root: &Path) -> Result<(), AttestError> {
        let now = Self::read(proc_root, self.pid, Some(self.start_time))?;
        let changed = if now.uid != self.uid {
            Some("uid")
        } else if now.gid != self.gid {
            Some("gid")
        } else {
            None
        };
        match changed {
            None => Ok(()),
            Some(field) => Err(self.changed(field)),
        }
    }

    /// Reads the identity of `pid`. With `expected_start`, a different start time is reported as
    /// [`AttestError::ProcessChanged`] before anything else is read (the new process's other
    /// files may not even parse).
    fn read(proc_root: &Path, pid: i32, expected_start: Option<u64>) -> Result<Self, AttestError> {
        let dir = proc::ProcDir::open(proc_root, pid)?;
        let stat = dir.stat()?;
        if matches!(stat.state, 'Z' | 'X' | 'x') {
            debug!(pid, state = %stat.state, "process is a zombie or dead");
            return Err(AttestError::ProcessGone { pid });
        }
        if let Some(expected) = expected_start.filter(|start| *start != stat.start_time) {
            warn!(
                pid,
                before = expected,
                after = stat.start_time,
                "process start time changed during attestation"
            );
            return Err(AttestError::ProcessChanged { pid });
        }
        let ids = dir.ids()?;
        Ok(ProcessIdentity {
            pid,
            start_time: stat.start_time,
            uid: ids.euid,
            gid: ids.egid,
        })
    }

    /// The error for a changed process, logged.
    fn changed(&self, field: &'static str) -> AttestError {
        warn!(
            pid = self.pid,
            field, "process behind the pid changed during attestation"
        );
        AttestError::ProcessChanged { pid: self.pid }
    }

    /// The PID.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The start time, in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
    pub fn start_time(&self) -> u64 {
        self.start_time
    }

    /// The effective uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The effective gid.
    pub fn gid(&self) -> u32 {
        self.gid
    }
}
