//! The federation variant (`./scripts/quickstart federation`): two trust domains on this
//! machine, `mycompany.com` and `partner.org`, each a server (its own data directory, a SPIFFE
//! bundle endpoint with the `https_spiffe` profile, `federates_with` the other) and an agent.
//! The servers are bootstrapped with each other's bundle (`bundle show` / `bundle set`), the
//! workload entries carry `-federatesWith`, and then:
//!
//! - payment-service (mycompany.com) calls user-service (partner.org) over mTLS, each side
//!   admitting only the other's exact SPIFFE ID;
//! - an impostor of partner.org (another partner.org ID, with a valid SVID) is refused by
//!   payment-service, and an intruder of mycompany.com is refused by user-service;
//! - partner.org's CA rotates (a short `ca_ttl`): mycompany.com's server fetches the grown
//!   bundle from partner.org's endpoint, its agent delivers it to payment-service's open stream,
//!   and calls (a new TLS handshake each) keep working before, across and after the switch to
//!   the new CA.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Mode, Procs, Workload, free_port, run, run_ok, spawn, step, wait_until};

/// Our trust domain.
pub(crate) const OURS: &str = "mycompany.com";
/// The partner's trust domain.
pub(crate) const PARTNER: &str = "partner.org";
const PAYMENT: &str = "spiffe://mycompany.com/ns/prod/sa/payment-service";
const INTRUDER: &str = "spiffe://mycompany.com/ns/dev/sa/intruder";
const PARTNER_USER: &str = "spiffe://partner.org/ns/prod/sa/user-service";
const IMPOSTOR: &str = "spiffe://partner.org/ns/dev/sa/impostor";
/// partner.org's CA lifetime: a new CA is prepared at half of it and activated at five sixths,
/// so the rotation happens while you watch.
const PARTNER_CA_TTL: u32 = 90;
/// partner.org's SVID lifetime (at most a sixth of its CA's, as SPIRE advises).
const PARTNER_SVID_TTL: u32 = 15;
/// How long the CA rotation may take to be seen end to end.
const ROTATION_TIMEOUT: Duration = Duration::from_secs(180);

/// One trust domain: its server, its agent, where they listen.
struct Domain {
    td: &'static str,
    other: &'static str,
    dir: PathBuf,
    server_sock: PathBuf,
    agent_sock: PathBuf,
    server_port: u16,
    bundle_port: u16,
}

impl Domain {
    fn new(root: &Path, td: &'static str, other: &'static str) -> anyhow::Result<Domain> {
        let dir = root.join(td);
        std::fs::create_dir_all(&dir)?;
        Ok(Domain {
            td,
            other,
            server_sock: dir.join("server").join("api.sock"),
            agent_sock: dir.join("agent-public").join("api.sock"),
            dir,
            server_port: free_port()?,
            bundle_port: free_port()?,
        })
    }

    /// The node alias of this trust domain's agent.
    fn alias(&self) -> String {
        format!("spiffe://{}/ns/spire/sa/spire-agent", self.td)
    }

    /// The Workload API endpoint of this trust domain's agent.
    fn endpoint(&self) -> String {
        format!("unix://{}", self.agent_sock.display())
    }

    /// A `spiffe-server` command on this trust domain's admin socket.
    fn server(&self, bin: &dyn Fn(&str) -> PathBuf, args: &[&str]) -> Command {
        let mut c = Command::new(bin("spiffe-server"));
        c.args(args)
            .env("SPIFFE_SERVER_PRIVATE_SOCKET", &self.server_sock);
        c
    }

    /// The server's configuration file: the bundle endpoint and the relationship with the
    /// other trust domain, with SPIRE's names.
    fn config(&self, other_bundle_port: u16, extra: &str) -> String {
        format!(
            r#"[server]
{extra}
[server.federation.bundle_endpoint]
address = "127.0.0.1"
port = {port}
refresh_hint = "1m"
[server.federation.bundle_endpoint.profile.https_spiffe]

[server.federation.federates_with."{other}"]
bundle_endpoint_url = "https://127.0.0.1:{other_bundle_port}"
[server.federation.federates_with."{other}".bundle_endpoint_profile.https_spiffe]
endpoint_spiffe_id = "spiffe://{other}/spire/server"
"#,
            port = self.bundle_port,
            other = self.other,
        )
    }

