//! Real processes for the suites: `spiffe-server run` and `spiffe-agent run` (built on demand
//! into the shared target directory, or `$SPIFFE_SERVER_BIN` / `$SPIFFE_AGENT_BIN`), their CLIs,
//! the `suite-probe` workload, PostgreSQL databases, and polling with deadlines.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The workload helper binary of this package.
pub const PROBE: &str = env!("CARGO_BIN_EXE_suite-probe");
/// The trust domain of every test.
pub const TD: &str = "example.org";
/// The SPIFFE ID join tokens are aliased to; workload entries name it as parent.
pub const ALIAS: &str = "spiffe://example.org/suite/agent";
/// How long a daemon may take to become ready.
pub const READY: Duration = Duration::from_secs(60);

/// Whether the long variants run (`SPIFFE_SUITES_LONG=1`).
pub fn long() -> bool {
    std::env::var("SPIFFE_SUITES_LONG").is_ok_and(|v| v == "1")
}

/// Whether this process runs as root (needed to run workloads as other users).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn build_daemons() -> PathBuf {
    // .../<target>/<profile>/suite-probe
    let dir = Path::new(PROBE).parent().expect("binary directory");
    let target = dir.parent().expect("target directory");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--all-features",
        "-p",
        "spiffe-server-bin",
        "-p",
        "spiffe-agent-bin",
        "-p",
        "spiffe-examples",
    ])
    .env("CARGO_TARGET_DIR", target)
    .current_dir(env!("CARGO_MANIFEST_DIR"));
    if dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let built = cmd.status().is_ok_and(|s| s.success());
    let present = [
        "spiffe-server",
        "spiffe-agent",
        "user-service",
        "payment-service",
    ]
    .iter()
    .all(|b| dir.join(b).exists());
    match (built, present) {
        (true, true) => {}
        (false, true) => eprintln!(
            "warning: building spiffe-server-bin / spiffe-agent-bin failed; using the binaries in {}",
            dir.display()
        ),
        (_, false) => panic!("no daemons in {} and the build failed", dir.display()),
    }
    dir.to_path_buf()
}

/// The directory of the daemons and examples built for this run.
fn built_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_daemons)
}

fn daemon_bin(var: &str, name: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(bin) => PathBuf::from(bin),
        None => built_dir().join(name),
    }
}

/// `spiffe-server`.
pub fn server_bin() -> PathBuf {
    daemon_bin("SPIFFE_SERVER_BIN", "spiffe-server")
}

/// An example program of `examples/` (`user-service`, `payment-service`, ...), built with the
/// daemons.
pub fn example_bin(name: &str) -> PathBuf {
    built_dir().join(name)
}

/// `spiffe-agent`.
pub fn agent_bin() -> PathBuf {
    daemon_bin("SPIFFE_AGENT_BIN", "spiffe-agent")
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

    /// The token of a successful `token generate` (its `Token: <value>` line).
    pub fn token(&self) -> String {
        self.ok()
            .lines()
            .find_map(|l| l.strip_prefix("Token: "))
            .unwrap_or_else(|| panic!("no token in {:?}", self.stdout))
            .trim()
            .to_owned()
    }
}

/// A command with none of our environment variables set.
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

/// Calls `attempt` every 50 ms until it succeeds, at most `within`; on failure, panics naming
/// `what` with the last explanation.
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

