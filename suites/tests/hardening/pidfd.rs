//! Item 5: the process attested is the one that connected, pinned by a pidfd, never one that
//! got its PID later.
//!
//! Before the fix the agent captured the caller's process (start time, uid, gid from `/proc`)
//! when it *accepted* the connection. A caller that connected and exited before the accept
//! (the agent busy, or stopped), whose PID then went to another process of the same user,
//! was captured as that other process, and the connection got the other process's identity.
//! With `SO_PEERPIDFD` the pidfd names the process that called `connect()`, which is gone, so
//! the connection gets nothing.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};

use crate::common::{
    Deployment, PROBE, READY, ServerOpts, TD, is_root, probe_as, sleep_path, spawn_with_pid,
    start_handoff, wait_until,
};

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
