//! The unix attestor and the PID-reuse guard against a fake proc tree: exact, deterministic
//! selectors and every way the process can change under the attestor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;

use common::{FakeProc, HookAttestor, stat_file, status_file, strings};
use futures::future::BoxFuture;
use spiffe_attest::{
    AttestError, ProcessIdentity, UnixAttestor, UnixConfig, WorkloadAttestor, WorkloadSizeLimit,
    attest_captured_in, attest_process_in,
};
use spiffe_core::Selector;

const PID: i32 = 4242;
/// SHA-256 of "data".
const DATA_SHA256: &str = "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7";

/// Real uid 65534 but effective 0 (root); real gid 65534, effective 100 (users); groups 100,
/// 65534 (nogroup) and 4243 (no name).
fn fake() -> FakeProc {
    FakeProc::new(
        PID,
        [65534, 0, 0, 0],
        [65534, 100, 100, 100],
        &[100, 65534, 4243],
    )
}

fn unix(fake: &FakeProc, config: UnixConfig) -> UnixAttestor {
    UnixAttestor::new(config).with_proc_root(fake.root())
}

fn with_paths(limit: WorkloadSizeLimit) -> UnixConfig {
    UnixConfig {
        discover_workload_path: true,
        workload_size_limit: limit,
    }
}

#[test]
fn selectors_in_spire_order() {
    let fake = fake();
    let attestor = unix(&fake, UnixConfig::default());
    assert_eq!(attestor.proc_root(), fake.root());
    let selectors = attestor.attest_blocking(PID).unwrap();
    assert_eq!(
        strings(&selectors),
        [
            "unix:uid:0",
            "unix:user:root",
            "unix:gid:100",
            "unix:group:users",
            "unix:supplementary_gid:100",
            "unix:supplementary_group:users",
            "unix:supplementary_gid:65534",
            "unix:supplementary_group:nogroup",
            "unix:supplementary_gid:4243",
        ]
    );
}

#[test]
fn unknown_user_and_group_names_are_omitted() {
    let fake = FakeProc::new(PID, [4243; 4], [4244; 4], &[]);
    let selectors = unix(&fake, UnixConfig::default())
        .attest_blocking(PID)
        .unwrap();
    assert_eq!(strings(&selectors), ["unix:uid:4243", "unix:gid:4244"]);
}

#[test]
fn path_and_sha256() {
    let fake = fake();
    let exe = fake.root().join("bin-worker");
    std::fs::write(&exe, b"data").unwrap();
    fake.set_exe(&exe);
    let path_selector = format!("unix:path:{}", exe.display());

    for (limit, sha) in [
        (WorkloadSizeLimit::Unlimited, true),
        (WorkloadSizeLimit::Bytes(4), true),
        (WorkloadSizeLimit::NoHash, false),
    ] {
        let got = unix(&fake, with_paths(limit)).attest_blocking(PID).unwrap();
        let got = strings(&got);
        assert_eq!(
            got[got.len() - 1 - usize::from(sha)],
            path_selector,
            "{limit:?}"
        );
        assert_eq!(
            got.last().unwrap() == &format!("unix:sha256:{DATA_SHA256}"),
            sha,
            "{limit:?}"
        );
    }

    match unix(&fake, with_paths(WorkloadSizeLimit::Bytes(2))).attest_blocking(PID) {
        Err(AttestError::WorkloadTooLarge {
            pid,
            path,
            size,
            limit,
        }) => assert_eq!((pid, path, size, limit), (PID, exe.clone(), 4, 2)),
        other => panic!("expected WorkloadTooLarge, got {other:?}"),
    }

    // No exe link at all: SPIRE fails the attestation when the path cannot be discovered.
    std::fs::remove_file(fake.process_dir().join("exe")).unwrap();
    assert!(
        unix(&fake, with_paths(WorkloadSizeLimit::NoHash))
            .attest_blocking(PID)
            .is_err()
    );
}

#[test]
fn non_utf8_exe_path_is_refused() {
    let fake = fake();
    fake.set_exe(Path::new(OsStr::from_bytes(b"/usr/bin/\xffworker")));
    match unix(&fake, with_paths(WorkloadSizeLimit::NoHash)).attest_blocking(PID) {
        Err(AttestError::NonUtf8ExePath { pid, path }) => {
            assert_eq!(pid, PID);
            assert_eq!(path.as_os_str().as_bytes(), b"/usr/bin/\xffworker");
        }
        other => panic!("expected NonUtf8ExePath, got {other:?}"),
    }
}

#[test]
fn unreadable_status_is_a_typed_error() {
    let fake = fake();
    fake.write("status", "Name:\tfake\nUid:\tnot numbers\n");
    match unix(&fake, UnixConfig::default()).attest_blocking(PID) {
        Err(AttestError::ProcRead { pid, file, .. }) => assert_eq!((pid, file), (PID, "status")),
        other => panic!("expected ProcRead, got {other:?}"),
    }
}

#[test]
fn missing_process_is_gone() {
    let fake = fake();
    assert!(matches!(
        unix(&fake, UnixConfig::default()).attest_blocking(PID + 1),
        Err(AttestError::ProcessGone { pid }) if pid == PID + 1
    ));
}