/// A daemon whose stderr goes to a log file; SIGKILLed if still running when dropped.
pub struct Daemon {
    pub child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `bin` with `args`, appending its output to `log`.
    pub fn spawn(bin: &Path, args: &[&str], log: &Path) -> Daemon {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        // Both streams: our daemons log to stderr, SPIRE's to stdout.
        let out = file.try_clone().expect("log file");
        let child = command(bin, args)
            .stdout(out)
            .stderr(file)
            .spawn()
            .expect("spawn the daemon");
        Daemon {
            child,
            log: log.to_path_buf(),
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid"))
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().ok().flatten() {
            panic!("process exited with {status}:\n{}", self.log());
        }
    }

    /// Sends `signal` and waits for the exit status (at most 30 s).
    pub fn stop_with(&mut self, signal: Signal) -> ExitStatus {
        if let Some(status) = self.child.try_wait().ok().flatten() {
            return status;
        }
        kill(self.pid(), signal).expect("send the signal");
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

/// How to run a server.
#[derive(Debug, Clone, Default)]
pub struct ServerOpts {
    /// A `postgres://` URL; SQLite in the data directory when `None`.
    pub datastore: Option<String>,
    /// `default_x509_svid_ttl`.
    pub x509_ttl: Option<&'static str>,
    /// The agent API port; a free one when `None`.
    pub port: Option<u16>,
    /// `ca_ttl` (a short one makes the CA rotate within a test).
    pub ca_ttl: Option<&'static str>,
    /// The trust domain; [`TD`] when `None`.
    pub trust_domain: Option<&'static str>,
}

/// A `spiffe-server run` on a directory that outlives restarts.
pub struct Server {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    pub config: PathBuf,
    pub daemon: Option<Daemon>,
    starts: usize,
}

impl Server {
    /// Writes a config file under `dir` (created) and starts the server; waits until healthy.
    pub fn start(dir: &Path, opts: &ServerOpts) -> Server {
        std::fs::create_dir_all(dir).expect("server dir");
        let port = opts.port.unwrap_or_else(free_port);
        let socket = dir.join("admin").join("api.sock");
        let td = opts.trust_domain.unwrap_or(TD);
        let mut text = format!(
            "[server]\n\
             trust_domain = \"{td}\"\n\
             data_dir = \"{data}\"\n\
             bind_address = \"127.0.0.1\"\n\
             bind_port = {port}\n\
             socket_path = \"{socket}\"\n\
             log_level = \"info\"\n",
            data = dir.join("data").display(),
            socket = socket.display(),
        );
        if let Some(ds) = &opts.datastore {
            text.push_str(&format!("datastore = \"{ds}\"\n"));
        }
        if let Some(ttl) = opts.x509_ttl {
            text.push_str(&format!("default_x509_svid_ttl = \"{ttl}\"\n"));
        }
        if let Some(ttl) = opts.ca_ttl {
            text.push_str(&format!("ca_ttl = \"{ttl}\"\n"));
        }
        let config = dir.join("server.toml");
        std::fs::write(&config, text).expect("write the server config");
        let mut server = Server {
            dir: dir.to_path_buf(),
            socket,
            port,
            config,
            daemon: None,
            starts: 0,
        };
        server.restart();
        server
    }

    /// Starts the (stopped) server again on the same directory, port and database; waits until
    /// healthy.
    pub fn restart(&mut self) {
        assert!(self.daemon.is_none(), "the server is running");
        self.starts += 1;
        let log = self.dir.join(format!("server.{}.log", self.starts));
        let config = self.config.to_str().expect("utf-8").to_owned();
        let mut daemon = Daemon::spawn(&server_bin(), &["run", "-config", &config], &log);
        wait_until("spiffe-server healthy", READY, || {
            daemon.assert_running();
            let r = self.cli(&["healthcheck"]);
            if r.code == 0 { Ok(()) } else { Err(r.stderr) }
        });
        self.daemon = Some(daemon);
    }

    /// SIGKILLs the server and reaps it.
    pub fn kill9(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let status = d.stop_with(Signal::SIGKILL);
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&status),
                Some(9),
                "{status}"
            );
        }
    }

