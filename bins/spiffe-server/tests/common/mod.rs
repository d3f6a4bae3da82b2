//! A real `spiffe-server run` process on a temporary directory, and the CLI run against it.
#![allow(dead_code, unreachable_pub)]

pub mod pg;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_spiffe-server");

/// A running server process, stopped with SIGTERM when dropped.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub child: Option<Child>,
}

/// What a CLI invocation printed.
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

    /// Asserts the failure shape: a non-zero exit, nothing on stdout, and exactly one stderr
    /// line starting with `Error: `; returns that line.
    pub fn one_error_line(&self) -> &str {
        assert_ne!(
            self.code, 0,
            "expected a failure, got stdout:\n{}",
            self.stdout
        );
        assert_eq!(self.stdout, "", "nothing may be printed on stdout");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one line on stderr, got:\n{}",
            self.stderr
        );
        assert!(lines[0].starts_with("Error: "), "{}", lines[0]);
        lines[0]
    }
}

/// Runs the CLI with `args` (no socket added) and the admin socket in the environment
/// variable `SPIFFE_SERVER_PRIVATE_SOCKET` when given.
pub fn cli_env(socket: Option<&Path>, args: &[&str], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    cmd.env_remove("SPIFFE_SERVER_PRIVATE_SOCKET");
    if let Some(s) = socket {
        cmd.env("SPIFFE_SERVER_PRIVATE_SOCKET", s);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the CLI");
    if let Some(input) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("wait for the CLI").into()
}

impl Server {
    /// Starts `spiffe-server run` for `trust_domain` (SQLite unless `datastore` is given) and
    /// waits until `healthcheck` passes.
    pub fn start(trust_domain: &str, datastore: Option<&str>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("admin").join("api.sock");
        let data = dir.path().join("data");
        let mut args: Vec<String> = [
            "run",
            "-trustDomain",
            trust_domain,
            "-dataDir",
            data.to_str().expect("utf-8 path"),
            "-socketPath",
            socket.to_str().expect("utf-8 path"),
            "-bindAddress",
            "127.0.0.1",
            "-serverPort",
            "0",
            "-logLevel",
            "warn",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        if let Some(ds) = datastore {
            args.push("-datastore".into());
            args.push(ds.into());
        }
        Self::spawn(dir, socket, &args)
    }

    /// Starts the server with arbitrary `run` arguments; `socket` is where it will listen.
    pub fn spawn(dir: tempfile::TempDir, socket: PathBuf, args: &[String]) -> Server {
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn the server");
        let mut server = Server {
            dir,
            socket,
            child: Some(child),
        };
        server.wait_healthy();
        server
    }

    /// Polls `healthcheck` until the server answers (at most 60 s).
    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.cli(&["healthcheck"]);
            if r.code == 0 {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("server exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "server not healthy after 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs the CLI with `-socketPath` appended.
    pub fn cli(&self, args: &[&str]) -> Run {
        self.cli_stdin(args, None)
    }

    /// Runs the CLI with `-socketPath` appended and `stdin` as its input.
    pub fn cli_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let socket = self.socket.to_str().expect("utf-8 path");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-socketPath", socket]);
        cli_env(None, &all, stdin)
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

    /// Sends SIGTERM and waits for the exit status (at most 30 s).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
