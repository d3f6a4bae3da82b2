//! A real server and a real agent on temp directories, and workloads calling the agent's
//! socket with their real peer credentials (this test process as root, and a child process
//! re-executed as another uid).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use spiffe_agent::{AgentConfig, RunningAgent, TrustBootstrap};
use spiffe_core::{SpiffeId, TrustDomain};
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::client::admin_channel;
use spiffe_server::{RunningServer, ServerConfig};
use spiffe_workload::client::WorkloadApiClient;

const TD: &str = "example.org";

struct World {
    dir: tempfile::TempDir,
    server: Option<RunningServer>,
    agent: Option<RunningAgent>,
    server_address: String,
    token: String,
}

fn server_config(dir: &Path, port: u16) -> ServerConfig {
    let mut c = ServerConfig::new(TrustDomain::parse(TD).unwrap(), dir.join("server"));
    c.bind_address = format!("127.0.0.1:{port}").parse().unwrap();
    c.socket_path = dir.join("server-admin").join("api.sock");
    c.rotation_interval = Duration::from_millis(500);
    c
}

fn agent_config(dir: &Path, server: &str, token: Option<String>) -> AgentConfig {
    let mut c = AgentConfig::new(TrustDomain::parse(TD).unwrap(), server, dir.join("agent"));
    c.socket_path = dir.join("public").join("api.sock");
    c.join_token = token;
    c.trust_bootstrap = TrustBootstrap::BundleFile(dir.join("bootstrap.pem"));
    c.max_backoff = Duration::from_millis(500);
    c
}

