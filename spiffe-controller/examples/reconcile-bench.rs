//! Reconcile benchmark: 10,000 pods and 100 `ClusterSPIFFEID`s (each selecting 100 pods) on
//! the test API server (kube's real HTTP client, list + watch), the entries written to an
//! in-memory store or to a real spiffe-server (SQLite in a temporary directory).
//!
//! ```text
//! cargo run --release --all-features -p spiffe-controller --example reconcile-bench -- \
//!     [--store memory|server] [--pods 10000] [--resources 100] [--rounds 5]
//! ```
//!
//! Prints: the pure plan time, the first reconcile (cache sync from empty caches, plan, 10,000
//! creates, statuses), a steady-state reconcile with nothing to change, and the time from
//! deleting 1% of the pods to their entries being gone.

use std::error::Error;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spiffe_controller::plan::plan;
use spiffe_controller::registry::{EntryStore, GrpcEntryStore, MemoryEntryStore};
use spiffe_controller::{Controller, ControllerConfig, ReconcileReport};
use spiffe_core::TrustDomain;
use spiffe_testkit::apiserver::FakeApiServer;
use tokio::sync::{oneshot, watch};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

const NAMESPACES: usize = 10;
const NODES: usize = 100;
const SERVICE_ACCOUNTS: usize = 50;

struct Args {
    store: String,
    pods: usize,
    resources: usize,
    rounds: usize,
}

fn args() -> Result<Args> {
    let mut a = Args {
        store: "memory".into(),
        pods: 10_000,
        resources: 100,
        rounds: 5,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--store" => a.store = value,
            "--pods" => a.pods = value.parse()?,
            "--resources" => a.resources = value.parse()?,
            "--rounds" => a.rounds = value.parse()?,
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if !matches!(a.store.as_str(), "memory" | "server") {
        return Err("--store is memory or server".into());
    }
    if a.resources == 0 || a.pods == 0 {
        return Err("--pods and --resources must be positive".into());
    }
    Ok(a)
}

fn objects(a: &Args) -> Vec<Value> {
    let mut out = Vec::with_capacity(a.pods + NODES + NAMESPACES + a.resources);
    for n in 0..NAMESPACES {
        out.push(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": format!("team-{n:02}"), "labels": {"env": "bench"}}
        }));
    }
    for n in 0..NODES {
        out.push(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": format!("node-{n:03}"), "uid": format!("00000000-0000-4000-9000-{n:012}")}
        }));
    }
    for i in 0..a.pods {
        let app = i % a.resources;
        out.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": format!("app-{app:03}-{i:05}"),
                "namespace": format!("team-{:02}", i % NAMESPACES),
                "uid": format!("00000000-0000-4000-8000-{i:012}"),
                "labels": {"app": format!("app-{app:03}"), "tier": "backend"}
            },
            "spec": {
                "nodeName": format!("node-{:03}", i % NODES),
                "serviceAccountName": format!("sa-{:02}", i % SERVICE_ACCOUNTS),
                "containers": [{"name": "main", "image": "registry.example/app:1"}]
            },
            "status": {"phase": "Running"}
        }));
    }
    for k in 0..a.resources {
        out.push(json!({
            "apiVersion": "spire.spiffe.io/v1alpha1", "kind": "ClusterSPIFFEID",
            "metadata": {"name": format!("app-{k:03}")},
            "spec": {
                "spiffeIDTemplate": "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}/pod/{{ .PodMeta.Name }}",
                "dnsNameTemplates": ["{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc.{{ .ClusterDomain }}"],
                "workloadSelectorTemplates": ["k8s:ns:{{ .PodMeta.Namespace }}"],
                "ttl": "1h",
                "podSelector": {"matchLabels": {"app": format!("app-{k:03}")}},
                "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "In", "values": ["bench"]}]}
            }
        }));
    }
    out
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

async fn wait_report(
    rx: &mut watch::Receiver<ReconcileReport>,
    f: impl Fn(&ReconcileReport) -> bool,
) -> Result<ReconcileReport> {
    let r = tokio::time::timeout(Duration::from_secs(600), rx.wait_for(|r| f(r))).await??;
    Ok(r.clone())
}