    /// The PEM certificates of the bundle of `td` this server holds (`bundle list -id`).
    fn federated_cas(&self, bin: &dyn Fn(&str) -> PathBuf, td: &str) -> usize {
        self.server(bin, &["bundle", "list", "-id", &format!("spiffe://{td}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .matches("BEGIN CERTIFICATE")
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Runs the federation variant.
pub(crate) fn scenario(
    dir: &Path,
    bin: &dyn Fn(&str) -> PathBuf,
    mode: Mode,
    procs: &mut Procs,
) -> anyhow::Result<()> {
    let ours = Domain::new(dir, OURS, PARTNER)?;
    let partner = Domain::new(dir, PARTNER, OURS)?;

    step(
        1,
        "Start two servers, each with a bundle endpoint (https_spiffe) and federating with the other",
    );
    for (d, other, extra) in [
        (&ours, &partner, String::new()),
        (
            &partner,
            &ours,
            format!(
                "ca_ttl = \"{PARTNER_CA_TTL}s\"\ndefault_x509_svid_ttl = \"{PARTNER_SVID_TTL}s\"\n"
            ),
        ),
    ] {
        let conf = d.dir.join("server.toml");
        std::fs::write(&conf, d.config(other.bundle_port, &extra))?;
        println!(
            "--- {} ---\n{}",
            conf.display(),
            d.config(other.bundle_port, &extra).trim_end()
        );
        spawn(
            procs,
            &format!("spiffe-server ({})", d.td),
            Command::new(bin("spiffe-server")).args([
                "run",
                "-config",
                &conf.display().to_string(),
                "-trustDomain",
                d.td,
                "-dataDir",
                &d.dir.join("server-data").display().to_string(),
                "-bindAddress",
                "127.0.0.1",
                "-serverPort",
                &d.server_port.to_string(),
                "-socketPath",
                &d.server_sock.display().to_string(),
            ]),
            &d.dir.join("server.log"),
        )?;
    }
    for d in [&ours, &partner] {
        wait_until(
            &format!("the {} server", d.td),
            Duration::from_secs(60),
            || {
                d.server(bin, &["healthcheck"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            },
        )?;
    }
    println!(
        "partner.org's CA lives {PARTNER_CA_TTL} s (a new one is prepared at half-life and activated at five sixths), its SVIDs {PARTNER_SVID_TTL} s"
    );

    step(
        2,
        "Bootstrap federation: each server gets the other's bundle once (bundle show / bundle set)",
    );
    for (from, to) in [(&partner, &ours), (&ours, &partner)] {
        let doc = run_ok(&mut from.server(bin, &["bundle", "show", "-format", "spiffe"]))?;
        let file = dir.join(format!("{}.bundle.json", from.td));
        std::fs::write(&file, &doc)?;
        println!("(saved to {})", file.display());
        println!(
            "{}",
            run_ok(&mut to.server(
                bin,
                &[
                    "bundle",
                    "set",
                    "-id",
                    &format!("spiffe://{}", from.td),
                    "-path",
                    &file.display().to_string(),
                    "-format",
                    "spiffe",
                ],
            ))?
            .trim()
        );
    }
    println!(
        "From now on each server refreshes the other's bundle from its endpoint, authenticating it as spiffe://<td>/spire/server with the bundle it holds."
    );
    println!(
        "{}",
        run_ok(&mut ours.server(bin, &["bundle", "list"]))?.trim_end()
    );

    step(3, "Start an agent in each trust domain (join tokens)");
    for d in [&ours, &partner] {
        let alias = d.alias();
        let out = run_ok(&mut d.server(bin, &["token", "generate", "-spiffeID", &alias]))?;
        let token = out
            .lines()
            .find_map(|l| l.strip_prefix("Token: "))
            .context("no token printed")?
            .trim()
            .to_owned();
        let bootstrap = d.dir.join("bootstrap-bundle.pem");
        std::fs::write(&bootstrap, run_ok(&mut d.server(bin, &["bundle", "show"]))?)?;
        let mut agent = Command::new(bin("spiffe-agent"));
        agent.args([
            "run",
            "-trustDomain",
            d.td,
            "-serverAddress",
            "127.0.0.1",
            "-serverPort",
            &d.server_port.to_string(),
            "-joinToken",
            &token,
            "-trustBundle",
            &bootstrap.display().to_string(),
            "-dataDir",
            &d.dir.join("agent-data").display().to_string(),
            "-socketPath",
            &d.agent_sock.display().to_string(),
        ]);
        if mode == Mode::Path {
            let conf = d.dir.join("agent.toml");
            std::fs::write(&conf, "discover_workload_path = true\n")?;
            agent.args(["-config", &conf.display().to_string()]);
        }
        spawn(
            procs,
            &format!("spiffe-agent ({})", d.td),
            &mut agent,
            &d.dir.join("agent.log"),
        )?;
    }
    for d in [&ours, &partner] {
        wait_until(
            &format!("the {} agent", d.td),
            Duration::from_secs(60),
            || {
                Command::new(bin("spiffe-agent"))
                    .args([
                        "healthcheck",
                        "-socketPath",
                        &d.agent_sock.display().to_string(),
                    ])
                    .output()
                    .is_ok_and(|o| o.status.success())
            },
        )?;
    }

    step(
        4,
        "Register the workloads, each entry federating with the other trust domain (-federatesWith)",
    );
    // Copies under other names, so that unix:path tells them apart from the real services.
    let intruder_bin = dir.join("intruder");
    std::fs::copy(bin("payment-service"), &intruder_bin)?;
    let impostor_bin = dir.join("impostor");
    std::fs::copy(bin("user-service"), &impostor_bin)?;
    let payment = Workload {
        name: "payment-service",
        id: PAYMENT,
        uid: 1001,
        binary: bin("payment-service"),
    };
    let intruder = Workload {
        name: "intruder",
        id: INTRUDER,
        uid: 1003,
        binary: intruder_bin,
    };
    let user = Workload {
        name: "user-service",
        id: PARTNER_USER,
        uid: 1002,
        binary: bin("user-service"),
    };
    let impostor = Workload {
        name: "impostor",
        id: IMPOSTOR,
        uid: 1004,
        binary: impostor_bin,
    };
    for (d, w) in [
        (&ours, &payment),
        (&ours, &intruder),
        (&partner, &user),
        (&partner, &impostor),
    ] {
        run_ok(&mut d.server(
            bin,
            &[
                "entry",
                "create",
                "-spiffeID",
                w.id,
                "-parentID",
                &d.alias(),
                "-selector",
                &w.selector(mode),
                "-federatesWith",
                &format!("spiffe://{}", d.other),
            ],
        ))?;
    }
    for d in [&ours, &partner] {
        println!(
            "{}",
            run_ok(&mut d.server(bin, &["entry", "show"]))?.trim_end()
        );
    }

    let as_workload = |d: &Domain, w: &Workload, args: &[&str]| {
        let mut c = Command::new(&w.binary);
        c.args(args)
            .env("SPIFFE_ENDPOINT_SOCKET", d.endpoint())
            .env("RUST_LOG", "warn");
        if mode == Mode::Uid {
            c.uid(w.uid).gid(w.uid);
        }
        c
    };

    step(
        5,
        "Start partner.org's user-service (admitting only mycompany.com's payment-service) and an impostor of partner.org",
    );
    let user_port = free_port()?;
    let user_log = dir.join("user-service.log");
    let mut cmd = as_workload(
        &partner,
        &user,
        &[
            "--listen",
            &format!("127.0.0.1:{user_port}"),
            "--allow",
            PAYMENT,
            "--show-svid",
        ],
    );
    cmd.env("RUST_LOG", "info");
    spawn(procs, "user-service", &mut cmd, &user_log)?;
    let impostor_port = free_port()?;
    let impostor_log = dir.join("impostor.log");
    spawn(
        procs,
        "impostor",
        &mut as_workload(
            &partner,
            &impostor,
            &[
                "--listen",
                &format!("127.0.0.1:{impostor_port}"),
                "--allow",
                PAYMENT,
            ],
        ),
        &impostor_log,
    )?;
    for (what, log) in [("user-service", &user_log), ("the impostor", &impostor_log)] {
        wait_until(
            &format!("{what} to get its SVID and listen"),
            Duration::from_secs(60),
            || std::fs::read_to_string(log).is_ok_and(|l| l.contains("listening on")),
        )?;
    }
    let url = format!("https://127.0.0.1:{user_port}/users/42");

    step(
        6,
        "payment-service (mycompany.com) calls user-service (partner.org) over SPIFFE mTLS",
    );
    let out = run(&mut as_workload(
        &ours,
        &payment,
        &["--url", &url, "--expect", PARTNER_USER, "--show-bundles"],
    ))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if !out.status.success()
        || !stdout.contains(&format!("\"caller\":\"{PAYMENT}\""))
        || !stdout.contains(&format!("-> {PARTNER_USER}: 200 OK"))
    {
        bail!(
            "the call across trust domains failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    println!(
        "Each side verified the other's chain against the bundle of the other's trust domain and admitted its exact ID."
    );

    step(
        7,
        "A partner.org impostor (a valid partner.org SVID, another ID) is refused by payment-service",
    );
    let out = run(&mut as_workload(
        &ours,
        &payment,
        &[
            "--url",
            &format!("https://127.0.0.1:{impostor_port}/users/42"),
            "--expect",
            PARTNER_USER,
        ],
    ))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    if out.status.success() || !stdout.contains(IMPOSTOR) {
        bail!("payment-service did not refuse partner.org's impostor");
    }

    step(
        8,
        "A mycompany.com intruder (federating with partner.org too) is refused by user-service",
    );
    let out = run(&mut as_workload(
        &ours,
        &intruder,
        &["--url", &url, "--expect", PARTNER_USER],
    ))?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if out.status.success() {
        bail!("user-service admitted the intruder");
    }
    wait_until(
        "user-service to log the refusal",
        Duration::from_secs(10),
        || std::fs::read_to_string(&user_log).is_ok_and(|l| l.contains(INTRUDER)),
    )?;
    let log = std::fs::read_to_string(&user_log)?;
    if let Some(line) = log.lines().find(|l| l.contains(INTRUDER)) {
        println!("user-service log: {}", plain(line).trim());
    }

    step(
        9,
        "partner.org's CA rotates; mycompany.com follows: calls keep working, a new handshake each",
    );
    rotation(dir, bin, &ours, procs, || {
        as_workload(
            &ours,
            &payment,
            &[
                "--url",
                &url,
                "--expect",
                PARTNER_USER,
                "--repeat",
                "1000",
                "--interval",
                "1",
                "--new-connection-per-call",
                "--show-bundles",
            ],
        )
    })
}

/// One call line of payment-service: whether it succeeded, how many partner.org CAs it trusted,
/// and which CA signed user-service's SVID.
struct Call {
    ok: bool,
    partner_cas: Option<usize>,
    ca_key_id: Option<String>,
}

fn parse_calls(log: &str) -> Vec<Call> {
    log.lines()
        .filter(|l| l.starts_with("call "))
        .map(|l| Call {
            ok: l.contains(": 200 OK "),
            partner_cas: l
                .split(&format!("{PARTNER}: "))
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|n| n.parse().ok()),
            ca_key_id: l
                .split("\"ca_key_id\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_owned),
        })
        .collect()
}

/// Step 9: payment-service calls every second (a new TLS handshake each) while partner.org
/// prepares and then activates a new CA.
fn rotation(
    dir: &Path,
    bin: &dyn Fn(&str) -> PathBuf,
    ours: &Domain,
    procs: &mut Procs,
    payment: impl Fn() -> Command,
) -> anyhow::Result<()> {
    let log_path = dir.join("payment-service-rotation.log");
    spawn(
        procs,
        "payment-service (calling)",
        &mut payment(),
        &log_path,
    )?;
    let calls = || {
        std::fs::read_to_string(&log_path)
            .map(|l| parse_calls(&l))
            .unwrap_or_default()
    };
    let refused = |calls: &[Call]| calls.iter().any(|c| !c.ok);
    wait_until(
        "payment-service's first call",
        Duration::from_secs(30),
        || !calls().is_empty(),
    )?;
    let first = calls();
    let old_ca = first
        .first()
        .and_then(|c| c.ca_key_id.clone())
        .context("user-service did not say which CA signed its SVID")?;
    println!("user-service's SVID is signed by partner.org's CA {old_ca}");
    let start = Instant::now();
    let fail_if_refused = |calls: &[Call]| -> anyhow::Result<()> {
        if refused(calls) {
            bail!(
                "a call failed during partner.org's rotation:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        Ok(())
    };

    // 1. partner.org prepares a new CA: its bundle grows, and mycompany.com's server fetches it.
    wait_until(
        "mycompany.com's server to fetch partner.org's grown bundle from its endpoint",
        ROTATION_TIMEOUT,
        || refused(&calls()) || ours.federated_cas(bin, PARTNER) >= 2,
    )?;
    fail_if_refused(&calls())?;
    println!(
        "{}",
        run_ok(&mut ours.server(bin, &["bundle", "list", "-id", "spiffe://partner.org"]))?
            .trim_end()
    );
    let server_log = std::fs::read_to_string(ours.dir.join("server.log"))?;
    if let Some(line) = server_log
        .lines()
        .rev()
        .find(|l| l.contains("federated bundle refreshed"))
    {
        println!("mycompany.com server log: {}", plain(line).trim());
    }
    // 2. mycompany.com's agent delivers it to payment-service's open stream.
    wait_until(
        "payment-service to trust partner.org's new CA (pushed by its agent)",
        ROTATION_TIMEOUT,
        || {
            let calls = calls();
            refused(&calls) || calls.iter().any(|c| c.partner_cas >= Some(2))
        },
    )?;
    fail_if_refused(&calls())?;
    if let Some(line) = std::fs::read_to_string(&log_path)?
        .lines()
        .find(|l| l.contains(&format!("{PARTNER}: 2 CAs")))
    {
        println!("payment-service: {line}");
    }
    // 3. partner.org activates the new CA; user-service's next SVID is signed by it.
    wait_until(
        "user-service to present an SVID signed by partner.org's new CA",
        ROTATION_TIMEOUT,
        || {
            let calls = calls();
            refused(&calls)
                || calls
                    .iter()
                    .any(|c| c.ca_key_id.as_deref().is_some_and(|k| k != old_ca))
        },
    )?;
    fail_if_refused(&calls())?;
    let log = std::fs::read_to_string(&log_path)?;
    let switched = log
        .lines()
        .find(|l| l.contains("\"ca_key_id\":\"") && !l.contains(&old_ca))
        .unwrap_or_default();
    println!("payment-service: {switched}");
    // A few more calls on the new CA.
    let seen = calls().len();
    wait_until("three more calls", Duration::from_secs(30), || {
        calls().len() >= seen + 3
    })?;
    let calls = calls();
    fail_if_refused(&calls)?;
    let new_ca = calls
        .last()
        .and_then(|c| c.ca_key_id.clone())
        .unwrap_or_default();
    println!(
        "partner.org's CA went from {old_ca} to {new_ca} in {:.0} s; payment-service made {} calls, a new mTLS handshake each, and none failed.",
        start.elapsed().as_secs_f64(),
        calls.len()
    );
    if new_ca == old_ca {
        bail!("user-service went back to the old CA");
    }
    Ok(())
}

/// A log line without its terminal colour codes (`ESC [ ... m`).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
