//! Items 3 (server part) and 4: what a peer of the server's agent API can make it hold, and
//! join tokens kept out of the server's log and datastore.
//!
//! Before the fix the agent API's TLS listener set no `SETTINGS_MAX_CONCURRENT_STREAMS`, no
//! keepalive and no idle timeout, and `AttestAgent` waited for ever for its first message: one
//! anonymous TLS connection opened 20,000 idle `AttestAgent` streams and took the server from
//! 20 MB to 218 MB. Join tokens were logged at INFO inside the agent ID they admit, and stored
//! as they are.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use spiffe_agent::channel::agent_tls_config;
use spiffe_core::{BundleSet, SvidCell, TrustDomain, X509Svid};
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_server::client::admin_channel;
use spiffe_testkit::grpc::{self, attest_join_token};
use spiffe_workload::http::MtlsConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tonic::Code;

use crate::common::{
    Deployment, Server, ServerOpts, TD, agent_channel, anonymous_channel, bundle_set, join_token,
    rss_kib, runtime,
};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;
const REFUSED_STREAM: u32 = 0x7;
/// Streams the flood opens, as in the review.
const FLOOD: u32 = 20_000;

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A string literal (no Huffman coding; short).
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(u8::try_from(s.len()).unwrap());
    out.extend_from_slice(s.as_bytes());
}

/// The header block of a gRPC request to `path`: `:method POST` and `:scheme https` from the
/// static table, `:path` and `:authority` with indexed names, `content-type` (static name 31)
/// and `te: trailers`.
fn grpc_headers(path: &str) -> Vec<u8> {
    let mut block = vec![0x83, 0x87];
    block.push(0x04);
    string(&mut block, path);
    block.push(0x01);
    string(&mut block, "127.0.0.1");
    block.extend_from_slice(&[0x0f, 0x10]);
    string(&mut block, "application/grpc");
    block.push(0x00);
    string(&mut block, "te");
    string(&mut block, "trailers");
    block
}

/// What the server sent on a raw connection.
#[derive(Debug, Default)]
struct Seen {
    /// Streams it refused (RST_STREAM REFUSED_STREAM).
    refused: usize,
    /// Other stream resets.
    reset: usize,
    /// Response header blocks (a stream the server took and answered, with trailers).
    headers: usize,
    /// Its GOAWAY's error code.
    goaway: Option<u32>,
    /// When the connection ended (EOF or error), counted from the start.
    closed_after: Option<Duration>,
    /// When the GOAWAY came.
    goaway_after: Option<Duration>,
}

/// A raw HTTP/2 connection over TLS to the agent API: frames written as given, every frame
/// read and tallied (SETTINGS and PING answered).
struct RawConn {
    write: mpsc::UnboundedSender<Vec<u8>>,
    seen: tokio::task::JoinHandle<Seen>,
}

impl RawConn {
    async fn open(port: u16, bundles: &BundleSet, svid: Option<X509Svid>) -> RawConn {
        let config = agent_tls_config(
            &TrustDomain::parse(TD).unwrap(),
            Arc::new(bundles.clone()),
            svid.map(|s| Arc::new(SvidCell::new(s)) as Arc<dyn spiffe_core::SvidSource>),
        )
        .unwrap();
        let uri: tonic::codegen::http::Uri = format!("https://127.0.0.1:{port}").parse().unwrap();
        let stream = MtlsConnector::from_client_config(Arc::new(config))
            .connect(&uri)
            .await
            .unwrap();
        let (mut rd, mut wr) = tokio::io::split(TokioIo::new(stream));
        let (write, mut to_write) = mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            while let Some(bytes) = to_write.recv().await {
                if wr.write_all(&bytes).await.is_err() {
                    // The server closed the connection: drop the rest.
                    while to_write.recv().await.is_some() {}
                    return;
                }
            }
        });
        let mut hello = PREFACE.to_vec();
        frame(&mut hello, SETTINGS, 0, 0, &[]);
        write.send(hello).unwrap();
        let replies = write.clone();
        let seen = tokio::spawn(async move {
            let started = Instant::now();
            let mut seen = Seen::default();
            let mut head = [0u8; 9];
            loop {
                if rd.read_exact(&mut head).await.is_err() {
                    break;
                }
                let len = (usize::from(head[0]) << 16)
                    | (usize::from(head[1]) << 8)
                    | usize::from(head[2]);
                let mut payload = vec![0u8; len];
                if rd.read_exact(&mut payload).await.is_err() {
                    break;
                }
                match head[3] {
                    SETTINGS if head[4] & ACK == 0 => {
                        let mut ack = Vec::new();
                        frame(&mut ack, SETTINGS, ACK, 0, &[]);
                        let _ = replies.send(ack);
                    }
                    PING if head[4] & ACK == 0 => {
                        let mut pong = Vec::new();
                        frame(&mut pong, PING, ACK, 0, &payload);
                        let _ = replies.send(pong);
                    }
                    RST_STREAM => {
                        let code = u32::from_be_bytes(payload[..4].try_into().unwrap());
                        if code == REFUSED_STREAM {
                            seen.refused += 1;
                        } else {
                            seen.reset += 1;
                        }
                    }
                    HEADERS => seen.headers += 1,
                    GOAWAY => {
                        seen.goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
                        seen.goaway_after = Some(started.elapsed());
                    }
                    _ => {}
                }
            }
            seen.closed_after = Some(started.elapsed());
            seen
        });
        RawConn { write, seen }
    }

    /// Opens `count` streams (odd IDs from `first`) to `path`, never sending a message.
    fn open_streams(&self, first: u32, count: u32, path: &str) {
        let block = grpc_headers(path);
        let mut batch = Vec::new();
        for i in 0..count {
            frame(&mut batch, HEADERS, END_HEADERS, first + 2 * i, &block);
            if batch.len() > 64 * 1024 {
                let _ = self.write.send(std::mem::take(&mut batch));
            }
        }
        let _ = self.write.send(batch);
    }

    /// Whether the server has closed the connection.
    fn is_closed(&self) -> bool {
        self.seen.is_finished()
    }

    /// Drops the connection from this side.
    fn abort(self) {
        self.seen.abort();
    }

    /// What the server sent, once it closed the connection (at most `within`).
    async fn closed_within(self, within: Duration) -> Seen {
        drop(self.write);
        match tokio::time::timeout(within, self.seen).await {
            Ok(seen) => seen.unwrap(),
            Err(_) => panic!("the server did not close the connection within {within:?}"),
        }
    }
}

