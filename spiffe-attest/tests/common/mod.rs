//! Helpers for the integration tests: child processes that are always reaped, a fake proc tree,
//! and the system tools (`id`, `sha256sum`) the attestors are checked against.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

use futures::future::BoxFuture;
use spiffe_attest::{AttestError, WorkloadAttestor};
use spiffe_core::Selector;

/// A child process that is killed and reaped when dropped.
pub struct ChildGuard(pub Option<Child>);

impl ChildGuard {
    /// Spawns `command`, which must keep running until killed.
    pub fn spawn(command: &mut Command) -> Self {
        ChildGuard(Some(command.spawn().expect("spawn child")))
    }

    /// `sleep 60` as a child.
    pub fn sleep() -> Self {
        Self::spawn(Command::new("sleep").arg("60"))
    }

    /// The child's PID.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.0.as_ref().unwrap().id()).unwrap()
    }

    /// Kills the child and reaps it: its PID is free for reuse afterwards.
    pub fn kill_and_reap(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            child.wait().unwrap();
        }
    }

    /// Kills the child without reaping it: it stays a zombie until dropped.
    pub fn kill_leave_zombie(&mut self) {
        let child = self.0.as_mut().unwrap();
        child.kill().unwrap();
        // Wait until the kernel has made it a zombie.
        let status = format!("/proc/{}/stat", child.id());
        for _ in 0..200 {
            let stat = std::fs::read_to_string(&status).unwrap();
            let state = stat.rsplit_once(") ").unwrap().1.chars().next().unwrap();
            if state == 'Z' {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("child did not become a zombie");
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

/// Runs a command to completion and returns its stdout, trimmed (its exit status is not checked:
/// `id -Gn` fails, but prints, when a group has no name).
pub fn stdout_of(command: &mut Command) -> String {
    let Output { stdout, .. } = command.output().expect("run command");
    String::from_utf8(stdout).unwrap().trim().to_owned()
}

/// The hex SHA-256 of a file, by `sha256sum`.
pub fn sha256sum(path: &Path) -> String {
    let out = stdout_of(Command::new("sha256sum").arg(path));
    out.split_whitespace().next().unwrap().to_owned()
}

/// What `id` reports for a set of credentials.
#[derive(Debug, PartialEq, Eq)]
pub struct IdReport {
    /// `id -u`, `id -un`: the effective uid and its name.
    pub uid: String,
    pub user: String,
    /// `id -g`, `id -gn`: the effective gid and its name.
    pub gid: String,
    pub group: String,
    /// `id -G`: every group id (real, effective and supplementary).
    pub gids: BTreeSet<String>,
    /// `id -Gn`, leaving out groups without a name (printed as their number).
    pub group_names: BTreeSet<String>,
}

impl IdReport {
    /// Runs `id` as `id_command()` does (it must have the credentials of the process attested).
    pub fn of(id_command: impl Fn() -> Command) -> Self {
        let run = |args: &[&str]| stdout_of(id_command().args(args));
        let gids: Vec<String> = run(&["-G"]).split_whitespace().map(str::to_owned).collect();
        let names: Vec<String> = run(&["-Gn"])
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(gids.len(), names.len());
        IdReport {
            uid: run(&["-u"]),
            user: run(&["-un"]),
            gid: run(&["-g"]),
            group: run(&["-gn"]),
            group_names: gids
                .iter()
                .zip(&names)
                .filter(|(gid, name)| gid != name)
                .map(|(_, name)| name.clone())
                .collect(),
            gids: gids.into_iter().collect(),
        }
    }

    /// The same facts as read from `unix` selectors: the gid and the supplementary gids together
    /// make up `id -G` (and likewise for names).
    pub fn from_selectors(selectors: &[Selector]) -> Self {
        let all = |key: &str| -> BTreeSet<String> {
            let prefix = format!("{key}:");
            selectors
                .iter()
                .filter_map(|s| s.value().strip_prefix(&prefix).map(str::to_owned))
                .collect()
        };
        let gid = value_of(selectors, "gid").unwrap();
        let group = value_of(selectors, "group").unwrap();
        let mut gids = all("supplementary_gid");
        gids.insert(gid.clone());
        let mut group_names = all("supplementary_group");
        group_names.insert(group.clone());
        IdReport {
            uid: value_of(selectors, "uid").unwrap(),
            user: value_of(selectors, "user").unwrap(),
            gid,
            group,
            gids,
            group_names,
        }
    }
}

/// Selectors as strings.
pub fn strings(selectors: &[Selector]) -> Vec<String> {
    selectors.iter().map(ToString::to_string).collect()
}

/// The `unix` selectors without `path` and `sha256`, as a set.
pub fn identity_selectors(selectors: &[Selector]) -> BTreeSet<String> {
    selectors
        .iter()
        .filter(|s| !s.value().starts_with("path:") && !s.value().starts_with("sha256:"))
        .map(ToString::to_string)
        .collect()
}

/// The value of the one selector `unix:<key>:...`, if any.
pub fn value_of(selectors: &[Selector], key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    let mut found = selectors
        .iter()
        .filter_map(|s| s.value().strip_prefix(&prefix).map(str::to_owned));
    let first = found.next();
    assert!(found.next().is_none(), "more than one {key} selector");
    first
}

/// The contents of a `/proc/<pid>/stat` file.
pub fn stat_file(pid: i32, state: char, start_time: u64) -> String {
    format!(
        "{pid} (fake worker) {state} 1 {pid} {pid} 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 {start_time} \
         1000000 100 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
    )
}

/// The contents of a `/proc/<pid>/status` file; `uids` and `gids` are real, effective, saved, fs.
pub fn status_file(pid: i32, uids: [u32; 4], gids: [u32; 4], groups: &[u32]) -> String {
    let join = |ids: &[u32]| {
        ids.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\t")
    };
    let groups: String = groups.iter().map(|g| format!("{g} ")).collect();
    format!(
        "Name:\tfake\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\n\
         PPid:\t1\nTracerPid:\t0\nUid:\t{}\nGid:\t{}\nFDSize:\t64\nGroups:\t{groups}\n\
         Threads:\t1\nSigQ:\t0/63432\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n\
         SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n\
         CapInh:\t0000000000000000\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n",
        join(&uids),
        join(&gids)
    )
}

/// A fake proc tree with one process.
pub struct FakeProc {
    pub dir: tempfile::TempDir,
    pub pid: i32,
}

impl FakeProc {
    /// A process `pid` started at tick 1000, uid and gid as given, and the given groups.
    pub fn new(pid: i32, uids: [u32; 4], gids: [u32; 4], groups: &[u32]) -> Self {
        let fake = FakeProc {
            dir: tempfile::tempdir().unwrap(),
            pid,
        };
        std::fs::create_dir(fake.process_dir()).unwrap();
        fake.write("stat", &stat_file(pid, 'S', 1000));
        fake.write("status", &status_file(pid, uids, gids, groups));
        fake
    }

    /// The proc root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `<root>/<pid>`.
    pub fn process_dir(&self) -> PathBuf {
        self.dir.path().join(self.pid.to_string())
    }

    /// Writes `<root>/<pid>/<file>`.
    pub fn write(&self, file: &str, contents: &str) {
        std::fs::write(self.process_dir().join(file), contents).unwrap();
    }

    /// Points `<root>/<pid>/exe` at `target`.
    pub fn set_exe(&self, target: &Path) {
        let link = self.process_dir().join("exe");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(target, link).unwrap();
    }
}

/// An attestor that runs a closure (to change the world mid-attestation) and returns fixed
/// selectors of its own type.
pub struct HookAttestor<F> {
    pub name: &'static str,
    pub selectors: Vec<&'static str>,
    pub hook: F,
}

impl<F: Fn(i32) + Send + Sync> WorkloadAttestor for HookAttestor<F> {
    fn name(&self) -> &str {
        self.name
    }

    fn attest(&self, pid: i32) -> BoxFuture<'_, Result<Vec<Selector>, AttestError>> {
        (self.hook)(pid);
        let selectors = self
            .selectors
            .iter()
            .map(|s| Selector::parse(s).unwrap())
            .collect();
        Box::pin(async move { Ok(selectors) })
    }
}
