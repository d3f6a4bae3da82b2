//! The PID-reuse guard against real processes: a caller exits (and is reaped, or left a zombie)
//! during attestation, and a new process is given its very PID (through
//! `/proc/sys/kernel/ns_last_pid`, which root may set).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ChildGuard, HookAttestor};
use futures::executor::block_on;
use spiffe_attest::{
    AttestError, ProcessIdentity, UnixAttestor, WorkloadAttestor, attest_captured, attest_process,
};

/// Tests here fork, and some steer which PID the next fork gets: run them one at a time (and
/// without an async runtime, so the lock is never held across an await).
static SERIAL: Mutex<()> = Mutex::new(());

/// Starts `sleep` with the PID `pid`, which must be free: sets `ns_last_pid` to `pid - 1` and
/// forks, retrying if another fork took the PID first.
fn spawn_with_pid(pid: i32) -> ChildGuard {
    for _ in 0..100 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let child = ChildGuard::sleep();
        if child.pid() == pid {
            return child;
        }
    }
    panic!("could not start a process with pid {pid}");
}

/// A child that has been running for a few clock ticks, so a process started later has another
/// start time.
fn old_child() -> ChildGuard {
    let child = ChildGuard::sleep();
    std::thread::sleep(Duration::from_millis(50));
    child
}

#[test]
fn reaped_caller_is_gone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = old_child();
    let identity = ProcessIdentity::capture(child.pid()).unwrap();
    identity.verify().unwrap();
    child.kill_and_reap();
    assert!(matches!(
        identity.verify(),
        Err(AttestError::ProcessGone { pid }) if pid == identity.pid()
    ));
}

#[test]
fn zombie_caller_is_gone() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = old_child();
    let identity = ProcessIdentity::capture(child.pid()).unwrap();
    child.kill_leave_zombie();
    assert!(matches!(
        identity.verify(),
        Err(AttestError::ProcessGone { pid }) if pid == identity.pid()
    ));
}

#[test]
fn reused_pid_is_detected() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut caller = old_child();
    let pid = caller.pid();
    let identity = ProcessIdentity::capture(pid).unwrap();
    caller.kill_and_reap();

    // Same pid, same uid and gid (root): only the start time tells them apart.
    let impostor = spawn_with_pid(pid);
    let now = ProcessIdentity::capture(pid).unwrap();
    assert_eq!(
        (now.pid(), now.uid(), now.gid()),
        (pid, identity.uid(), identity.gid())
    );
    assert!(now.start_time() > identity.start_time());
    assert!(matches!(
        identity.verify(),
        Err(AttestError::ProcessChanged { pid: p }) if p == pid
    ));
    drop(impostor);
}

#[test]
fn caller_replaced_during_attestation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let caller = Arc::new(Mutex::new(Some(old_child())));
    let impostor = Arc::new(Mutex::new(None));
    let pid = caller.lock().unwrap().as_ref().unwrap().pid();

    // While the attestors run, the caller exits and another process takes its pid.
    let swap: Arc<dyn WorkloadAttestor> = Arc::new(HookAttestor {
        name: "test",
        selectors: vec!["test:before-exit"],
        hook: {
            let (caller, impostor) = (caller.clone(), impostor.clone());
            move |pid| {
                caller.lock().unwrap().take().unwrap().kill_and_reap();
                *impostor.lock().unwrap() = Some(spawn_with_pid(pid));
            }
        },
    });
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(UnixAttestor::default());
    let result = block_on(attest_process(pid, &[swap, unix]));
    assert!(
        matches!(result, Err(AttestError::ProcessChanged { pid: p }) if p == pid),
        "{result:?}"
    );
    assert!(impostor.lock().unwrap().is_some());
}

#[test]
fn caller_exits_during_attestation() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let caller = Arc::new(Mutex::new(Some(old_child())));
    let pid = caller.lock().unwrap().as_ref().unwrap().pid();
    let identity = ProcessIdentity::capture(pid).unwrap();
    let exit: Arc<dyn WorkloadAttestor> = Arc::new(HookAttestor {
        name: "test",
        selectors: vec!["test:before-exit"],
        hook: move |_| caller.lock().unwrap().take().unwrap().kill_and_reap(),
    });
    let result = block_on(attest_captured(identity, &[exit]));
    assert!(
        matches!(result, Err(AttestError::ProcessGone { pid: p }) if p == pid),
        "{result:?}"
    );
}

#[test]
fn a_live_caller_passes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let child = ChildGuard::spawn(Command::new("sleep").arg("60"));
    let identity = ProcessIdentity::capture(child.pid()).unwrap();
    std::thread::sleep(Duration::from_millis(30));
    identity.verify().unwrap();
    assert_eq!(identity, ProcessIdentity::capture(child.pid()).unwrap());
}
