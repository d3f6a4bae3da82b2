//! `spiffe-bench spire`: SPIRE v1.13.3 and this project side by side, same machine, same run.
//!
//! Both systems run as real processes on loopback with equivalent settings: SQLite, the same
//! trust domain, P-256 keys, each agent with its own defaults (join token, `unix` workload
//! attestor). SPIRE's server runs with `ratelimit { signing = false }` so that the signing row
//! measures signing rather than SPIRE's 500-per-second-per-IP limiter (this project has no
//! signing limiter); everything else is SPIRE's default. The same client (this driver, raw
//! gRPC) measures both sides.
//!
//! The peers come from `scripts/peers` (`target/peers/bin`, or `$SPIFFE_PEERS_BIN`); our
//! daemons are the `spiffe-server` and `spiffe-agent` binaries next to this one, so build them
//! in the same profile first:
//!
//! ```text
//! scripts/peers
//! cargo build --release -p spiffe-server-bin -p spiffe-agent-bin -p spiffe-benches --bin spiffe-bench
//! target/release/spiffe-bench spire --markdown target/spire-compare.md
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use spiffe_benches::harness::{TD, percentile, rss_kib};
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1::GetBundleRequest;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::server::svid::v1 as svid_api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_testkit::spire;
use tonic::transport::Channel;

use super::raw::{first_message, open_stream, workload_client};
use super::{attest, done, my_uid, progress};

/// How much of each measurement to take.
pub(crate) struct Options {
    /// Samples for entry -> SVID, per agent/server pair.
    pub n: usize,
    /// Samples per FetchX509SVID first-message figure.
    pub fetch_n: usize,
    /// Cached SVIDs for the agent memory row.
    pub svids: usize,
    /// Open FetchX509SVID streams for the agent memory row.
    pub streams: usize,
    /// Entries created through each server's API for the creation-rate row.
    pub api_entries: usize,
    /// Entries stored for the server memory and start-up rows (the rest of them are written
    /// straight into each server's SQLite file while it is stopped).
    pub entries: usize,
    /// Seconds of BatchNewX509SVID calls per server.
    pub sign_secs: u64,
    /// Where to write the Markdown tables (also printed).
    pub markdown: Option<PathBuf>,
}

/// Whose daemon.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Spire,
    Ours,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Spire => "SPIRE",
            Kind::Ours => "ours",
        }
    }
}

/// The four daemons.
struct Bins {
    spire_server: PathBuf,
    spire_agent: PathBuf,
    our_server: PathBuf,
    our_agent: PathBuf,
}

impl Bins {
    fn find() -> anyhow::Result<Bins> {
        let exe = std::env::current_exe()?;
        let peers = std::env::var_os("SPIFFE_PEERS_BIN").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/bin"),
            PathBuf::from,
        );
        let bins = Bins {
            spire_server: peers.join("spire-server"),
            spire_agent: peers.join("spire-agent"),
            our_server: exe.with_file_name("spiffe-server"),
            our_agent: exe.with_file_name("spiffe-agent"),
        };
        for (path, how) in [
            (&bins.spire_server, "run scripts/peers"),
            (&bins.spire_agent, "run scripts/peers"),
            (
                &bins.our_server,
                "cargo build -p spiffe-server-bin in this profile",
            ),
            (
                &bins.our_agent,
                "cargo build -p spiffe-agent-bin in this profile",
            ),
        ] {
            if !path.exists() {
                bail!("{} not found: {how}", path.display());
            }
        }
        Ok(bins)
    }

    fn server(&self, kind: Kind) -> &Path {
        match kind {
            Kind::Spire => &self.spire_server,
            Kind::Ours => &self.our_server,
        }
    }

    fn agent(&self, kind: Kind) -> &Path {
        match kind {
            Kind::Spire => &self.spire_agent,
            Kind::Ours => &self.our_agent,
        }
    }
}

/// A daemon process, its output in a log file.
struct Proc {
    child: tokio::process::Child,
    name: String,
    log: PathBuf,
}

