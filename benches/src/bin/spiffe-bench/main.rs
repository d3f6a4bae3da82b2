//! The load driver: starts real servers and agents on this machine and measures what the
//! issues ask for, each figure beside its baseline where one exists. Prints a table and writes
//! JSON.
//!
//! ```text
//! cargo run --release -p spiffe-benches --bin spiffe-bench -- all --json target/bench.json
//! cargo run --release -p spiffe-benches --bin spiffe-bench -- entry-to-stream --n 1000
//! ```
//!
//! Subcommands: `entry-to-stream`, `fetch-latency`, `mint-rate`, `authorized-lookup`,
//! `create-rate`, `cold-start`, `ha`, `agent-rss`, `all`, and `spire` (SPIRE v1.13.3 side by
//! side; not part of `all`; see the `spire` module). `SPIFFE_BENCH_POSTGRES` names the
//! PostgreSQL admin URL (default `postgres://postgres@127.0.0.1:5432/test`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::json;
use spiffe_benches::harness::{Stack, TD, percentile, rss_kib, server_config};
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_workload::client::WorkloadApiClient;

mod raw;
mod spire;

/// One measured figure.
struct Row {
    name: String,
    value: f64,
    unit: &'static str,
    note: String,
}

struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn add(
        &mut self,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        note: impl Into<String>,
    ) {
        let row = Row {
            name: name.into(),
            value,
            unit,
            note: note.into(),
        };
        println!(
            "  {:<58} {:>12.3} {:<8} {}",
            row.name, row.value, row.unit, row.note
        );
        self.rows.push(row);
    }
}

fn progress(msg: &str) {
    eprint!("\r{msg:<70}");
    let _ = std::io::stderr().flush();
}

fn done() {
    eprint!("\r{:<70}\r", "");
}

fn my_uid() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        })
        .unwrap_or_else(|| "0".into())
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(default)
}

fn admin_pg() -> String {
    std::env::var("SPIFFE_BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh PostgreSQL database; returns its URL.
async fn pg_database() -> anyhow::Result<String> {
    use sqlx::Connection;
    let admin = admin_pg();
    let name = format!(
        "spiffe_bench_{}",
        std::process::id() as u64 * 1000 + rand_u16() as u64
    );
    let mut conn = sqlx::postgres::PgConnection::connect(&admin)
        .await
        .context("PostgreSQL")?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_owned())
        .unwrap_or(admin);
    Ok(format!("{base}/{name}"))
}

fn rand_u16() -> u16 {
    let mut b = [0u8; 2];
    let _ = aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut b);
    u16::from_be_bytes(b)
}

fn stats(report: &mut Report, name: &str, mut ms: Vec<f64>, note: &str) {
    ms.sort_by(f64::total_cmp);
    report.add(format!("{name} p50"), percentile(&ms, 50.0), "ms", note);
    report.add(
        format!("{name} p99"),
        percentile(&ms, 99.0),
        "ms",
        format!("n = {}", ms.len()),
    );
}

