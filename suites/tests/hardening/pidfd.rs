//! Item 5: the process attested is the one that connected, pinned by a pidfd, never one that
//! got its PID later.
//!
//! Before the fix the agent captured the caller's process (start time, uid, gid from `/proc`)
//! when it *accepted* the connection. A caller that connected and exited before the accept
//! (the agent busy, or stopped), whose PID then went to another process of the same user,
//! was captured as that other process, and the connection got the other process's identity.
//! With `SO_PEERPIDFD` the pidfd names the process that called `connect()`, which is gone, so
//! the connection gets nothing.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};

use crate::common::{Deployment, PROBE, READY, ServerOpts, TD, is_root, probe_as, wait_until};

/// A process killed and reaped when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resumes a stopped process when dropped (so a failing test never leaves the agent stopped).
struct Stopped(nix::unistd::Pid);

impl Stopped {
    fn stop(pid: nix::unistd::Pid) -> Stopped {
        kill(pid, Signal::SIGSTOP).unwrap();
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// Starts `sleep` as `uid` with the PID `pid` (which must be free), steering the kernel's next
/// PID through `/proc/sys/kernel/ns_last_pid`.
fn spawn_with_pid(pid: i32, uid: u32) -> Guard {
    // Resolved first: finding it starts a process, which would take the PID.
    let sleep = sleep_path();
    for _ in 0..500 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let child = Command::new(&sleep)
            .arg("60")
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let got = i32::try_from(child.id()).unwrap();
        let guard = Guard(child);
        if got == pid {
            return guard;
        }
    }
    let holder = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    panic!("could not start a process with pid {pid}; it is held by:\n{holder}");
}

/// The canonical path of `sleep` (what `/proc/<pid>/exe` shows, so what `unix:path` says).
fn sleep_path() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v sleep"])
        .output()
        .unwrap();
    std::fs::canonicalize(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

/// Starts `suite-probe handoff` as `uid`: it connects, hands the connection to a holder and
/// exits (or, with `stay`, waits for the holder). Returns the caller (not yet reaped), its PID
/// and the holder's output lines.
fn start_handoff(
    socket: &Path,
    fifo: &Path,
    uid: u32,
    stay: bool,
) -> (Guard, i32, std::sync::mpsc::Receiver<String>) {
    let mut caller = Guard(
        Command::new(PROBE)
            .arg(if stay { "handoff-stay" } else { "handoff" })
            .arg(socket)
            .arg(fifo)
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let pid = i32::try_from(caller.0.id()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = caller.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(READY).unwrap();
    assert!(first.starts_with(&format!("handoff {pid} ")), "{first}");
    (caller, pid, rx)
}

fn go(fifo: &Path) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(fifo)
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
}

fn fifo(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    path
}

#[test]
fn a_pid_reused_before_the_agent_accepts_gets_nothing() {
    if !is_root() {
        eprintln!(
            "SKIP a_pid_reused_before_the_agent_accepts_gets_nothing: needs root (uids, ns_last_pid)"
        );
        return;
    }
    let _serial = crate::serial();
    let uid = 31_021;
    let d = Deployment::start_with_agent_config(
        &ServerOpts::default(),
        Some("discover_workload_path = true\n"),
    );
    let probe = std::fs::canonicalize(PROBE).unwrap();
    let caller_id = format!("spiffe://{TD}/pidfd/caller");
    let impostor_id = format!("spiffe://{TD}/pidfd/impostor");
    let uid_sel = format!("unix:uid:{uid}");
    d.server
        .create_entry(
            &caller_id,
            &[&uid_sel, &format!("unix:path:{}", probe.display())],
            &[],
        )
        .ok();
    d.server
        .create_entry(
            &impostor_id,
            &[&uid_sel, &format!("unix:path:{}", sleep_path().display())],
            &[],
        )
        .ok();
    let endpoint = d.agent.endpoint();
    wait_until(&format!("uid {uid} sees {caller_id}"), READY, || {
        let r = probe_as(uid, uid, &["fetch", &endpoint, "1"]);
        if r.stdout.trim() == format!("x509 1 {caller_id}") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();

    // Control: a caller alive while it is attested gets its identity over the handed-off
    // connection.
    let control = fifo(dir.path(), "control");
    let (mut caller, _, rx) = start_handoff(&d.agent.socket, &control, uid, true);
    go(&control);
    let got = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(got, format!("svids {caller_id}"));
    assert!(caller.0.wait().unwrap().success());

    // The agent is stopped, so the connection waits in the listen backlog; the caller exits
    // and another process of the same user gets its PID; then the agent accepts.
    let agent_pid = d.agent.daemon.as_ref().unwrap().pid();
    let stopped = Stopped::stop(agent_pid);
    let reuse = fifo(dir.path(), "reuse");
    let (mut caller, caller_pid, rx) = start_handoff(&d.agent.socket, &reuse, uid, false);
    assert!(caller.0.wait().unwrap().success());
    let impostor = spawn_with_pid(caller_pid, uid);
    drop(stopped);
    go(&reuse);
    let got = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the holder did not answer ({e})"));
    drop(impostor);
    assert!(
        got.starts_with("err PermissionDenied "),
        "a connection whose caller exited before the accept got: {got} (the process that took \
         its PID holds {impostor_id})\n{}",
        d.agent.log()
    );
}
