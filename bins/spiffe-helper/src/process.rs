//! What happens to other processes when the files are renewed, as spiffe-helper does it:
//!
//! - `cmd` is started (with `cmd_args`, spiffe-helper's stdio) after the first successful
//!   write; at each later renewal it gets `renew_signal` if it still runs, or is started again
//!   if it has exited (never restarted in between);
//! - the process whose PID is in `pid_file_name` gets `renew_signal` at each renewal; the file
//!   is read again each time, and a failure (no file, no number, no process) is retried with a
//!   backoff (10 attempts from 100 ms, doubling), then logged.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use spiffe_core::backoff::Backoff;
use thiserror::Error;

/// Attempts at signalling the PID file's process before giving up until the next renewal.
const PID_FILE_ATTEMPTS: u32 = 10;
/// The largest PID file read.
const MAX_PID_FILE_BYTES: u64 = 64;

/// Why a process could not be started or signalled.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ProcessError {
    /// `cmd` could not be started.
    #[error("error executing process {cmd:?}: {source}")]
    Start {
        /// The command.
        cmd: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The PID file could not be read.
    #[error("failed to read pid file {path:?}: {source}")]
    ReadPidFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<spiffe_fs::FsError>,
    },
    /// The PID file does not hold a process ID.
    #[error("failed to parse pid file {path:?}: {content:?} is not a process ID")]
    ParsePidFile {
        /// The file.
        path: PathBuf,
        /// What it holds (trimmed).
        content: String,
    },
    /// The signal could not be sent.
    #[error("error signaling process {pid} with {signal}: {source}")]
    Signal {
        /// The process.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// Why.
        #[source]
        source: nix::Error,
    },
}

/// The `cmd` child, if one was started and has not been seen to exit.
#[derive(Debug, Default)]
struct Running {
    pid: Option<i32>,
}

/// Starts `cmd` at the first renewal and signals or restarts it at the next ones.
#[derive(Debug, Clone)]
pub struct Command {
    program: String,
    args: Vec<String>,
    signal: Option<Signal>,
    running: Arc<Mutex<Running>>,
}

impl Command {
    /// The command `program args...`, signalled with `signal` (none: left alone while it runs).
    pub fn new(program: String, args: Vec<String>, signal: Option<Signal>) -> Self {
        Command {
            program,
            args,
            signal,
            running: Arc::default(),
        }
    }

    /// Called after each successful write: starts the command if it is not running, else
    /// signals it.
    ///
    /// # Errors
    ///
    /// [`ProcessError::Start`] or [`ProcessError::Signal`].
    pub fn renewed(&self) -> Result<(), ProcessError> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pid) = running.pid {
            let Some(signal) = self.signal else {
                tracing::debug!(pid, "no renew_signal: the running command is left alone");
                return Ok(());
            };
            kill(Pid::from_raw(pid), signal).map_err(|source| ProcessError::Signal {
                pid,
                signal,
                source,
            })?;
            tracing::info!(pid, signal = %signal, "signalled the command");
            return Ok(());
        }
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::inherit())
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| ProcessError::Start {
                cmd: self.program.clone(),
                source,
            })?;
        let pid = child.id().and_then(|id| i32::try_from(id).ok());
        running.pid = pid;
        tracing::info!(cmd = %self.program, pid = ?pid, "started the command");
        let state = Arc::clone(&self.running);
        let program = self.program.clone();
        tokio::spawn(async move {
            match child.wait().await {
                Ok(status) => tracing::info!(cmd = %program, %status, "the command exited"),
                Err(e) => {
                    tracing::error!(cmd = %program, error = %e, "error waiting for the command");
                }
            }
            state.lock().unwrap_or_else(PoisonError::into_inner).pid = None;
        });
        Ok(())
    }
}

/// Signals the process named by a PID file.
#[derive(Debug, Clone)]
pub struct PidFile {
    path: PathBuf,
    signal: Signal,
}

impl PidFile {
    /// The process in `path`, to be sent `signal`.
    pub fn new(path: PathBuf, signal: Signal) -> Self {
        PidFile { path, signal }
    }

    /// Reads the PID file and signals its process once.
    ///
    /// # Errors
    ///
    /// [`ProcessError`] naming the file, the PID or the signal.
    pub fn signal_once(&self) -> Result<i32, ProcessError> {
        let pid = read_pid(&self.path)?;
        kill(Pid::from_raw(pid), self.signal).map_err(|source| ProcessError::Signal {
            pid,
            signal: self.signal,
            source,
        })?;
        Ok(pid)
    }

    /// Signals with retries (10 attempts from 100 ms, doubling); the last error if all fail.
    ///
    /// # Errors
    ///
    /// The last attempt's [`ProcessError`].
    pub async fn signal_with_retry(&self) -> Result<i32, ProcessError> {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        let mut attempt = 1;
        loop {
            match self.signal_once() {
                Ok(pid) => {
                    tracing::info!(pid, signal = %self.signal, file = %self.path.display(), "signalled the PID file's process");
                    return Ok(pid);
                }
                Err(e) if attempt >= PID_FILE_ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::debug!(attempt, error = %e, "cannot signal the PID file's process yet");
                    attempt += 1;
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }
}

/// The PID in a PID file (surrounding white space ignored).
///
/// # Errors
///
/// [`ProcessError::ReadPidFile`] or [`ProcessError::ParsePidFile`].
pub fn read_pid(path: &Path) -> Result<i32, ProcessError> {
    let text =
        spiffe_fs::read::read_to_string_bounded(path, MAX_PID_FILE_BYTES).map_err(|source| {
            ProcessError::ReadPidFile {
                path: path.to_path_buf(),
                source: Box::new(source),
            }
        })?;
    let trimmed = text.trim();
    trimmed
        .parse::<i32>()
        .ok()
        .filter(|pid| *pid > 0)
        .ok_or_else(|| ProcessError::ParsePidFile {
            path: path.to_path_buf(),
            content: trimmed.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn pid_files_are_read_trimmed_and_refused_when_not_a_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.pid");
        std::fs::write(&path, " 4242\n").unwrap();
        assert_eq!(read_pid(&path).unwrap(), 4242);
        for bad in ["", "abc", "-1", "0", "12 13"] {
            std::fs::write(&path, bad).unwrap();
            let err = read_pid(&path).unwrap_err();
            assert!(
                matches!(err, ProcessError::ParsePidFile { .. }),
                "{bad:?}: {err}"
            );
        }
        let err = read_pid(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }
}