/// Entry created -> update on an open FetchX509SVID stream (the entry is deleted again after
/// each round, so every update carries a small state).
async fn entry_to_stream(report: &mut Report, n: usize) -> anyhow::Result<()> {
    let mut stack = Stack::server(None).await;
    stack.start_agent().await;
    let uid = my_uid();
    let mut admin = EntryClient::new(stack.admin());
    stack
        .create_entries(
            &mut admin,
            &["/bench/base".into()],
            ("unix", &format!("uid:{uid}")),
        )
        .await;
    let client = WorkloadApiClient::connect(&stack.workload_address()).await?;
    // The agent mints the first SVID asynchronously.
    let mut stream = loop {
        if let Ok(mut s) = client.stream_x509_contexts().await
            && let Some(Ok(first)) = s.next().await
            && first.svids.len() == 1
        {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        if i % 50 == 0 {
            progress(&format!("entry-to-stream: {i}/{n}"));
        }
        let path = format!("/bench/e{i}");
        let started = Instant::now();
        stack
            .create_entries(&mut admin, &[path], ("unix", &format!("uid:{uid}")))
            .await;
        loop {
            let ctx = stream.next().await.context("stream ended")??;
            if ctx.svids.len() == 2 {
                break;
            }
        }
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
        // Remove it again and wait for the withdrawal.
        let id = admin
            .list_entries(entry_api::ListEntriesRequest::default())
            .await?
            .into_inner()
            .entries
            .into_iter()
            .find(|e| {
                e.spiffe_id
                    .as_ref()
                    .is_some_and(|s| s.path == format!("/bench/e{i}"))
            })
            .map(|e| e.id)
            .context("entry not listed")?;
        admin
            .batch_delete_entry(entry_api::BatchDeleteEntryRequest { ids: vec![id] })
            .await?;
        loop {
            let ctx = stream.next().await.context("stream ended")??;
            if ctx.svids.len() == 1 {
                break;
            }
        }
    }
    done();
    stats(
        report,
        "entry created -> workload stream update",
        samples,
        "create, push, mint, stream (SPIRE: 5-7 s)",
    );
    stack.stop().await;
    Ok(())
}

/// FetchX509SVID: time to the first message for an SVID the agent holds.
async fn fetch_latency(report: &mut Report, n: usize) -> anyhow::Result<()> {
    let mut stack = Stack::server(None).await;
    stack.start_agent().await;
    let uid = my_uid();
    let mut admin = EntryClient::new(stack.admin());
    stack
        .create_entries(
            &mut admin,
            &["/bench/fetch".into()],
            ("unix", &format!("uid:{uid}")),
        )
        .await;
    let client = WorkloadApiClient::connect(&stack.workload_address()).await?;
    while client
        .fetch_x509_context()
        .await
        .map(|c| c.svids.len())
        .unwrap_or(0)
        != 1
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The agent's side alone: a raw gRPC call that does not parse the SVID it gets.
    let mut raw_client =
        raw::workload_client(&stack.dir.path().join("public").join("api.sock")).await?;
    let mut raw = Vec::with_capacity(n);
    for i in 0..n {
        if i % 100 == 0 {
            progress(&format!("fetch-latency (raw gRPC): {i}/{n}"));
        }
        let t = Instant::now();
        let first = raw::first_message(&mut raw_client).await?;
        raw.push(t.elapsed().as_secs_f64() * 1000.0);
        if first.svids.len() != 1 {
            bail!("expected one SVID");
        }
    }
    let mut reused = Vec::with_capacity(n);
    for i in 0..n {
        if i % 100 == 0 {
            progress(&format!("fetch-latency (one connection): {i}/{n}"));
        }
        let t = Instant::now();
        client.fetch_x509_context().await?;
        reused.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let mut fresh = Vec::with_capacity(n);
    for i in 0..n {
        if i % 100 == 0 {
            progress(&format!("fetch-latency (new connection): {i}/{n}"));
        }
        let t = Instant::now();
        let c = WorkloadApiClient::connect(&stack.workload_address()).await?;
        c.fetch_x509_context().await?;
        fresh.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    done();
    stats(
        report,
        "FetchX509SVID first message (agent side, raw gRPC)",
        raw,
        "attestation + full state; goal p50 < 0.3 ms",
    );
    stats(
        report,
        "FetchX509SVID first message, open connection",
        reused,
        "with spiffe-workload's client parsing the SVID",
    );
    stats(
        report,
        "FetchX509SVID first message, new connection",
        fresh,
        "connect + attestation + full state",
    );
    stack.stop().await;
    Ok(())
}

/// The server's X509-SVID minting rate against raw P-256 verify + sign, same run.
async fn mint_rate(report: &mut Report, n: usize) -> anyhow::Result<()> {
    use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
    let stack = Stack::server(None).await;
    let key = rcgen::KeyPair::generate()?;
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())?
        .serialize_request(&key)?
        .der()
        .to_vec();
    let params = spiffe_ca::X509SvidParams {
        spiffe_id: spiffe_core::SpiffeId::parse(&format!("spiffe://{TD}/bench/mint"))?,
        ttl: Duration::from_secs(3600),
        dns_names: Vec::new(),
    };
    let ca = &stack.server.state.ca;
    let t = Instant::now();
    for _ in 0..n {
        ca.mint_x509_svid_from_csr(&csr, &params)?;
    }
    let mint = n as f64 / t.elapsed().as_secs_f64();
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signing = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let msg = vec![0x5a_u8; 400];
    let sig = signing
        .sign(&rng, &msg)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let verifier = signature::UnparsedPublicKey::new(
        &signature::ECDSA_P256_SHA256_ASN1,
        signing.public_key().as_ref().to_vec(),
    );
    let t = Instant::now();
    for _ in 0..n {
        verifier
            .verify(&msg, sig.as_ref())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        signing
            .sign(&rng, &msg)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let raw = n as f64 / t.elapsed().as_secs_f64();
    report.add(
        "X509-SVID minting from CSR (one core)",
        mint,
        "/s",
        "CSR check + build + sign",
    );
    report.add(
        "raw P-256 verify + sign (one core)",
        raw,
        "/s",
        "the physical floor",
    );
    report.add("minting / raw ratio", mint / raw, "x", "goal >= 0.7");
    stack.stop().await;
    Ok(())
}

/// Authorized entries of an agent: 100,000 entries, 10,000 agents.
fn authorized_lookup(report: &mut Report) {
    use spiffe_benches::fixtures::{AGENTS, agent, build_index};
    for (name, index) in [
        ("10 entries per agent", build_index(10, false, 0)),
        (
            "9 per agent + 100 via a node alias",
            build_index(9, true, 0),
        ),
    ] {
        let agents: Vec<_> = (0..AGENTS).step_by(7).map(agent).collect();
        let rounds = 200_000;
        let t = Instant::now();
        let mut total = 0usize;
        for i in 0..rounds {
            total += index.authorized_entries(&agents[i % agents.len()], 0).len();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / rounds as f64;
        report.add(
            format!(
                "authorized entries, {} entries / {AGENTS} agents, {name}",
                index.entry_count()
            ),
            us,
            "us",
            format!("{} per answer", total / rounds),
        );
    }
}

/// Entry create throughput through the admin API.
async fn create_rate(
    report: &mut Report,
    n: usize,
    datastore: Option<String>,
    label: &str,
) -> anyhow::Result<()> {
    let mut stack = Stack::server(datastore).await;
    stack.prepare_agent().await;
    let mut admin = EntryClient::new(stack.admin());
    let t = Instant::now();
    for i in 0..n {
        stack
            .create_entries(&mut admin, &[format!("/seq/{i}")], ("unix", "uid:1"))
            .await;
    }
    let seq = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let per = n / 8;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let mut admin = EntryClient::new(stack.admin());
        let agent = stack.agent_id();
        tasks.push(tokio::spawn(async move {
            for i in 0..per {
                admin
                    .batch_create_entry(entry_api::BatchCreateEntryRequest {
                        entries: vec![spiffe_proto::spire::api::types::Entry {
                            spiffe_id: Some(spiffe_proto::spire::api::types::Spiffeid {
                                trust_domain: TD.into(),
                                path: format!("/par/{w}/{i}"),
                            }),
                            parent_id: Some(agent.clone()),
                            selectors: vec![spiffe_proto::spire::api::types::Selector {
                                r#type: "unix".into(),
                                value: "uid:1".into(),
                            }],
                            ..Default::default()
                        }],
                        output_mask: None,
                    })
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let par = (per * 8) as f64 / t.elapsed().as_secs_f64();
    report.add(
        format!("entry create, {label}, one at a time"),
        seq,
        "/s",
        "admin API, one entry per call",
    );
    report.add(
        format!("entry create, {label}, 8 concurrent callers"),
        par,
        "/s",
        "",
    );
    stack.stop().await;
    Ok(())
}

/// Server cold start with `n` entries already stored.
async fn cold_start(report: &mut Report, n: usize, postgres: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = if postgres {
        pg_database().await?
    } else {
        format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bulk.sqlite3").display()
        )
    };
    progress(&format!("cold-start: loading {n} entries"));
    bulk_load(&url, 0..n).await?;
    let mut config = server_config(dir.path(), "server", Some(url));
    config.socket_path = dir.path().join("admin.sock");
    let t = Instant::now();
    let server = spiffe_server::start(config).await?;
    let secs = t.elapsed().as_secs_f64();
    let loaded = server.state.with_index(|ix| ix.entry_count());
    let rss = rss_kib(std::process::id()).unwrap_or(0);
    done();
    if loaded != n {
        bail!("loaded {loaded} of {n} entries");
    }
    let label = if postgres { "PostgreSQL" } else { "SQLite" };
    report.add(
        format!("server cold start, {n} entries, {label}"),
        secs,
        "s",
        format!("until serving; process RSS {} MiB; goal < 15 s", rss / 1024),
    );
    server.stop().await;
    Ok(())
}

/// Writes entries number `range` straight into the tables (a bulk import; the server is not
/// running).
async fn bulk_load(url: &str, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let ds = spiffe_server::datastore::Datastore::open(url).await?;
    ds.close().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await?;
    let agent = format!("spiffe://{TD}/spire/agent/join_token/bulk");
    let n = range.end;
    for chunk_start in range.step_by(5000) {
        if chunk_start % 50_000 == 0 {
            progress(&format!("cold-start: loading entries {chunk_start}/{n}"));
        }
        let mut tx = pool.begin().await?;
        let end = (chunk_start + 5000).min(n);
        let mut sql = String::from(
            "INSERT INTO registered_entries (id, spiffe_id, parent_id, selectors, x509_svid_ttl, jwt_svid_ttl, dns_names, federates_with, admin, downstream, store_svid, disable_x509_svid_prefetch, jwt_svid_include_jti, expires_at, hint, revision_number, created_at, similarity_key) VALUES ",
        );
        for i in chunk_start..end {
            if i > chunk_start {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('bulk-{i:08}', 'spiffe://{TD}/ns/ns{}/sa/w{i}', '{agent}', '[\"k8s:pod-uid:{i}\"]', 0, 0, '[]', '[]', 0, 0, 0, 0, 0, 0, '', 0, 0, 'sim-{i}')",
                i % 100
            ));
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    pool.close().await;
    Ok(())
}

/// HA: an entry created on server A reaches a push stream on server B.
async fn ha(report: &mut Report, n: usize) -> anyhow::Result<()> {
    use spiffe_proto::spiffers::sync::v1::WatchAuthorizedRequest;
    use spiffe_proto::spiffers::sync::v1::sync_client::SyncClient;
    let url = pg_database().await?;
    let mut a = Stack::server(Some(url.clone())).await;
    let b = Stack::server(Some(url)).await;
    // Attest an agent on B with a token made on A.
    let (token, _) = a.prepare_agent().await;
    let bundles = spiffe_core::BundleSet::from_iter([spiffe_proto::convert::bundle_from_pb(
        &*b.server.state.local_bundle().context("no bundle")?,
    )?]);
    let agent_svid = attest(&b.server.agent_address.to_string(), &bundles, &token).await?;
    let tls = spiffe_agent::channel::agent_tls_config(
        &spiffe_core::TrustDomain::parse(TD)?,
        std::sync::Arc::new(bundles),
        Some(std::sync::Arc::new(spiffe_core::SvidCell::new(agent_svid))),
    )?;
    let channel = spiffe_agent::channel::tls_channel(
        &b.server.agent_address.to_string(),
        std::sync::Arc::new(tls),
    )?;
    let mut stream = SyncClient::new(channel)
        .watch_authorized(WatchAuthorizedRequest::default())
        .await?
        .into_inner();
    stream.message().await?;
    let mut admin = EntryClient::new(a.admin());
    let mut samples = Vec::new();
    for i in 0..n {
        if i % 20 == 0 {
            progress(&format!("ha: {i}/{n}"));
        }
        let t = Instant::now();
        a.create_entries(&mut admin, &[format!("/ha/{i}")], ("unix", "uid:1"))
            .await;
        loop {
            let m = stream.message().await?.context("stream ended")?;
            if !m.upserted.is_empty() {
                break;
            }
        }
        samples.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    done();
    stats(
        report,
        "HA: entry created on A -> agent stream on B",
        samples,
        "PostgreSQL NOTIFY; goal < 1 s",
    );
    b.stop().await;
    a.stop().await;
    Ok(())
}

async fn attest(
    address: &str,
    bundles: &spiffe_core::BundleSet,
    token: &str,
) -> anyhow::Result<spiffe_core::X509Svid> {
    use spiffe_proto::spire::api::server::agent::v1 as agent_api;
    use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
    let tls = spiffe_agent::channel::agent_tls_config(
        &spiffe_core::TrustDomain::parse(TD)?,
        std::sync::Arc::new(bundles.clone()),
        None,
    )?;
    let mut client = AgentClient::new(spiffe_agent::channel::tls_channel(
        address,
        std::sync::Arc::new(tls),
    )?);
    let (key, csr) = spiffe_agent::storage::new_key_and_csr().map_err(|e| anyhow::anyhow!(e))?;
    let req = agent_api::AttestAgentRequest {
        step: Some(agent_api::attest_agent_request::Step::Params(
            agent_api::attest_agent_request::Params {
                data: Some(spiffe_proto::spire::api::types::AttestationData {
                    r#type: "join_token".into(),
                    payload: token.as_bytes().to_vec(),
                }),
                params: Some(agent_api::AgentX509svidParams { csr }),
            },
        )),
    };
    let mut stream = client
        .attest_agent(futures::stream::iter([req]))
        .await?
        .into_inner();
    let msg = stream.message().await?.context("no result")?;
    let Some(agent_api::attest_agent_response::Step::Result(result)) = msg.step else {
        bail!("no result");
    };
    let svid = result.svid.context("no SVID")?;
    spiffe_agent::storage::svid_from_chain(svid.cert_chain, key).map_err(|e| anyhow::anyhow!(e))
}

/// Agent RSS with `svids` cached SVIDs, then with `streams` open FetchX509SVID streams.
async fn agent_rss(report: &mut Report, svids: usize, streams: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let agent_bin = exe.with_file_name("spiffe-agent");
    if !agent_bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p spiffe-agent-bin`",
            agent_bin.display()
        );
    }
    let mut stack = Stack::server(None).await;
    let (token, bootstrap) = stack.prepare_agent().await;
    let socket = stack.dir.path().join("public").join("api.sock");
    let mut child = tokio::process::Command::new(&agent_bin)
        .args([
            "run",
            "-trustDomain",
            TD,
            "-serverAddress",
            "127.0.0.1",
            "-serverPort",
            &stack.server.agent_address.port().to_string(),
            "-joinToken",
            &token,
            "-trustBundle",
            &bootstrap.display().to_string(),
            "-dataDir",
            &stack.dir.path().join("agent").display().to_string(),
            "-socketPath",
            &socket.display().to_string(),
            "-logLevel",
            "warn",
        ])
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("agent pid")?;
    let address = format!("unix://{}", socket.display());
    let client = loop {
        if let Ok(c) = WorkloadApiClient::connect(&address).await {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let idle = rss_kib(pid).unwrap_or(0);
    let uid = my_uid();
    let mut admin = EntryClient::new(stack.admin());
    let paths: Vec<String> = (0..svids).map(|i| format!("/rss/{i}")).collect();
    for chunk in paths.chunks(500) {
        stack
            .create_entries(&mut admin, chunk, ("unix", &format!("uid:{uid}")))
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let held = client
            .fetch_x509_context()
            .await
            .map(|c| c.svids.len())
            .unwrap_or(0);
        progress(&format!("agent-rss: agent holds {held}/{svids} SVIDs"));
        if held >= svids {
            break;
        }
        if Instant::now() > deadline {
            bail!("agent minted only {held} SVIDs");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_svids = rss_kib(pid).unwrap_or(0);
    // Streams: drop back to one SVID so each stream's state is small, then open them.
    let ids: Vec<String> = admin
        .list_entries(entry_api::ListEntriesRequest::default())
        .await?
        .into_inner()
        .entries
        .into_iter()
        .map(|e| e.id)
        .skip(1)
        .collect();
    for chunk in ids.chunks(500) {
        admin
            .batch_delete_entry(entry_api::BatchDeleteEntryRequest {
                ids: chunk.to_vec(),
            })
            .await?;
    }
    while client
        .fetch_x509_context()
        .await
        .map(|c| c.svids.len())
        .unwrap_or(0)
        != 1
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let per_conn = 100;
    let mut open = Vec::with_capacity(streams);
    let mut conn = WorkloadApiClient::connect(&address).await?;
    for i in 0..streams {
        if i % per_conn == 0 {
            conn = WorkloadApiClient::connect(&address).await?;
            progress(&format!("agent-rss: {i}/{streams} streams open"));
        }
        let mut s = conn.stream_x509_contexts().await?;
        s.next().await.context("stream ended")??;
        open.push(s);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let with_streams = rss_kib(pid).unwrap_or(0);
    done();
    report.add("agent RSS, idle", idle as f64 / 1024.0, "MiB", "");
    report.add(
        format!("agent RSS, {svids} cached SVIDs"),
        with_svids as f64 / 1024.0,
        "MiB",
        "goal < 32 MiB",
    );
    report.add(
        format!("agent RSS, {streams} open FetchX509SVID streams"),
        with_streams as f64 / 1024.0,
        "MiB",
        "goal < 200 MiB",
    );
    drop(open);
    let _ = child.kill().await;
    stack.stop().await;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().cloned().unwrap_or_else(|| "all".into());
    let json_path = args
        .windows(2)
        .find(|w| w[0] == "--json")
        .map(|w| w[1].clone());
    let n = |name: &str, default: usize| arg(&args, name, default);
    let mut report = Report { rows: Vec::new() };
    println!(
        "spiffe-bench {what} on {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let all = what == "all";
    if all || what == "authorized-lookup" {
        authorized_lookup(&mut report);
    }
    if all || what == "mint-rate" {
        mint_rate(&mut report, n("--n", 2000)).await?;
    }
    if all || what == "fetch-latency" {
        fetch_latency(&mut report, n("--n", 1000)).await?;
    }
    if all || what == "entry-to-stream" {
        entry_to_stream(&mut report, n("--n", 1000)).await?;
    }
    if all || what == "create-rate" {
        create_rate(&mut report, n("--n", 1000), None, "SQLite").await?;
        create_rate(
            &mut report,
            n("--n", 1000),
            Some(pg_database().await?),
            "PostgreSQL",
        )
        .await?;
    }
    if all || what == "ha" {
        ha(&mut report, n("--n", 200)).await?;
    }
    if all || what == "cold-start" {
        let entries = n("--entries", 1_000_000);
        cold_start(&mut report, entries, false).await?;
        cold_start(&mut report, entries, true).await?;
    }
    if all || what == "agent-rss" {
        agent_rss(&mut report, n("--svids", 1000), n("--streams", 10_000)).await?;
    }
    if what == "spire" {
        spire::run(&spire::Options {
            n: n("--n", 200),
            fetch_n: n("--fetch-n", 1000),
            svids: n("--svids", 1000),
            streams: n("--streams", 1000),
            api_entries: n("--api-entries", 10_000),
            entries: n("--entries", 100_000),
            sign_secs: n("--sign-secs", 10) as u64,
            markdown: args
                .windows(2)
                .find(|w| w[0] == "--markdown")
                .map(|w| std::path::PathBuf::from(&w[1])),
        })
        .await?;
    }
    if let Some(path) = json_path {
        let rows: Vec<_> = report
            .rows
            .iter()
            .map(|r| json!({"name": r.name, "value": r.value, "unit": r.unit, "note": r.note}))
            .collect();
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&json!({"results": rows}))?,
        )?;
        println!("JSON written to {path}");
    }
    Ok(())
}
