//! [`ProcDir`]: the few facts attestation needs from `/proc/<pid>`, read through one directory
//! descriptor and parsed without building a full model of each file.
//!
//! The Workload API attests every call and the PID-reuse guard reads `stat` and `status` before
//! and after the attestors, so these reads are the hot path: only the fields used are parsed.
//! Reads go through a descriptor of `/proc/<pid>` opened once: if the PID is reused meanwhile,
//! they fail (ESRCH) rather than read the new process.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, readlinkat};
use nix::sys::stat::Mode;

use crate::error::AttestError;

/// What `/proc/<pid>/stat` says about the process's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatFacts {
    /// Field 3: `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub(crate) state: char,
    /// Field 22: start time in clock ticks since boot.
    pub(crate) start_time: u64,
}

/// The ids `/proc/<pid>/status` gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusIds {
    /// The effective uid (second value of `Uid:`).
    pub(crate) euid: u32,
    /// The effective gid (second value of `Gid:`).
    pub(crate) egid: u32,
    /// The supplementary groups (`Groups:`), in the kernel's order.
    pub(crate) groups: Vec<u32>,
}

/// An open `/proc/<pid>` directory.
#[derive(Debug)]
pub(crate) struct ProcDir {
    dir: OwnedFd,
    pid: i32,
}

impl ProcDir {
    /// Opens `<proc_root>/<pid>`: [`AttestError::ProcessGone`] if there is no such process.
    pub(crate) fn open(proc_root: &Path, pid: i32) -> Result<Self, AttestError> {
        if pid <= 0 {
            return Err(AttestError::InvalidPid { pid });
        }
        let path: PathBuf = proc_root.join(pid.to_string());
        let dir = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_DIRECTORY | nix::libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| io_error(pid, "", &e))?;
        Ok(ProcDir {
            dir: OwnedFd::from(dir),
            pid,
        })
    }

    /// The whole of `file` (small: `stat`, `status`, `cgroup`).
    pub(crate) fn read(&self, file: &'static str) -> Result<String, AttestError> {
        let fd = openat(
            &self.dir,
            file,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| errno_error(self.pid, file, e))?;
        let mut text = String::with_capacity(2048);
        File::from(fd)
            .read_to_string(&mut text)
            .map_err(|e| io_error(self.pid, file, &e))?;
        Ok(text)
    }

    /// The target of the `exe` link (the binary, as the process sees it).
    pub(crate) fn exe(&self) -> Result<PathBuf, AttestError> {
        readlinkat(&self.dir, "exe")
            .map(PathBuf::from)
            .map_err(|e| errno_error(self.pid, "exe", e))
    }

    /// State and start time, from `stat`.
    pub(crate) fn stat(&self) -> Result<StatFacts, AttestError> {
        let text = self.read("stat")?;
        parse_stat(&text).ok_or_else(|| malformed(self.pid, "stat"))
    }

    /// Effective uid and gid and the supplementary groups, from `status`.
    pub(crate) fn ids(&self) -> Result<StatusIds, AttestError> {
        let text = self.read("status")?;
        parse_status(&text).ok_or_else(|| malformed(self.pid, "status"))
    }
}

/// Parses `stat`: fields after the command name, which is in parentheses and may itself
/// contain spaces and parentheses (hence the last `)`).
fn parse_stat(text: &str) -> Option<StatFacts> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `state` is field 3; `starttime` is field 22, 19 further on.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(StatFacts { state, start_time })
}

/// Parses the `Uid:`, `Gid:` and `Groups:` lines of `status`.
fn parse_status(text: &str) -> Option<StatusIds> {
    let mut euid = None;
    let mut egid = None;
    let mut groups = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Uid:") {
            euid = Some(rest.split_ascii_whitespace().nth(1)?.parse().ok()?);
        } else if let Some(rest) = line.strip_prefix("Gid:") {
            egid = Some(rest.split_ascii_whitespace().nth(1)?.parse().ok()?);
        } else if let Some(rest) = line.strip_prefix("Groups:") {
            groups = Some(
                rest.split_ascii_whitespace()
                    .map(str::parse)
                    .collect::<Result<Vec<u32>, _>>()
                    .ok()?,
            );
        }
        if euid.is_some() && egid.is_some() && groups.is_some() {
            break;
        }
    }
    Some(StatusIds {
        euid: euid?,
        egid: egid?,
        groups: groups?,
    })
}

/// A file that did not parse.
fn malformed(pid: i32, file: &'static str) -> AttestError {
    AttestError::ProcRead {
        pid,
        file,
        detail: "unexpected format".to_owned(),
    }
}

/// Maps an errno: a missing process (ENOENT, ESRCH) is [`AttestError::ProcessGone`].
fn errno_error(pid: i32, file: &'static str, err: Errno) -> AttestError {
    match err {
        Errno::ENOENT | Errno::ESRCH => AttestError::ProcessGone { pid },
        other => AttestError::ProcRead {
            pid,
            file,
            detail: other.desc().to_owned(),
        },
    }
}

/// Maps an I/O error like [`errno_error`].
fn io_error(pid: i32, file: &'static str, err: &std::io::Error) -> AttestError {
    match err.raw_os_error() {
        Some(code) => errno_error(pid, file, Errno::from_raw(code)),
        None => AttestError::ProcRead {
            pid,
            file,
            detail: err.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_a_hostile_command_name() {
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(
            parse_stat(line),
            Some(StatFacts {
                state: 'S',
                start_time: 987654
            })
        );
        assert_eq!(parse_stat("4242 (no closing paren S 1"), None);
        assert_eq!(parse_stat("4242 (short) S 1 2 3\n"), None);
    }

    #[test]
    fn status_effective_ids_and_groups() {
        let text = "Name:\tx\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t0\t0\t0\n\
                    Gid:\t1000\t100\t100\t100\nFDSize:\t64\nGroups:\t4 24 1000 \nNStgid:\t1\n";
        assert_eq!(
            parse_status(text),
            Some(StatusIds {
                euid: 0,
                egid: 100,
                groups: vec![4, 24, 1000]
            })
        );
        let no_groups = "Uid:\t1\t1\t1\t1\nGid:\t2\t2\t2\t2\nGroups:\t\n";
        assert_eq!(parse_status(no_groups).map(|s| s.groups), Some(vec![]));
        assert_eq!(parse_status("Uid:\t1\t1\t1\t1\nGroups:\t\n"), None);
        assert_eq!(parse_status("Uid:\tx\ty\nGid:\t2\t2\nGroups:\t\n"), None);
    }

    #[test]
    fn own_process_facts() {
        let dir = ProcDir::open(Path::new("/proc"), std::process::id() as i32).unwrap();
        let stat = dir.stat().unwrap();
        assert!(stat.start_time > 0);
        assert_eq!(dir.ids().unwrap().euid, nix::unistd::geteuid().as_raw());
        assert!(dir.exe().unwrap().is_absolute());
        assert!(matches!(
            ProcDir::open(Path::new("/proc"), i32::MAX),
            Err(AttestError::ProcessGone { pid: i32::MAX })
        ));
    }
}
