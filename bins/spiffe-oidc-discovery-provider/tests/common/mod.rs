//! Real processes for the tests: `spiffe-server run` and `spiffe-agent run` (the sibling
//! binaries, built on demand into the same target directory, or `$SPIFFE_SERVER_BIN` /
//! `$SPIFFE_AGENT_BIN`), the provider under test, and an HTTP/1.1 client over TCP, TLS or a
//! UNIX socket.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

/// The binary under test.
pub const PROVIDER: &str = env!("CARGO_BIN_EXE_spiffe-oidc-discovery-provider");
/// The trust domain of every test.
pub const TD: &str = "example.org";
/// The SPIFFE ID join tokens are aliased to.
pub const ALIAS: &str = "spiffe://example.org/agent-alias";
/// How long anything may take to become ready.
pub const READY: Duration = Duration::from_secs(60);

/// The target directory the provider was built in (`.../<target>/<profile>`).
fn profile_dir() -> &'static Path {
    Path::new(PROVIDER).parent().expect("binary directory")
}

/// A sibling daemon: `$<var>` when set, else `<profile>/<bin>` brought up to date once per
/// test process with `cargo build -p <package> --bin <bin>` (a no-op when fresh). If the build
/// fails but a binary is there, it is used and the test says so.
fn sibling(var: &str, package: &str, bin: &str, cell: &'static OnceLock<PathBuf>) -> PathBuf {
    cell.get_or_init(|| {
        if let Some(path) = std::env::var_os(var) {
            return PathBuf::from(path);
        }
        let dir = profile_dir();
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
    .clone()
}

/// `spiffe-server`.
pub fn server_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    sibling(
        "SPIFFE_SERVER_BIN",
        "spiffe-server-bin",
        "spiffe-server",
        &BIN,
    )
}

/// `spiffe-agent`.
pub fn agent_bin() -> PathBuf {
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
        assert_eq!(self.code, 0, "command failed: {self:?}");
        &self.stdout
    }
}

