//! The quickstart: a server and an agent on embedded defaults, two services doing SPIFFE mTLS,
//! an intruder refused, a live SVID rotation, and the same pair with JWT-SVIDs. Everything runs
//! as real processes on this machine, started with the commands a newcomer would type; each
//! step says what it shows. Exits 0 when every step behaved as it should.
//!
//! Run: `./scripts/quickstart` (it builds everything, then runs this).
//!
//! `./scripts/quickstart federation` runs the federation variant instead (module `federation`): two
//! trust domains on this machine, `mycompany.com` and `partner.org`, each with its server and
//! agent, payment-service calling partner.org's user-service over mTLS across them.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

mod federation;

const TD: &str = "mycompany.com";
const AGENT_ALIAS: &str = "spiffe://mycompany.com/ns/spire/sa/spire-agent";
const PAYMENT: &str = "spiffe://mycompany.com/ns/prod/sa/payment-service";
const USER: &str = "spiffe://mycompany.com/ns/prod/sa/user-service";
const INTRUDER: &str = "spiffe://mycompany.com/ns/dev/sa/intruder";
/// A short SVID lifetime, so a rotation happens while you watch.
const SHORT_TTL: u32 = 16;

/// How each workload is told apart: by uid (as root), or by binary path (otherwise).
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Uid,
    Path,
}

struct Workload {
    name: &'static str,
    id: &'static str,
    uid: u32,
    binary: PathBuf,
}

impl Workload {
    fn selector(&self, mode: Mode) -> String {
        match mode {
            Mode::Uid => format!("unix:uid:{}", self.uid),
            Mode::Path => format!("unix:path:{}", self.binary.display()),
        }
    }
}

/// Processes to stop at the end (or on failure).
struct Procs(Vec<(String, Child)>);

