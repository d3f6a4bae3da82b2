//! 2d: SPIRE's own agent CLI (`api fetch x509 -write`, `api fetch jwt`, `api validate jwt`,
//! `api watch`, `healthcheck`) and the go-spiffe program against our agent's socket, with mTLS
//! between go-spiffe and our example services both ways.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{Deployment, ServerOpts, TD, command, example_bin, free_port, wait_until};
use crate::{Peers, eventually, serial};

/// A child killed and reaped when dropped.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `unix:path:<canonical path of bin>`.
fn path_selector(bin: &Path) -> String {
    format!(
        "unix:path:{}",
        std::fs::canonicalize(bin).unwrap().display()
    )
}

#[test]
fn spire_agent_cli_and_go_spiffe_use_our_agent() {
    let Some(peers) = Peers::find("spire_agent_cli_and_go_spiffe_use_our_agent") else {
        return;
    };
    let _serial = serial();
    let d = Deployment::start_with_agent_config(
        &ServerOpts::default(),
        Some("discover_workload_path = true\n"),
    );
    let uid = format!("unix:uid:{}", nix::unistd::geteuid().as_raw());
    let go = format!("spiffe://{TD}/go-spiffe");
    let cli = format!("spiffe://{TD}/spire-agent-cli");
    let user = format!("spiffe://{TD}/user-service");
    let payment = format!("spiffe://{TD}/payment-service");
    for (id, bin) in [
        (&go, peers.interop.clone()),
        (&cli, peers.spire_agent.clone()),
        (&user, example_bin("user-service")),
        (&payment, example_bin("payment-service")),
    ] {
        d.server
            .create_entry(id, &[&uid, &path_selector(&bin)], &[])
            .ok();
    }
    let sock = d.agent.socket.to_str().unwrap().to_owned();
    let socket = ["-socketPath", sock.as_str()];

    // healthcheck
    let r = peers.agent_cli(&["healthcheck", socket[0], socket[1]]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("Agent is healthy."), "{r:?}");

    // api fetch x509 (waits for the entry to reach the agent), then -write.
    let out = eventually(
        "spire-agent api fetch x509",
        Duration::from_secs(30),
        || {
            let r = peers.agent_cli(&["api", "fetch", "x509", socket[0], socket[1]]);
            if r.code == 0 && r.stdout.contains(&format!("SPIFFE ID:\t\t{cli}")) {
                Ok(r.stdout)
            } else {
                Err(format!("{r:?}"))
            }
        },
    );
    assert!(out.contains("Received 1 svid after"), "{out}");
    assert!(out.contains("CA #1 Valid After:"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let r = peers.agent_cli(&[
        "api",
        "fetch",
        "x509",
        "-write",
        dir.path().to_str().unwrap(),
        socket[0],
        socket[1],
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    for f in ["svid.0.pem", "svid.0.key", "bundle.0.pem"] {
        assert!(dir.path().join(f).exists(), "{f} not written: {r:?}");
    }
    // The written chain verifies against the written bundle (openssl, a third judge).
    let v = Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(dir.path().join("bundle.0.pem"))
        .arg(dir.path().join("svid.0.pem"))
        .output()
        .unwrap();
    assert!(v.status.success(), "{v:?}");

    // api fetch jwt, then api validate jwt (ours validates, SPIRE's CLI prints).
    let r = peers.agent_cli(&[
        "api",
        "fetch",
        "jwt",
        "-audience",
        "aud-1",
        socket[0],
        socket[1],
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with(&format!("token({cli}):")), "{r:?}");
    let jwt = r.stdout.lines().nth(1).unwrap().trim().to_owned();
    let v = peers.agent_cli(&[
        "api",
        "validate",
        "jwt",
        "-audience",
        "aud-1",
        "-svid",
        &jwt,
        socket[0],
        socket[1],
    ]);
    assert_eq!(v.code, 0, "{v:?}");
    assert!(v.stdout.contains("SVID is valid."), "{v:?}");
    assert!(v.stdout.contains(&format!("SPIFFE ID : {cli}")), "{v:?}");
    let v = peers.agent_cli(&[
        "api",
        "validate",
        "jwt",
        "-audience",
        "other",
        "-svid",
        &jwt,
        socket[0],
        socket[1],
    ]);
    assert_ne!(
        v.code, 0,
        "a token for another audience was accepted: {v:?}"
    );

    // api watch: the first update arrives on the stream.
    let mut watch = Kill(
        command(&peers.spire_agent, &["api", "watch", socket[0], socket[1]])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = watch.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(20)) {
        let done = line.contains(&cli);
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("SPIFFE ID:\t\t{cli}"))),
        "api watch showed no update: {seen:?}"
    );
    drop(watch);

    // go-spiffe: X509Source (chain checked against its bundle), JWTSource, ValidateJWTSVID.
    let r = peers.interop(&d.agent.socket, &["x509"]);
    assert!(
        r.stdout.starts_with(&format!("svid {go} ")) && r.stdout.contains("verified"),
        "{r:?}"
    );
    let r = peers.interop(&d.agent.socket, &["jwt", "aud-2"]);
    let line = r.stdout.lines().next().unwrap_or_default().to_owned();
    let token = line
        .strip_prefix(&format!("jwt {go} "))
        .unwrap_or_else(|| panic!("{r:?}"))
        .to_owned();
    let r = peers.interop(&d.agent.socket, &["validate", "aud-2", &token]);
    assert_eq!(r.stdout.trim(), format!("valid {go}"), "{r:?}");
    let r = peers.interop(&d.agent.socket, &["validate", "aud-3", &token]);
    assert!(r.stdout.starts_with("invalid "), "{r:?}");

    // go-spiffe client -> our user-service, which admits only go-spiffe's ID.
    let port = free_port();
    let _user = Kill(
        Command::new(example_bin("user-service"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--allow", &go])
            .env("SPIFFE_ENDPOINT_SOCKET", d.agent.endpoint())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("https://127.0.0.1:{port}/users/42");
    let got = eventually(
        "go-spiffe calls user-service",
        Duration::from_secs(30),
        || {
            let r = peers.interop(&d.agent.socket, &["https-get", &url, &user]);
            if r.stdout.starts_with("status 200 ") {
                Ok(r.stdout)
            } else {
                Err(format!("{r:?}"))
            }
        },
    );
    assert!(
        got.contains(&go),
        "user-service did not name its caller: {got}"
    );
    // ... and refuses it when it expects another server ID.
    let r = peers.interop(&d.agent.socket, &["https-get", &url, &payment]);
    assert!(r.stdout.starts_with("error "), "{r:?}");

    // our payment-service -> a go-spiffe server that admits only payment-service.
    let port = free_port();
    let mut go_server = Kill(
        Command::new(&peers.interop)
            .args(["https-serve", &format!("127.0.0.1:{port}"), &payment])
            .env("SPIFFE_ENDPOINT_SOCKET", d.agent.endpoint())
            .env("SPIFFE_INTEROP_TIMEOUT", "120s")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(go_server.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("listening "), "{first}");
    let mut answer = String::new();
    wait_until(
        "payment-service calls go-spiffe",
        Duration::from_secs(30),
        || {
            let out = crate::common::run_cmd({
                let mut c = Command::new(example_bin("payment-service"));
                c.args([
                    "--url",
                    &format!("https://127.0.0.1:{port}/users/42"),
                    "--expect",
                    &go,
                ])
                .env("SPIFFE_ENDPOINT_SOCKET", d.agent.endpoint());
                c
            });
            if out.stdout.contains("200 OK") {
                answer = out.stdout;
                Ok(())
            } else {
                Err(format!("{out:?}"))
            }
        },
    );
    assert!(answer.contains("go-spiffe"), "{answer}");
    let served = lines.next().unwrap().unwrap();
    assert_eq!(served, format!("served {payment}"));
}