/// Runs `bin` with `args` to completion.
pub fn run(bin: &Path, args: &[&str]) -> Run {
    Command::new(bin)
        .args(args)
        .env_remove("SPIFFE_ENDPOINT_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("run the command")
        .into()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

/// A process whose stderr goes to a log file; killed when dropped.
pub struct Daemon {
    child: Mutex<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `bin` with `args`, logging to `log`.
    pub fn spawn(bin: &Path, args: &[&str], log: PathBuf) -> Daemon {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin)
            .args(args)
            .env_remove("SPIFFE_ENDPOINT_SOCKET")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn the daemon");
        Daemon {
            child: Mutex::new(child),
            log,
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the process has exited.
    pub fn assert_running(&self) {
        let status = self
            .child
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_wait()
            .ok()
            .flatten();
        if let Some(status) = status {
            panic!("process exited with {status}:\n{}", self.log());
        }
    }
}

impl Daemon {
    /// Sends SIGTERM and waits for the exit status (at most 30 s).
    pub fn terminate(&self) -> std::process::ExitStatus {
        let mut child = self.child.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit 30 s after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(PoisonError::into_inner);
        if child.try_wait().ok().flatten().is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Calls `attempt` every 100 ms until it gives a value, at most `within`; on failure, panics
/// naming `what` with the last attempt's explanation.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + within;
    loop {
        let why = match attempt().await {
            Ok(v) => return v,
            Err(why) => why,
        };
        assert!(
            Instant::now() < deadline,
            "{what}: not after {within:?}\n{why}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running `spiffe-server` in a temporary directory.
pub struct Server {
    pub daemon: Daemon,
    pub socket: PathBuf,
    pub port: u16,
}

impl Server {
    /// Starts `spiffe-server run -config` with `extra` TOML lines for [`TD`], its admin socket at
    /// `socket`; waits until healthy.
    pub async fn start(dir: &Path, socket: &Path, extra: &str) -> Server {
        std::fs::create_dir_all(dir).expect("server dir");
        let port = free_port();
        let config = dir.join("server.toml");
        std::fs::write(
            &config,
            format!(
                "trust_domain = \"{TD}\"\ndata_dir = \"{}\"\nbind_address = \"127.0.0.1\"\n\
                 bind_port = {port}\nsocket_path = \"{}\"\nlog_level = \"info\"\n{extra}",
                dir.join("data").display(),
                socket.display()
            ),
        )
        .expect("write the server config");
        let daemon = Daemon::spawn(
            &server_bin(),
            &["run", "-config", config.to_str().expect("utf-8")],
            dir.join("server.log"),
        );
        let server = Server {
            daemon,
            socket: socket.to_owned(),
            port,
        };
        let socket_arg = socket.to_str().expect("utf-8").to_owned();
        let bin = server_bin();
        let deadline = Instant::now() + READY;
        loop {
            server.daemon.assert_running();
            let r = run(&bin, &["healthcheck", "-socketPath", &socket_arg]);
            if r.code == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "server not healthy: {}",
                r.stderr
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }

    /// Runs `spiffe-server` with `args` and `-socketPath`.
    pub fn cli(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["-socketPath", self.socket.to_str().expect("utf-8")]);
        run(&server_bin(), &all)
    }

    /// A JWT-SVID for `id` and `audience`, minted by the server.
    pub fn mint_jwt(&self, id: &str, audience: &str) -> String {
        self.cli(&["jwt", "mint", "-spiffeID", id, "-audience", audience])
            .ok()
            .trim()
            .to_owned()
    }

    /// The server's JWT authorities, from `bundle show -format spiffe`: key ID -> JWK.
    pub fn jwt_keys(&self) -> Vec<(String, serde_json::Value)> {
        let out = self.cli(&["bundle", "show", "-format", "spiffe"]);
        let doc: serde_json::Value = serde_json::from_str(out.ok()).expect("bundle JSON");
        let mut keys: Vec<(String, serde_json::Value)> = doc["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .filter(|k| k["use"] == "jwt-svid")
            .map(|k| (k["kid"].as_str().expect("kid").to_owned(), k.clone()))
            .collect();
        keys.sort_by(|a, b| a.0.cmp(&b.0));
        keys
    }
}

/// A running `spiffe-agent` attested with a join token, its Workload API at `socket`.
pub struct Agent {
    pub daemon: Daemon,
    pub socket: PathBuf,
}

impl Agent {
    /// Starts an agent of `server` in `dir`; waits until its Workload API answers.
    pub async fn start(server: &Server, dir: &Path) -> Agent {
        std::fs::create_dir_all(dir).expect("agent dir");
        let token_out = server.cli(&["token", "generate", "-spiffeID", ALIAS]);
        let token = token_out
            .ok()
            .lines()
            .find_map(|l| l.strip_prefix("Token: "))
            .expect("a token")
            .trim()
            .to_owned();
        let bundle = dir.join("bootstrap.pem");
        std::fs::write(&bundle, server.cli(&["bundle", "show"]).ok()).expect("bundle");
        let socket = dir.join("public").join("agent.sock");
        let port = server.port.to_string();
        let daemon = Daemon::spawn(
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
                bundle.to_str().expect("utf-8"),
                "-dataDir",
                dir.join("data").to_str().expect("utf-8"),
                "-socketPath",
                socket.to_str().expect("utf-8"),
                "-joinToken",
                &token,
            ],
            dir.join("agent.log"),
        );
        let agent = Agent { daemon, socket };
        let socket_arg = agent.socket.to_str().expect("utf-8").to_owned();
        let deadline = Instant::now() + READY;
        loop {
            agent.daemon.assert_running();
            let r = run(&agent_bin(), &["healthcheck", "-socketPath", &socket_arg]);
            if r.code == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "agent not healthy: {r:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        agent
    }
}

/// The provider under test, started with `config` (TOML) written to `dir`.
pub fn start_provider(dir: &Path, config: &str) -> Daemon {
    let path = dir.join("oidc.toml");
    std::fs::write(&path, config).expect("write the provider config");
    Daemon::spawn(
        Path::new(PROVIDER),
        &["-config", path.to_str().expect("utf-8")],
        dir.join("oidc.log"),
    )
}

/// A response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One GET over `io` (HTTP/1.1), with `headers`.
async fn get_over<I>(
    io: I,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let mut req = Request::get(path).header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .map_err(|_| "no response within 10 s".to_owned())?
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// GET `path` from `127.0.0.1:port` with `Host: host`.
pub async fn get(
    port: u16,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect to port {port}: {e}"))?;
    get_over(tcp, host, path, headers).await
}

/// GET `path` over the UNIX socket at `socket`.
pub async fn get_unix(
    socket: &Path,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    let s = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|e| format!("connect to {}: {e}", socket.display()))?;
    get_over(s, host, path, headers).await
}

/// GET `path` over TLS from `127.0.0.1:port`, trusting only `root`, with SNI `server_name`;
/// also returns the certificate the server presented.
pub async fn get_tls(
    port: u16,
    server_name: &str,
    root: &CertificateDer<'static>,
    path: &str,
) -> Result<(Reply, CertificateDer<'static>), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).map_err(|e| format!("root: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| format!("connect to port {port}: {e}"))?;
    let name = ServerName::try_from(server_name.to_owned()).map_err(|e| e.to_string())?;
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let presented = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or("no certificate presented")?;
    let reply = get_over(tls, &format!("{server_name}:{port}"), path, &[]).await?;
    Ok((reply, presented))
}

/// The Python interpreter with PyJWT, or `None` (after a one-line SKIP) when there is none:
/// `$SPIFFE_WORKLOAD_PYTHON`, else the venv `scripts/test` makes (`<target>/pyenv`), else
/// `python3`.
pub fn python_with_pyjwt(test: &str) -> Option<String> {
    let venv = profile_dir()
        .parent()
        .map(|t| t.join("pyenv").join("bin").join("python"));
    let python = std::env::var("SPIFFE_WORKLOAD_PYTHON")
        .ok()
        .or_else(|| venv.filter(|p| p.exists()).map(|p| p.display().to_string()))
        .unwrap_or_else(|| "python3".into());
    match Command::new(&python)
        .args(["-c", "import jwt, cryptography"])
        .output()
    {
        Ok(o) if o.status.success() => Some(python),
        Ok(_) => {
            eprintln!(
                "SKIP {test} (PyJWT part): {python} has no PyJWT[crypto] (./scripts/test installs it into target/pyenv)"
            );
            None
        }
        Err(e) => {
            eprintln!("SKIP {test} (PyJWT part): cannot run {python}: {e}");
            None
        }
    }
}

/// Validates `token` with PyJWT through the provider at `base` (OIDC discovery, then
/// `PyJWKClient`), for `audience`. Returns the script's output (JSON with `sub`, `kid`, `iss`).
pub fn pyjwt_validate(python: &str, base: &str, token: &str, audience: &str) -> Run {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/oidc_validate.py");
    Command::new(python)
        .args([script, base, token, audience])
        .stdin(Stdio::null())
        .output()
        .expect("run python")
        .into()
}

/// The `kid` of a compact JWS's header.
pub fn jwt_kid(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().expect("header");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    let v: serde_json::Value = serde_json::from_slice(&json).expect("JSON header");
    v["kid"].as_str().expect("kid").to_owned()
}
