//! The unix attestor against the real `/proc`: this test process, and child processes started
//! under other credentials, checked against what `id` and `sha256sum` report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;

use common::{ChildGuard, HookAttestor, IdReport, identity_selectors, sha256sum, value_of};
use spiffe_attest::{
    AttestError, ProcessIdentity, UnixAttestor, UnixConfig, WorkloadAttestor, WorkloadSizeLimit,
    attest_process,
};

fn with_paths(limit: WorkloadSizeLimit) -> UnixAttestor {
    UnixAttestor::new(UnixConfig {
        discover_workload_path: true,
        workload_size_limit: limit,
    })
}

fn my_pid() -> i32 {
    i32::try_from(std::process::id()).unwrap()
}

/// `setpriv` arguments: real uid 65534 but effective uid 1000, real gid 65534 but effective gid
/// 100, supplementary groups 100, 65534 and 4242 (which has no name).
const SETPRIV: [&str; 5] = [
    "--ruid=65534",
    "--euid=1000",
    "--rgid=65534",
    "--egid=100",
    "--groups=100,65534,4242",
];

#[test]
fn this_process_matches_id() {
    let selectors = UnixAttestor::default().attest_blocking(my_pid()).unwrap();
    assert!(selectors.iter().all(|s| s.kind() == "unix"));
    assert_eq!(
        IdReport::from_selectors(&selectors),
        IdReport::of(|| Command::new("id"))
    );
    // No path selectors unless asked for.
    assert_eq!(value_of(&selectors, "path"), None);
    assert_eq!(value_of(&selectors, "sha256"), None);
}

#[test]
fn this_process_path_and_sha256() {
    let exe = std::env::current_exe().unwrap().canonicalize().unwrap();
    let selectors = with_paths(WorkloadSizeLimit::Unlimited)
        .attest_blocking(my_pid())
        .unwrap();
    assert_eq!(value_of(&selectors, "path").unwrap(), exe.to_str().unwrap());
    assert_eq!(value_of(&selectors, "sha256").unwrap(), sha256sum(&exe));
}

#[test]
fn child_started_as_nobody() {
    let child = ChildGuard::spawn(Command::new("sleep").arg("60").uid(65534).gid(65534));
    let selectors = UnixAttestor::default()
        .attest_blocking(child.pid())
        .unwrap();
    let values: Vec<&str> = selectors.iter().map(|s| s.value()).collect();
    assert!(values.contains(&"uid:65534"), "{values:?}");
    assert!(values.contains(&"gid:65534"), "{values:?}");
    // std drops supplementary groups when it changes the uid.
    assert!(
        !values.iter().any(|v| v.starts_with("supplementary_")),
        "{values:?}"
    );
    assert_eq!(
        IdReport::from_selectors(&selectors),
        IdReport::of(|| {
            let mut id = Command::new("id");
            id.uid(65534).gid(65534);
            id
        })
    );
}