/// The server's agent API, `127.0.0.1:<port>`.
fn address(server: &Server) -> String {
    format!("127.0.0.1:{}", server.port)
}

fn server_pid(server: &Server) -> u32 {
    u32::try_from(server.daemon.as_ref().unwrap().pid().as_raw()).unwrap()
}

/// Restarts `server` with `extra` TOML appended to its configuration.
fn reconfigure(server: &mut Server, extra: &str) {
    server.stop();
    let mut text = std::fs::read_to_string(&server.config).unwrap();
    text.push_str(extra);
    std::fs::write(&server.config, text).unwrap();
    server.restart();
}

#[test]
fn an_anonymous_stream_flood_is_refused_and_memory_stays_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"), &ServerOpts::default());
    let pid = server_pid(&server);
    let rt = runtime();
    let _guard = rt.enter();
    let admin = admin_channel(&server.socket).unwrap();
    let bundles = rt.block_on(bundle_set(&admin));
    // Settle: one ordinary attestation, so the "before" figure is of a server that has served.
    let token = rt.block_on(join_token(&admin));
    rt.block_on(attest_join_token(
        anonymous_channel(&address(&server), &bundles),
        &token,
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let before = rss_kib(pid);

    let (seen, peak) = rt.block_on(async {
        let conn = RawConn::open(server.port, &bundles, None).await;
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(8) {
                peak = peak.max(rss_kib(pid));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        });
        conn.open_streams(1, FLOOD, "/spire.api.server.agent.v1.Agent/AttestAgent");
        // The server refuses what is over the limit, sends the connection away, and closes it
        // (at the latest when an anonymous connection's life is over: 30 s, plus 5 s grace).
        let seen = conn.closed_within(Duration::from_secs(45)).await;
        (seen, sampler.await.unwrap())
    });
    let after = rss_kib(pid);
    eprintln!(
        "agent API stream flood ({FLOOD} idle AttestAgent streams on one anonymous TLS connection): \
         server RSS before {before} KiB, peak {peak} KiB, after {after} KiB (growth {} KiB); \
         server: {seen:?}",
        peak.saturating_sub(before)
    );
    assert!(
        seen.refused > 0,
        "streams beyond the limit must be refused: {seen:?}"
    );
    assert!(seen.closed_after.is_some(), "{seen:?}");
    assert!(
        seen.goaway.is_some(),
        "the server must send the connection away: {seen:?}"
    );
    assert!(
        peak.saturating_sub(before) < 40 * 1024,
        "RSS grew from {before} KiB to {peak} KiB under the flood"
    );

    // The same flood spread over many connections, each within its stream limit: 300
    // anonymous connections holding 4 calls each whose request body never comes (GetBundle:
    // not rate limited, held until request_timeout). Connections beyond the cap (256) are
    // closed at once; the rest hold a bounded amount.
    let before = rss_kib(pid);
    let (closed, peak) = rt.block_on(async {
        let mut conns = Vec::new();
        for _ in 0..300 {
            let conn = RawConn::open(server.port, &bundles, None).await;
            conn.open_streams(1, 4, "/spire.api.server.bundle.v1.Bundle/GetBundle");
            conns.push(conn);
        }
        let mut peak = 0;
        for _ in 0..40 {
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let closed = conns.iter().filter(|c| c.is_closed()).count();
        for c in conns {
            c.abort();
        }
        (closed, peak)
    });
    eprintln!(
        "300 anonymous connections x 4 calls without a body: server RSS before {before} KiB, \
         peak {peak} KiB (growth {} KiB); {closed} connections closed at once \
         (max_anonymous_connections 256)",
        peak.saturating_sub(before)
    );
    assert!((44..300).contains(&closed), "{closed}");
    assert!(
        peak.saturating_sub(before) < 40 * 1024,
        "RSS grew from {before} KiB to {peak} KiB"
    );

    // The server still serves: an agent attests and calls, an admin calls.
    rt.block_on(async {
        let token = join_token(&admin).await;
        let svid = attest_join_token(anonymous_channel(&address(&server), &bundles), &token)
            .await
            .unwrap();
        let agent = agent_channel(&address(&server), &bundles, svid);
        AgentClient::new(agent)
            .post_status(agent_api::PostStatusRequest::default())
            .await
            .unwrap();
    });
    server.cli(&["agent", "count"]).ok();
    server.daemon.as_mut().unwrap().assert_running();
    server.stop();
}

#[test]
fn anonymous_connections_are_short_lived_and_idle_ones_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"), &ServerOpts::default());
    reconfigure(
        &mut server,
        "[limits]\nanonymous_connection_lifetime = \"2s\"\nidle_timeout = \"2s\"\n",
    );
    let rt = runtime();
    let _guard = rt.enter();
    let admin = admin_channel(&server.socket).unwrap();
    let bundles = rt.block_on(bundle_set(&admin));
    rt.block_on(async {
        // Anonymous: four idle AttestAgent streams (the limit). Each is answered
        // DEADLINE_EXCEEDED after attestation_message_timeout (10 s)... but the connection's
        // life ends first: GOAWAY at 2 s, closed after the 5 s grace at the latest.
        let conn = RawConn::open(server.port, &bundles, None).await;
        conn.open_streams(1, 4, "/spire.api.server.agent.v1.Agent/AttestAgent");
        let seen = conn.closed_within(Duration::from_secs(15)).await;
        eprintln!("anonymous connection with 4 idle streams: {seen:?}");
        assert_eq!(seen.refused, 0, "{seen:?}");
        let goaway = seen.goaway_after.unwrap();
        assert!(
            goaway >= Duration::from_millis(1500) && goaway < Duration::from_secs(5),
            "{seen:?}"
        );
        assert!(
            seen.closed_after.unwrap() < Duration::from_secs(10),
            "{seen:?}"
        );

        // A fifth stream on an anonymous connection is refused.
        let conn = RawConn::open(server.port, &bundles, None).await;
        conn.open_streams(1, 5, "/spire.api.server.agent.v1.Agent/AttestAgent");
        let seen = conn.closed_within(Duration::from_secs(15)).await;
        assert_eq!(seen.refused, 1, "{seen:?}");

        // Authenticated (an agent's SVID) and idle: sent away after idle_timeout.
        let token = join_token(&admin).await;
        let svid = attest_join_token(anonymous_channel(&address(&server), &bundles), &token)
            .await
            .unwrap();
        let conn = RawConn::open(server.port, &bundles, Some(svid.clone())).await;
        let seen = conn.closed_within(Duration::from_secs(15)).await;
        eprintln!("idle authenticated connection: {seen:?}");
        let goaway = seen.goaway_after.unwrap();
        assert!(
            goaway >= Duration::from_millis(1500) && goaway < Duration::from_secs(5),
            "{seen:?}"
        );
        assert_eq!(
            seen.goaway,
            Some(0),
            "a graceful GOAWAY (NO_ERROR): {seen:?}"
        );

        // Authenticated with an open stream: not idle. A sync stream lives on and delivers.
        let agent = agent_channel(&address(&server), &bundles, svid.clone());
        let mut sync = spiffe_proto::spiffers::sync::v1::sync_client::SyncClient::new(agent)
            .watch_authorized(spiffe_proto::spiffers::sync::v1::WatchAuthorizedRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(sync.message().await.unwrap().unwrap().initial);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let agent_path = svid.spiffe_id().path().to_owned();
        let entry = grpc::unix_entry(
            grpc::spiffe_id(TD, "/after/idle"),
            grpc::spiffe_id(TD, &agent_path),
            1,
        );
        grpc::create_entry(&admin, entry).await.unwrap();
        let pushed = tokio::time::timeout(Duration::from_secs(5), sync.message())
            .await
            .expect("the sync stream outlived idle_timeout")
            .unwrap()
            .unwrap();
        assert_eq!(pushed.upserted.len(), 1);
    });
    server.stop();
}

#[test]
fn attestation_attempts_from_one_address_are_rate_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("server"), &ServerOpts::default());
    let rt = runtime();
    let _guard = rt.enter();
    let admin = admin_channel(&server.socket).unwrap();
    let bundles = rt.block_on(bundle_set(&admin));
    rt.block_on(async {
        let channel = anonymous_channel(&address(&server), &bundles);
        // The default burst (20) is answered on its merits.
        for i in 0..20 {
            let s = attest_join_token(channel.clone(), "no-such-token")
                .await
                .unwrap_err();
            assert_eq!(s.code(), Code::InvalidArgument, "attempt {i}: {s:?}");
        }
        // Then (at 1 attempt per second) the address is told to come back later.
        let mut limited = None;
        for _ in 0..5 {
            let s = attest_join_token(channel.clone(), "no-such-token")
                .await
                .unwrap_err();
            if s.code() == Code::ResourceExhausted {
                limited = Some(s);
                break;
            }
        }
        let s = limited.expect("RESOURCE_EXHAUSTED after the burst");
        eprintln!("rate limited: {s:?}");
        assert!(
            s.message().starts_with(
                "too many attestation attempts from 127.0.0.1 (attestation_rate_limit); retry in "
            ),
            "{s:?}"
        );
        let pushback: u64 = s
            .metadata()
            .get("grpc-retry-pushback-ms")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("grpc-retry-pushback-ms");
        assert!((1..=1000).contains(&pushback), "{pushback}");
        // After the hint, an agent with a real token attests.
        tokio::time::sleep(Duration::from_millis(pushback + 100)).await;
        let token = join_token(&admin).await;
        attest_join_token(channel, &token).await.unwrap();
    });
    server.stop();
}

