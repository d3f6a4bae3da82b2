//! SPIRE side by side: the real `spire-server` and `spire-agent` v1.13.3 and go-spiffe v2.9.0
//! (built by `scripts/peers` into `target/peers/bin`) against our daemons, as real processes on
//! loopback. Without the peers (no Go on the machine) every test says SKIP with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod agent_on_our_server;
mod cli_on_our_agent;
mod cli_on_our_server;
mod conformance;
mod federation;
mod federation_cli;
mod our_agent_on_spire;
mod trust;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use spiffe_testkit::spire;
use spiffe_workload::{Endpoint, WorkloadApiClient, X509Context};

use common::{Daemon, READY, Run, command, free_port, run_cmd, wait_until};

/// The tests start several daemons each; one at a time keeps the 2-core machines responsive.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the peers are: `$SPIFFE_PEERS_BIN`, else `target/peers/bin` of this workspace.
fn peers_dir() -> PathBuf {
    std::env::var_os("SPIFFE_PEERS_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/bin"),
        PathBuf::from,
    )
}

/// The peers, or the reason they are missing (printed as SKIP by the caller).
struct Peers {
    spire_server: PathBuf,
    spire_agent: PathBuf,
    interop: PathBuf,
}

impl Peers {
    fn find(test: &str) -> Option<Peers> {
        let dir = peers_dir();
        let peers = Peers {
            spire_server: dir.join("spire-server"),
            spire_agent: dir.join("spire-agent"),
            interop: dir.join("spiffe-interop"),
        };
        let missing: Vec<&Path> = [&peers.spire_server, &peers.spire_agent, &peers.interop]
            .into_iter()
            .filter(|p| !p.exists())
            .map(PathBuf::as_path)
            .collect();
        if missing.is_empty() {
            return Some(peers);
        }
        let why = if Command::new("go").arg("version").output().is_err() {
            "Go is not installed, so scripts/peers cannot build SPIRE and go-spiffe".to_owned()
        } else {
            format!("run scripts/peers first ({missing:?} missing)")
        };
        eprintln!("SKIP {test}: {why}");
        None
    }

    /// `spiffe-interop <args>` against the Workload API at `socket`.
    fn interop(&self, socket: &Path, args: &[&str]) -> Run {
        let mut cmd = Command::new(&self.interop);
        cmd.args(args).env(
            "SPIFFE_ENDPOINT_SOCKET",
            format!("unix://{}", socket.display()),
        );
        run_cmd(cmd)
    }

    /// `spire-agent <args>`.
    fn agent_cli(&self, args: &[&str]) -> Run {
        run_cmd(command(&self.spire_agent, args))
    }

    /// `spire-server <args>`.
    fn server_cli(&self, args: &[&str]) -> Run {
        run_cmd(command(&self.spire_server, args))
    }
}

/// A real `spire-agent run` (join token, `unix` workload attestor, memory key manager).
struct SpireAgent {
    socket: PathBuf,
    daemon: Daemon,
}

impl SpireAgent {
    /// Starts it in `dir` against `host:port`, trusting `bundle_pem`; waits until healthy.
    fn start(
        peers: &Peers,
        dir: &Path,
        trust_domain: &str,
        port: u16,
        bundle_pem: &str,
        token: &str,
    ) -> SpireAgent {
        std::fs::create_dir_all(dir).unwrap();
        let socket = dir.join("public/api.sock");
        let bundle = dir.join("bootstrap.pem");
        std::fs::write(&bundle, bundle_pem).unwrap();
        let config = dir.join("agent.conf");
        let conf = spire::AgentConf {
            server_port: port,
            socket: &socket,
            trust_domain,
            data_dir: &dir.join("data"),
            trust_bundle: &bundle,
            log_level: Some("DEBUG"),
            key_manager: spire::KeyManager::Memory,
        };
        std::fs::write(&config, conf.render()).unwrap();
        let log = dir.join("spire-agent.log");
        let mut daemon = Daemon::spawn(
            &peers.spire_agent,
            &[
                "run",
                "-config",
                config.to_str().unwrap(),
                "-joinToken",
                token,
            ],
            &log,
        );
        let sock = socket.to_str().unwrap().to_owned();
        wait_until("spire-agent healthy", READY, || {
            daemon.assert_running();
            let r = peers.agent_cli(&["healthcheck", "-socketPath", &sock]);
            if r.code == 0 {
                Ok(())
            } else {
                Err(format!("{}{}", r.stdout, r.stderr))
            }
        });
        SpireAgent { socket, daemon }
    }
}

