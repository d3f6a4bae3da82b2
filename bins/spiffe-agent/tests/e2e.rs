//! `spiffe-agent` against a real `spiffe-server`: join token attestation, the Workload API
//! commands, file sinks from a config file, restart without a token, clean stops.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{
    AGENT, Daemon, PAYMENT, READY, Server, TD, agent_cli, agent_command, run_cmd, stdout_lines,
    wait_agent_healthy, wait_until,
};
use nix::sys::signal::Signal;

/// Starts `spiffe-agent run` against `server`, with `-joinToken` when given.
fn start_agent(server: &Server, dir: &Path, token: Option<&str>, log: &str) -> Daemon {
    let port = server.port.to_string();
    let bundle = dir.join("bootstrap.pem");
    let data = dir.join("agent-data");
    let socket = dir.join("public").join("agent.sock");
    let mut args = vec![
        "run",
        "-trustDomain",
        TD,
        "-serverAddress",
        "127.0.0.1",
        "-serverPort",
        &port,
        "-trustBundle",
        bundle.to_str().unwrap(),
        "-dataDir",
        data.to_str().unwrap(),
        "-socketPath",
        socket.to_str().unwrap(),
    ];
    if let Some(t) = token {
        args.extend(["-joinToken", t]);
    }
    Daemon::spawn(Path::new(AGENT), &args, dir.join(log))
}

/// Polls `api fetch x509 -write out` until the workload's SVID is there; returns the output.
fn fetch_x509_written(agent: &mut Daemon, socket: &str, out: &Path) -> String {
    let mut stdout = String::new();
    wait_until("api fetch x509 returns the workload's SVID", READY, || {
        agent.assert_running();
        let r = agent_cli(&[
            "api",
            "fetch",
            "x509",
            "-socketPath",
            socket,
            "-write",
            out.to_str().unwrap(),
        ]);
        if r.code != 0 {
            return Err(format!("{r:?}\n{}", agent.log()));
        }
        stdout = r.stdout;
        Ok(())
    });
    stdout
}

fn assert_x509_output(stdout: &str, out: &Path) {
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("Received 1 svid after "), "{stdout}");
    assert_eq!(lines[1], "");
    assert_eq!(lines[2], format!("SPIFFE ID:\t\t{PAYMENT}"));
    assert!(lines[3].starts_with("SVID Valid After:\t"), "{stdout}");
    assert!(lines[3].ends_with(" +0000 UTC"), "{stdout}");
    assert!(lines[4].starts_with("SVID Valid Until:\t"), "{stdout}");
    // Intermediates (the server may send its CA after the leaf), then the bundle's CAs.
    let ca = lines
        .iter()
        .position(|l| l.starts_with("CA #1 Valid After:\t"))
        .unwrap_or_else(|| panic!("no CA line: {stdout}"));
    assert!(
        lines[5..ca].iter().all(|l| l.starts_with("Intermediate #")),
        "{stdout}"
    );
    assert!(
        lines[ca + 1].starts_with("CA #1 Valid Until:\t"),
        "{stdout}"
    );
    let d = out.display();
    assert!(
        stdout.ends_with(&format!(
            "\nWriting SVID #0 to file {d}/svid.0.pem.\n\
             Writing key #0 to file {d}/svid.0.key.\n\
             Writing bundle #0 to file {d}/bundle.0.pem.\n"
        )),
        "{stdout}"
    );
}