#[test]
fn join_tokens_are_neither_logged_nor_stored() {
    // A real agent attests with a token from `token generate` (with an alias, as the harness
    // does).
    let mut d = Deployment::start(&ServerOpts::default());
    let agent_id = {
        let r = d.server.cli(&["agent", "list", "-output", "json"]);
        let json: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
        let id = &json["agents"][0]["id"];
        format!(
            "spiffe://{}{}",
            id["trust_domain"].as_str().unwrap(),
            id["path"].as_str().unwrap()
        )
    };
    let used = agent_id.rsplit('/').next().unwrap().to_owned();
    // And one token generated and left unused.
    let unused = d.server.cli(&["token", "generate"]).token();
    assert_eq!(unused.len(), 36, "{unused}");
    // A weak operator token is refused with the rule.
    let rt = runtime();
    let _guard = rt.enter();
    let admin = admin_channel(&d.server.socket).unwrap();
    let weak = rt
        .block_on(
            AgentClient::new(admin).create_join_token(agent_api::CreateJoinTokenRequest {
                ttl: 600,
                token: "node-1-token".into(),
                agent_id: None,
            }),
        )
        .unwrap_err();
    assert_eq!(weak.code(), Code::InvalidArgument, "{weak:?}");
    assert!(
        weak.message()
            .starts_with("join token is too weak: estimated "),
        "{weak:?}"
    );

    let log = d.server.log();
    for token in [&used, &unused] {
        assert!(
            !log.contains(token.as_str()),
            "the server log holds a token:\n{log}"
        );
        let fingerprint = spiffe_core::id::log_id::join_token_fingerprint(token);
        assert!(
            log.contains(&format!("sha256:{fingerprint}")),
            "the log names the token by its hash ({fingerprint}):\n{log}"
        );
    }
    assert!(
        log.contains(&format!(
            "join_token/sha256:{}",
            spiffe_core::id::log_id::join_token_fingerprint(&used)
        )),
        "{log}"
    );
    // The datastore (SQLite file and its WAL) holds the unused token only as its hash.
    let data = d.server.dir.join("data");
    let mut stored = Vec::new();
    for name in ["datastore.sqlite3", "datastore.sqlite3-wal"] {
        stored.extend(std::fs::read(data.join(name)).unwrap_or_default());
    }
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
    assert!(
        !contains(unused.as_bytes()),
        "the datastore holds the token"
    );
    assert!(
        contains(spiffe_server::attest::join_token_hash(&unused).as_bytes()),
        "the datastore holds the token's hash"
    );
    let agent_log = d.agent.log();
    eprintln!(
        "agent log holds its (spent) join token: {}",
        agent_log.contains(used.as_str())
    );
    d.server.stop();
}