impl Proc {
    fn spawn(bin: &Path, args: &[String], log: &Path, name: &str) -> anyhow::Result<Proc> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        let child = tokio::process::Command::new(bin)
            .args(args)
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Proc {
            child,
            name: name.to_owned(),
            log: log.to_owned(),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    fn rss_mib(&self) -> f64 {
        rss_kib(self.pid()).unwrap_or(0) as f64 / 1024.0
    }

    /// Fails with the end of the log when the process has exited.
    fn check(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            bail!("{} exited ({status}):\n{tail}", self.name);
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after 15 s.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// User + system CPU time of a process, in seconds (0 when it cannot be read).
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces): state is field 3, utime 14,
    // stime 15; clock ticks are 1/100 s on Linux.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn spiffe_id(path: &str) -> pb::Spiffeid {
    pb::Spiffeid {
        trust_domain: TD.into(),
        path: path.into(),
    }
}

/// A server of either kind on its own directory.
struct Server {
    kind: Kind,
    dir: PathBuf,
    socket: PathBuf,
    port: u16,
    bin: PathBuf,
    args: Vec<String>,
    proc: Option<Proc>,
    starts: usize,
}

impl Server {
    /// Writes the config and starts the server; returns it and the time until its admin API
    /// answered.
    async fn start(kind: Kind, bins: &Bins, dir: &Path) -> anyhow::Result<(Server, Duration)> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let data = dir.join("data");
        let (socket, config) = match kind {
            Kind::Spire => {
                let socket = dir.join("private/api.sock");
                let config = dir.join("server.conf");
                let conf = spire::ServerConf {
                    port,
                    socket: &socket,
                    trust_domain: TD,
                    data_dir: &data,
                    log_level: None,
                    key_manager: spire::KeyManager::Disk,
                    signing_rate_limit: false,
                };
                std::fs::write(&config, conf.render())?;
                (socket, config)
            }
            Kind::Ours => {
                let socket = dir.join("admin/api.sock");
                let config = dir.join("server.toml");
                std::fs::write(
                    &config,
                    format!(
                        "[server]\ntrust_domain = \"{TD}\"\ndata_dir = \"{data}\"\n\
                         bind_address = \"127.0.0.1\"\nbind_port = {port}\n\
                         socket_path = \"{socket}\"\n",
                        data = data.display(),
                        socket = socket.display(),
                    ),
                )?;
                (socket, config)
            }
        };
        let mut server = Server {
            kind,
            dir: dir.to_owned(),
            socket,
            port,
            bin: bins.server(kind).to_owned(),
            args: vec!["run".into(), "-config".into(), config.display().to_string()],
            proc: None,
            starts: 0,
        };
        let took = server.launch(0).await?;
        Ok((server, took))
    }

