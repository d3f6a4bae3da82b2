//! `spiffe-helper` as a process against a real `spiffe-server` and `spiffe-agent`: the files
//! appear with their modes and formats, rotate, and `cmd` and the PID file's process get the
//! renew signal; one-shot mode exits 0 with an agent and 1 without.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{
    Daemon, HELPER, PAYMENT, READY, TrustDomain, command, free_port, run_cmd, wait_until,
};
use nix::sys::signal::Signal;
use spiffe_core::{Bundle, BundleSet, TrustDomain as Td, X509Bundle, X509Svid};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `GET path` on 127.0.0.1:port: (status code, body).
fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status in {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// Checks the X.509 files: the SVID is PAYMENT's, its key matches, it verifies against the
/// bundle; the key is PKCS#8.
fn check_x509(dir: &Path) -> X509Svid {
    let chain = std::fs::read(dir.join("svid.pem")).unwrap();
    let key = std::fs::read(dir.join("key.pem")).unwrap();
    let key_text = String::from_utf8(key.clone()).unwrap();
    assert!(
        key_text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{key_text}"
    );
    let svid = X509Svid::parse_pem(&chain, &key).expect("svid.pem and key.pem make an SVID");
    assert_eq!(svid.spiffe_id().to_string(), PAYMENT);
    let td = Td::parse(common::TD).unwrap();
    let roots = X509Bundle::parse_pem(td, &std::fs::read(dir.join("bundle.pem")).unwrap()).unwrap();
    assert!(!roots.is_empty());
    let bundles: BundleSet = [Bundle::from(roots)].into_iter().collect();
    spiffe_core::x509::verify_chain(svid.chain(), &bundles)
        .expect("the SVID verifies against bundle.pem");
    // And as OpenSSL sees the files, where it is installed.
    match std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(dir.join("bundle.pem"))
        .arg(dir.join("svid.pem"))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => eprintln!("SKIP openssl verify: {e}"),
    }
    svid
}