#[test]
fn identity_detects_every_change() {
    let fake = fake();
    let identity = ProcessIdentity::capture_in(fake.root(), PID).unwrap();
    assert_eq!(
        (
            identity.pid(),
            identity.start_time(),
            identity.uid(),
            identity.gid()
        ),
        (PID, 1000, 0, 100)
    );
    identity.verify_in(fake.root()).unwrap();

    let changed = |identity: &ProcessIdentity| {
        matches!(
            identity.verify_in(fake.root()),
            Err(AttestError::ProcessChanged { pid }) if pid == PID
        )
    };
    let gone = |identity: &ProcessIdentity| {
        matches!(
            identity.verify_in(fake.root()),
            Err(AttestError::ProcessGone { pid }) if pid == PID
        )
    };
    let status = |uids, gids| status_file(PID, uids, gids, &[100, 65534, 4243]);

    // A new process with the same pid: a later start time.
    fake.write("stat", &stat_file(PID, 'S', 1001));
    assert!(changed(&identity));
    fake.write("stat", &stat_file(PID, 'S', 1000));
    identity.verify_in(fake.root()).unwrap();

    // Same start time (same clock tick) but another effective uid, or gid.
    fake.write(
        "status",
        &status([65534, 1000, 1000, 1000], [65534, 100, 100, 100]),
    );
    assert!(changed(&identity));
    fake.write("status", &status([65534, 0, 0, 0], [65534, 0, 0, 0]));
    assert!(changed(&identity));
    fake.write("status", &status([65534, 0, 0, 0], [65534, 100, 100, 100]));
    identity.verify_in(fake.root()).unwrap();

    // Exited but not reaped, then reaped.
    fake.write("stat", &stat_file(PID, 'Z', 1000));
    assert!(gone(&identity));
    std::fs::remove_dir_all(fake.process_dir()).unwrap();
    assert!(gone(&identity));
    assert!(matches!(
        ProcessIdentity::capture_in(fake.root(), PID),
        Err(AttestError::ProcessGone { pid: PID })
    ));
}

#[test]
fn zombies_cannot_be_captured() {
    let fake = fake();
    fake.write("stat", &stat_file(PID, 'Z', 1000));
    assert!(matches!(
        ProcessIdentity::capture_in(fake.root(), PID),
        Err(AttestError::ProcessGone { pid: PID })
    ));
}

#[tokio::test]
async fn attestation_over_a_fake_tree() {
    let fake = fake();
    let attestor: Arc<dyn WorkloadAttestor> = Arc::new(unix(&fake, UnixConfig::default()));
    let attestation = attest_process_in(fake.root(), PID, &[attestor])
        .await
        .unwrap();
    assert_eq!(
        strings(&attestation.selectors),
        [
            "unix:gid:100",
            "unix:group:users",
            "unix:supplementary_gid:100",
            "unix:supplementary_gid:4243",
            "unix:supplementary_gid:65534",
            "unix:supplementary_group:nogroup",
            "unix:supplementary_group:users",
            "unix:uid:0",
            "unix:user:root",
        ]
    );
    assert_eq!(attestation.process.start_time(), 1000);
}

#[tokio::test]
async fn pid_reused_while_attesting() {
    let fake = fake();
    let process_dir = fake.process_dir();
    // While the attestors run, the process exits and a new one gets its pid.
    let reuse: Arc<dyn WorkloadAttestor> = Arc::new(HookAttestor {
        name: "test",
        selectors: vec!["test:ok"],
        hook: move |pid| {
            std::fs::write(process_dir.join("stat"), stat_file(pid, 'S', 5000)).unwrap();
        },
    });
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(unix(&fake, UnixConfig::default()));
    assert!(matches!(
        attest_process_in(fake.root(), PID, &[unix, reuse]).await,
        Err(AttestError::ProcessChanged { pid: PID })
    ));
}

#[tokio::test]
async fn identity_captured_before_the_attestors_run() {
    let fake = fake();
    // Captured at accept time; the pid is reused before attestation even starts.
    let identity = ProcessIdentity::capture_in(fake.root(), PID).unwrap();
    fake.write("stat", &stat_file(PID, 'S', 7000));
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(unix(&fake, UnixConfig::default()));
    assert!(matches!(
        attest_captured_in(fake.root(), identity, &[unix]).await,
        Err(AttestError::ProcessChanged { pid: PID })
    ));
}

#[tokio::test]
async fn a_failure_caused_by_the_process_changing_reports_the_change() {
    let fake = fake();
    let process_dir = fake.process_dir();
    // The process is replaced by one whose status cannot be read: the unix attestor fails, and
    // the verification explains why.
    let replace: Arc<dyn WorkloadAttestor> = Arc::new(HookAttestor {
        name: "test",
        selectors: vec![],
        hook: move |pid| {
            std::fs::write(process_dir.join("stat"), stat_file(pid, 'S', 9000)).unwrap();
            std::fs::write(process_dir.join("status"), "garbage\n").unwrap();
        },
    });
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(unix(&fake, UnixConfig::default()));
    let result = attest_process_in(fake.root(), PID, &[replace, unix.clone()]).await;
    assert!(
        matches!(result, Err(AttestError::ProcessChanged { pid: PID })),
        "{result:?}"
    );
    // Without a change, the attestor's own error comes through.
    let failing: Arc<dyn WorkloadAttestor> = Arc::new(Failing);
    fake.write("stat", &stat_file(PID, 'S', 9000));
    fake.write("status", &status_file(PID, [0; 4], [0; 4], &[]));
    assert!(matches!(
        attest_process_in(fake.root(), PID, &[unix, failing]).await,
        Err(AttestError::Other { attestor, .. }) if attestor == "failing"
    ));
}

/// An attestor that always fails.
struct Failing;

impl WorkloadAttestor for Failing {
    fn name(&self) -> &str {
        "failing"
    }

    fn attest(&self, _pid: i32) -> BoxFuture<'_, Result<Vec<Selector>, AttestError>> {
        Box::pin(async {
            Err(AttestError::Other {
                attestor: "failing".to_owned(),
                source: "backend unreachable".into(),
            })
        })
    }
}
