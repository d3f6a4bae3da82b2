//! The fault suite: the daemons as real processes under `kill -9`, database outages and server
//! outages. Bounded by default; `SPIFFE_SUITES_LONG=1` runs more rounds and longer outages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{
    Agent, Deployment, READY, Server, ServerOpts, long, pg, run_cmd, runtime, wait_until,
};
use nix::sys::signal::Signal;
use spiffe_workload::WorkloadApiClient;

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

// ---------------------------------------------------------------------------------------------
// kill -9 during a stream of entry writes

/// Writers create entries through the CLI while the server is SIGKILLed; after a restart every
/// write the CLI reported done is there, nothing else is, and the server works normally.
fn kill9_during_writes(datastore: Option<String>) {
    let rounds = if long() { 5 } else { 1 };
    let per_round = if long() { 150 } else { 40 };
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &tmp.path().join("server"),
        &ServerOpts {
            datastore,
            ..ServerOpts::default()
        },
    );
    let attempted = Arc::new(Mutex::new(BTreeSet::new()));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    for round in 0..rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let (stop, attempted, acked) = (stop.clone(), attempted.clone(), acked.clone());
                let socket = server.socket.clone();
                std::thread::spawn(move || {
                    let mut n = 0u32;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let id = format!("spiffe://example.org/w/{round}/{w}/{n}");
                        attempted.lock().unwrap().insert(id.clone());
                        let sel = format!("unix:uid:{n}");
                        let r = run_cmd(common::command(
                            &common::server_bin(),
                            &[
                                "entry",
                                "create",
                                "-parentID",
                                common::ALIAS,
                                "-spiffeID",
                                &id,
                                "-selector",
                                &sel,
                                "-socketPath",
                                socket.to_str().unwrap(),
                            ],
                        ));
                        if r.code == 0 {
                            assert!(r.stdout.contains(&id), "{r:?}");
                            acked.lock().unwrap().insert(id);
                        }
                    }
                })
            })
            .collect();
        let target = acked.lock().unwrap().len() + per_round;
        wait_until("writes acknowledged before the kill", READY, || {
            let n = acked.lock().unwrap().len();
            if n >= target {
                Ok(())
            } else {
                Err(format!("{n} of {target}\n{}", server.log()))
            }
        });
        // The writers are mid-stream: kill the server under them.
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.join().unwrap();
        }
        server.restart();
        let present: BTreeSet<String> = server.entry_ids().into_iter().collect();
        let acked = acked.lock().unwrap();
        let lost: Vec<_> = acked.difference(&present).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged writes lost after kill -9: {lost:?}",
            lost.len()
        );
        let attempted = attempted.lock().unwrap();
        let phantom: Vec<_> = present.difference(&attempted).collect();
        assert!(phantom.is_empty(), "entries nobody wrote: {phantom:?}");
        assert_eq!(server.entry_count(), present.len());
        eprintln!(
            "round {round}: {} acknowledged, {} attempted, {} present after restart",
            acked.len(),
            attempted.len(),
            present.len()
        );
    }
    // The restarted server works normally and stops cleanly.
    let r = server.create_entry("spiffe://example.org/after-restart", &["unix:uid:7"], &[]);
    r.ok();
    assert!(
        server
            .entry_ids()
            .contains(&"spiffe://example.org/after-restart".to_owned())
    );
    let logs = server.all_logs();
    assert!(!logs.contains("panicked"), "{logs}");
    server.stop();
}

#[test]
fn kill9_during_entry_writes_sqlite() {
    kill9_during_writes(None);
}

