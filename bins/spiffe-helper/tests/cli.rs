//! The command line without an agent: flags, exit codes and the messages of a refused
//! configuration.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Stdio};

const HELPER: &str = env!("CARGO_BIN_EXE_spiffe-helper");

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(HELPER)
        .args(args)
        .current_dir(dir)
        .env_remove("SPIFFE_ENDPOINT_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn version_prints_the_version() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["-version", "--version"] {
        let (code, stdout, _) = run(dir.path(), &[flag]);
        assert_eq!(code, 0);
        assert_eq!(stdout.trim(), env!("CARGO_PKG_VERSION"));
    }
}

#[test]
fn the_default_config_file_is_helper_conf() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(dir.path(), &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("helper.conf"), "{stderr}");
    assert!(stderr.contains("failed to read"), "{stderr}");
}

#[test]
fn refused_configurations_exit_1_with_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "svid_file_name = \"svid.pem\"\n").unwrap();
    let (code, _, stderr) = run(dir.path(), &["-config", conf.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("all or none of 'svid_file_name', 'svid_key_file_name', 'svid_bundle_file_name' must be specified"),
        "{stderr}"
    );
    std::fs::write(&conf, "agent_address = \"/tmp\"\ntimeout = \"10s\"\n").unwrap();
    let (code, _, stderr) = run(dir.path(), &["-config", conf.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("unknown top level key(s): timeout"),
        "{stderr}"
    );
    std::fs::write(&conf, "svid_file_name = \n").unwrap();
    let (code, _, stderr) = run(dir.path(), &["-config", conf.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(stderr.contains("failed to parse"), "{stderr}");
}

#[test]
fn a_missing_cert_dir_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("helper.conf");
    std::fs::write(
        &conf,
        "cert_dir = \"nope\"\nsvid_file_name = \"a\"\nsvid_key_file_name = \"b\"\nsvid_bundle_file_name = \"c\"\n",
    )
    .unwrap();
    for mode in [
        "-daemon-mode=false",
        "-daemon-mode=true",
        "-daemon-mode",
        "--daemon-mode=0",
        "-daemon-mode=F",
    ] {
        let (code, _, stderr) = run(dir.path(), &[mode]);
        assert_eq!(code, 1, "{mode}: {stderr}");
        assert!(
            stderr.contains("cert_dir \"nope\" is not a directory"),
            "{mode}: {stderr}"
        );
    }
}

#[test]
fn unknown_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(dir.path(), &["-daemonmode"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = run(dir.path(), &["-daemon-mode=maybe"]);
    assert_eq!(code, 2, "{stderr}");
}