impl World {
    async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        // Let another uid reach the agent socket through the temp directory.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let server = spiffe_server::start(server_config(dir.path(), 0))
            .await
            .unwrap();
        let server_address = server.agent_address.to_string();
        let admin = admin_channel(dir.path().join("server-admin").join("api.sock")).unwrap();
        let bundle = BundleClient::new(admin.clone())
            .get_bundle(spiffe_proto::spire::api::server::bundle::v1::GetBundleRequest::default())
            .await
            .unwrap()
            .into_inner();
        let pem = spiffe_proto::convert::bundle_from_pb(&bundle)
            .unwrap()
            .x509()
            .to_pem();
        std::fs::write(dir.path().join("bootstrap.pem"), pem).unwrap();
        let token = AgentClient::new(admin)
            .create_join_token(agent_api::CreateJoinTokenRequest {
                ttl: 600,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .value;
        let mut w = World {
            dir,
            server: Some(server),
            agent: None,
            server_address,
            token,
        };
        w.start_agent(true).await;
        w
    }

    async fn start_agent(&mut self, with_token: bool) {
        let token = with_token.then(|| self.token.clone());
        let agent = spiffe_agent::start(agent_config(self.dir.path(), &self.server_address, token))
            .await
            .unwrap();
        self.agent = Some(agent);
    }

    fn agent_id(&self) -> pb::Spiffeid {
        pb::Spiffeid {
            trust_domain: TD.into(),
            path: format!("/spire/agent/join_token/{}", self.token),
        }
    }

    fn socket(&self) -> String {
        format!(
            "unix://{}",
            self.dir.path().join("public").join("api.sock").display()
        )
    }

    fn entries(&self) -> EntryClient<tonic::transport::Channel> {
        EntryClient::new(
            admin_channel(self.dir.path().join("server-admin").join("api.sock")).unwrap(),
        )
    }

    async fn create_entry(&self, path: &str, selector: &str, ttl: i32) -> String {
        let (t, v) = selector.split_once(':').unwrap();
        let r = self
            .entries()
            .batch_create_entry(entry_api::BatchCreateEntryRequest {
                entries: vec![pb::Entry {
                    spiffe_id: Some(pb::Spiffeid {
                        trust_domain: TD.into(),
                        path: path.into(),
                    }),
                    parent_id: Some(self.agent_id()),
                    selectors: vec![pb::Selector {
                        r#type: t.into(),
                        value: v.into(),
                    }],
                    x509_svid_ttl: ttl,
                    ..Default::default()
                }],
                output_mask: None,
            })
            .await
            .unwrap()
            .into_inner()
            .results
            .remove(0);
        assert_eq!(r.status.as_ref().unwrap().code, 0, "{:?}", r.status);
        r.entry.unwrap().id
    }

    async fn client(&self) -> WorkloadApiClient {
        WorkloadApiClient::connect(&self.socket()).await.unwrap()
    }

    /// Fetches until the workload holds `n` SVIDs (the agent mints asynchronously).
    async fn wait_for_svids(&self, n: usize) -> spiffe_workload::client::X509Context {
        let client = self.client().await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(ctx) = client.fetch_x509_context().await
                && ctx.svids.len() == n
            {
                return ctx;
            }
            assert!(Instant::now() < deadline, "workload never got {n} SVIDs");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        if let Some(a) = self.agent.take() {
            a.stop().await;
        }
        if let Some(s) = self.server.take() {
            s.stop().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_gets_its_identity_and_follows_changes() {
    let w = World::start().await;
    w.create_entry("/ns/prod/sa/root-workload", "unix:uid:0", 0)
        .await;
    let ctx = w.wait_for_svids(1).await;
    let svid = ctx.default_svid().unwrap();
    assert_eq!(
        svid.spiffe_id().as_str(),
        "spiffe://example.org/ns/prod/sa/root-workload"
    );
    spiffe_core::x509::verify_chain(svid.chain(), &ctx.bundles).unwrap();

    // A call without the security header is refused with InvalidArgument.
    let raw = tonic::transport::Endpoint::try_from("http://agent")
        .unwrap()
        .connect_with_connector(tower::service_fn({
            let path = w.dir.path().join("public").join("api.sock");
            move |_: http::Uri| {
                let path = path.clone();
                async move {
                    Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }
        }))
        .await
        .unwrap();
    let status =
        spiffe_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient::new(raw)
            .fetch_x509svid(spiffe_proto::workload::X509svidRequest {})
            .await
            .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // An entry created while a stream is open reaches it; deleting it withdraws it.
    let client = w.client().await;
    let mut stream = client.stream_x509_contexts().await.unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().svids.len(), 1);
    let started = Instant::now();
    let id = w.create_entry("/ns/prod/sa/second", "unix:uid:0", 0).await;
    let update = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(update.svids.len(), 2);
    assert!(
        elapsed < Duration::from_secs(1),
        "entry took {elapsed:?} to reach the workload"
    );
    w.entries()
        .batch_delete_entry(entry_api::BatchDeleteEntryRequest { ids: vec![id] })
        .await
        .unwrap();
    let withdrawn = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(withdrawn.svids.len(), 1);

    // JWT-SVIDs: fetched and validated through the agent.
    let token = client.fetch_jwt_svid(&["payments"], None).await.unwrap();
    assert_eq!(
        token.spiffe_id().as_str(),
        "spiffe://example.org/ns/prod/sa/root-workload"
    );
    let validated = client
        .validate_jwt_svid("payments", token.token())
        .await
        .unwrap();
    assert_eq!(validated.spiffe_id, *token.spiffe_id());
    w.stop().await;
}

/// Run as another uid by `another_uid_gets_permission_denied`: prints what the agent answered.
#[tokio::test]
async fn helper_fetch_as_child() {
    let Ok(socket) = std::env::var("SPIFFE_AGENT_TEST_SOCKET") else {
        return;
    };
    let client = WorkloadApiClient::connect(&socket).await.unwrap();
    match client.fetch_x509_context().await {
        Ok(ctx) => println!("RESULT: ok {}", ctx.svids.len()),
        Err(e) => println!("RESULT: err {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_uid_gets_permission_denied() {
    let w = World::start().await;
    w.create_entry("/ns/prod/sa/root-workload", "unix:uid:0", 0)
        .await;
    w.wait_for_svids(1).await;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_fetch_as_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SPIFFE_AGENT_TEST_SOCKET", w.socket())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RESULT:").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "child printed no result: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        line.contains("err") && line.contains("PermissionDenied"),
        "{line}"
    );
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_outage_restart_and_files() {
    let mut w = World::start().await;
    // A short TTL: the SVID rotates at half-life, before it expires.
    w.create_entry("/ns/prod/sa/short", "unix:uid:0", 6).await;
    let first = w.wait_for_svids(1).await.svids[0].clone();
    let client = w.client().await;
    let mut stream = client.stream_x509_contexts().await.unwrap();
    let _ = stream.next().await;
    let rotated = tokio::time::timeout(Duration::from_secs(8), async {
        loop {
            let ctx = stream.next().await.unwrap().unwrap();
            if ctx.svids[0].leaf() != first.leaf() {
                return ctx;
            }
        }
    })
    .await
    .expect("rotated within the SVID's lifetime");
    assert!(
        rotated.svids[0].not_before() < first.expires_at(),
        "new SVID before the old expired"
    );
    let now = std::time::SystemTime::now();
    assert!(first.expires_at() > now - Duration::from_secs(1));

    // Server down: the agent keeps serving what is valid.
    let server = w.server.take().unwrap();
    let port = server.agent_address.port();
    server.stop().await;
    let ctx = w.client().await.fetch_x509_context().await.unwrap();
    assert_eq!(ctx.svids.len(), 1);
    // Server back on the same address: the agent catches up by itself.
    w.server = Some(
        spiffe_server::start(server_config(w.dir.path(), port))
            .await
            .unwrap(),
    );
    w.create_entry("/ns/prod/sa/after-outage", "unix:uid:0", 0)
        .await;
    w.wait_for_svids(2).await;

    // Agent restarted without a join token: it reuses its stored SVID.
    w.agent.take().unwrap().stop().await;
    let key = w.dir.path().join("agent").join("agent-key.pem");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    w.start_agent(false).await;
    let ctx = w.wait_for_svids(2).await;
    let ids: Vec<SpiffeId> = ctx.svids.iter().map(|s| s.spiffe_id().clone()).collect();
    assert!(ids.iter().any(|i| i.path() == "/ns/prod/sa/after-outage"));
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sink_rewrites_on_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::start().await;
    // Restart the agent with a sink.
    w.agent.take().unwrap().stop().await;
    let mut c = agent_config(w.dir.path(), &w.server_address, None);
    c.sinks = vec![spiffe_agent::FileSink {
        spiffe_id: Some(SpiffeId::parse("spiffe://example.org/ns/prod/sa/files").unwrap()),
        selectors: Vec::new(),
        dir: dir.path().to_owned(),
    }];
    w.agent = Some(spiffe_agent::start(c).await.unwrap());
    w.create_entry("/ns/prod/sa/files", "unix:uid:4242", 6)
        .await;
    let svid_path = dir.path().join("svid.pem");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !svid_path.exists() {
        assert!(Instant::now() < deadline, "sink never written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first = std::fs::read(&svid_path).unwrap();
    let key_mode = std::fs::metadata(dir.path().join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    assert!(dir.path().join("bundle.pem").exists());
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let now = std::fs::read(&svid_path).unwrap();
        if now != first {
            break;
        }
        assert!(Instant::now() < deadline, "sink not rewritten on rotation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let written = spiffe_core::X509Svid::parse_pem(
        &std::fs::read(&svid_path).unwrap(),
        &std::fs::read(dir.path().join("key.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(written.spiffe_id().path(), "/ns/prod/sa/files");
    w.stop().await;
}