#[test]
fn daemon_mode_writes_rotates_and_signals() {
    let td = TrustDomain::start();
    // 12-s X509-SVIDs: the agent renews them at about half-life.
    td.register_payment(&["-x509SVIDTTL", "12", "-jwtSVIDTTL", "10"]);
    let work = td.dir.path().join("work");
    let certs = work.join("certs");
    std::fs::create_dir_all(&certs).unwrap();

    // An externally managed process, named by a PID file, that records SIGHUP... the helper
    // sends renew_signal (SIGUSR1) to both it and cmd.
    let ext_marker = work.join("ext-signals");
    let mut ext = Daemon::spawn_command(
        {
            let mut c = command(
                Path::new("/bin/sh"),
                &[
                    "-c",
                    &format!(
                        "trap 'echo got >> {}' USR1; while :; do sleep 0.1; done",
                        ext_marker.display()
                    ),
                ],
            );
            c.current_dir(&work);
            c
        },
        work.join("ext.log"),
    );
    let pid_file = work.join("ext.pid");
    std::fs::write(&pid_file, format!("{}\n", ext.pid())).unwrap();

    let cmd_marker = work.join("cmd-signals");
    let cmd_starts = work.join("cmd-starts");
    let port = free_port();
    let conf = work.join("helper.conf");
    std::fs::write(
        &conf,
        format!(
            r#"agent_address = "{socket}"
cmd = "/bin/sh"
cmd_args = "-c \"echo $$ >> {starts}; trap 'echo got >> {marker}' USR1; while :; do sleep 0.1; done\""
cert_dir = "{certs}"
renew_signal = "SIGUSR1"
pid_file_name = "{pid_file}"
svid_file_name = "svid.pem"
svid_key_file_name = "key.pem"
svid_bundle_file_name = "bundle.pem"
jwt_svids = [{{jwt_audience="user-service", jwt_extra_audiences=["billing"], jwt_svid_file_name="jwt_svid.token"}}]
jwt_bundle_file_name = "jwt_bundle.json"
cert_file_mode = 0640
jwt_bundle_file_mode = 0444
health_checks {{
  listener_enabled = true
  bind_port = {port}
}}
"#,
            socket = td.socket.display(),
            starts = cmd_starts.display(),
            marker = cmd_marker.display(),
            certs = certs.display(),
            pid_file = pid_file.display(),
        ),
    )
    .unwrap();
    let mut helper = Daemon::spawn_command(
        {
            let mut c = command(Path::new(HELPER), &["-config", conf.to_str().unwrap()]);
            c.current_dir(&work);
            c
        },
        work.join("helper.log"),
    );

    // Ready once every file is written.
    wait_until("the helper is ready", READY, || {
        helper.assert_running();
        match http_get(port, "/ready") {
            Ok((200, body)) => {
                assert!(body.contains(r#""x509_write_status":"written""#), "{body}");
                Ok(())
            }
            Ok((code, body)) => Err(format!("{code} {body}")),
            Err(e) => Err(e),
        }
    });
    let (code, body) = http_get(port, "/live").unwrap();
    assert_eq!(code, 200, "{body}");
    assert_eq!(http_get(port, "/nowhere").unwrap().0, 404);

    // Modes: cert_file_mode 0640 read as octal, the key's default 0600, the JWT bundle's
    // 0444, the JWT-SVID's default 0600.
    assert_eq!(mode(&certs.join("svid.pem")), 0o640);
    assert_eq!(mode(&certs.join("bundle.pem")), 0o640);
    assert_eq!(mode(&certs.join("key.pem")), 0o600);
    assert_eq!(mode(&certs.join("jwt_bundle.json")), 0o444);
    assert_eq!(mode(&certs.join("jwt_svid.token")), 0o600);
    let first = check_x509(&certs);

    // The JWT-SVID file is the token alone, for both audiences.
    let token = read(&certs.join("jwt_svid.token"));
    assert_eq!(token.split('.').count(), 3, "{token:?}");
    assert!(!token.contains('\n'));
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], PAYMENT);
    let mut audiences: Vec<&str> = claims["aud"]
        .as_array()
        .expect("aud is an array")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    audiences.sort_unstable();
    assert_eq!(audiences, ["billing", "user-service"]);
    // The JWT bundle file: trust domain -> base64 of a JWKS with the authorities' kids.
    let jwt_bundles: serde_json::Value =
        serde_json::from_str(&read(&certs.join("jwt_bundle.json"))).unwrap();
    let jwks = base64::engine::general_purpose::STANDARD
        .decode(
            jwt_bundles[common::TD]
                .as_str()
                .expect("example.org's entry"),
        )
        .unwrap();
    let jwks: serde_json::Value = serde_json::from_slice(&jwks).unwrap();
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|k| k["kid"].is_string() && k.get("use").is_none()),
        "{jwks}"
    );

    // cmd was started once after the first write; the PID file's process was signalled.
    wait_until("cmd started", READY, || {
        if read(&cmd_starts).lines().count() == 1 {
            Ok(())
        } else {
            Err(read(&cmd_starts))
        }
    });
    wait_until("the PID file's process signalled", READY, || {
        ext.assert_running();
        if read(&ext_marker).contains("got") {
            Ok(())
        } else {
            Err(helper.log())
        }
    });

    // Rotation: new SVID files, cmd signalled (not restarted), the external process again.
    let signalled_before = read(&ext_marker).lines().count();
    let started = Instant::now();
    wait_until("the SVID rotates", Duration::from_secs(40), || {
        helper.assert_running();
        let svid = std::fs::read(certs.join("svid.pem")).unwrap();
        if svid != first.chain_pem().as_bytes() {
            Ok(())
        } else {
            Err(helper.log())
        }
    });
    eprintln!("rotated after {:?}", started.elapsed());
    let second = check_x509(&certs);
    assert_ne!(second.leaf(), first.leaf());
    assert_eq!(mode(&certs.join("key.pem")), 0o600);
    wait_until("cmd got SIGUSR1", READY, || {
        if read(&cmd_marker).contains("got") {
            Ok(())
        } else {
            Err(helper.log())
        }
    });
    assert_eq!(
        read(&cmd_starts).lines().count(),
        1,
        "cmd was signalled, not restarted"
    );
    wait_until("the PID file's process signalled again", READY, || {
        if read(&ext_marker).lines().count() > signalled_before {
            Ok(())
        } else {
            Err(helper.log())
        }
    });
    // The JWT-SVID is fetched again at half of its remaining life plus a second.
    wait_until("the JWT-SVID is refreshed", Duration::from_secs(30), || {
        if read(&certs.join("jwt_svid.token")) != token {
            Ok(())
        } else {
            Err(helper.log())
        }
    });

    // A cmd that exited is started again at the next renewal (it wrote its PID when it
    // started).
    let cmd_pid = read(&cmd_starts).trim().to_owned();
    let status = run_cmd(command(Path::new("/bin/kill"), &["-KILL", &cmd_pid]));
    assert_eq!(status.code, 0, "{status:?}");
    let leaf = std::fs::read(certs.join("svid.pem")).unwrap();
    wait_until(
        "cmd restarted at the next renewal",
        Duration::from_secs(40),
        || {
            if read(&cmd_starts).lines().count() == 2 {
                Ok(())
            } else {
                Err(helper.log())
            }
        },
    );
    assert_ne!(std::fs::read(certs.join("svid.pem")).unwrap(), leaf);

    // SIGTERM: a clean exit.
    let status = helper.stop_with(Signal::SIGTERM);
    assert!(status.success(), "{status}\n{}", helper.log());
    drop(ext);
}

