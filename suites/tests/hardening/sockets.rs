//! Items 1 and 6: socket and data directories someone else controls are refused, and the
//! daemons never change the mode of a directory they did not create.
//!
//! Before the fix both daemons took a socket directory that already existed whoever owned it
//! and bound (and `chmod`ed) the socket in it, so a local user who created the directory first
//! could replace the socket and answer every workload (or the admin CLI), or race a symlink in
//! for the `chmod`; and the agent and server `chmod`ed their data directory to 0700 whatever it
//! was (the agent's default was `.`: started from `/`, it made `/` 0700).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    Server, ServerOpts, TD, agent_bin, command, free_port, is_root, server_bin, wait_until,
};

/// The uid of `nobody`, the "other user" of these tests.
const NOBODY: u32 = 65_534;

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn mkdir(p: &Path, mode: u32) {
    std::fs::create_dir_all(p).unwrap();
    chmod(p, mode);
}

/// Waits up to 30 s for `child` to exit; returns its exit code and stderr, or `None` if it is
/// still running (then it is killed).
fn exit_of(mut child: Child) -> Option<(i32, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            return Some((status.code().unwrap_or(-1), err));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `spiffe-server run` with its admin socket at `socket` and data in `data`.
fn server_child(dir: &Path, data: &Path, socket: &Path) -> Child {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntrust_domain = \"{TD}\"\ndata_dir = \"{}\"\nbind_address = \"127.0.0.1\"\n\
             bind_port = {}\nsocket_path = \"{}\"\n",
            data.display(),
            free_port(),
            socket.display()
        ),
    )
    .unwrap();
    command(&server_bin(), &["run", "-config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `spiffe-agent run` against `server`, with its socket at `socket` and data in `data`.
fn agent_child(server: &Server, dir: &Path, data: &Path, socket: &Path) -> Child {
    let bundle = dir.join("bundle.pem");
    std::fs::write(&bundle, server.bundle_pem()).unwrap();
    let token = server.token();
    let port = server.port.to_string();
    command(
        &agent_bin(),
        &[
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
            "-joinToken",
            &token,
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap()
}

/// Asserts the daemon refused to start, naming `dir`, and returns its stderr.
fn assert_refused(outcome: Option<(i32, String)>, dir: &Path, what: &str) -> String {
    let (code, err) = outcome.unwrap_or_else(|| panic!("{what}: the daemon started"));
    assert_ne!(code, 0, "{what}: {err}");
    let dir = std::fs::canonicalize(dir).unwrap();
    assert!(
        err.contains(&format!("{dir:?}")) || err.contains(&dir.display().to_string()),
        "{what}: the error does not name {dir:?}:\n{err}"
    );
    err
}

#[test]
fn socket_directories_writable_by_others_are_refused() {
    let _serial = crate::serial();
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let server = Server::start(&tmp.path().join("server"), &ServerOpts::default());

    // A world-writable directory without the sticky bit (anyone may replace the socket).
    let open = tmp.path().join("open");
    mkdir(&open, 0o777);
    let err = assert_refused(
        exit_of(agent_child(
            &server,
            tmp.path(),
            &tmp.path().join("agent-data"),
            &open.join("agent.sock"),
        )),
        &open,
        "agent, world-writable socket directory",
    );
    assert!(
        err.contains("writable by group or others") && err.contains("0777"),
        "{err}"
    );
    assert_eq!(
        mode_of(&open),
        0o777,
        "the directory's mode was not changed"
    );
    assert!(!open.join("agent.sock").exists());

    let err = assert_refused(
        exit_of(server_child(
            tmp.path(),
            &tmp.path().join("server2-data"),
            &open.join("api.sock"),
        )),
        &open,
        "server, world-writable admin socket directory",
    );
    assert!(err.contains("admin socket directory"), "{err}");
    assert!(!open.join("api.sock").exists());
}

#[test]
fn directories_of_another_user_are_refused() {
    if !is_root() {
        eprintln!("SKIP directories_of_another_user_are_refused: needs root to chown");
        return;
    }
    let _serial = crate::serial();
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let server = Server::start(&tmp.path().join("server"), &ServerOpts::default());

    // The attacker's own directory (0755, owned by them): the agent would serve in a directory
    // where its socket can be replaced by the attacker's at any time.
    let planted = tmp.path().join("planted");
    mkdir(&planted, 0o755);
    nix::unistd::chown(&planted, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    let err = assert_refused(
        exit_of(agent_child(
            &server,
            tmp.path(),
            &tmp.path().join("agent-data"),
            &planted.join("agent.sock"),
        )),
        &planted,
        "agent, socket directory of another user",
    );
    assert!(
        err.contains("owned by another user") && err.contains(&format!("uid {NOBODY}")),
        "{err}"
    );
    assert!(!planted.join("agent.sock").exists());

    let err = assert_refused(
        exit_of(server_child(
            tmp.path(),
            &tmp.path().join("server2-data"),
            &planted.join("api.sock"),
        )),
        &planted,
        "server, admin socket directory of another user",
    );
    assert!(err.contains(&format!("uid {NOBODY}")), "{err}");

    // A data directory of another user: whoever controls it chooses the agent's trust bundle
    // (and the server's CA key).
    let theirs = tmp.path().join("their-data");
    mkdir(&theirs, 0o700);
    nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    assert_refused(
        exit_of(agent_child(
            &server,
            tmp.path(),
            &theirs,
            &tmp.path().join("sock/agent.sock"),
        )),
        &theirs,
        "agent, data directory of another user",
    );
    assert_refused(
        exit_of(server_child(
            tmp.path(),
            &theirs,
            &tmp.path().join("s3/api.sock"),
        )),
        &theirs,
        "server, data directory of another user",
    );
}

#[test]
fn existing_data_directories_keep_their_mode() {
    let _serial = crate::serial();
    let tmp = tempfile::tempdir().unwrap();
    chmod(tmp.path(), 0o755);
    let server_data = tmp.path().join("server-data");
    mkdir(&server_data, 0o750);
    let agent_data = tmp.path().join("agent-data");
    mkdir(&agent_data, 0o750);

    let server_dir = tmp.path().join("server");
    mkdir(&server_dir, 0o755);
    let admin = server_dir.join("admin/api.sock");
    let mut server_proc = server_child(&server_dir, &server_data, &admin);
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-socketPath", admin.to_str().unwrap()]);
        crate::common::run_cmd(command(&server_bin(), &all))
    };
    wait_until("server healthy", crate::common::READY, || {
        if let Some(s) = server_proc.try_wait().unwrap() {
            panic!("server exited: {s}");
        }
        let r = cli(&["healthcheck"]);
        if r.code == 0 { Ok(()) } else { Err(r.stderr) }
    });
    // Created by the server: exactly 0700.
    assert_eq!(mode_of(admin.parent().unwrap()), 0o700);
    assert_eq!(mode_of(&admin), 0o600);
    assert_eq!(
        mode_of(&server_data),
        0o750,
        "the server changed its data directory's mode"
    );

    let bundle = tmp.path().join("bundle.pem");
    std::fs::write(&bundle, cli(&["bundle", "show"]).ok()).unwrap();
    let token = cli(&["token", "generate", "-spiffeID", crate::common::ALIAS]).token();
    let port = std::fs::read_to_string(server_dir.join("server.toml"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("bind_port = "))
        .unwrap()
        .trim()
        .to_owned();
    let socket = tmp.path().join("agent/public/api.sock");
    let mut agent = command(
        &agent_bin(),
        &[
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
            agent_data.to_str().unwrap(),
            "-socketPath",
            socket.to_str().unwrap(),
            "-joinToken",
            &token,
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until("agent healthy", crate::common::READY, || {
        if let Some(s) = agent.try_wait().unwrap() {
            panic!("agent exited: {s}");
        }
        let r = crate::common::run_cmd(command(
            &agent_bin(),
            &["healthcheck", "-socketPath", socket.to_str().unwrap()],
        ));
        if r.code == 0 { Ok(()) } else { Err(r.stderr) }
    });
    assert!(agent_data.join("agent-key.pem").exists());
    assert_eq!(mode_of(&agent_data.join("agent-key.pem")), 0o600);
    assert_eq!(
        mode_of(&agent_data),
        0o750,
        "the agent changed its data directory's mode"
    );
    // Created by the agent: the socket directory 0755 (and its parent), the socket 0777.
    assert_eq!(mode_of(socket.parent().unwrap()), 0o755);
    assert_eq!(mode_of(&socket), 0o777);
    let _ = agent.kill();
    let _ = agent.wait();
    let _ = server_proc.kill();
    let _ = server_proc.wait();
}