#[test]
fn agent_serves_workloads_end_to_end() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    // The socket directory must be reachable by the unprivileged caller below.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let token = server.token();
    server.write_bundle(&dir.path().join("bootstrap.pem"));
    server.create_payment_entry();

    let socket_path = dir.path().join("public").join("agent.sock");
    let socket = socket_path.to_str().unwrap();
    let mut agent = start_agent(&server, dir.path(), Some(&token), "agent.log");
    wait_agent_healthy(&mut agent, &socket_path);
    assert_eq!(
        agent_cli(&["healthcheck", "-socketPath", socket]).ok(),
        "Agent is healthy.\n"
    );
    assert_eq!(
        agent_cli(&["healthcheck", "-verbose", "-shallow", "-socketPath", socket]).ok(),
        "Checking agent health...\nAgent is healthy.\n"
    );

    // X.509: SPIRE's output and files; the chain verifies with openssl.
    let out = dir.path().join("x509");
    let stdout = fetch_x509_written(&mut agent, socket, &out);
    assert_x509_output(&stdout, &out);
    let verify = run_cmd({
        let mut c = Command::new("openssl");
        c.args(["verify", "-CAfile"])
            .arg(out.join("bundle.0.pem"))
            .arg(out.join("svid.0.pem"));
        c
    });
    assert!(verify.ok().ends_with(": OK\n"), "{}", verify.stdout);
    let mode = std::fs::metadata(out.join("svid.0.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let key = std::fs::read_to_string(out.join("svid.0.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");

    // -silent prints nothing; -output json is the protojson of the response.
    let r = agent_cli(&["api", "fetch", "x509", "-silent", "-socketPath", socket]);
    assert_eq!(r.ok(), "");
    let r = agent_cli(&["api", "fetch", "-output", "json", "-socketPath", socket]);
    let json: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    assert_eq!(json["svids"][0]["spiffe_id"], PAYMENT);
    assert_eq!(json["crl"], serde_json::json!([]));
    assert!(json["svids"][0]["x509_svid_key"].as_str().is_some());

    // JWT: fetch, validate, refuse a wrong audience.
    let r = agent_cli(&[
        "api",
        "fetch",
        "jwt",
        "-audience",
        "x,y",
        "-socketPath",
        socket,
    ]);
    let stdout = r.ok();
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some(format!("token({PAYMENT}):").as_str()));
    let token_line = lines.next().unwrap();
    let jwt = token_line.strip_prefix('\t').unwrap();
    assert_eq!(jwt.split('.').count(), 3, "{jwt}");
    assert_eq!(lines.next(), Some("bundle(spiffe://example.org):"));
    assert_eq!(lines.next(), Some("\t{"));
    assert!(stdout.contains("\"kty\": \"EC\""), "{stdout}");
    assert!(!stdout.contains("\"use\""), "{stdout}");

    let r = agent_cli(&[
        "api",
        "validate",
        "jwt",
        "-audience",
        "x",
        "-svid",
        jwt,
        "-socketPath",
        socket,
    ]);
    let stdout = r.ok();
    assert!(
        stdout.starts_with(&format!(
            "SVID is valid.\nSPIFFE ID : {PAYMENT}\nClaims    : {{"
        )),
        "{stdout}"
    );
    let r = agent_cli(&[
        "api",
        "validate",
        "jwt",
        "-audience",
        "other",
        "-svid",
        jwt,
        "-socketPath",
        socket,
    ]);
    assert!(
        r.one_error_line().starts_with("SVID is not valid: "),
        "{}",
        r.stderr
    );

    // A caller with no entry is refused by the agent.
    let mut cmd = agent_command(&["api", "fetch", "x509", "-socketPath", socket]);
    cmd.uid(65534).gid(65534);
    let r = run_cmd(cmd);
    let line = r.one_error_line();
    assert!(
        line.starts_with("rpc error: code = PermissionDenied desc = "),
        "{line}"
    );

    // watch prints a block, and stops on SIGINT with exit 0.
    let mut watch = agent_command(&["api", "watch", "-socketPath", socket]);
    let mut watch = watch
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = stdout_lines(&mut watch);
    let deadline = Instant::now() + READY;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l == &format!("SPIFFE ID:\t\t{PAYMENT}"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(l) => seen.push(l),
            Err(e) => panic!("watch printed no block ({e}): {seen:?}"),
        }
    }
    assert!(seen[0].starts_with("Received 1 svid after "), "{seen:?}");
    let mut watch = Daemon {
        child: watch,
        log: dir.path().join("none"),
    };
    assert!(watch.stop_with(Signal::SIGINT).success());

    // Restarted without a join token, the agent uses its stored SVID.
    assert!(
        agent.stop_with(Signal::SIGTERM).success(),
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains("Agent stopped gracefully"),
        "{}",
        agent.log()
    );
    let mut agent = start_agent(&server, dir.path(), None, "agent2.log");
    wait_agent_healthy(&mut agent, &socket_path);
    let out2 = dir.path().join("x509-again");
    let stdout = fetch_x509_written(&mut agent, socket, &out2);
    assert_x509_output(&stdout, &out2);
    assert!(
        agent.log().contains("restored from the data directory"),
        "{}",
        agent.log()
    );

    assert!(
        agent.stop_with(Signal::SIGTERM).success(),
        "{}",
        agent.log()
    );
    assert!(!socket_path.exists(), "the socket is removed on stop");
    assert!(
        server.daemon.stop_with(Signal::SIGTERM).success(),
        "{}",
        server.daemon.log()
    );
}

#[test]
fn run_from_config_file_writes_sinks() {
    let mut server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let token = server.token();
    let bundle = dir.path().join("bootstrap.pem");
    server.write_bundle(&bundle);
    server.create_payment_entry();

    let socket = dir.path().join("agent.sock");
    let sink = dir.path().join("sink");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\n\
             trust_domain = \"{TD}\"\n\
             server_address = \"127.0.0.1\"\n\
             server_port = {port}\n\
             data_dir = \"{data}\"\n\
             socket_path = \"{socket}\"\n\
             trust_bundle_path = \"{bundle}\"\n\
             join_token = \"{token}\"\n\
             log_level = \"debug\"\n\
             log_format = \"json\"\n\
             \n\
             [[sink]]\n\
             spiffe_id = \"{PAYMENT}\"\n\
             dir = \"{sink}\"\n",
            port = server.port,
            data = dir.path().join("data").display(),
            socket = socket.display(),
            bundle = bundle.display(),
            sink = sink.display(),
        ),
    )
    .unwrap();
    let mut agent = Daemon::spawn(
        Path::new(AGENT),
        &["run", "-config", config.to_str().unwrap()],
        dir.path().join("agent.log"),
    );
    wait_agent_healthy(&mut agent, &socket);
    wait_until("the sink's files are written", READY, || {
        agent.assert_running();
        let written = ["svid.pem", "key.pem", "bundle.pem"]
            .iter()
            .all(|f| sink.join(f).exists());
        if written { Ok(()) } else { Err(agent.log()) }
    });
    let verify = run_cmd({
        let mut c = Command::new("openssl");
        c.args(["verify", "-CAfile"])
            .arg(sink.join("bundle.pem"))
            .arg(sink.join("svid.pem"));
        c
    });
    assert!(verify.ok().ends_with(": OK\n"), "{}", verify.stdout);
    // log_format = "json" from the file: every log line is a JSON object.
    let log = agent.log();
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{log}"
    );
    assert!(agent.stop_with(Signal::SIGINT).success(), "{}", agent.log());
    assert!(server.daemon.stop_with(Signal::SIGTERM).success());
}
