//! The security suite: workloads of many users against one agent, PID reuse through the agent's
//! socket, hostile gRPC callers of the server, forged JWTs, and the admin socket's permissions.
//! Tests that run workloads as other users need root; they say SKIP otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::{
    Deployment, PROBE, READY, Server, ServerOpts, TD, is_root, long, probe_as, run_cmd, runtime,
    wait_until,
};
use prost::bytes::{Buf, BufMut};
use rcgen::{CertificateParams, KeyPair, PublicKeyData, SanType};
use spiffe_agent::channel::{agent_tls_config, tls_channel};
use spiffe_core::{BundleSet, PrivateKey, SvidCell, TrustDomain, X509Svid};
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::bundle::v1 as bundle_api;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient;
use spiffe_proto::spire::api::server::svid::v1 as svid_api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_proto::workload::ValidateJwtsvidRequest;
use spiffe_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use spiffe_server::client::admin_channel;
use spiffe_workload::WorkloadApiClient;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// Tests that fork processes with chosen PIDs, or many processes as other users, run one at a
/// time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A small deterministic generator (xorshift64*), seeded from `SPIFFE_SUITES_SEED` or the clock.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("SPIFFE_SUITES_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("seed: SPIFFE_SUITES_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

// ---------------------------------------------------------------------------------------------
// Randomized cross-workload attestation

/// What `suite-probe fetch` printed: outcome -> count.
fn outcomes(out: &str) -> BTreeMap<String, usize> {
    out.lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let kind = parts.next().unwrap_or_default();
            let count: usize = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let rest = parts.next().unwrap_or_default();
            (format!("{kind} {rest}"), count)
        })
        .collect()
}

/// What a workload with `ids` must see in every call.
fn expected_outcomes(ids: &[String], calls: usize) -> BTreeMap<String, usize> {
    let (x509, jwt) = (calls.div_ceil(2), calls / 2);
    let mut m = BTreeMap::new();
    if ids.is_empty() {
        m.insert("err FetchX509SVID Some(PermissionDenied)".to_owned(), x509);
        m.insert("err FetchJWTSVID Some(PermissionDenied)".to_owned(), jwt);
    } else {
        let mut sorted = ids.to_vec();
        sorted.sort();
        m.insert(format!("x509 {}", sorted.join(",")), x509);
        m.insert(format!("jwt {}", sorted.join(",")), jwt);
    }
    m.retain(|_, n| *n > 0);
    m
}

#[test]
fn randomized_cross_workload_attestation() {
    if !is_root() {
        eprintln!(
            "SKIP randomized_cross_workload_attestation: needs root to run workloads as other users"
        );
        return;
    }
    let _serial = serial();
    let users: u32 = if long() { 32 } else { 8 };
    let calls: usize = if long() { 2000 } else { 400 };
    let mut rng = Rng::new();
    let d = Deployment::start(&ServerOpts::default());
    let first_uid = 30_000;
    let mut expected: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for u in 0..users {
        let uid = first_uid + u;
        let mut ids = Vec::new();
        // 0 to 3 entries of its own, some also requiring its gid.
        for k in 0..rng.below(4) {
            let id = format!("spiffe://{TD}/u/{uid}/{k}");
            let uid_sel = format!("unix:uid:{uid}");
            let gid_sel = format!("unix:gid:{uid}");
            let mut sels = vec![uid_sel.as_str()];
            if rng.below(2) == 0 {
                sels.push(&gid_sel);
            }
            d.server.create_entry(&id, &sels, &[]).ok();
            ids.push(id);
        }
        // Decoys: its uid with another user's gid; another user's uid with its gid.
        let other = first_uid + ((u + 1 + rng.below(u64::from(users - 1)) as u32) % users);
        if other != uid && rng.below(2) == 0 {
            let id = format!("spiffe://{TD}/decoy/{uid}/{other}");
            let a = format!("unix:uid:{uid}");
            let b = format!("unix:gid:{other}");
            d.server.create_entry(&id, &[&a, &b], &[]).ok();
        }
        expected.insert(uid, ids);
    }
    // A user with no process at all.
    d.server
        .create_entry(
            &format!("spiffe://{TD}/nobody-runs-this"),
            &["unix:uid:39999"],
            &[],
        )
        .ok();
    let socket = d.agent.endpoint();

    // Every workload's identities reach the agent (two calls each).
    for (uid, ids) in &expected {
        let want = expected_outcomes(ids, 2);
        wait_until(&format!("uid {uid} sees {ids:?}"), READY, || {
            let r = probe_as(*uid, *uid, &["fetch", &socket, "2"]);
            let got = outcomes(&r.stdout);
            if r.code == 0 && got == want {
                Ok(())
            } else {
                Err(format!("{got:?} {}", r.stderr))
            }
        });
    }

    // All at once, many calls each: every call returns exactly the caller's own identities.
    let started = Instant::now();
    let calls_s = calls.to_string();
    let children: Vec<(u32, Child)> = expected
        .keys()
        .map(|uid| {
            let child = Command::new(PROBE)
                .args(["fetch", &socket, &calls_s])
                .uid(*uid)
                .gid(*uid)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (*uid, child)
        })
        .collect();
    let mut total = 0;
    for (uid, child) in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "uid {uid}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = outcomes(&stdout);
        let want = expected_outcomes(&expected[&uid], calls);
        assert_eq!(
            got, want,
            "uid {uid} got other identities than its own (or errors)"
        );
        total += calls;
    }
    eprintln!(
        "{total} Workload API calls by {users} users in {:?}: each got exactly its own identities",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// PID reuse through the agent's socket

/// A process killed and reaped when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sleep` as `uid` with the PID `pid` (which must be free), steering the kernel's next
/// PID through `/proc/sys/kernel/ns_last_pid`; retries when another fork takes it first.
fn spawn_with_pid(pid: i32, uid: u32) -> Guard {
    for _ in 0..500 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let child = Command::new("sleep")
            .arg("60")
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let got = i32::try_from(child.id()).unwrap();
        let guard = Guard(child);
        if got == pid {
            return guard;
        }
    }
    panic!("could not start a process with pid {pid}");
}