    /// Starts the process and waits until the admin API counts `entries` entries.
    async fn launch(&mut self, entries: i32) -> anyhow::Result<Duration> {
        self.starts += 1;
        let log = self.dir.join(format!("server.{}.log", self.starts));
        let name = format!("{} server", self.kind.name());
        let started = Instant::now();
        let mut proc = Proc::spawn(&self.bin, &self.args, &log, &name)?;
        let deadline = started + Duration::from_secs(300);
        loop {
            proc.check()?;
            if self.socket.exists() {
                let mut client = EntryClient::new(self.admin()?);
                let count = tokio::time::timeout(
                    Duration::from_secs(2),
                    client.count_entries(entry_api::CountEntriesRequest::default()),
                )
                .await;
                if let Ok(Ok(count)) = count
                    && count.into_inner().count == entries
                {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("{name} not ready after 300 s; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = started.elapsed();
        self.proc = Some(proc);
        Ok(took)
    }

    async fn stop(&mut self) {
        if let Some(p) = self.proc.take() {
            p.stop().await;
        }
    }

    fn rss_mib(&self) -> f64 {
        self.proc.as_ref().map_or(0.0, Proc::rss_mib)
    }

    /// The server's SQLite file (both keep it at `<data_dir>/datastore.sqlite3` here).
    fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}",
            self.dir.join("data/datastore.sqlite3").display()
        )
    }

    /// CPU time used so far (user + system), in seconds.
    fn cpu_secs(&self) -> f64 {
        self.proc.as_ref().map_or(0.0, |p| cpu_secs(p.pid()))
    }

    fn admin(&self) -> anyhow::Result<Channel> {
        Ok(spiffe_server::client::admin_channel(&self.socket)?)
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn bundle(&self) -> anyhow::Result<spiffe_core::Bundle> {
        let pb = BundleClient::new(self.admin()?)
            .get_bundle(GetBundleRequest::default())
            .await?
            .into_inner();
        Ok(spiffe_proto::convert::bundle_from_pb(&pb)?)
    }

    /// A join token; the agent that uses it is `spiffe://<td>/spire/agent/join_token/<token>`.
    async fn token(&self) -> anyhow::Result<(String, pb::Spiffeid)> {
        let token = AgentClient::new(self.admin()?)
            .create_join_token(agent_api::CreateJoinTokenRequest {
                ttl: 600,
                ..Default::default()
            })
            .await?
            .into_inner()
            .value;
        let id = spiffe_id(&format!("/spire/agent/join_token/{token}"));
        Ok((token, id))
    }

    /// Creates one entry per path under `parent` with `selector` (`type:value`) in one call;
    /// returns their IDs.
    async fn create(
        &self,
        client: &mut EntryClient<Channel>,
        parent: &pb::Spiffeid,
        paths: &[String],
        selector: &str,
    ) -> anyhow::Result<Vec<String>> {
        let (kind, value) = selector.split_once(':').context("selector")?;
        let entries = paths
            .iter()
            .map(|p| pb::Entry {
                spiffe_id: Some(spiffe_id(p)),
                parent_id: Some(parent.clone()),
                selectors: vec![pb::Selector {
                    r#type: kind.into(),
                    value: value.into(),
                }],
                ..Default::default()
            })
            .collect();
        let r = client
            .batch_create_entry(entry_api::BatchCreateEntryRequest {
                entries,
                output_mask: None,
            })
            .await?
            .into_inner();
        let mut ids = Vec::with_capacity(r.results.len());
        for res in r.results {
            let status = res.status.unwrap_or_default();
            if status.code != 0 {
                bail!("entry create refused: {}", status.message);
            }
            ids.push(res.entry.map(|e| e.id).unwrap_or_default());
        }
        Ok(ids)
    }

    async fn delete(
        &self,
        client: &mut EntryClient<Channel>,
        ids: &[String],
    ) -> anyhow::Result<()> {
        for chunk in ids.chunks(50) {
            client
                .batch_delete_entry(entry_api::BatchDeleteEntryRequest {
                    ids: chunk.to_vec(),
                })
                .await?;
        }
        Ok(())
    }
}

/// An agent of either kind attested to a server of either kind.
struct Agent {
    label: String,
    socket: PathBuf,
    proc: Proc,
    id: pb::Spiffeid,
    /// RSS once healthy and holding its one workload SVID.
    idle_mib: f64,
}

impl Agent {
    async fn start(
        kind: Kind,
        bins: &Bins,
        dir: &Path,
        server: &Server,
        label: &str,
    ) -> anyhow::Result<Agent> {
        std::fs::create_dir_all(dir)?;
        let (token, id) = server.token().await?;
        let bootstrap = dir.join("bootstrap.pem");
        std::fs::write(&bootstrap, server.bundle().await?.x509().to_pem())?;
        let socket = dir.join("public/api.sock");
        let data = dir.join("data");
        let args: Vec<String> = match kind {
            Kind::Spire => {
                let config = dir.join("agent.conf");
                let conf = spire::AgentConf {
                    server_port: server.port,
                    socket: &socket,
                    trust_domain: TD,
                    data_dir: &data,
                    trust_bundle: &bootstrap,
                    log_level: None,
                    key_manager: spire::KeyManager::Disk,
                };
                std::fs::write(&config, conf.render())?;
                vec![
                    "run".into(),
                    "-config".into(),
                    config.display().to_string(),
                    "-joinToken".into(),
                    token,
                ]
            }
            Kind::Ours => [
                "run",
                "-trustDomain",
                TD,
                "-serverAddress",
                "127.0.0.1",
                "-serverPort",
                &server.port.to_string(),
                "-joinToken",
                &token,
                "-trustBundle",
                &bootstrap.display().to_string(),
                "-dataDir",
                &data.display().to_string(),
                "-socketPath",
                &socket.display().to_string(),
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        // The workload (this driver) has an identity before the agent starts.
        let mut admin = EntryClient::new(server.admin()?);
        server
            .create(
                &mut admin,
                &id,
                &[format!("/bench/{}/base", tag(label))],
                &format!("unix:uid:{}", my_uid()),
            )
            .await?;
        let mut proc = Proc::spawn(
            bins.agent(kind),
            &args,
            &dir.join("agent.log"),
            &format!("{label} agent"),
        )?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            proc.check()?;
            if socket.exists()
                && let Ok(mut client) = workload_client(&socket).await
                && let Ok(Ok(first)) =
                    tokio::time::timeout(Duration::from_secs(2), first_message(&mut client)).await
                && first.svids.len() == 1
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("{label} agent did not serve its first SVID within 120 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let idle_mib = proc.rss_mib();
        Ok(Agent {
            label: label.to_owned(),
            socket,
            proc,
            id,
            idle_mib,
        })
    }
}

/// `label` as a SPIFFE ID path segment (letters, digits and `-`).
fn tag(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Entry created (just before the create call) -> its SVID on an already open stream, `n`
/// entries created `gap` apart; the entries are deleted afterwards.
async fn entry_to_svid(
    server: &Server,
    agent: &Agent,
    n: usize,
    gap: Duration,
) -> anyhow::Result<Vec<f64>> {
    let mut client = workload_client(&agent.socket).await?;
    let mut stream = open_stream(&mut client).await?;
    stream.message().await?.context("no first message")?;
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let reader = {
        let seen = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.message().await {
                let now = Instant::now();
                let mut seen = seen.lock().unwrap();
                for svid in msg.svids {
                    seen.entry(svid.spiffe_id).or_insert(now);
                }
            }
        })
    };
    let mut admin = EntryClient::new(server.admin()?);
    let tag = tag(&agent.label);
    let mut created = Vec::with_capacity(n);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        if i % 20 == 0 {
            progress(&format!("entry -> SVID, {}: {i}/{n}", agent.label));
        }
        let path = format!("/e2s/{tag}/{i}");
        let t = Instant::now();
        ids.extend(
            server
                .create(
                    &mut admin,
                    &agent.id,
                    std::slice::from_ref(&path),
                    &format!("unix:uid:{}", my_uid()),
                )
                .await?,
        );
        created.push((format!("spiffe://{TD}{path}"), t));
        tokio::time::sleep(gap).await;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    let samples = loop {
        {
            let seen = seen.lock().unwrap();
            if created.iter().all(|(id, _)| seen.contains_key(id)) {
                break created
                    .iter()
                    .map(|(id, t)| ms(seen[id].saturating_duration_since(*t)))
                    .collect::<Vec<_>>();
            }
            if Instant::now() > deadline {
                let missing = created
                    .iter()
                    .filter(|(id, _)| !seen.contains_key(id))
                    .count();
                bail!(
                    "{}: {missing} of {n} SVIDs never reached the stream",
                    agent.label
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    reader.abort();
    server.delete(&mut admin, &ids).await?;
    done();
    Ok(samples)
}

/// FetchX509SVID first message for the SVID each agent holds: on one open connection, and on
/// a new connection each time. The agents take turns sample by sample, so that both see the
/// same noise of a shared machine. Returns `(open, new)` per agent.
async fn first_message_latency(
    agents: [&Agent; 2],
    n: usize,
) -> anyhow::Result<[(Vec<f64>, Vec<f64>); 2]> {
    let mut out: [(Vec<f64>, Vec<f64>); 2] = Default::default();
    let mut clients = Vec::with_capacity(2);
    for agent in agents {
        let mut client = workload_client(&agent.socket).await?;
        first_message(&mut client).await?;
        clients.push(client);
    }
    for _ in 0..n {
        for (i, agent) in agents.iter().enumerate() {
            let t = Instant::now();
            let msg = first_message(&mut clients[i]).await?;
            out[i].0.push(ms(t.elapsed()));
            if msg.svids.is_empty() {
                bail!("{}: no SVID in the first message", agent.label);
            }
        }
    }
    for _ in 0..n {
        for (i, agent) in agents.iter().enumerate() {
            let t = Instant::now();
            let mut client = workload_client(&agent.socket).await?;
            first_message(&mut client).await?;
            out[i].1.push(ms(t.elapsed()));
        }
    }
    Ok(out)
}

/// Waits until the agent's first message holds `count` SVIDs.
async fn wait_for_svids(agent: &Agent, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let held = match workload_client(&agent.socket).await {
            Ok(mut c) => first_message(&mut c).await.map_or(0, |m| m.svids.len()),
            Err(_) => 0,
        };
        progress(&format!(
            "{}: agent holds {held}/{count} SVIDs",
            agent.label
        ));
        if held == count {
            done();
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{}: the agent holds {held} SVIDs, not {count}", agent.label);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Agent RSS with `svids` SVIDs for the workload, then with `streams` open streams.
async fn agent_memory(
    server: &Server,
    agent: &Agent,
    svids: usize,
    streams: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut admin = EntryClient::new(server.admin()?);
    let tag = tag(&agent.label);
    let paths: Vec<String> = (1..svids).map(|i| format!("/rss/{tag}/{i}")).collect();
    let mut ids = Vec::new();
    for chunk in paths.chunks(50) {
        ids.extend(
            server
                .create(
                    &mut admin,
                    &agent.id,
                    chunk,
                    &format!("unix:uid:{}", my_uid()),
                )
                .await?,
        );
    }
    wait_for_svids(agent, svids).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_svids = agent.proc.rss_mib();
    server.delete(&mut admin, &ids).await?;
    wait_for_svids(agent, 1).await?;
    let mut open = Vec::with_capacity(streams);
    let mut client = workload_client(&agent.socket).await?;
    for i in 0..streams {
        // 100 streams per connection: under every server's per-connection stream limit.
        if i % 100 == 0 {
            client = workload_client(&agent.socket).await?;
            progress(&format!("{}: {i}/{streams} streams open", agent.label));
        }
        let mut s = open_stream(&mut client).await?;
        s.message().await?.context("stream ended")?;
        open.push(s);
    }
    done();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let with_streams = agent.proc.rss_mib();
    drop(open);
    Ok((with_svids, with_streams))
}

/// X509-SVIDs signed per second through `BatchNewX509SVID`, 50 per call, `callers` callers, as
/// a freshly attested node.
async fn signing_rate(server: &Server, secs: u64, callers: usize) -> anyhow::Result<f64> {
    let bundle = server.bundle().await?;
    let bundles = spiffe_core::BundleSet::from_iter([bundle]);
    let (token, node) = server.token().await?;
    let svid = attest(&server.address(), &bundles, &token).await?;
    let mut admin = EntryClient::new(server.admin()?);
    let paths: Vec<String> = (0..50).map(|i| format!("/sign/{i}")).collect();
    let entry_ids = server
        .create(&mut admin, &node, &paths, "unix:uid:4242")
        .await?;
    let tls = Arc::new(spiffe_agent::channel::agent_tls_config(
        &spiffe_core::TrustDomain::parse(TD)?,
        Arc::new(bundles),
        Some(Arc::new(spiffe_core::SvidCell::new(svid))),
    )?);
    let (_key, csr) = spiffe_agent::storage::new_key_and_csr().map_err(|e| anyhow::anyhow!(e))?;
    let request = svid_api::BatchNewX509svidRequest {
        params: entry_ids
            .iter()
            .map(|id| svid_api::NewX509svidParams {
                entry_id: id.clone(),
                csr: csr.clone(),
            })
            .collect(),
    };
    let signed = |r: svid_api::BatchNewX509svidResponse| {
        r.results
            .iter()
            .filter(|r| r.status.as_ref().is_some_and(|s| s.code == 0) && r.svid.is_some())
            .count()
    };
    // The server learns of the new entries (SPIRE: on its next cache refresh).
    let mut client = SvidClient::new(spiffe_agent::channel::tls_channel(
        &server.address(),
        Arc::clone(&tls),
    )?);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = client
            .batch_new_x509svid(request.clone())
            .await?
            .into_inner();
        if signed(r) == 50 {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{} server: the node's entries are not authorized after 60 s",
                server.kind.name()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stop = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let mut client = SvidClient::new(spiffe_agent::channel::tls_channel(
            &server.address(),
            Arc::clone(&tls),
        )?);
        let request = request.clone();
        tasks.push(tokio::spawn(async move {
            let mut total = 0usize;
            while Instant::now() < stop {
                let r = client
                    .batch_new_x509svid(request.clone())
                    .await?
                    .into_inner();
                total += signed(r);
            }
            Ok::<_, anyhow::Error>(total)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// Stores `n` entries through `BatchCreateEntry` (50 per call, one caller); entries per second.
async fn load_entries(server: &Server, n: usize) -> anyhow::Result<f64> {
    let mut admin = EntryClient::new(server.admin()?);
    let parent = spiffe_id("/spire/agent/k8s_psat/bench/node-0");
    let started = Instant::now();
    for start in (0..n).step_by(50) {
        if start % 5000 == 0 {
            progress(&format!(
                "{} server: {start}/{n} entries stored",
                server.kind.name()
            ));
        }
        let end = (start + 50).min(n);
        let paths: Vec<String> = (start..end)
            .map(|i| format!("/ns/ns{}/sa/w{i}", i % 100))
            .collect();
        server
            .create(&mut admin, &parent, &paths, "k8s:ns:bench")
            .await?;
    }
    done();
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Writes entries number `range` straight into a stopped SPIRE server's SQLite file, in the
/// shape SPIRE's own datastore gives them (one `registered_entries` row and one `selectors`
/// row each).
async fn bulk_spire(url: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    use sqlx::Row as _;
    let pool = sqlx::sqlite::SqlitePool::connect(url).await?;
    let base: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM registered_entries")
        .fetch_one(&pool)
        .await?
        .try_get("m")?;
    let now = "2026-01-01 00:00:00.000000000+00:00";
    let parent = format!("spiffe://{TD}/spire/agent/join_token/bulk");
    let (first, n) = (range.start, range.end);
    for start in range.step_by(5000) {
        progress(&format!("SPIRE datastore: writing entries {start}/{n}"));
        let end = (start + 5000).min(n);
        let mut entries = String::from(
            "INSERT INTO registered_entries (id, created_at, updated_at, entry_id, spiffe_id, \
             parent_id, ttl, admin, downstream, expiry, revision_number, store_svid, hint, \
             jwt_svid_ttl) VALUES ",
        );
        let mut selectors = String::from(
            "INSERT INTO selectors (created_at, updated_at, registered_entry_id, type, value) VALUES ",
        );
        for i in start..end {
            let id = base + 1 + (i - first) as i64;
            let sep = if i > start { "," } else { "" };
            let _ = write!(
                entries,
                "{sep}({id}, '{now}', '{now}', '00000000-0000-4000-8000-{i:012}', \
                 'spiffe://{TD}/ns/ns{}/sa/w{i}', '{parent}', 0, 0, 0, 0, 0, 0, '', 0)",
                i % 100
            );
            let _ = write!(
                selectors,
                "{sep}('{now}', '{now}', {id}, 'k8s', 'pod-uid:{i}')"
            );
        }
        let mut tx = pool.begin().await?;
        sqlx::query(sqlx::AssertSqlSafe(entries))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(selectors))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    pool.close().await;
    done();
    Ok(())
}

/// Entries per second through the server's own CLI, one `entry create` per process.
async fn cli_create_rate(server: &Server, n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    for i in 0..n {
        let out = tokio::process::Command::new(&server.bin)
            .args([
                "entry",
                "create",
                "-socketPath",
                &server.socket.display().to_string(),
                "-parentID",
                &format!("spiffe://{TD}/spire/agent/k8s_psat/bench/node-1"),
                "-spiffeID",
                &format!("spiffe://{TD}/cli/{i}"),
                "-selector",
                "k8s:ns:cli",
            ])
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "{} entry create failed: {}",
                server.kind.name(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// One row of the comparison: a figure for each side.
struct Line {
    metric: String,
    spire: f64,
    ours: f64,
    unit: &'static str,
    lower_is_better: bool,
    /// The goal as a ratio in our favour (`100.0` = 100x better), if the issue sets one.
    goal: Option<f64>,
}

impl Line {
    /// How many times better ours is (above 1) or worse (below 1).
    fn ratio(&self) -> f64 {
        if self.lower_is_better {
            self.spire / self.ours
        } else {
            self.ours / self.spire
        }
    }
}

fn p(sorted: &[f64], q: f64) -> f64 {
    percentile(sorted, q)
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

fn fmt(v: f64, unit: &str) -> String {
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else if v >= 1.0 {
        2
    } else {
        3
    };
    format!("{v:.digits$} {unit}")
}

/// Runs every measurement and prints (and writes) the tables.
pub(crate) async fn run(opts: &Options) -> anyhow::Result<()> {
    let bins = Bins::find()?;
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    let mut lines: Vec<Line> = Vec::new();
    let mut pairs: Vec<(String, Vec<f64>)> = Vec::new();

    progress("starting both servers");
    let (mut spire, spire_start) = Server::start(Kind::Spire, &bins, &root.join("spire")).await?;
    let (mut ours, our_start) = Server::start(Kind::Ours, &bins, &root.join("ours")).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    lines.push(Line {
        metric: "server start-up, empty datastore (until the admin API answers)".into(),
        spire: ms(spire_start),
        ours: ms(our_start),
        unit: "ms",
        lower_is_better: true,
        goal: None,
    });
    lines.push(Line {
        metric: "server RSS, idle".into(),
        spire: spire.rss_mib(),
        ours: ours.rss_mib(),
        unit: "MiB",
        lower_is_better: true,
        goal: Some(2.0),
    });

    // Four agents: each kind on each kind of server (the mixed pairs show whose side delays).
    progress("starting four agents");
    let ss = Agent::start(
        Kind::Spire,
        &bins,
        &root.join("a-ss"),
        &spire,
        "SPIRE agent + SPIRE server",
    )
    .await?;
    let oo = Agent::start(
        Kind::Ours,
        &bins,
        &root.join("a-oo"),
        &ours,
        "our agent + our server",
    )
    .await?;
    let so = Agent::start(
        Kind::Spire,
        &bins,
        &root.join("a-so"),
        &ours,
        "SPIRE agent + our server",
    )
    .await?;
    let os = Agent::start(
        Kind::Ours,
        &bins,
        &root.join("a-os"),
        &spire,
        "our agent + SPIRE server",
    )
    .await?;
    done();

    let gap = Duration::from_millis(100);
    for (server, agent) in [(&spire, &ss), (&ours, &oo), (&ours, &so), (&spire, &os)] {
        let samples = sorted(entry_to_svid(server, agent, opts.n, gap).await?);
        println!(
            "  entry -> SVID, {:<28} p50 {:>10} p99 {:>10}",
            agent.label,
            fmt(p(&samples, 50.0), "ms"),
            fmt(p(&samples, 99.0), "ms")
        );
        pairs.push((agent.label.clone(), samples));
    }
    for q in [50.0, 99.0] {
        lines.push(Line {
            metric: format!("entry created → SVID on an open stream, p{q}"),
            spire: p(&pairs[0].1, q),
            ours: p(&pairs[1].1, q),
            unit: "ms",
            lower_is_better: true,
            goal: (q == 50.0).then_some(100.0),
        });
    }

    // The mixed agents are done; the two homogeneous ones stay for the agent rows.
    for a in [so, os] {
        a.proc.stop().await;
    }

    progress("FetchX509SVID first message");
    let [(s_open, s_new), (o_open, o_new)] =
        first_message_latency([&ss, &oo], opts.fetch_n).await?;
    done();
    let (s_open, s_new, o_open, o_new) =
        (sorted(s_open), sorted(s_new), sorted(o_open), sorted(o_new));
    for q in [50.0, 99.0] {
        lines.push(Line {
            metric: format!("FetchX509SVID first message, cached SVID, open connection, p{q}"),
            spire: p(&s_open, q),
            ours: p(&o_open, q),
            unit: "ms",
            lower_is_better: true,
            goal: Some(2.0),
        });
    }
    for q in [50.0, 99.0] {
        lines.push(Line {
            metric: format!("FetchX509SVID first message, new connection, p{q}"),
            spire: p(&s_new, q),
            ours: p(&o_new, q),
            unit: "ms",
            lower_is_better: true,
            goal: Some(2.0),
        });
    }

    lines.push(Line {
        metric: "agent RSS, idle (one SVID)".into(),
        spire: ss.idle_mib,
        ours: oo.idle_mib,
        unit: "MiB",
        lower_is_better: true,
        goal: Some(2.0),
    });
    let (s_svids, s_streams) = agent_memory(&spire, &ss, opts.svids, opts.streams).await?;
    let (o_svids, o_streams) = agent_memory(&ours, &oo, opts.svids, opts.streams).await?;
    lines.push(Line {
        metric: format!("agent RSS, {} cached SVIDs", opts.svids),
        spire: s_svids,
        ours: o_svids,
        unit: "MiB",
        lower_is_better: true,
        goal: Some(2.0),
    });
    lines.push(Line {
        metric: format!("agent RSS, {} open FetchX509SVID streams", opts.streams),
        spire: s_streams,
        ours: o_streams,
        unit: "MiB",
        lower_is_better: true,
        goal: Some(2.0),
    });
    ss.proc.stop().await;
    oo.proc.stop().await;

    progress("BatchNewX509SVID");
    let s_sign = signing_rate(&spire, opts.sign_secs, 4).await?;
    let o_sign = signing_rate(&ours, opts.sign_secs, 4).await?;
    done();
    lines.push(Line {
        metric: "X509-SVIDs signed through BatchNewX509SVID (50 per call, 4 callers)".into(),
        spire: s_sign,
        ours: o_sign,
        unit: "/s",
        lower_is_better: false,
        goal: Some(2.0),
    });

    let cli_n = 20;
    let s_cli = cli_create_rate(&spire, cli_n).await?;
    let o_cli = cli_create_rate(&ours, cli_n).await?;
    lines.push(Line {
        metric: "entries created through the CLI (`entry create`, one process each)".into(),
        spire: s_cli,
        ours: o_cli,
        unit: "/s",
        lower_is_better: false,
        goal: None,
    });
    let s_rate = load_entries(&spire, opts.api_entries).await?;
    let o_rate = load_entries(&ours, opts.api_entries).await?;
    lines.push(Line {
        metric: format!(
            "entries created through BatchCreateEntry (50 per call, one caller, {} entries)",
            opts.api_entries
        ),
        spire: s_rate,
        ours: o_rate,
        unit: "/s",
        lower_is_better: false,
        goal: None,
    });
    // The rest up to `entries` goes straight into each SQLite file while the server is stopped
    // (SPIRE's API slows down as its table grows; see BENCHMARKS.md).
    let mut counts = Vec::new();
    for server in [&spire, &ours] {
        let count = EntryClient::new(server.admin()?)
            .count_entries(entry_api::CountEntriesRequest::default())
            .await?
            .into_inner()
            .count;
        counts.push(usize::try_from(count)?);
    }
    spire.stop().await;
    ours.stop().await;
    let spire_extra = opts.entries.saturating_sub(counts[0]);
    let our_extra = opts.entries.saturating_sub(counts[1]);
    bulk_spire(
        &spire.sqlite_url(),
        opts.api_entries..opts.api_entries + spire_extra,
    )
    .await?;
    super::bulk_load(
        &ours.sqlite_url(),
        opts.api_entries..opts.api_entries + our_extra,
    )
    .await?;
    done();
    let (s_total, o_total) = (counts[0] + spire_extra, counts[1] + our_extra);
    progress("restarting both servers");
    let s_restart = spire.launch(i32::try_from(s_total)?).await?;
    let o_restart = ours.launch(i32::try_from(o_total)?).await?;
    done();
    let k = opts.entries / 1000;
    lines.push(Line {
        metric: format!("server start-up, {k}k entries (until the admin API counts them)"),
        spire: ms(s_restart),
        ours: ms(o_restart),
        unit: "ms",
        lower_is_better: true,
        goal: None,
    });
    // Idle: 10 s after start-up, then 10 s of CPU.
    tokio::time::sleep(Duration::from_secs(10)).await;
    lines.push(Line {
        metric: format!("server RSS, {k}k entries, 10 s after start-up"),
        spire: spire.rss_mib(),
        ours: ours.rss_mib(),
        unit: "MiB",
        lower_is_better: true,
        goal: Some(2.0),
    });
    let (s_cpu, o_cpu) = (spire.cpu_secs(), ours.cpu_secs());
    tokio::time::sleep(Duration::from_secs(10)).await;
    lines.push(Line {
        metric: format!("server CPU while idle, {k}k entries (share of one core over 10 s)"),
        spire: (spire.cpu_secs() - s_cpu) * 10.0,
        ours: (ours.cpu_secs() - o_cpu) * 10.0,
        unit: "%",
        lower_is_better: true,
        goal: None,
    });
    spire.stop().await;
    ours.stop().await;

    let markdown = render(&lines, &pairs, opts);
    println!("\n{markdown}");
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &markdown)?;
        println!("written to {}", path.display());
    }
    Ok(())
}

fn render(lines: &[Line], pairs: &[(String, Vec<f64>)], opts: &Options) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| measurement | SPIRE v1.13.3 | ours | ours vs SPIRE | goal |\n|---|---:|---:|---:|---|"
    );
    for l in lines {
        let r = l.ratio();
        let amount = matches!(l.unit, "MiB" | "%");
        let ratio = if !r.is_finite() || r == 0.0 {
            "—".to_owned()
        } else if l.lower_is_better {
            if r >= 1.0 {
                format!("{r:.1}× {}", if amount { "less" } else { "faster" })
            } else {
                format!("{:.1}× {}", 1.0 / r, if amount { "more" } else { "slower" })
            }
        } else if r >= 1.0 {
            format!("{r:.1}× more")
        } else {
            format!("{:.1}× fewer", 1.0 / r)
        };
        let goal = match l.goal {
            None => "—".to_owned(),
            Some(g) if l.unit == "MiB" => format!(
                "≤ 1/{g:.0} of SPIRE: {}",
                if r >= g { "met" } else { "missed" }
            ),
            Some(g) => format!("≥ {g:.0}×: {}", if r >= g { "met" } else { "missed" }),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {ratio} | {goal} |",
            l.metric,
            fmt(l.spire, l.unit),
            fmt(l.ours, l.unit),
        );
    }
    let _ = writeln!(
        md,
        "\nEntry created → SVID on an open FetchX509SVID stream, every agent/server pair \
         (n = {}, one entry every 100 ms):\n\n| agent + server | p50 | p99 | max |\n|---|---:|---:|---:|",
        opts.n
    );
    for (label, s) in pairs {
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} |",
            fmt(p(s, 50.0), "ms"),
            fmt(p(s, 99.0), "ms"),
            fmt(s.last().copied().unwrap_or(f64::NAN), "ms"),
        );
    }
    md
}