#[test]
fn child_with_effective_ids_and_supplementary_groups() {
    let child = ChildGuard::spawn(Command::new("setpriv").args(SETPRIV).args(["sleep", "60"]));
    // Wait until setpriv has exec'd sleep with its new credentials.
    let status = format!("/proc/{}/status", child.pid());
    for _ in 0..200 {
        if std::fs::read_to_string(&status)
            .unwrap()
            .contains("Name:\tsleep")
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let selectors = UnixAttestor::default()
        .attest_blocking(child.pid())
        .unwrap();
    let report = IdReport::of(|| {
        let mut id = Command::new("setpriv");
        id.args(SETPRIV).arg("id");
        id
    });
    assert_eq!(IdReport::from_selectors(&selectors), report);

    // The effective ids, as SPIRE uses (not the real ones, 65534).
    assert_eq!(value_of(&selectors, "uid").unwrap(), "1000");
    assert_eq!(value_of(&selectors, "gid").unwrap(), "100");
    // Every gid of the Groups line, named where a name exists (4242 has none).
    let supplementary: Vec<String> = selectors
        .iter()
        .map(ToString::to_string)
        .filter(|s| s.starts_with("unix:supplementary_gid:"))
        .collect();
    assert_eq!(
        supplementary,
        [
            "unix:supplementary_gid:100",
            "unix:supplementary_gid:4242",
            "unix:supplementary_gid:65534"
        ]
    );
    let names: Vec<String> = selectors
        .iter()
        .filter_map(|s| s.value().strip_prefix("supplementary_group:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.iter().any(|n| n == "4242"));
}

#[test]
fn child_path_sha256_and_size_limit() {
    let child = ChildGuard::sleep();
    let sleep = which("sleep");
    let len = std::fs::metadata(&sleep).unwrap().len();

    let selectors = with_paths(WorkloadSizeLimit::Bytes(len))
        .attest_blocking(child.pid())
        .unwrap();
    assert_eq!(
        value_of(&selectors, "path").unwrap(),
        sleep.to_str().unwrap()
    );
    assert_eq!(value_of(&selectors, "sha256").unwrap(), sha256sum(&sleep));

    match with_paths(WorkloadSizeLimit::Bytes(len - 1)).attest_blocking(child.pid()) {
        Err(AttestError::WorkloadTooLarge {
            pid,
            path,
            size,
            limit,
        }) => {
            assert_eq!((pid, size, limit), (child.pid(), len, len - 1));
            assert_eq!(path, sleep);
        }
        other => panic!("expected WorkloadTooLarge, got {other:?}"),
    }

    let selectors = with_paths(WorkloadSizeLimit::NoHash)
        .attest_blocking(child.pid())
        .unwrap();
    assert_eq!(
        value_of(&selectors, "path").unwrap(),
        sleep.to_str().unwrap()
    );
    assert_eq!(value_of(&selectors, "sha256"), None);
}

/// The canonical path of a program on `PATH`.
fn which(program: &str) -> std::path::PathBuf {
    let path = common::stdout_of(Command::new("sh").args(["-c", &format!("command -v {program}")]));
    std::path::Path::new(&path).canonicalize().unwrap()
}

#[tokio::test]
async fn attest_process_combines_sorts_and_dedups() {
    let child = ChildGuard::spawn(Command::new("sleep").arg("60").uid(65534).gid(65534));
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(UnixAttestor::default());
    let other: Arc<dyn WorkloadAttestor> = Arc::new(HookAttestor {
        name: "test",
        selectors: vec!["test:b", "test:a", "test:b"],
        hook: |_| {},
    });
    let attestors = [unix.clone(), other, unix];
    let attestation = attest_process(child.pid(), &attestors).await.unwrap();
    let got = common::strings(&attestation.selectors);
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(got, sorted);
    assert!(got.contains(&"unix:uid:65534".to_owned()));
    assert!(got.starts_with(&["test:a".to_owned(), "test:b".to_owned()]));
    assert_eq!(
        identity_selectors(&attestation.selectors)
            .iter()
            .filter(|s| s.starts_with("unix:"))
            .count(),
        identity_selectors(
            &UnixAttestor::default()
                .attest_blocking(child.pid())
                .unwrap()
        )
        .len()
    );
    assert_eq!(
        attestation.process,
        ProcessIdentity::capture(child.pid()).unwrap()
    );
    assert_eq!(attestation.process.uid(), 65534);
    assert_eq!(attestation.process.gid(), 65534);
}

#[test]
fn attest_process_without_a_runtime() {
    let child = ChildGuard::sleep();
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(with_paths(WorkloadSizeLimit::Unlimited));
    let attestation = futures::executor::block_on(attest_process(child.pid(), &[unix])).unwrap();
    assert!(
        attestation
            .selectors
            .iter()
            .any(|s| s.value().starts_with("sha256:"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attest_future_is_send() {
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(UnixAttestor::default());
    let attestors = vec![unix];
    let pid = my_pid();
    let handle = tokio::spawn(async move { assert_send(attest_process(pid, &attestors)).await });
    let attestation = handle.await.unwrap().unwrap();
    assert_eq!(attestation.process.pid(), pid);
}

#[tokio::test]
async fn foreign_selector_types_are_refused() {
    let liar: Arc<dyn WorkloadAttestor> = Arc::new(HookAttestor {
        name: "test",
        selectors: vec!["unix:uid:0"],
        hook: |_| {},
    });
    match attest_process(my_pid(), &[liar]).await {
        Err(AttestError::ForeignSelector { attestor, selector }) => {
            assert_eq!(
                (attestor.as_str(), selector.as_str()),
                ("test", "unix:uid:0")
            );
        }
        other => panic!("expected ForeignSelector, got {other:?}"),
    }
}

#[tokio::test]
async fn no_such_process() {
    let mut child = ChildGuard::sleep();
    let pid = child.pid();
    child.kill_and_reap();
    let unix: Arc<dyn WorkloadAttestor> = Arc::new(UnixAttestor::default());
    assert!(matches!(
        attest_process(pid, std::slice::from_ref(&unix)).await,
        Err(AttestError::ProcessGone { pid: p }) if p == pid
    ));
    assert!(matches!(
        unix.attest(pid).await,
        Err(AttestError::ProcessGone { pid: p }) if p == pid
    ));
    for bad in [0, -1, i32::MIN] {
        assert!(matches!(
            attest_process(bad, std::slice::from_ref(&unix)).await,
            Err(AttestError::InvalidPid { pid }) if pid == bad
        ));
    }
}
