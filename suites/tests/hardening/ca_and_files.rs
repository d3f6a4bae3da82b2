//! Item 9 of issue 11, against the release daemons: the server's CA certificates allow no CA
//! below them (pathLenConstraint 0), an upstream CA that may not sign a CA is refused at start,
//! and a file sink configured by selectors writes the entry whose selectors are exactly the
//! sink's, not the first superset.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use spiffe_core::X509Svid;

use crate::common::{
    Daemon, READY, Server, ServerOpts, TD, agent_bin, command, run_cmd, server_bin, wait_until,
};

/// `openssl x509 -text` of the first certificate of a PEM file.
fn openssl_text(pem_path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(pem_path)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_servers_ca_certificate_allows_no_ca_below_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"), &ServerOpts::default());
    let bundle = tmp.path().join("bundle.pem");
    std::fs::write(&bundle, server.bundle_pem()).unwrap();
    let text = openssl_text(&bundle);
    assert!(
        text.contains("Basic Constraints: critical") && text.contains("CA:TRUE, pathlen:0"),
        "{text}"
    );
    server.stop();
}

#[test]
fn an_upstream_ca_that_may_not_sign_a_ca_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // An upstream root that may sign only end-entity certificates.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
        .distinguished_name
        .push(DnType::CommonName, "Leaf-only Root");
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.join("upstream.pem");
    let key_path = dir.join("upstream.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();

    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "trust_domain = \"{TD}\"\n\
             data_dir = \"{data}\"\n\
             bind_address = \"127.0.0.1\"\n\
             bind_port = {port}\n\
             socket_path = \"{socket}\"\n\
             \n\
             [upstream_authority]\n\
             cert_file_path = \"{cert}\"\n\
             key_file_path = \"{key}\"\n",
            data = dir.join("data").display(),
            port = crate::common::free_port(),
            socket = dir.join("admin").join("api.sock").display(),
            cert = cert_path.display(),
            key = key_path.display(),
        ),
    )
    .unwrap();
    let log = dir.join("server.log");
    let mut daemon = Daemon::spawn(
        &server_bin(),
        &["run", "-config", config.to_str().unwrap()],
        &log,
    );
    let deadline = Instant::now() + READY;
    let status = loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server started with an upstream CA of pathLenConstraint 0:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success(), "{status}");
    let text = daemon.log();
    assert!(
        text.contains("pathLenConstraint 0")
            && text.contains("Leaf-only Root")
            && text.contains("RFC 5280 4.2.1.9"),
        "{text}"
    );
}

const A: &str = "unix:uid:4242";
const B: &str = "unix:gid:4242";
const C: &str = "unix:user:sink";
const D: &str = "unix:group:nobody";

#[test]
fn a_selector_sink_writes_the_entry_with_exactly_its_selectors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut server = Server::start(&dir.join("server"), &ServerOpts::default());
    // Entry IDs put the superset first: the first entry holding {A, B} by entry ID is {A, B, C}.
    for (id, spiffe_id, selectors) in [
        ("sink-1", "spiffe://example.org/abc", &[A, B, C][..]),
        ("sink-2", "spiffe://example.org/a", &[A][..]),
        ("sink-3", "spiffe://example.org/ab", &[A, B][..]),
    ] {
        server
            .create_entry(spiffe_id, selectors, &["-entryID", id])
            .ok();
    }
    let token = server.token();

    let agent_dir = dir.join("agent");
    let public = agent_dir.join("public");
    std::fs::create_dir_all(&public).unwrap();
    let bundle = agent_dir.join("bootstrap.pem");
    std::fs::write(&bundle, server.bundle_pem()).unwrap();
    let socket = public.join("agent.sock");
    let exact = dir.join("sink-exact");
    let nothing = dir.join("sink-nothing");
    let config = agent_dir.join("agent.toml");
    // The sink matching nothing comes first: the agent goes through sinks in order.
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
             \n\
             [[sink]]\n\
             selectors = [\"{A}\", \"{D}\"]\n\
             dir = \"{nothing}\"\n\
             \n\
             [[sink]]\n\
             selectors = [\"{B}\", \"{A}\"]\n\
             dir = \"{exact}\"\n",
            port = server.port,
            data = agent_dir.join("data").display(),
            socket = socket.display(),
            bundle = bundle.display(),
            nothing = nothing.display(),
            exact = exact.display(),
        ),
    )
    .unwrap();
    let mut agent = Daemon::spawn(
        &agent_bin(),
        &["run", "-config", config.to_str().unwrap()],
        &agent_dir.join("agent.log"),
    );
    wait_until("the exact sink is written", READY, || {
        agent.assert_running();
        let r = run_cmd(command(
            &agent_bin(),
            &["healthcheck", "-socketPath", socket.to_str().unwrap()],
        ));
        if r.code != 0 {
            return Err(format!("{}\n{}", r.stderr, agent.log()));
        }
        if ["svid.pem", "key.pem", "bundle.pem"]
            .iter()
            .all(|f| exact.join(f).exists())
        {
            Ok(())
        } else {
            Err(agent.log())
        }
    });
    // svid.pem is written last; let the loop settle.
    std::thread::sleep(Duration::from_millis(500));
    let svid = X509Svid::parse_pem(
        &std::fs::read(exact.join("svid.pem")).unwrap(),
        &std::fs::read(exact.join("key.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        svid.spiffe_id().as_str(),
        "spiffe://example.org/ab",
        "{}",
        agent.log()
    );
    assert!(
        !nothing.exists(),
        "a sink matching no entry exactly wrote files:\n{}",
        agent.log()
    );
    let log = agent.log();
    assert!(
        log.contains("no entry has exactly these selectors") && log.contains("sink-3"),
        "{log}"
    );
    let status = agent.stop_with(nix::sys::signal::Signal::SIGTERM);
    assert!(status.success(), "{status}:\n{}", agent.log());
    server.stop();
}
