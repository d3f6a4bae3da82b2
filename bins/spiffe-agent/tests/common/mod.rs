//! Real processes for the tests: a `spiffe-server run` (the sibling binary, built on demand),
//! a `spiffe-agent run`, and the CLIs run against them.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The binary under test.
pub const AGENT: &str = env!("CARGO_BIN_EXE_spiffe-agent");

/// The trust domain of every test.
pub const TD: &str = "example.org";
/// The SPIFFE ID the join token of every test is aliased to.
pub const ALIAS: &str = "spiffe://example.org/agent-alias";
/// The workload's SPIFFE ID.
pub const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment";

/// How long anything may take to become ready.
pub const READY: Duration = Duration::from_secs(60);

/// `spiffe-server`: `$SPIFFE_SERVER_BIN` when set, else the sibling binary next to the agent
/// binary, brought up to date once per test process with `cargo build -p spiffe-server-bin`
/// into the same target directory (a no-op when it is fresh). If that build fails (the server
/// being edited, say) but a binary is there, the tests use it and say so.
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("SPIFFE_SERVER_BIN") {
            return PathBuf::from(bin);
        }
        let dir = Path::new(AGENT).parent().expect("binary directory");
        let bin = dir.join("spiffe-server");
        // .../<target>/<profile>/spiffe-agent
        let target = dir.parent().expect("target directory");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "spiffe-server-bin", "--bin", "spiffe-server"])
            .env("CARGO_TARGET_DIR", target)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let built = cmd.status().is_ok_and(|s| s.success());
        match (built, bin.exists()) {
            (true, true) => {}
            (false, true) => eprintln!(
                "warning: cargo build -p spiffe-server-bin failed; using the existing {}",
                bin.display()
            ),
            (_, false) => panic!(
                "no {} (cargo build -p spiffe-server-bin failed)",
                bin.display()
            ),
        }
        bin
    })
}

/// What a CLI invocation printed.
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

    /// Asserts exit code 1, nothing on stdout, and exactly one stderr line; returns it.
    pub fn one_error_line(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "expected exit code 1\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stdout, "", "nothing may be printed on stdout");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr, got:\n{}",
            self.stderr
        );
        lines[0]
    }
}

/// A command with a clean environment for our variables.
fn command(bin: &Path, args: &[&str]) -> Command {
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

/// Runs `spiffe-agent` with `args`.
pub fn agent_cli(args: &[&str]) -> Run {
    run_cmd(command(Path::new(AGENT), args))
}

/// The `spiffe-agent` command (to adjust before running).
pub fn agent_command(args: &[&str]) -> Command {
    command(Path::new(AGENT), args)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// Calls `attempt` every 50 ms until it succeeds, at most `within`; on failure, panics naming
/// `what` with the last attempt's explanation.
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

/// A daemon process whose stderr goes to a log file; SIGKILLed if still running when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `bin` with `args`, logging to `log`.
    pub fn spawn(bin: &Path, args: &[&str], log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let child = command(bin, args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn the daemon");
        Daemon { child, log }
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

    /// Sends `signal` and waits for the exit status (at most 30 s).
    pub fn stop_with(&mut self, signal: Signal) -> ExitStatus {
        let pid = Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        kill(pid, signal).expect("send the signal");
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

/// A running `spiffe-server` on a temporary directory.
pub struct Server {
    pub daemon: Daemon,
    pub socket: PathBuf,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `spiffe-server run` for example.org on a free port; waits until healthy.
    pub fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("server.sock");
        let data = dir.path().join("data");
        let port = free_port();
        let port_s = port.to_string();
        let args = [
            "run",
            "-trustDomain",
            TD,
            "-dataDir",
            data.to_str().expect("utf-8"),
            "-bindAddress",
            "127.0.0.1",
            "-serverPort",
            &port_s,
            "-socketPath",
            socket.to_str().expect("utf-8"),
            "-logLevel",
            "warn",
        ];
        let daemon = Daemon::spawn(server_bin(), &args, dir.path().join("server.log"));
        let mut server = Server {
            daemon,
            socket,
            port,
            dir,
        };
        wait_until("spiffe-server healthy", READY, || {
            server.daemon.assert_running();
            let r = server.cli(&["healthcheck"]);
            if r.code == 0 { Ok(()) } else { Err(r.stderr) }
        });
        server
    }

    /// Runs `spiffe-server` with `args` and `-socketPath`.
    pub fn cli(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["-socketPath", self.socket.to_str().expect("utf-8")]);
        run_cmd(command(server_bin(), &all))
    }

    /// A join token aliased to [`ALIAS`].
    pub fn token(&self) -> String {
        let out = self.cli(&["token", "generate", "-spiffeID", ALIAS]);
        out.ok()
            .lines()
            .find_map(|l| l.strip_prefix("Token: "))
            .unwrap_or_else(|| panic!("no token in {:?}", out.stdout))
            .trim()
            .to_owned()
    }

    /// Writes the server's bundle (`bundle show`) to `path`.
    pub fn write_bundle(&self, path: &Path) {
        let pem = self.cli(&["bundle", "show"]);
        assert!(pem.ok().contains("BEGIN CERTIFICATE"), "{}", pem.stdout);
        std::fs::write(path, &pem.stdout).expect("write the bootstrap bundle");
    }

    /// Creates the entry of [`PAYMENT`] under [`ALIAS`] for root processes.
    pub fn create_payment_entry(&self) {
        self.cli(&[
            "entry",
            "create",
            "-parentID",
            ALIAS,
            "-spiffeID",
            PAYMENT,
            "-selector",
            "unix:uid:0",
        ])
        .ok();
    }
}

/// Waits until `healthcheck` on `socket` passes while `agent` runs.
pub fn wait_agent_healthy(agent: &mut Daemon, socket: &Path) {
    let socket = socket.to_str().expect("utf-8");
    wait_until("spiffe-agent healthy", READY, || {
        agent.assert_running();
        let r = agent_cli(&["healthcheck", "-socketPath", socket]);
        if r.code == 0 {
            Ok(())
        } else {
            Err(format!("{}\n{}", r.stderr, agent.log()))
        }
    });
}

/// Lines of a child's stdout, read on a thread.
pub fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}