#[test]
fn one_shot_mode_writes_once_and_exits() {
    let td = TrustDomain::start();
    let work = td.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let conf = work.join("helper.conf");
    std::fs::write(
        &conf,
        format!(
            r#"agent_address = "{socket}"
cert_dir = "{dir}"
svid_file_name = "svid.pem"
svid_key_file_name = "key.pem"
svid_bundle_file_name = "bundle.pem"
jwt_svids = [{{jwt_audience="user-service", jwt_svid_file_name="jwt.token"}}]
daemon_mode = false
"#,
            socket = td.socket.display(),
            dir = work.display(),
        ),
    )
    .unwrap();
    // No entry yet: the agent refuses (PermissionDenied) until the bound, then exit 1.
    let run = run_cmd(command(
        Path::new(HELPER),
        &["-config", conf.to_str().unwrap(), "-fetch-timeout", "2s"],
    ));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no X.509 SVID"), "{}", run.stderr);
    assert!(run.stderr.contains("PermissionDenied"), "{}", run.stderr);
    assert!(!work.join("svid.pem").exists());

    td.register_payment(&[]);
    let run = run_cmd(command(
        Path::new(HELPER),
        &["-config", conf.to_str().unwrap()],
    ));
    assert_eq!(run.code, 0, "{run:?}");
    check_x509(&work);
    assert_eq!(mode(&work.join("svid.pem")), 0o644);
    assert_eq!(mode(&work.join("key.pem")), 0o600);
    assert_eq!(read(&work.join("jwt.token")).split('.').count(), 3);

    // -daemon-mode=false overrides a file that says true (or nothing).
    let daemon_conf = work.join("daemon.conf");
    std::fs::write(
        &daemon_conf,
        read(&conf).replace("daemon_mode = false\n", "daemon_mode = true\n"),
    )
    .unwrap();
    std::fs::remove_file(work.join("svid.pem")).unwrap();
    let run = run_cmd(command(
        Path::new(HELPER),
        &[
            "-config",
            daemon_conf.to_str().unwrap(),
            "-daemon-mode=false",
        ],
    ));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(work.join("svid.pem").exists());

    // No agent at all: exit 1 within the bound.
    let missing = work.join("nobody.conf");
    std::fs::write(
        &missing,
        read(&conf).replace(
            &td.socket.display().to_string(),
            &work.join("no.sock").display().to_string(),
        ),
    )
    .unwrap();
    let started = Instant::now();
    let run = run_cmd(command(
        Path::new(HELPER),
        &["-config", missing.to_str().unwrap(), "-fetch-timeout", "2s"],
    ));
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("no X.509 SVID"), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}