/// A real `spire-server run` (SQLite, join token attestor, memory key manager, P-256).
struct SpireServer {
    socket: PathBuf,
    port: u16,
    _daemon: Daemon,
}

impl SpireServer {
    /// Starts it in `dir`; waits until healthy.
    fn start(peers: &Peers, dir: &Path, trust_domain: &str) -> SpireServer {
        Self::start_with(
            peers,
            dir,
            trust_domain,
            spire::KeyManager::Memory,
            "",
            None,
        )
    }

    /// [`SpireServer::start`] with a key manager, `server_block` added inside the config's
    /// `server { ... }` block (HCL), and the agent API on `port` (a free one when `None`).
    fn start_with(
        peers: &Peers,
        dir: &Path,
        trust_domain: &str,
        key_manager: spire::KeyManager,
        server_block: &str,
        port: Option<u16>,
    ) -> SpireServer {
        std::fs::create_dir_all(dir).unwrap();
        let port = port.unwrap_or_else(free_port);
        let socket = dir.join("private/api.sock");
        let data = dir.join("data");
        let config = dir.join("server.conf");
        let conf = spire::ServerConf {
            port,
            socket: &socket,
            trust_domain,
            data_dir: &data,
            log_level: Some("DEBUG"),
            key_manager,
            signing_rate_limit: true,
        };
        let text = conf
            .render()
            .replacen("server {\n", &format!("server {{\n{server_block}"), 1);
        std::fs::write(&config, text).unwrap();
        let log = dir.join("spire-server.log");
        let mut daemon = Daemon::spawn(
            &peers.spire_server,
            &["run", "-config", config.to_str().unwrap()],
            &log,
        );
        let sock = socket.to_str().unwrap().to_owned();
        wait_until("spire-server healthy", READY, || {
            daemon.assert_running();
            let r = peers.server_cli(&["healthcheck", "-socketPath", &sock]);
            if r.code == 0 {
                Ok(())
            } else {
                Err(format!("{}{}", r.stdout, r.stderr))
            }
        });
        SpireServer {
            socket,
            port,
            _daemon: daemon,
        }
    }

    /// Stops it (SIGTERM) and waits for it.
    fn stop(self) {
        let mut daemon = self._daemon;
        let _ = daemon.stop_with(nix::sys::signal::Signal::SIGTERM);
    }

    /// `spire-server <args> -socketPath <its socket>`.
    fn cli(&self, peers: &Peers, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["-socketPath", self.socket.to_str().unwrap()]);
        peers.server_cli(&all)
    }
}

/// What the Workload API at `socket` answers to FetchX509SVID (through our client).
fn context(rt: &tokio::runtime::Runtime, socket: &std::path::Path) -> Result<X509Context, String> {
    rt.block_on(async {
        let endpoint =
            Endpoint::parse(&format!("unix://{}", socket.display())).map_err(|e| e.to_string())?;
        let client = WorkloadApiClient::connect_endpoint(endpoint)
            .await
            .map_err(|e| e.to_string())?;
        client.fetch_x509_context().await.map_err(|e| e.to_string())
    })
}

/// The SPIFFE IDs of a context's SVIDs, sorted.
fn ids(ctx: &X509Context) -> Vec<String> {
    let mut ids: Vec<String> = ctx
        .svids
        .iter()
        .map(|s| s.spiffe_id().to_string())
        .collect();
    ids.sort();
    ids
}

/// The value after `label` on the line that starts with it (`Token: x` -> `x`).
fn field<'a>(text: &'a str, label: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().trim_start_matches(':').trim())
}

/// Polls `f` every 200 ms until it returns `Some`, for at most `within`.
fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let mut out = None;
    wait_until(what, within, || match f() {
        Ok(v) => {
            out = Some(v);
            Ok(())
        }
        Err(e) => Err(e),
    });
    out.unwrap()
}