impl Drop for Procs {
    fn drop(&mut self) {
        for (_, child) in self.0.iter_mut().rev() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
        for (name, child) in self.0.iter_mut().rev() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = child.try_wait() {
                eprintln!("{name} did not stop on SIGTERM; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn step(n: u32, title: &str) {
    println!("\n=== {n}. {title}");
}

fn show(cmd: &Command) {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let program = Path::new(cmd.get_program())
        .file_name()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!("$ {program} {}", args.join(" "));
}

fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    show(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("running {:?}", cmd.get_program()))?;
    Ok(out)
}

fn run_ok(cmd: &mut Command) -> anyhow::Result<String> {
    let out = run(cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "command failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// Polls `check` until it succeeds, with a progress line.
fn wait_until(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut dots = 0;
    while !check() {
        if start.elapsed() > timeout {
            println!();
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        if dots == 0 {
            print!("... waiting for {what} ");
        }
        dots += 1;
        if dots % 5 == 0 {
            print!(".");
            use std::io::Write;
            let _ = std::io::stdout().flush();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if dots > 0 {
        println!(" ready after {:.1}s", start.elapsed().as_secs_f64());
    }
    Ok(())
}

fn spawn(procs: &mut Procs, name: &str, cmd: &mut Command, log: &Path) -> anyhow::Result<()> {
    show(cmd);
    let file = std::fs::File::create(log)?;
    let child = cmd
        .stdout(Stdio::from(file.try_clone()?))
        .stderr(Stdio::from(file))
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    procs.0.push((name.to_owned(), child));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("locating the binaries")?;
    let bin = |name: &str| bin_dir.join(name);
    for b in [
        "spiffe-server",
        "spiffe-agent",
        "user-service",
        "payment-service",
        "jwt-user-service",
        "jwt-payment-service",
    ] {
        if !bin(b).exists() {
            bail!(
                "{} is missing: build the workspace first (./scripts/quickstart does)",
                bin(b).display()
            );
        }
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let keep = args.iter().any(|a| a == "--keep");
    let federated = match args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str)
    {
        None => false,
        Some("federation") => true,
        Some(other) => {
            bail!("unknown variant {other:?}; usage: ./scripts/quickstart [federation] [--keep]")
        }
    };
    let dir = tempfile_dir()?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
    let mode = if nix_is_root() { Mode::Uid } else { Mode::Path };
    if federated {
        println!(
            "Quickstart of spiffe-rs, federation: trust domains {} and {}, working directory {}",
            federation::OURS,
            federation::PARTNER,
            dir.display()
        );
    } else {
        println!(
            "Quickstart of spiffe-rs: trust domain {TD}, working directory {}",
            dir.display()
        );
    }
    if mode == Mode::Path {
        println!(
            "(not running as root: workloads are told apart by their binary path, unix:path, instead of their uid)"
        );
    }
    let mut procs = Procs(Vec::new());
    let result = if federated {
        federation::scenario(&dir, &bin, mode, &mut procs)
    } else {
        quickstart(&dir, &bin, mode, &mut procs)
    };
    drop(procs);
    match &result {
        Ok(()) => println!(
            "\nAll steps behaved as expected. Logs are in {}.",
            dir.display()
        ),
        Err(e) => println!("\nQuickstart FAILED: {e:#}\nLogs are in {}.", dir.display()),
    }
    if !keep && result.is_ok() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::temp_dir().join(format!("spiffe-quickstart-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    Ok(base)
}

fn nix_is_root() -> bool {
    // The effective uid of this process, as /proc reports it (no unsafe call needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .is_some_and(|euid| euid == "0")
}

fn quickstart(
    dir: &Path,
    bin: &dyn Fn(&str) -> PathBuf,
    mode: Mode,
    procs: &mut Procs,
) -> anyhow::Result<()> {
    let server_sock = dir.join("server").join("api.sock");
    let agent_sock = dir.join("agent-public").join("api.sock");
    let endpoint = format!("unix://{}", agent_sock.display());
    let port = free_port()?;

    step(
        1,
        "Start the server (SQLite in its data directory, a CA of its own)",
    );
    spawn(
        procs,
        "spiffe-server",
        Command::new(bin("spiffe-server")).args([
            "run",
            "-trustDomain",
            TD,
            "-dataDir",
            &dir.join("server-data").display().to_string(),
            "-bindAddress",
            "127.0.0.1",
            "-serverPort",
            &port.to_string(),
            "-socketPath",
            &server_sock.display().to_string(),
        ]),
        &dir.join("server.log"),
    )?;
    let server = |args: &[&str]| {
        let mut c = Command::new(bin("spiffe-server"));
        c.args(args)
            .env("SPIFFE_SERVER_PRIVATE_SOCKET", &server_sock);
        c
    };
    wait_until("the server", Duration::from_secs(60), || {
        server(&["healthcheck"])
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    println!("{}", run_ok(&mut server(&["healthcheck"]))?.trim());

    step(
        2,
        "Admit an agent with a join token; its node alias is the seed's agent ID",
    );
    let out = run_ok(&mut server(&[
        "token",
        "generate",
        "-spiffeID",
        AGENT_ALIAS,
    ]))?;
    let token = out
        .lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .context("no token printed")?
        .trim()
        .to_owned();
    println!("{}", out.trim());
    let bundle_pem = run_ok(&mut server(&["bundle", "show"]))?;
    let bootstrap = dir.join("bootstrap-bundle.pem");
    std::fs::write(&bootstrap, &bundle_pem)?;
    println!(
        "(the trust bundle is saved to {} so the agent can verify the server)",
        bootstrap.display()
    );
    let mut agent_cmd = Command::new(bin("spiffe-agent"));
    agent_cmd.args([
        "run",
        "-trustDomain",
        TD,
        "-serverAddress",
        "127.0.0.1",
        "-serverPort",
        &port.to_string(),
        "-joinToken",
        &token,
        "-trustBundle",
        &bootstrap.display().to_string(),
        "-dataDir",
        &dir.join("agent-data").display().to_string(),
        "-socketPath",
        &agent_sock.display().to_string(),
    ]);
    if mode == Mode::Path {
        let conf = dir.join("agent.toml");
        std::fs::write(&conf, "discover_workload_path = true\n")?;
        agent_cmd.args(["-config", &conf.display().to_string()]);
    }
    spawn(
        procs,
        "spiffe-agent",
        &mut agent_cmd,
        &dir.join("agent.log"),
    )?;
    wait_until("the agent", Duration::from_secs(60), || {
        Command::new(bin("spiffe-agent"))
            .args([
                "healthcheck",
                "-socketPath",
                &agent_sock.display().to_string(),
            ])
            .output()
            .is_ok_and(|o| o.status.success())
    })?;
    println!("{}", run_ok(&mut server(&["agent", "list"]))?.trim_end());

    step(
        3,
        "Register the workloads: who gets which SPIFFE ID, by selector",
    );
    // An intruder binary: payment-service under another name (so unix:path tells them apart).
    let intruder_bin = dir.join("intruder");
    std::fs::copy(bin("payment-service"), &intruder_bin)?;
    let workloads = [
        Workload {
            name: "user-service",
            id: USER,
            uid: 1002,
            binary: bin("user-service"),
        },
        Workload {
            name: "payment-service",
            id: PAYMENT,
            uid: 1001,
            binary: bin("payment-service"),
        },
        Workload {
            name: "intruder",
            id: INTRUDER,
            uid: 1003,
            binary: intruder_bin.clone(),
        },
        Workload {
            name: "jwt-user-service",
            id: USER,
            uid: 1002,
            binary: bin("jwt-user-service"),
        },
        Workload {
            name: "jwt-payment-service",
            id: PAYMENT,
            uid: 1001,
            binary: bin("jwt-payment-service"),
        },
    ];
    let mut registered = std::collections::BTreeSet::new();
    for w in &workloads {
        let selector = w.selector(mode);
        if !registered.insert((w.id, selector.clone())) {
            println!("({} runs as {} too: same entry)", w.name, w.id);
            continue;
        }
        run_ok(&mut server(&[
            "entry",
            "create",
            "-spiffeID",
            w.id,
            "-parentID",
            AGENT_ALIAS,
            "-selector",
            &selector,
            "-x509SVIDTTL",
            &SHORT_TTL.to_string(),
        ]))?;
    }
    println!("{}", run_ok(&mut server(&["entry", "show"]))?.trim_end());

    let as_workload = |w: &Workload, args: &[&str]| {
        let mut c = Command::new(&w.binary);
        c.args(args)
            .env("SPIFFE_ENDPOINT_SOCKET", &endpoint)
            .env("RUST_LOG", "warn");
        if mode == Mode::Uid {
            c.uid(w.uid).gid(w.uid);
        }
        c
    };

    step(4, "Start user-service; it admits only payment-service");
    let user_port = free_port()?;
    let user_log = dir.join("user-service.log");
    let mut user = as_workload(
        &workloads[0],
        &[
            "--listen",
            &format!("127.0.0.1:{user_port}"),
            "--allow",
            PAYMENT,
        ],
    );
    user.env("RUST_LOG", "info");
    spawn(procs, "user-service", &mut user, &user_log)?;
    wait_until(
        "user-service to get its SVID and listen",
        Duration::from_secs(60),
        || std::fs::read_to_string(&user_log).is_ok_and(|l| l.contains("listening on")),
    )?;
    let url = format!("https://127.0.0.1:{user_port}/users/42");

    step(5, "payment-service calls user-service over SPIFFE mTLS");
    let out = run(&mut as_workload(
        &workloads[1],
        &["--url", &url, "--expect", USER],
    ))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if !out.status.success() || !stdout.contains(&format!("\"caller\":\"{PAYMENT}\"")) {
        bail!(
            "payment-service was not admitted: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    step(6, "An intruder with another SPIFFE ID is refused");
    let out = run(&mut as_workload(
        &workloads[2],
        &["--url", &url, "--expect", USER],
    ))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if out.status.success() {
        bail!("the intruder was admitted");
    }
    wait_until(
        "user-service to log the refusal",
        Duration::from_secs(10),
        || std::fs::read_to_string(&user_log).is_ok_and(|l| l.contains(INTRUDER)),
    )?;
    let log = std::fs::read_to_string(&user_log)?;
    if let Some(line) = log.lines().find(|l| l.contains(INTRUDER)) {
        println!("user-service log: {}", line.trim());
    }

    step(
        7,
        &format!(
            "Live rotation: SVIDs live {SHORT_TTL} s and rotate at half-life; calls keep working"
        ),
    );
    let out = run(&mut as_workload(
        &workloads[1],
        &[
            "--url",
            &url,
            "--expect",
            USER,
            "--repeat",
            &(SHORT_TTL + 4).to_string(),
            "--interval",
            "1",
        ],
    ))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    let serials: std::collections::BTreeSet<&str> = stdout
        .lines()
        .filter_map(|l| {
            l.split("SVID serial ")
                .nth(1)
                .and_then(|r| r.split(',').next())
        })
        .collect();
    if !out.status.success() {
        bail!("a call failed during rotation");
    }
    if serials.len() < 2 {
        bail!("no rotation was seen (serials {serials:?})");
    }
    println!(
        "payment-service used {} different SVIDs over the run; no call failed.",
        serials.len()
    );

    step(
        8,
        "The same pair with JWT-SVID bearer tokens (audience user-service)",
    );
    let jwt_port = free_port()?;
    let jwt_log = dir.join("jwt-user-service.log");
    spawn(
        procs,
        "jwt-user-service",
        &mut as_workload(
            &workloads[3],
            &[
                "--listen",
                &format!("127.0.0.1:{jwt_port}"),
                "--allow",
                PAYMENT,
            ],
        ),
        &jwt_log,
    )?;
    wait_until("jwt-user-service", Duration::from_secs(60), || {
        std::fs::read_to_string(&jwt_log).is_ok_and(|l| l.contains("listening on"))
    })?;
    let jwt_url = format!("http://127.0.0.1:{jwt_port}/users/42");
    let out = run(&mut as_workload(&workloads[4], &["--url", &jwt_url]))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        bail!("JWT call refused: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = run(&mut as_workload(
        &workloads[4],
        &["--url", &jwt_url, "--audience", "billing-service"],
    ))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if out.status.success() {
        bail!("a token for another audience was accepted");
    }
    println!("(a token for another audience is refused with 401)");
    Ok(())
}
