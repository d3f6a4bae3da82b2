//! Real processes for the tests: `spiffe-server run` and `spiffe-agent run` (the sibling
//! binaries, built on demand into the same target directory), and `spiffe-helper` itself.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The binary under test.
pub const HELPER: &str = env!("CARGO_BIN_EXE_spiffe-helper");
/// The trust domain.
pub const TD: &str = "example.org";
/// The SPIFFE ID the join token is aliased to.
pub const ALIAS: &str = "spiffe://example.org/ns/spire/sa/spire-agent";
/// The workload's SPIFFE ID.
pub const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment-service";
/// How long anything may take to become ready.
pub const READY: Duration = Duration::from_secs(60);

/// A sibling binary of package `package`: `$env` when set, else built once per test process
/// with `cargo build -p <package>` into the helper's target directory (a no-op when fresh).
fn sibling(env: &str, package: &str, bin: &str, cell: &'static OnceLock<PathBuf>) -> &'static Path {
    cell.get_or_init(|| {
        if let Some(path) = std::env::var_os(env) {
            return PathBuf::from(path);
        }
        let dir = Path::new(HELPER).parent().expect("binary directory");
        let path = dir.join(bin);
        let target = dir.parent().expect("target directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", package, "--bin", bin])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let built = cmd.status().is_ok_and(|s| s.success());
        match (built, path.exists()) {
            (true, true) => {}
            (false, true) => eprintln!(
                "warning: cargo build -p {package} failed; using the existing {}",
                path.display()
            ),
            (_, false) => panic!("no {} (cargo build -p {package} failed)", path.display()),
        }
        path
    })
}

/// `spiffe-server` (`$SPIFFE_SERVER_BIN` or built).
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    sibling(
        "SPIFFE_SERVER_BIN",
        "spiffe-server-bin",
        "spiffe-server",
        &BIN,
    )
}

/// `spiffe-agent` (`$SPIFFE_AGENT_BIN` or built).
pub fn agent_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    sibling("SPIFFE_AGENT_BIN", "spiffe-agent-bin", "spiffe-agent", &BIN)
}

/// What a command printed.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "command failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }
}

/// A command with a clean environment for our variables.
pub fn command(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env_remove("SPIFFE_ENDPOINT_SOCKET")
        .env_remove("SPIFFE_SERVER_PRIVATE_SOCKET")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to completion.
pub fn run_cmd(mut cmd: Command) -> Run {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.output().expect("run the command").into()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// Calls `attempt` every 50 ms until it succeeds, at most `within`; panics naming `what`.
pub fn wait_until(what: &str, within: Duration, mut attempt: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + within;
    loop {
        let why = match attempt() {
            Ok(()) => return,
            Err(why) => why,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: not after {within:?}\n{why}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process whose stderr goes to a log file; SIGKILLed if still running when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `cmd`, logging its stderr (and stdout) to `log`.
    pub fn spawn_command(mut cmd: Command, log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let out = file.try_clone().expect("log file");
        let child = cmd.stdout(out).stderr(file).spawn().expect("spawn");
        Daemon { child, log }
    }

    /// Starts `bin args`.
    pub fn spawn(bin: &Path, args: &[&str], log: PathBuf) -> Daemon {
        Self::spawn_command(command(bin, args), log)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().ok().flatten() {
            panic!("process exited with {status}:\n{}", self.log());
        }
    }

    /// The process ID.
    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid")
    }

    /// Sends `signal` and waits for the exit status (at most 30 s).
    pub fn stop_with(&mut self, signal: Signal) -> ExitStatus {
        kill(Pid::from_raw(self.pid()), signal).expect("send the signal");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "no exit 30 s after {signal}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `spiffe-server` and a `spiffe-agent` attested to it with a join token.
pub struct TrustDomain {
    pub server: Daemon,
    pub agent: Daemon,
    pub server_socket: PathBuf,
    /// The agent's Workload API socket.
    pub socket: PathBuf,
    pub dir: tempfile::TempDir,
}

impl TrustDomain {
    /// Starts both and waits until the agent is healthy.
    pub fn start() -> TrustDomain {
        let dir = tempfile::tempdir().expect("temp dir");
        let server_socket = dir.path().join("server.sock");
        let port = free_port().to_string();
        let server_data = dir.path().join("server-data");
        let mut server = Daemon::spawn(
            server_bin(),
            &[
                "run",
                "-trustDomain",
                TD,
                "-dataDir",
                server_data.to_str().expect("utf-8"),
                "-bindAddress",
                "127.0.0.1",
                "-serverPort",
                &port,
                "-socketPath",
                server_socket.to_str().expect("utf-8"),
                "-logLevel",
                "warn",
            ],
            dir.path().join("server.log"),
        );
        let server_cli = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend(["-socketPath", server_socket.to_str().expect("utf-8")]);
            run_cmd(command(server_bin(), &all))
        };
        wait_until("spiffe-server healthy", READY, || {
            server.assert_running();
            let r = server_cli(&["healthcheck"]);
            if r.code == 0 { Ok(()) } else { Err(r.stderr) }
        });
        let out = server_cli(&["token", "generate", "-spiffeID", ALIAS]);
        let token = out
            .ok()
            .lines()
            .find_map(|l| l.strip_prefix("Token: "))
            .unwrap_or_else(|| panic!("no token in {:?}", out.stdout))
            .trim()
            .to_owned();
        let bundle = dir.path().join("bootstrap.pem");
        let pem = server_cli(&["bundle", "show"]);
        std::fs::write(&bundle, pem.ok()).expect("write the bootstrap bundle");
        let socket = dir.path().join("public").join("api.sock");
        let agent_data = dir.path().join("agent-data");
        let mut agent = Daemon::spawn(
            agent_bin(),
            &[
                "run",
                "-trustDomain",
                TD,
                "-serverAddress",
                "127.0.0.1",
                "-serverPort",
                &port,
                "-trustBundle",
                bundle.to_str().expect("utf-8"),
                "-dataDir",
                agent_data.to_str().expect("utf-8"),
                "-socketPath",
                socket.to_str().expect("utf-8"),
                "-joinToken",
                &token,
            ],
            dir.path().join("agent.log"),
        );
        let socket_s = socket.to_str().expect("utf-8").to_owned();
        wait_until("spiffe-agent healthy", READY, || {
            agent.assert_running();
            let r = run_cmd(command(
                agent_bin(),
                &["healthcheck", "-socketPath", &socket_s],
            ));
            if r.code == 0 {
                Ok(())
            } else {
                Err(format!("{}\n{}", r.stderr, agent.log()))
            }
        });
        TrustDomain {
            server,
            agent,
            server_socket,
            socket,
            dir,
        }
    }

    /// Runs `spiffe-server` with `args` against this server.
    pub fn server_cli(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["-socketPath", self.server_socket.to_str().expect("utf-8")]);
        run_cmd(command(server_bin(), &all))
    }

    /// Registers [`PAYMENT`] for this test process's uid, with `extra` flags.
    pub fn register_payment(&self, extra: &[&str]) {
        let uid = format!("unix:uid:{}", nix::unistd::getuid());
        let mut args = vec![
            "entry",
            "create",
            "-parentID",
            ALIAS,
            "-spiffeID",
            PAYMENT,
            "-selector",
            &uid,
        ];
        args.extend_from_slice(extra);
        self.server_cli(&args).ok();
    }
}
