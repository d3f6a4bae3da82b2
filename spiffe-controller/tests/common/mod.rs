//! Shared test setup: a fake Kubernetes API server seeded from fixtures, a real spiffe-server
//! in-process on a temp directory, and the controller between them.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use spiffe_controller::{Controller, ControllerConfig, ReconcileReport};
use spiffe_core::TrustDomain;
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::{RunningServer, ServerConfig};
use spiffe_testkit::apiserver::FakeApiServer;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tonic::transport::Channel;

pub const TD: &str = "mycompany.com";
pub const CLUSTER: &str = "demo";
pub const NODE_1_UID: &str = "7d2c5f4a-1b3e-4c5d-8e9f-0a1b2c3d4e5f";
pub const PAYMENT_POD_UID: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(rel: &str) -> String {
    std::fs::read_to_string(fixtures().join(rel)).unwrap()
}

/// A fake API server with the namespaces, nodes and pods of `fixtures/cluster`.
pub async fn cluster() -> FakeApiServer {
    let api = FakeApiServer::start().await.unwrap();
    api.load_dir(&fixtures().join("cluster")).unwrap();
    api
}

pub struct Server {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let mut c = ServerConfig::new(TrustDomain::parse(TD).unwrap(), dir.path().join("data"));
        c.bind_address = "127.0.0.1:0".parse().unwrap();
        c.socket_path = dir.path().join("admin").join("api.sock");
        c.rotation_interval = Duration::from_millis(500);
        let socket = c.socket_path.clone();
        let server = spiffe_server::start(c).await.unwrap();
        Server {
            server,
            dir,
            socket,
        }
    }

    pub fn channel(&self) -> Channel {
        spiffe_controller::registry::admin_channel(&self.socket).unwrap()
    }

    pub fn entries(&self) -> EntryClient<Channel> {
        EntryClient::new(self.channel())
    }

    pub async fn list(&self) -> Vec<pb::Entry> {
        self.entries()
            .list_entries(api::ListEntriesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .entries
    }
}

pub fn config() -> ControllerConfig {
    let mut c = ControllerConfig::new(TrustDomain::parse(TD).unwrap(), CLUSTER).unwrap();
    c.resync_interval = Duration::from_secs(2);
    c.debounce = Duration::from_millis(20);
    c
}

/// A running controller; dropping it without `stop` aborts it.
pub struct Running {
    pub reports: watch::Receiver<ReconcileReport>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    pub fn start<S: spiffe_controller::registry::EntryStore + 'static>(
        api: &FakeApiServer,
        config: ControllerConfig,
        store: S,
    ) -> Running {
        let controller = Controller::new(config, api.client().unwrap(), store);
        let reports = controller.reports();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            controller
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Running {
            reports,
            stop: Some(tx),
            task,
        }
    }

    /// Waits for a reconcile report that satisfies `f`.
    pub async fn report(
        &mut self,
        what: &str,
        f: impl Fn(&ReconcileReport) -> bool,
    ) -> ReconcileReport {
        let mut rx = self.reports.clone();
        match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|r| f(r))).await {
            Ok(r) => r.unwrap().clone(),
            Err(_) => panic!(
                "timed out waiting for {what}; last: {:?}",
                *self.reports.borrow()
            ),
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(5), &mut self.task)
            .await
            .expect("controller stops")
            .expect("controller task");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Polls `f` every 10 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn id_string(id: Option<&pb::Spiffeid>) -> String {
    id.map(|i| format!("spiffe://{}{}", i.trust_domain, i.path))
        .unwrap_or_default()
}

pub fn selectors(e: &pb::Entry) -> Vec<String> {
    let mut s: Vec<String> = e
        .selectors
        .iter()
        .map(|s| format!("{}:{}", s.r#type, s.value))
        .collect();
    s.sort();
    s
}