async fn bench<S: EntryStore + 'static>(
    a: &Args,
    api: &FakeApiServer,
    config: ControllerConfig,
    store: S,
    mut count_owned: impl AsyncFnMut() -> Result<usize>,
) -> Result<()> {
    let want = a.pods;
    let controller = Controller::new(config, api.client()?, store);
    let mut reports = controller.reports();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(controller.run(async {
        let _ = stop_rx.await;
    }));

    let first = wait_report(&mut reports, |r| r.generation >= 1).await?;
    let first_wall = started.elapsed();
    if first.error.is_some() || first.created != want {
        return Err(format!("first reconcile: {first:?}").into());
    }
    println!(
        "first reconcile:   {} wall from start (cache sync of {} pods included), reconcile {} ({} created)",
        ms(first_wall),
        want,
        ms(first.duration),
        first.created
    );

    // Steady state: an irrelevant change wakes the loop; nothing is written.
    let mut steady = Vec::new();
    for round in 0..a.rounds {
        let g = reports.borrow().generation;
        api.apply(json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team-00", "labels": {"env": "bench", "round": round.to_string()}}
        }))?;
        let r = wait_report(&mut reports, |r| r.generation > g).await?;
        if r.unchanged != want || r.created + r.updated + r.deleted != 0 {
            return Err(format!("steady reconcile changed something: {r:?}").into());
        }
        steady.push(r.duration);
    }
    println!(
        "steady reconcile:  median {} over {} rounds (nothing to change, {} entries compared)",
        ms(median(steady.clone())),
        steady.len(),
        want
    );

    // Churn: 1% of the pods go away.
    let gone = (want / 100).max(1);
    let g = reports.borrow().generation;
    let t = Instant::now();
    for i in 0..gone {
        let app = i % a.resources;
        api.delete(
            "v1",
            "Pod",
            &format!("team-{:02}", i % NAMESPACES),
            &format!("app-{app:03}-{i:05}"),
        )?;
    }
    let r = wait_report(&mut reports, |r| {
        r.generation > g && r.desired == want - gone && r.error.is_none()
    })
    .await?;
    loop {
        if count_owned().await? == want - gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "pod deletion:      {} from deleting {gone} pods to their entries gone (last reconcile {}, {} deleted)",
        ms(t.elapsed()),
        ms(r.duration),
        r.deleted
    );
    let _ = stop_tx.send(());
    task.await??;
    Ok(())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let a = args()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init()
        .map_err(|e| e.to_string())?;
    let td = TrustDomain::parse("bench.example")?;
    let mut config = ControllerConfig::new(td.clone(), "bench")?;
    config.resync_interval = Duration::from_secs(3600);
    config.debounce = Duration::from_millis(20);
    config.ignored_namespaces = spiffe_controller::config::IgnoredNamespaces::new(&[
        "kube-system",
        "kube-public",
        "spire",
    ])?;

    let api = FakeApiServer::start().await?;
    let t = Instant::now();
    for o in objects(&a) {
        api.apply(o)?;
    }
    println!(
        "cluster:           {} pods, {} ClusterSPIFFEIDs, {NAMESPACES} namespaces, {NODES} nodes (loaded in {}); store: {}",
        a.pods,
        a.resources,
        ms(t.elapsed()),
        a.store
    );

    // The pure part: from a snapshot to the desired entries.
    let snap = offline_snapshot(&api)?;
    let mut plans = Vec::new();
    for _ in 0..a.rounds {
        let t = Instant::now();
        let p = plan(&config, &snap);
        plans.push(t.elapsed());
        if p.entries.len() != a.pods || !p.failures.is_empty() {
            return Err(format!(
                "plan: {} entries, {} failures",
                p.entries.len(),
                p.failures.len()
            )
            .into());
        }
    }
    println!(
        "plan (pure):       median {} over {} rounds",
        ms(median(plans)),
        a.rounds
    );

    let prefix = config.entry_id_prefix.clone();
    if a.store == "memory" {
        let store = MemoryEntryStore::new();
        let view = store.clone();
        bench(&a, &api, config, store, async move || {
            Ok(view
                .snapshot()
                .iter()
                .filter(|e| e.id.starts_with(&prefix))
                .count())
        })
        .await
    } else {
        let dir = tempfile::tempdir()?;
        let mut sc = spiffe_server::ServerConfig::new(td, dir.path().join("data"));
        sc.bind_address = "127.0.0.1:0".parse()?;
        sc.socket_path = dir.path().join("admin").join("api.sock");
        let socket = sc.socket_path.clone();
        let server = spiffe_server::start(sc).await?;
        let channel = spiffe_controller::registry::admin_channel(&socket)?;
        let mut view = GrpcEntryStore::new(channel.clone());
        let r = bench(
            &a,
            &api,
            config,
            GrpcEntryStore::new(channel),
            async move || {
                Ok(view
                    .list()
                    .await?
                    .iter()
                    .filter(|e| e.id.starts_with(&prefix))
                    .count())
            },
        )
        .await;
        server.stop().await;
        r
    }
}

/// The API server's objects as a snapshot, for timing `plan` alone.
fn offline_snapshot(api: &FakeApiServer) -> Result<spiffe_controller::plan::ClusterSnapshot> {
    fn all<K: serde::de::DeserializeOwned>(
        api: &FakeApiServer,
        group: &str,
        version: &str,
        plural: &str,
    ) -> Result<Vec<std::sync::Arc<K>>> {
        let store = api.store();
        let t = store
            .resource(group, version, plural)
            .ok_or_else(|| format!("no resource {plural}"))?;
        let (items, _) = store.list(&t, "");
        items
            .iter()
            .map(|o| Ok(std::sync::Arc::new(serde_json::from_value((**o).clone())?)))
            .collect()
    }
    Ok(spiffe_controller::plan::ClusterSnapshot {
        pods: all(api, "", "v1", "pods")?,
        nodes: all(api, "", "v1", "nodes")?,
        namespaces: all(api, "", "v1", "namespaces")?,
        cluster_spiffe_ids: all(api, "spire.spiffe.io", "v1alpha1", "clusterspiffeids")?,
        static_entries: Vec::new(),
        services: all(api, "", "v1", "services")?,
        endpoint_slices: all(api, "discovery.k8s.io", "v1", "endpointslices")?,
    })
}