/// How the caller behaves after connecting.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Caller {
    /// Stays alive while its connection is used (the control).
    Stays,
    /// Exits (and is reaped) before the request is sent.
    Exits,
    /// Exits, and a process of another user gets its PID before the request is sent.
    ExitsAndPidReused,
}

/// A caller of uid `caller_uid` connects to the agent and hands the connection to a holder;
/// the holder sends `FetchX509SVID` once the caller behaved as `how`. Returns what it got.
fn handoff(dir: &Path, socket: &Path, how: Caller, caller_uid: u32, impostor_uid: u32) -> String {
    let fifo = dir.join(format!("go-{how:?}"));
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
    std::fs::set_permissions(&fifo, std::fs::Permissions::from_mode(0o666)).unwrap();
    let mode = if how == Caller::Stays {
        "handoff-stay"
    } else {
        "handoff"
    };
    let mut caller = Guard(
        Command::new(PROBE)
            .arg(mode)
            .arg(socket)
            .arg(&fifo)
            .uid(caller_uid)
            .gid(caller_uid)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let caller_pid = i32::try_from(caller.0.id()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = caller.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(READY).unwrap();
    assert!(
        first.starts_with(&format!("handoff {caller_pid} ")),
        "{first}"
    );
    let mut impostor = None;
    if how != Caller::Stays {
        // The caller exits and is reaped: its PID is free.
        assert!(caller.0.wait().unwrap().success());
        if how == Caller::ExitsAndPidReused {
            impostor = Some(spawn_with_pid(caller_pid, impostor_uid));
        }
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    let answer = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("the holder did not answer ({e})"));
    if how == Caller::Stays {
        assert!(caller.0.wait().unwrap().success());
    }
    drop(impostor);
    answer
}

/// Two users with an entry each, and an agent that has both SVIDs.
fn pid_reuse_setup(caller_uid: u32, impostor_uid: u32) -> (Deployment, String, String) {
    let d = Deployment::start(&ServerOpts::default());
    let caller_id = format!("spiffe://{TD}/pid/caller");
    let impostor_id = format!("spiffe://{TD}/pid/impostor");
    d.server
        .create_entry(&caller_id, &[&format!("unix:uid:{caller_uid}")], &[])
        .ok();
    d.server
        .create_entry(&impostor_id, &[&format!("unix:uid:{impostor_uid}")], &[])
        .ok();
    let socket = d.agent.endpoint();
    for (uid, id) in [(caller_uid, &caller_id), (impostor_uid, &impostor_id)] {
        wait_until(&format!("uid {uid} sees {id}"), READY, || {
            let r = probe_as(uid, uid, &["fetch", &socket, "1"]);
            if r.stdout.trim() == format!("x509 1 {id}") {
                Ok(())
            } else {
                Err(format!("{r:?}"))
            }
        });
    }
    (d, caller_id, impostor_id)
}

fn open_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn exited_caller_gets_nothing_through_the_agent_socket() {
    if !is_root() {
        eprintln!("SKIP exited_caller_gets_nothing_through_the_agent_socket: needs root (uids)");
        return;
    }
    let _serial = serial();
    let (caller_uid, impostor_uid) = (31_001, 31_002);
    let (d, caller_id, _) = pid_reuse_setup(caller_uid, impostor_uid);
    let dir = open_dir();

    // Control: the caller alive during attestation gets its identity over the handed-off
    // connection (so the set-up itself works).
    let got = handoff(
        dir.path(),
        &d.agent.socket,
        Caller::Stays,
        caller_uid,
        impostor_uid,
    );
    assert_eq!(got, format!("svids {caller_id}"));

    // The caller is gone when its connection is used: nothing.
    let got = handoff(
        dir.path(),
        &d.agent.socket,
        Caller::Exits,
        caller_uid,
        impostor_uid,
    );
    assert!(
        got.starts_with("err PermissionDenied "),
        "a caller that exited got: {got}\n{}",
        d.agent.log()
    );
}

#[test]
fn pid_reuse_through_the_agent_socket_gets_nothing() {
    if !is_root() {
        eprintln!(
            "SKIP pid_reuse_through_the_agent_socket_gets_nothing: needs root (uids, ns_last_pid)"
        );
        return;
    }
    let _serial = serial();
    let (caller_uid, impostor_uid) = (31_001, 31_002);
    let (d, _, _) = pid_reuse_setup(caller_uid, impostor_uid);
    let dir = open_dir();
    // The caller is gone and another user's process holds its PID: still nothing (not the
    // impostor's identity, not the caller's).
    let rounds = if long() { 10 } else { 3 };
    for _ in 0..rounds {
        let got = handoff(
            dir.path(),
            &d.agent.socket,
            Caller::ExitsAndPidReused,
            caller_uid,
            impostor_uid,
        );
        assert!(
            got.starts_with("err PermissionDenied "),
            "after PID reuse the connection got: {got}"
        );
        let _ = std::fs::remove_file(dir.path().join("go-ExitsAndPidReused"));
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile callers of the server's gRPC APIs

/// Raw bytes as a gRPC message, both ways.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Sends `body` as the (only) message of a unary call to `path`.
async fn raw_unary(channel: Channel, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let pq = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    match grpc.unary(tonic::Request::new(body), pq, RawCodec).await {
        Ok(r) => panic!(
            "{path:?} accepted a malformed message: {:?}",
            r.into_inner()
        ),
        Err(s) => s,
    }
}

/// Sends `body` as the first message of a client stream to `path`.
async fn raw_stream(channel: Channel, path: &'static str, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let pq = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    let req = tonic::Request::new(futures::stream::iter([body]));
    match grpc.streaming(req, pq, RawCodec).await {
        Ok(r) => {
            let mut s = r.into_inner();
            match s.message().await {
                Ok(m) => panic!("{path:?} answered a malformed message: {m:?}"),
                Err(status) => status,
            }
        }
        Err(s) => s,
    }
}

fn assert_status(s: &tonic::Status, code: Code, contains: &str) {
    assert_eq!(s.code(), code, "{s:?}");
    assert!(
        s.message().contains(contains),
        "status message {:?} does not say {contains:?}",
        s.message()
    );
}

/// A CSR (DER) asking for `uris`, and its key.
fn csr(uris: &[&str]) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = uris
        .iter()
        .map(|u| SanType::URI((*u).try_into().unwrap()))
        .collect();
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    (der, key)
}

fn td() -> TrustDomain {
    TrustDomain::parse(TD).unwrap()
}

async fn bundle_set(admin: &Channel) -> BundleSet {
    let b = BundleClient::new(admin.clone())
        .get_bundle(bundle_api::GetBundleRequest::default())
        .await
        .unwrap()
        .into_inner();
    [spiffe_proto::convert::bundle_from_pb(&b).unwrap()]
        .into_iter()
        .collect()
}

/// An attestation request with a join token and a CSR.
fn attest_request(token: &str, csr: Vec<u8>) -> agent_api::AttestAgentRequest {
    agent_api::AttestAgentRequest {
        step: Some(agent_api::attest_agent_request::Step::Params(
            agent_api::attest_agent_request::Params {
                data: Some(pb::AttestationData {
                    r#type: "join_token".into(),
                    payload: token.as_bytes().to_vec(),
                }),
                params: Some(agent_api::AgentX509svidParams { csr }),
            },
        )),
    }
}

fn anonymous_channel(address: &str, bundles: &BundleSet) -> Channel {
    let config = agent_tls_config(&td(), Arc::new(bundles.clone()), None).unwrap();
    tls_channel(address, Arc::new(config)).unwrap()
}

/// Attests with `token` as an agent would.
async fn attest(
    address: &str,
    bundles: &BundleSet,
    token: &str,
    csr_der: Option<Vec<u8>>,
) -> Result<X509Svid, tonic::Status> {
    let (own_csr, key) = csr(&[]);
    let req = attest_request(token, csr_der.unwrap_or(own_csr));
    let mut stream = AgentClient::new(anonymous_channel(address, bundles))
        .attest_agent(futures::stream::iter([req]))
        .await?
        .into_inner();
    let msg = stream.message().await?.expect("a result");
    let Some(agent_api::attest_agent_response::Step::Result(result)) = msg.step else {
        panic!("expected a result")
    };
    let chain = result
        .svid
        .unwrap()
        .cert_chain
        .into_iter()
        .map(rustls_pki_types::CertificateDer::from)
        .collect();
    Ok(X509Svid::new(
        chain,
        PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
    )
    .unwrap())
}

fn agent_channel(address: &str, bundles: &BundleSet, svid: X509Svid) -> Channel {
    let config = agent_tls_config(
        &td(),
        Arc::new(bundles.clone()),
        Some(Arc::new(SvidCell::new(svid))),
    )
    .unwrap();
    tls_channel(address, Arc::new(config)).unwrap()
}

async fn join_token(admin: &Channel) -> String {
    AgentClient::new(admin.clone())
        .create_join_token(agent_api::CreateJoinTokenRequest {
            ttl: 600,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .value
}

fn spiffe_pb(path: &str) -> pb::Spiffeid {
    pb::Spiffeid {
        trust_domain: TD.into(),
        path: path.into(),
    }
}

async fn create_entry(admin: &Channel, id: &str, parent: pb::Spiffeid) -> pb::Entry {
    let r = EntryClient::new(admin.clone())
        .batch_create_entry(entry_api::BatchCreateEntryRequest {
            entries: vec![pb::Entry {
                spiffe_id: Some(spiffe_pb(id)),
                parent_id: Some(parent),
                selectors: vec![pb::Selector {
                    r#type: "unix".into(),
                    value: "uid:1".into(),
                }],
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
    r.entry.unwrap()
}

/// One `BatchNewX509SVID` item: Ok(SPIFFE ID of the minted SVID) or Err((code, message)).
async fn new_x509(
    agent: &Channel,
    entry_id: &str,
    csr_der: Vec<u8>,
) -> Result<String, (Code, String)> {
    let resp = SvidClient::new(agent.clone())
        .batch_new_x509svid(svid_api::BatchNewX509svidRequest {
            params: vec![svid_api::NewX509svidParams {
                entry_id: entry_id.into(),
                csr: csr_der,
            }],
        })
        .await
        .map_err(|s| (s.code(), s.message().to_owned()))?
        .into_inner();
    let r = &resp.results[0];
    let status = r.status.clone().unwrap();
    if status.code != 0 {
        return Err((Code::from_i32(status.code), status.message));
    }
    Ok(r.svid
        .as_ref()
        .unwrap()
        .id
        .as_ref()
        .map_or(String::new(), |id| {
            format!("spiffe://{}{}", id.trust_domain, id.path)
        }))
}

#[test]
fn hostile_grpc_callers_get_typed_errors_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"), &ServerOpts::default());
    let address = format!("127.0.0.1:{}", server.port);
    let rt = runtime();
    let _context = rt.enter();
    let admin = admin_channel(&server.socket).unwrap();
    let bundles = rt.block_on(bundle_set(&admin));

    rt.block_on(async {
        // A join token admits one agent, once.
        let token = join_token(&admin).await;
        let agent_svid = attest(&address, &bundles, &token, None).await.unwrap();
        let agent_id = agent_svid.spiffe_id().to_string();
        let reused = attest(&address, &bundles, &token, None).await.unwrap_err();
        assert_status(
            &reused,
            Code::InvalidArgument,
            "join token does not exist or has already been used",
        );

        // Malformed CSR at attestation.
        let token2 = join_token(&admin).await;
        let bad = attest(&address, &bundles, &token2, Some(vec![0x30, 0x03, 1, 2, 3]))
            .await
            .unwrap_err();
        assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
        assert!(bad.message().to_lowercase().contains("csr"), "{bad:?}");

        let agent_path = agent_id.strip_prefix(&format!("spiffe://{TD}")).unwrap();
        let mine = create_entry(&admin, "/hostile/mine", spiffe_pb(agent_path)).await;
        let other = create_entry(&admin, "/hostile/other", spiffe_pb("/some/other/agent")).await;
        let agent = agent_channel(&address, &bundles, agent_svid);

        // A good request works; a CSR asking for another ID gets the entry's ID, nothing else.
        let (good, _k) = csr(&[]);
        assert_eq!(
            new_x509(&agent, &mine.id, good.clone()).await,
            Ok(format!("spiffe://{TD}/hostile/mine"))
        );
        let (greedy, _k) = csr(&[&format!("spiffe://{TD}/hostile/other")]);
        assert_eq!(
            new_x509(&agent, &mine.id, greedy).await,
            Ok(format!("spiffe://{TD}/hostile/mine"))
        );
        // An entry not authorized to this agent.
        let (code, msg) = new_x509(&agent, &other.id, good.clone()).await.unwrap_err();
        assert_eq!(code, Code::NotFound, "{msg}");
        assert!(
            msg.contains(&format!("entry {} is not authorized for agent", other.id)),
            "{msg}"
        );
        // Malformed CSRs: garbage, and a valid CSR whose signature is broken.
        let (code, msg) = new_x509(&agent, &mine.id, b"not a csr".to_vec())
            .await
            .unwrap_err();
        assert_eq!(code, Code::InvalidArgument, "{msg}");
        let mut forged = good.clone();
        let last = forged.len() - 1;
        forged[last] ^= 0x55;
        let (code, msg) = new_x509(&agent, &mine.id, forged).await.unwrap_err();
        assert_eq!(code, Code::InvalidArgument, "{msg}");
        let (code, msg) = new_x509(&agent, &mine.id, Vec::new()).await.unwrap_err();
        assert_eq!(code, Code::InvalidArgument, "{msg}");
        // A JWT-SVID for an entry not authorized to this agent.
        let jwt = SvidClient::new(agent.clone())
            .new_jwtsvid(svid_api::NewJwtsvidRequest {
                entry_id: other.id.clone(),
                audience: vec!["x".into()],
            })
            .await
            .unwrap_err();
        assert_eq!(jwt.code(), Code::NotFound, "{jwt:?}");

        // Admin APIs over TCP need an admin identity, not an agent's or none.
        let denied = AgentClient::new(agent.clone())
            .list_agents(agent_api::ListAgentsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
        let denied = AgentClient::new(anonymous_channel(&address, &bundles))
            .list_agents(agent_api::ListAgentsRequest::default())
            .await
            .unwrap_err();
        assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

        // Oversized messages: over the agent port (no identity needed to attest) and the
        // admin socket.
        let huge = attest_request("x", vec![0u8; 5 * 1024 * 1024]);
        let s = AgentClient::new(anonymous_channel(&address, &bundles))
            .attest_agent(futures::stream::iter([huge]))
            .await;
        let s = match s {
            Ok(r) => r.into_inner().message().await.unwrap_err(),
            Err(s) => s,
        };
        assert_status(&s, Code::OutOfRange, "message length too large");
        let s = EntryClient::new(admin.clone())
            .batch_create_entry(entry_api::BatchCreateEntryRequest {
                entries: vec![pb::Entry {
                    spiffe_id: Some(spiffe_pb("/huge")),
                    parent_id: Some(spiffe_pb(agent_path)),
                    selectors: vec![pb::Selector {
                        r#type: "unix".into(),
                        value: "x".repeat(5 * 1024 * 1024),
                    }],
                    ..Default::default()
                }],
                output_mask: None,
            })
            .await
            .unwrap_err();
        assert_status(&s, Code::OutOfRange, "message length too large");

        // Malformed protobuf: a truncated varint, a field of wire type 7.
        for body in [vec![0x0a, 0xff], vec![0x0f, 0x01, 0x02]] {
            let s = raw_unary(
                admin.clone(),
                "/spire.api.server.entry.v1.Entry/BatchCreateEntry",
                body.clone(),
            )
            .await;
            assert_status(&s, Code::Internal, "failed to decode Protobuf message");
            let s = raw_stream(
                anonymous_channel(&address, &bundles),
                "/spire.api.server.agent.v1.Agent/AttestAgent",
                body,
            )
            .await;
            assert_status(&s, Code::Internal, "failed to decode Protobuf message");
        }

        // A federated bundle with two JWT keys under one key ID.
        let spki = KeyPair::generate().unwrap().subject_public_key_info();
        let spki2 = KeyPair::generate().unwrap().subject_public_key_info();
        let dup = pb::Bundle {
            trust_domain: "other.org".into(),
            jwt_authorities: vec![
                pb::JwtKey {
                    public_key: spki,
                    key_id: "same".into(),
                    expires_at: 0,
                    ..Default::default()
                },
                pb::JwtKey {
                    public_key: spki2,
                    key_id: "same".into(),
                    expires_at: 0,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let r = BundleClient::new(admin.clone())
            .batch_create_federated_bundle(bundle_api::BatchCreateFederatedBundleRequest {
                bundle: vec![dup],
                output_mask: None,
            })
            .await
            .unwrap()
            .into_inner();
        let status = r.results[0].status.clone().unwrap();
        assert_eq!(
            Code::from_i32(status.code),
            Code::InvalidArgument,
            "{status:?}"
        );
        assert!(
            status.message.starts_with("failed to convert bundle: ")
                && status.message.contains("same"),
            "{status:?}"
        );
        let count = BundleClient::new(admin.clone())
            .count_bundles(bundle_api::CountBundlesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .count;
        assert_eq!(count, 1, "the bad bundle was not stored");

        // A banned agent is refused from then on.
        let r = run_cmd(server.cli_command(&["agent", "ban", "-spiffeID", &agent_id]));
        r.ok();
        let (code, msg) = new_x509(&agent, &mine.id, good.clone()).await.unwrap_err();
        assert_eq!(code, Code::PermissionDenied, "{msg}");
        assert!(
            msg.contains(&format!("agent {agent_id} is banned")),
            "{msg}"
        );

        // The server keeps serving others: a new agent attests and gets its SVIDs.
        let token3 = join_token(&admin).await;
        let svid3 = attest(&address, &bundles, &token3, None).await.unwrap();
        let path3 = svid3
            .spiffe_id()
            .to_string()
            .strip_prefix(&format!("spiffe://{TD}"))
            .unwrap()
            .to_owned();
        let e3 = create_entry(&admin, "/hostile/third", spiffe_pb(&path3)).await;
        let agent3 = agent_channel(&address, &bundles, svid3);
        assert_eq!(
            new_x509(&agent3, &e3.id, good).await,
            Ok(format!("spiffe://{TD}/hostile/third"))
        );
    });
    server.cli(&["healthcheck"]).ok();
    server.daemon.as_mut().unwrap().assert_running();
    server.stop();
}

// ---------------------------------------------------------------------------------------------
// Forged JWTs at the agent's ValidateJWTSVID

#[test]
fn forged_jwts_are_refused_by_the_agent() {
    let d = Deployment::start(&ServerOpts::default());
    let id = format!("spiffe://{TD}/jwt/payment");
    d.server.create_entry(&id, &["unix:uid:0"], &[]).ok();
    let rt = runtime();
    let client = rt
        .block_on(WorkloadApiClient::connect(&d.agent.endpoint()))
        .unwrap();
    let mut token = String::new();
    wait_until("a JWT-SVID", READY, || {
        let svid = rt
            .block_on(client.fetch_jwt_svid(&["api"], None))
            .map_err(|e| e.to_string())?;
        token = svid.token().to_owned();
        Ok(())
    });
    let bundles = rt.block_on(client.fetch_jwt_bundles()).unwrap();
    let jwt_bundle = bundles.get(TD).unwrap().jwt().clone();
    let (kid, key) = jwt_bundle.authorities().next().unwrap();
    let (kid, spki) = (kid.to_owned(), key.spki_der().to_vec());
    let jwks = jwt_bundle.to_json();

    let _context = rt.enter();
    let raw = admin_channel(&d.agent.socket).unwrap();
    let validate = |svid: String| {
        let mut req = tonic::Request::new(ValidateJwtsvidRequest {
            audience: "api".into(),
            svid,
        });
        req.metadata_mut().insert(
            spiffe_workload::SECURITY_HEADER_KEY,
            tonic::metadata::MetadataValue::from_static(spiffe_workload::SECURITY_HEADER_VALUE),
        );
        rt.block_on(SpiffeWorkloadApiClient::new(raw.clone()).validate_jwtsvid(req))
    };
    // The real token validates.
    let ok = validate(token.clone()).unwrap().into_inner();
    assert_eq!(ok.spiffe_id, id);

    let parts: Vec<&str> = token.split('.').collect();
    let claims = parts[1];
    let header = |alg: &str| {
        B64.encode(format!(r#"{{"alg":"{alg}","kid":"{kid}","typ":"JWT"}}"#).as_bytes())
    };
    // alg none, with and without a signature part.
    for forged in [
        format!("{}.{claims}.", header("none")),
        format!("{}.{claims}.{}", header("none"), parts[2]),
    ] {
        let s = validate(forged).unwrap_err();
        assert_status(&s, Code::InvalidArgument, "JWT-SVID refused: ");
        assert!(s.message().contains("\"none\""), "{s:?}");
    }
    // HS256 "signed" with the public key (as DER, as the JWKS text).
    for secret in [spki.as_slice(), jwks.as_bytes()] {
        let signing_input = format!("{}.{claims}", header("HS256"));
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
        let forged = format!("{signing_input}.{}", B64.encode(tag.as_ref()));
        let s = validate(forged).unwrap_err();
        assert_status(&s, Code::InvalidArgument, "JWT-SVID refused: ");
        assert!(s.message().contains("HS256"), "{s:?}");
    }
    // Tampered claims under the real signature.
    let tampered_claims = B64.encode(
        String::from_utf8(B64.decode(claims).unwrap())
            .unwrap()
            .replace("/jwt/payment", "/jwt/admin0")
            .as_bytes(),
    );
    let s = validate(format!("{}.{tampered_claims}.{}", parts[0], parts[2])).unwrap_err();
    assert_status(&s, Code::InvalidArgument, "signature");
    // Still serving: the real token validates again.
    assert_eq!(validate(token).unwrap().into_inner().spiffe_id, id);
}

// ---------------------------------------------------------------------------------------------
// The admin socket and non-root users

#[test]
fn admin_socket_refuses_a_non_root_user() {
    if !is_root() {
        eprintln!(
            "SKIP admin_socket_refuses_a_non_root_user: needs root to run the CLI as uid 65534"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("server");
    // Every directory on the way is open, so only the socket's own mode stands in the way.
    std::fs::create_dir_all(dir.join("admin")).unwrap();
    for d in [tmp.path(), dir.as_path(), dir.join("admin").as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut server = Server::start(&dir, &ServerOpts::default());
    let mode = std::fs::metadata(&server.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "admin socket mode {mode:o}");

    for args in [
        vec!["entry", "show"],
        vec!["token", "generate", "-spiffeID", common::ALIAS],
        vec!["agent", "list"],
        vec!["healthcheck"],
    ] {
        let mut cmd = server.cli_command(&args);
        cmd.uid(65534).gid(65534);
        let r = run_cmd(cmd);
        assert_ne!(r.code, 0, "uid 65534 ran {args:?}: {}", r.stdout);
        assert_eq!(r.stdout, "", "{args:?}");
        // healthcheck prints SPIRE's fixed line; the others name the cause.
        let why = if args == ["healthcheck"] {
            "Error: server is unhealthy: unable to determine health"
        } else {
            "permission denied"
        };
        assert!(
            r.stderr.to_lowercase().contains(&why.to_lowercase()),
            "{args:?}: {}",
            r.stderr
        );
    }
    // Root is served, and nothing was created by the refused calls.
    assert_eq!(server.entry_count(), 0);
    server.cli(&["agent", "list"]).ok();
    server.stop();
}