#[test]
fn kill9_during_entry_writes_postgres() {
    let db = pg::TestDb::create();
    kill9_during_writes(Some(db.url.clone()));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL restarted under a running server

/// A private PostgreSQL cluster in a temporary directory, on its own port.
struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl PrivatePg {
    /// The newest installed PostgreSQL's binaries.
    fn find_bin() -> Option<PathBuf> {
        let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let version = e.file_name().to_str()?.parse().ok()?;
                let bin = e.path().join("bin");
                (bin.join("initdb").exists() && bin.join("pg_ctl").exists())
                    .then_some((version, bin))
            })
            .collect();
        dirs.sort();
        dirs.pop().map(|(_, b)| b)
    }

    fn command(&self, tool: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(self.bin.join(tool));
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// initdb and start, or `Err(reason to skip)`.
    fn start() -> Result<PrivatePg, String> {
        use std::os::unix::fs::PermissionsExt;
        let bin = Self::find_bin()
            .ok_or("no PostgreSQL binaries under /usr/lib/postgresql/*/bin".to_owned())?;
        let owner = if common::is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or("running as root and there is no `postgres` user to run initdb as")?;
            Some((user.uid, user.gid))
        } else {
            None
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let pg = PrivatePg {
            dir,
            bin,
            port: common::free_port(),
            owner,
        };
        for sub in ["data", "run"] {
            std::fs::create_dir(pg.dir.path().join(sub)).unwrap();
            if let Some((uid, gid)) = owner {
                nix::unistd::chown(&pg.dir.path().join(sub), Some(uid), Some(gid)).unwrap();
            }
        }
        std::fs::set_permissions(pg.data(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mut init = pg.command("initdb");
        init.args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(pg.data());
        let r = run_cmd(init);
        if r.code != 0 {
            return Err(format!("initdb failed: {}{}", r.stdout, r.stderr));
        }
        pg.pg_ctl_start();
        Ok(pg)
    }

    fn pg_ctl_start(&self) {
        let mut cmd = self.command("pg_ctl");
        cmd.args(["-w", "-t", "60", "-D"])
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("run").join("pg.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                self.dir.path().join("run").display()
            ))
            .arg("start");
        let r = run_cmd(cmd);
        assert_eq!(r.code, 0, "pg_ctl start: {r:?}\n{}", self.log());
    }

    /// Stops the cluster; `immediate` is a crash (no shutdown checkpoint).
    fn stop(&self, mode: &str) {
        let mut cmd = self.command("pg_ctl");
        cmd.args(["-w", "-t", "60", "-m", mode, "-D"])
            .arg(self.data())
            .arg("stop");
        let r = run_cmd(cmd);
        assert_eq!(r.code, 0, "pg_ctl stop: {r:?}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("run").join("pg.log")).unwrap_or_default()
    }

    fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let mut cmd = self.command("pg_ctl");
        cmd.args(["-m", "immediate", "-D"])
            .arg(self.data())
            .arg("stop");
        let _ = run_cmd(cmd);
    }
}

#[test]
fn postgres_restart_under_running_server() {
    let pg = match PrivatePg::start() {
        Ok(pg) => pg,
        Err(reason) => {
            eprintln!("SKIP postgres_restart_under_running_server: {reason}");
            return;
        }
    };
    pg::exec(&pg.url("postgres"), "CREATE DATABASE spiffe".into()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &tmp.path().join("server"),
        &ServerOpts {
            datastore: Some(pg.url("spiffe")),
            ..ServerOpts::default()
        },
    );
    server
        .create_entry("spiffe://example.org/before", &["unix:uid:1"], &[])
        .ok();

    let cycles = if long() { 3 } else { 1 };
    for cycle in 0..cycles {
        // A crash of the database (immediate: no checkpoint), then a start on the same port.
        pg.stop(if cycle % 2 == 0 { "immediate" } else { "fast" });
        server.daemon.as_mut().unwrap().assert_running();
        pg.pg_ctl_start();
        let id = format!("spiffe://example.org/after/{cycle}");
        let started = Instant::now();
        wait_until(
            "the server writes again after PostgreSQL restarted",
            Duration::from_secs(45),
            || {
                server.daemon.as_mut().unwrap().assert_running();
                let r = server.create_entry(&id, &["unix:uid:2"], &[]);
                if r.code == 0 || r.stderr.contains("similar entry already exists") {
                    Ok(())
                } else {
                    Err(format!("{r:?}"))
                }
            },
        );
        eprintln!(
            "cycle {cycle}: writes again {:?} after PostgreSQL came back",
            started.elapsed()
        );
        let ids = server.entry_ids();
        assert!(ids.contains(&"spiffe://example.org/before".to_owned()));
        assert!(ids.contains(&id), "{ids:?}");
    }
    // The server never exited, and stops cleanly.
    server.daemon.as_mut().unwrap().assert_running();
    server.stop();
}

// ---------------------------------------------------------------------------------------------
// The server down for longer than an SVID's half-life

#[test]
fn server_outage_longer_than_svid_half_life() {
    let ttl = 12.0;
    let id = "spiffe://example.org/outage";
    let mut d = Deployment::start(&ServerOpts::default());
    d.server
        .create_entry(id, &["unix:uid:0"], &["-x509SVIDTTL", "12"])
        .ok();
    let rt = runtime();
    let client = rt
        .block_on(WorkloadApiClient::connect(&d.agent.endpoint()))
        .unwrap();
    let fetch = || rt.block_on(client.fetch_x509_context());

    // Wait for a freshly minted SVID (right after a rotation), then take the server away.
    let mut first_expiry = 0i64;
    wait_until("a fresh SVID", READY, || {
        let ctx = fetch().map_err(|e| e.to_string())?;
        let svid = ctx.svids.first().ok_or("no SVID")?;
        if svid.spiffe_id().as_str() != id {
            return Err(format!("{}", svid.spiffe_id()));
        }
        let left = svid.expires_at_unix() as f64 - now_secs();
        if left >= ttl - 1.5 {
            first_expiry = svid.expires_at_unix();
            Ok(())
        } else {
            Err(format!("{left:.1} s left"))
        }
    });
    d.server.kill9();
    let down_at = Instant::now();
    let outage = Duration::from_secs_f64(ttl + if long() { 20.0 } else { 4.0 });
    let (mut served, mut empty, mut refused, mut served_after_half_life) = (0, 0, 0, 0);
    while down_at.elapsed() < outage {
        let now = now_secs();
        match fetch() {
            Ok(ctx) => {
                for svid in &ctx.svids {
                    // notAfter is inclusive at one-second resolution (RFC 5280): the
                    // SVID is valid until notAfter + 1 s.
                    assert!(
                        now < svid.expires_at_unix() as f64 + 1.0,
                        "an expired SVID was served: {} expired at {}, asked at {now:.1}",
                        svid.spiffe_id(),
                        svid.expires_at_unix()
                    );
                    assert!(
                        svid.not_before_unix() as f64 <= now + 1.0,
                        "an SVID not yet valid"
                    );
                }
                if ctx.svids.is_empty() {
                    empty += 1;
                    assert!(
                        now > first_expiry as f64 - 1.5,
                        "no SVID at {now:.1} while it is valid until {first_expiry}"
                    );
                } else {
                    served += 1;
                    if down_at.elapsed().as_secs_f64() > ttl / 2.0 + 1.0 {
                        served_after_half_life += 1;
                    }
                }
            }
            Err(e) => {
                refused += 1;
                // While the SVID is still valid, the workload must get it.
                assert!(
                    now > first_expiry as f64 - 1.5,
                    "refused at {now:.1} while the SVID is valid until {first_expiry}: {e}\n{}",
                    d.agent.log()
                );
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        served_after_half_life > 0,
        "the SVID was not served past its half-life"
    );
    eprintln!(
        "outage: {served} fetches served a valid SVID; after its expiry {empty} got none and \
         {refused} were refused"
    );

    // The server returns; the agent catches up with a new SVID.
    d.server.restart();
    let back = Instant::now();
    wait_until("the agent catches up", Duration::from_secs(60), || {
        let ctx = fetch().map_err(|e| e.to_string())?;
        let svid = ctx.svids.first().ok_or("no SVID")?;
        if svid.expires_at_unix() > first_expiry && svid.expires_at_unix() as f64 > now_secs() {
            Ok(())
        } else {
            Err(format!("SVID expires at {}", svid.expires_at_unix()))
        }
    });
    eprintln!(
        "the agent caught up {:?} after the server returned",
        back.elapsed()
    );
    d.agent.daemon.as_mut().unwrap().assert_running();
}

// ---------------------------------------------------------------------------------------------
// Two servers on one PostgreSQL, one killed

/// A TCP forwarder standing for a load balancer / service address in front of two servers:
/// each connection goes to the first backend that accepts it.
struct Forwarder {
    port: u16,
    stop: Arc<AtomicBool>,
    to_backend: Arc<[AtomicUsize; 2]>,
}

impl Forwarder {
    fn start(backends: [u16; 2]) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let to_backend = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
        let (s, counts) = (stop.clone(), to_backend.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                client.set_nonblocking(false).unwrap();
                let backend = backends
                    .iter()
                    .enumerate()
                    .find_map(|(i, p)| TcpStream::connect(("127.0.0.1", *p)).ok().map(|b| (i, b)));
                let Some((i, backend)) = backend else {
                    continue;
                };
                counts[i].fetch_add(1, Ordering::SeqCst);
                let (c2, b2) = (client.try_clone().unwrap(), backend.try_clone().unwrap());
                std::thread::spawn(move || pipe(client, backend));
                std::thread::spawn(move || pipe(b2, c2));
            }
        });
        Forwarder {
            port,
            stop,
            to_backend,
        }
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn ids_of(ctx: &spiffe_workload::X509Context) -> Vec<String> {
    let mut v: Vec<String> = ctx
        .svids
        .iter()
        .map(|s| s.spiffe_id().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn ha_agent_fails_over_within_5s() {
    let db = pg::TestDb::create();
    let tmp = tempfile::tempdir().unwrap();
    let opts = ServerOpts {
        datastore: Some(db.url.clone()),
        ..ServerOpts::default()
    };
    let mut a = Server::start(&tmp.path().join("a"), &opts);
    let b = Server::start(&tmp.path().join("b"), &opts);
    // Each server publishes its root into the shared bundle.
    let mut bundle = String::new();
    wait_until("both roots in the shared bundle", READY, || {
        bundle = a.bundle_pem();
        let n = bundle.matches("BEGIN CERTIFICATE").count();
        if n >= 2 { Ok(()) } else { Err(bundle.clone()) }
    });
    let lb = Forwarder::start([a.port, b.port]);
    let token = a.token();
    let agent = Agent::start(
        &tmp.path().join("agent"),
        "127.0.0.1",
        lb.port,
        &bundle,
        &token,
    );
    let first = "spiffe://example.org/ha/first";
    a.create_entry(first, &["unix:uid:0"], &[]).ok();
    let rt = runtime();
    let client = rt
        .block_on(WorkloadApiClient::connect(&agent.endpoint()))
        .unwrap();
    wait_until("the workload's first SVID", READY, || {
        let ctx = rt
            .block_on(client.fetch_x509_context())
            .map_err(|e| e.to_string())?;
        if ids_of(&ctx) == [first] {
            Ok(())
        } else {
            Err(format!("{:?}", ids_of(&ctx)))
        }
    });
    assert!(lb.to_backend[0].load(Ordering::SeqCst) > 0);
    assert_eq!(lb.to_backend[1].load(Ordering::SeqCst), 0);

    // Server A dies. An entry created on B must reach the workload, through B, within 5 s.
    a.kill9();
    let killed = Instant::now();
    let second = "spiffe://example.org/ha/second";
    b.create_entry(second, &["unix:uid:0"], &[]).ok();
    let mut seen = Vec::new();
    while killed.elapsed() < Duration::from_secs(5) {
        if let Ok(ctx) = rt.block_on(client.fetch_x509_context()) {
            seen = ids_of(&ctx);
            assert!(
                seen.contains(&first.to_owned()),
                "the workload lost its identity: {seen:?}"
            );
            if seen.contains(&second.to_owned()) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = killed.elapsed();
    assert!(
        seen.contains(&second.to_owned()),
        "no failover within 5 s: workload has {seen:?}\nagent log:\n{}",
        agent.log()
    );
    assert!(lb.to_backend[1].load(Ordering::SeqCst) > 0);
    eprintln!("failover: an entry created on B reached the workload {took:?} after A was killed");
}

// ---------------------------------------------------------------------------------------------
// Agent restarted

#[test]
fn agent_restart_restores_identities_without_a_join_token() {
    let mut d = Deployment::start(&ServerOpts::default());
    let id = "spiffe://example.org/restart/payment";
    d.server.create_entry(id, &["unix:uid:0"], &[]).ok();
    let rt = runtime();
    let fetch_ids = |endpoint: &str| -> Result<Vec<String>, String> {
        rt.block_on(async {
            let c = WorkloadApiClient::connect(endpoint)
                .await
                .map_err(|e| e.to_string())?;
            let ctx = c.fetch_x509_context().await.map_err(|e| e.to_string())?;
            Ok(ids_of(&ctx))
        })
    };
    let endpoint = d.agent.endpoint();
    let expect = |what: &str, agent: &Agent| {
        wait_until(what, READY, || {
            let ids = fetch_ids(&endpoint)?;
            if ids == [id] {
                Ok(())
            } else {
                Err(format!("{ids:?}\n{}", agent.log()))
            }
        });
    };
    expect("the workload's SVID", &d.agent);
    let agents_before = d.server.cli(&["agent", "count"]).ok().to_owned();

    let rounds = if long() { 4 } else { 1 };
    for round in 0..rounds {
        // A hard kill, then a graceful stop: both come back without a token.
        let signal = if round % 2 == 0 {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        d.agent.stop_with(signal);
        assert!(fetch_ids(&endpoint).is_err(), "nothing serves while down");
        let restarted = Instant::now();
        d.agent.run(None);
        expect("the workload's SVID after the restart", &d.agent);
        eprintln!(
            "round {round} ({signal}): identity back {:?} after the restart",
            restarted.elapsed()
        );
    }
    assert!(
        d.agent.log().contains("restored from the data directory"),
        "{}",
        d.agent.log()
    );
    // No new attestation happened: still one agent, with the same ID.
    assert_eq!(d.server.cli(&["agent", "count"]).ok(), agents_before);
}