    /// Stops the server with SIGTERM; asserts a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            let status = d.stop_with(Signal::SIGTERM);
            assert!(status.success(), "{status}:\n{}", d.log());
        }
    }

    /// The current process's log.
    pub fn log(&self) -> String {
        self.daemon.as_ref().map(Daemon::log).unwrap_or_default()
    }

    /// Every log written so far.
    pub fn all_logs(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.join(format!("server.{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    /// Runs `spiffe-server` with `args` and `-socketPath`.
    pub fn cli(&self, args: &[&str]) -> Run {
        run_cmd(self.cli_command(args))
    }

    /// The CLI command (to adjust before running).
    pub fn cli_command(&self, args: &[&str]) -> Command {
        let mut all = args.to_vec();
        all.extend(["-socketPath", self.socket.to_str().expect("utf-8")]);
        command(&server_bin(), &all)
    }

    /// A join token aliased to [`ALIAS`].
    pub fn token(&self) -> String {
        self.cli(&["token", "generate", "-spiffeID", ALIAS]).token()
    }

    /// The bundle (`bundle show`, PEM).
    pub fn bundle_pem(&self) -> String {
        let pem = self.cli(&["bundle", "show"]);
        assert!(pem.ok().contains("BEGIN CERTIFICATE"), "{}", pem.stdout);
        pem.stdout
    }

    /// Creates an entry under [`ALIAS`]; returns the CLI's result.
    pub fn create_entry(&self, spiffe_id: &str, selectors: &[&str], extra: &[&str]) -> Run {
        let mut args = vec![
            "entry",
            "create",
            "-parentID",
            ALIAS,
            "-spiffeID",
            spiffe_id,
        ];
        for s in selectors {
            args.extend(["-selector", s]);
        }
        args.extend_from_slice(extra);
        self.cli(&args)
    }

    /// The SPIFFE IDs of every entry (`entry show -output json`).
    pub fn entry_ids(&self) -> Vec<String> {
        let r = self.cli(&["entry", "show", "-output", "json"]);
        let json: serde_json::Value = serde_json::from_str(r.ok())
            .unwrap_or_else(|e| panic!("entry show -output json is not JSON ({e}): {}", r.stdout));
        let entries = json["entries"].as_array().cloned().unwrap_or_default();
        entries
            .iter()
            .map(|e| {
                let id = &e["spiffe_id"];
                format!(
                    "spiffe://{}{}",
                    id["trust_domain"].as_str().unwrap_or_default(),
                    id["path"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    /// `entry count`, as a number.
    pub fn entry_count(&self) -> usize {
        let out = self.cli(&["entry", "count"]);
        let text = out.ok();
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected entry count output {text:?}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Daemon's own drop SIGKILLs a running server.
        self.daemon.take();
    }
}

/// A `spiffe-agent run` whose data directory outlives restarts.
pub struct Agent {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub daemon: Option<Daemon>,
    server_address: String,
    server_port: u16,
    starts: usize,
    /// A `-config` file passed at every start (flags win over it).
    config_file: Option<PathBuf>,
}

impl Agent {
    /// Starts an agent in `dir` against `host:port`, trusting `bundle_pem`, attesting with
    /// `token`; waits until healthy. The socket's directory is open to every user.
    pub fn start(dir: &Path, host: &str, port: u16, bundle_pem: &str, token: &str) -> Agent {
        Self::start_configured(dir, host, port, bundle_pem, token, None)
    }

    /// [`Agent::start`] with a TOML `-config` file holding `config` (flags win over it).
    pub fn start_configured(
        dir: &Path,
        host: &str,
        port: u16,
        bundle_pem: &str,
        token: &str,
        config: Option<&str>,
    ) -> Agent {
        use std::os::unix::fs::PermissionsExt;
        let public = dir.join("public");
        std::fs::create_dir_all(&public).expect("agent dir");
        for d in [dir, public.as_path()] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::write(dir.join("bootstrap.pem"), bundle_pem).expect("bootstrap bundle");
        let mut agent = Agent {
            dir: dir.to_path_buf(),
            socket: public.join("agent.sock"),
            daemon: None,
            server_address: host.to_owned(),
            server_port: port,
            starts: 0,
            config_file: config.map(|toml| {
                let path = dir.join("agent.toml");
                std::fs::write(&path, toml).expect("agent config");
                path
            }),
        };
        agent.run(Some(token));
        agent
    }

    /// Starts the (stopped) agent again, with `token` or none; waits until healthy.
    pub fn run(&mut self, token: Option<&str>) {
        assert!(self.daemon.is_none(), "the agent is running");
        self.starts += 1;
        let port = self.server_port.to_string();
        let bundle = self.dir.join("bootstrap.pem");
        let data = self.dir.join("data");
        let socket = self.socket.to_str().expect("utf-8").to_owned();
        let mut args = vec![
            "run",
            "-trustDomain",
            TD,
            "-serverAddress",
            &self.server_address,
            "-serverPort",
            &port,
            "-trustBundle",
            bundle.to_str().expect("utf-8"),
            "-dataDir",
            data.to_str().expect("utf-8"),
            "-socketPath",
            &socket,
            "-logLevel",
            "debug",
        ];
        if let Some(t) = token {
            args.extend(["-joinToken", t]);
        }
        let config = self
            .config_file
            .as_ref()
            .map(|p| p.to_str().expect("utf-8").to_owned());
        if let Some(c) = &config {
            args.extend(["-config", c]);
        }
        let log = self.dir.join(format!("agent.{}.log", self.starts));
        let mut daemon = Daemon::spawn(&agent_bin(), &args, &log);
        wait_until("spiffe-agent healthy", READY, || {
            daemon.assert_running();
            let r = run_cmd(command(
                &agent_bin(),
                &["healthcheck", "-socketPath", &socket],
            ));
            if r.code == 0 {
                Ok(())
            } else {
                Err(format!("{}\n{}", r.stderr, daemon.log()))
            }
        });
        self.daemon = Some(daemon);
    }

    /// Stops the agent with `signal` and reaps it.
    pub fn stop_with(&mut self, signal: Signal) -> ExitStatus {
        let mut d = self.daemon.take().expect("the agent runs");
        d.stop_with(signal)
    }

    /// The current process's log.
    pub fn log(&self) -> String {
        self.daemon.as_ref().map(Daemon::log).unwrap_or_default()
    }

    /// Every log written so far.
    pub fn all_logs(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.join(format!("agent.{n}.log"))).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    /// The Workload API address.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

/// A server on SQLite with an attested agent, in one temporary directory.
pub struct Deployment {
    pub tmp: tempfile::TempDir,
    pub server: Server,
    pub agent: Agent,
}

impl Deployment {
    /// Server (with `opts`) and one agent attested with a join token.
    pub fn start(opts: &ServerOpts) -> Deployment {
        Self::start_with_agent_config(opts, None)
    }

    /// [`Deployment::start`] with the agent's `-config` file holding `agent_config`.
    pub fn start_with_agent_config(opts: &ServerOpts, agent_config: Option<&str>) -> Deployment {
        let tmp = tempfile::tempdir().expect("temp dir");
        let server = Server::start(&tmp.path().join("server"), opts);
        let token = server.token();
        let agent = Agent::start_configured(
            &tmp.path().join("agent"),
            "127.0.0.1",
            server.port,
            &server.bundle_pem(),
            &token,
            agent_config,
        );
        Deployment { tmp, server, agent }
    }
}

/// A process killed and reaped when dropped.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sleep` as `uid` with the PID `pid` (which must be free), steering the kernel's next
/// PID through `/proc/sys/kernel/ns_last_pid`.
pub fn spawn_with_pid(pid: i32, uid: u32) -> Guard {
    // Resolved first: finding it starts a process, which would take the PID.
    let sleep = sleep_path();
    for _ in 0..500 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let child = Command::new(&sleep)
            .arg("60")
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let got = i32::try_from(child.id()).unwrap();
        let guard = Guard(child);
        if got == pid {
            return guard;
        }
    }
    let holder = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    panic!("could not start a process with pid {pid}; it is held by:\n{holder}");
}

/// The canonical path of `sleep` (what `/proc/<pid>/exe` shows, so what `unix:path` says).
pub fn sleep_path() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v sleep"])
        .output()
        .unwrap();
    std::fs::canonicalize(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
}

/// Starts `suite-probe handoff` as `uid`: it connects, hands the connection to a holder and
/// exits (or, with `stay`, waits for the holder). Returns the caller (not yet reaped), its PID
/// and the holder's output lines.
pub fn start_handoff(
    socket: &Path,
    fifo: &Path,
    uid: u32,
    stay: bool,
) -> (Guard, i32, std::sync::mpsc::Receiver<String>) {
    let mut caller = Guard(
        Command::new(PROBE)
            .arg(if stay { "handoff-stay" } else { "handoff" })
            .arg(socket)
            .arg(fifo)
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let pid = i32::try_from(caller.0.id()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = caller.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(READY).unwrap();
    assert!(first.starts_with(&format!("handoff {pid} ")), "{first}");
    (caller, pid, rx)
}

/// A tokio runtime for a test's async parts.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The server's bundle, from its admin API (`spiffe_testkit::grpc`).
pub async fn bundle_set(admin: &tonic::transport::Channel) -> spiffe_core::BundleSet {
    spiffe_testkit::grpc::bundle_set(admin)
        .await
        .expect("the server's bundle")
}

/// A join token from the admin API, without an alias entry (so it appears nowhere else).
pub async fn join_token(admin: &tonic::transport::Channel) -> String {
    spiffe_testkit::grpc::join_token(admin)
        .await
        .expect("a join token")
}

/// A channel to the agent API at `address` (`host:port`) that presents no certificate.
pub fn anonymous_channel(
    address: &str,
    bundles: &spiffe_core::BundleSet,
) -> tonic::transport::Channel {
    let td = spiffe_core::TrustDomain::parse(TD).expect("the trust domain");
    spiffe_testkit::grpc::anonymous_channel(address, &td, bundles).expect("an agent API channel")
}

/// A channel to the agent API at `address` authenticated as the agent holding `svid`.
pub fn agent_channel(
    address: &str,
    bundles: &spiffe_core::BundleSet,
    svid: spiffe_core::X509Svid,
) -> tonic::transport::Channel {
    let td = spiffe_core::TrustDomain::parse(TD).expect("the trust domain");
    spiffe_testkit::grpc::agent_channel(address, &td, bundles, svid).expect("an agent API channel")
}

/// Runs `suite-probe` with `args` as `uid`/`gid`; returns its output.
pub fn probe_as(uid: u32, gid: u32, args: &[&str]) -> Run {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(PROBE);
    cmd.args(args).uid(uid).gid(gid);
    cmd.stdin(Stdio::null());
    run_cmd(cmd)
}

/// Reads lines of a child's stdout until `pred` holds for one (at most `within`).
pub fn read_line_until(
    child: &mut Child,
    within: Duration,
    pred: impl Fn(&str) -> bool,
) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

/// PostgreSQL: a fresh database per test on the shared server (127.0.0.1:5432, trust auth),
/// dropped at the end. `SPIFFE_TEST_POSTGRES` overrides the maintenance URL.
pub mod pg {
    use sqlx::Connection;
    use sqlx::postgres::PgConnection;

    /// The maintenance database's URL.
    pub fn admin_url() -> String {
        std::env::var("SPIFFE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    /// Runs `sql` on the database at `url`.
    pub fn exec(url: &str, sql: String) -> Result<(), String> {
        let url = url.to_owned();
        std::thread::spawn(move || {
            block_on(async move {
                let mut conn = PgConnection::connect(&url)
                    .await
                    .map_err(|e| format!("connect {url}: {e}"))?;
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        })
        .join()
        .map_err(|_| "the SQL thread panicked".to_owned())?
    }

    /// A database dropped with the value.
    pub struct TestDb {
        pub name: String,
        pub url: String,
        admin: String,
    }

    impl TestDb {
        /// Creates an empty database on the server of `admin` (a maintenance database URL).
        pub fn create_on(admin: &str) -> TestDb {
            let name = format!("spiffe_suite_{}", uuid::Uuid::new_v4().simple());
            exec(admin, format!("CREATE DATABASE {name}")).unwrap_or_else(|e| {
                panic!("PostgreSQL must be reachable at {admin} (./scripts/test starts it): {e}")
            });
            let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
            TestDb {
                url: format!("{base}/{name}"),
                name,
                admin: admin.to_owned(),
            }
        }

        /// On the shared server.
        pub fn create() -> TestDb {
            Self::create_on(&admin_url())
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let _ = exec(
                &self.admin,
                format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            );
        }
    }
}

/// The resident set size of process `pid`, in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
