//! Regression tests for issue 11 against a real in-process server over real TLS: credentials
//! re-checked on long-lived connections (expired SVIDs, retired serials, sync streams ended),
//! admin rights only from unexpired admin entries, join tokens hashed at rest and judged for
//! strength, and the agent API's timeouts (first attestation message, a request body that
//! never arrives) that must not cut the sync stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{TD, TestServer, agent_channel, attest, csr};
use prost::bytes::{Buf, BufMut};
use rcgen::{CertificateParams, KeyPair, SanType};
use spiffe_agent::channel::{agent_tls_config, tls_channel};
use spiffe_core::{BundleSet, PrivateKey, TrustDomain, X509Svid};
use spiffe_proto::spiffers::sync::v1 as sync_api;
use spiffe_proto::spiffers::sync::v1::sync_client::SyncClient;
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::svid::v1 as svid_api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::ServerConfig;
use sqlx::Row;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

/// A server with `adjust` applied to the test configuration.
async fn server_with(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::server::config(dir.path(), None);
    adjust(&mut c);
    let socket = c.socket_path.clone();
    let server = spiffe_server::start(c).await.unwrap();
    TestServer {
        server,
        dir,
        socket,
    }
}

fn id(path: &str) -> pb::Spiffeid {
    pb::Spiffeid {
        trust_domain: TD.into(),
        path: path.into(),
    }
}

fn anonymous(address: &str, bundles: &BundleSet) -> Channel {
    let config = agent_tls_config(
        &TrustDomain::parse(TD).unwrap(),
        Arc::new(bundles.clone()),
        None,
    )
    .unwrap();
    tls_channel(address, Arc::new(config)).unwrap()
}

fn svid_from(pb: pb::X509svid, key: &KeyPair) -> X509Svid {
    let chain = pb
        .cert_chain
        .into_iter()
        .map(rustls_pki_types::CertificateDer::from)
        .collect();
    X509Svid::new(
        chain,
        PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
    )
    .unwrap()
}

/// Renews the agent SVID over `channel` (authenticated with the SVID to renew).
async fn renew(channel: Channel) -> Result<X509Svid, tonic::Status> {
    let (csr, key) = csr();
    let svid = AgentClient::new(channel)
        .renew_agent(agent_api::RenewAgentRequest {
            params: Some(agent_api::AgentX509svidParams { csr }),
        })
        .await?
        .into_inner()
        .svid
        .unwrap();
    Ok(svid_from(svid, &key))
}

async fn post_status(channel: Channel) -> Result<(), tonic::Status> {
    AgentClient::new(channel)
        .post_status(agent_api::PostStatusRequest::default())
        .await
        .map(|_| ())
}

/// Opens the sync stream and reads its first message.
async fn subscribe(channel: Channel) -> tonic::Streaming<sync_api::WatchAuthorizedResponse> {
    let mut stream = SyncClient::new(channel)
        .watch_authorized(sync_api::WatchAuthorizedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.initial);
    stream
}

/// The status the stream ends with, within `within`.
async fn ends_with(
    stream: &mut tonic::Streaming<sync_api::WatchAuthorizedResponse>,
    within: Duration,
) -> tonic::Status {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.message()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => panic!("the stream ended without a status"),
            Ok(Err(status)) => return status,
            Err(_) => panic!("the stream did not end within {within:?}"),
        }
    }
}

#[tokio::test]
async fn an_svid_that_expires_after_the_handshake_is_refused_and_ends_the_sync_stream() {
    let server = server_with(|c| c.agent_ttl = Some(Duration::from_secs(4))).await;
    let bundles = server.bundle_set().await;
    let address = server.agent_address();
    let token = server.join_token().await;
    let svid = attest(&address, &bundles, &token).await.unwrap();
    let not_after = spiffe_core::x509::CertificateInfo::parse(&svid.chain()[0])
        .unwrap()
        .not_after;
    let channel = agent_channel(&address, &bundles, svid);
    // The handshake happens now, while the SVID is valid; the connection then stays open.
    post_status(channel.clone()).await.unwrap();
    let mut stream = subscribe(channel.clone()).await;

    let status = ends_with(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().starts_with("agent SVID expired at"),
        "{status:?}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(now > not_after, "ended before the SVID expired");

    // The same connection, a unary call: refused as expired.
    let status = post_status(channel).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status
            .message()
            .starts_with("caller certificate expired at"),
        "{status:?}"
    );
    server.server.stop().await;
}

#[tokio::test]
async fn sync_stream_ends_when_its_serial_is_retired_or_the_agent_evicted() {
    let server = TestServer::start(None).await;
    let bundles = server.bundle_set().await;
    let address = server.agent_address();
    let token = server.join_token().await;
    let svid0 = attest(&address, &bundles, &token).await.unwrap();
    let agent_id = svid0.spiffe_id().clone();
    let first = agent_channel(&address, &bundles, svid0);
    let mut stream0 = subscribe(first.clone()).await;

    // One renewal: the old SVID stays valid (the agent may not have switched yet).
    let svid1 = renew(first.clone()).await.unwrap();
    let second = agent_channel(&address, &bundles, svid1);
    post_status(first.clone()).await.unwrap();
    let mut stream1 = subscribe(second.clone()).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(500), stream0.message())
            .await
            .is_err(),
        "the first stream must go on after one renewal"
    );

    // A second renewal retires the first SVID: its stream ends at once.
    let started = Instant::now();
    let svid2 = renew(second.clone()).await.unwrap();
    let status = ends_with(&mut stream0, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("is no longer current"),
        "{status:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let status = post_status(first).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // Eviction ends the current streams too.
    let third = agent_channel(&address, &bundles, svid2);
    let mut stream2 = subscribe(third).await;
    server
        .agents()
        .delete_agent(agent_api::DeleteAgentRequest {
            id: Some(pb::Spiffeid {
                trust_domain: TD.into(),
                path: agent_id.path().into(),
            }),
        })
        .await
        .unwrap();
    for stream in [&mut stream1, &mut stream2] {
        let status = ends_with(stream, Duration::from_secs(5)).await;
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
        assert!(status.message().contains("evicted"), "{status:?}");
    }
    server.server.stop().await;
}

/// A CSR for `uri` and its key.
fn csr_for(uri: &str) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
    (params.serialize_request(&key).unwrap().der().to_vec(), key)
}

async fn create_entry(server: &TestServer, e: pb::Entry) -> pb::Entry {
    let r = server
        .entries()
        .batch_create_entry(entry_api::BatchCreateEntryRequest {
            entries: vec![e],
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

async fn list_agents(channel: Channel) -> Result<(), tonic::Status> {
    AgentClient::new(channel)
        .list_agents(agent_api::ListAgentsRequest::default())
        .await
        .map(|_| ())
}

#[tokio::test]
async fn admin_rights_only_from_unexpired_admin_entries() {
    let server = TestServer::start(None).await;
    let bundles = server.bundle_set().await;
    let address = server.agent_address();
    let admin_id = format!("spiffe://{TD}/ops/admin");
    let (csr, key) = csr_for(&admin_id);
    let minted = SvidClient::new(server.admin())
        .mint_x509svid(svid_api::MintX509svidRequest { csr, ttl: 600 })
        .await
        .unwrap()
        .into_inner()
        .svid
        .unwrap();
    let svid = svid_from(minted, &key);
    let entry = |admin: bool, expires_at: i64, uid: &str| pb::Entry {
        spiffe_id: Some(id("/ops/admin")),
        parent_id: Some(id("/some/agent")),
        selectors: vec![pb::Selector {
            r#type: "unix".into(),
            value: format!("uid:{uid}"),
        }],
        admin,
        expires_at,
        ..Default::default()
    };
    // No entry, then a non-admin entry with the ID: no admin rights.
    let status = list_agents(agent_channel(&address, &bundles, svid.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    create_entry(&server, entry(false, 0, "1")).await;
    let status = list_agents(agent_channel(&address, &bundles, svid.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // An admin entry that expires in a few seconds: admin until then, on the same connection
    // too, and nothing after.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    create_entry(&server, entry(true, now + 3, "2")).await;
    let channel = agent_channel(&address, &bundles, svid.clone());
    list_agents(channel.clone()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = list_agents(channel).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = list_agents(agent_channel(&address, &bundles, svid.clone()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // An unexpired admin entry grants again.
    create_entry(&server, entry(true, 0, "3")).await;
    list_agents(agent_channel(&address, &bundles, svid))
        .await
        .unwrap();
    server.server.stop().await;
}

/// The join token rows of a SQLite datastore.
async fn token_rows(server: &TestServer) -> Vec<(String, i64)> {
    let url = format!(
        "sqlite://{}",
        server.dir.path().join("data/datastore.sqlite3").display()
    );
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("SELECT token_hash, expires_at FROM join_token_hashes")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get("token_hash"), r.get("expires_at")))
        .collect()
}

#[tokio::test]
async fn join_tokens_are_generated_strong_stored_hashed_and_judged() {
    let server = TestServer::start(None).await;
    let bundles = server.bundle_set().await;
    let token = server.join_token().await;
    assert_eq!(
        token.len(),
        36,
        "128 random bits, hex, UUID-shaped: {token}"
    );
    let rows = token_rows(&server).await;
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].0, token);
    assert!(!rows[0].0.contains(&token));
    assert_eq!(rows[0].0, spiffe_server::attest::join_token_hash(&token));
    // The hashed token still admits its agent, once.
    attest(&server.agent_address(), &bundles, &token)
        .await
        .unwrap();
    assert!(token_rows(&server).await.is_empty());

    // Operator-supplied tokens: weak ones refused, naming the rule; strong ones taken.
    let create = |token: &str| {
        let mut agents = server.agents();
        let request = agent_api::CreateJoinTokenRequest {
            ttl: 600,
            token: token.into(),
            agent_id: None,
        };
        async move { agents.create_join_token(request).await }
    };
    for weak in [
        "TokenBlog",
        "0123456789",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let status = create(weak).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{weak}: {status:?}");
        assert!(
            status
                .message()
                .starts_with("join token is too weak: estimated ")
                && status.message().contains("at least 128 required")
                && status.message().contains("allow_weak_join_tokens"),
            "{status:?}"
        );
    }
    let strong = "Zq8v-Lr3T-x9Wm-Kp2N-c7Hd-Fb4J";
    create(strong).await.unwrap();
    attest(&server.agent_address(), &bundles, strong)
        .await
        .unwrap();
    server.server.stop().await;

    // With allow_weak_join_tokens, the operator may.
    let lax = server_with(|c| c.allow_weak_join_tokens = true).await;
    let bundles = lax.bundle_set().await;
    lax.agents()
        .create_join_token(agent_api::CreateJoinTokenRequest {
            ttl: 600,
            token: "TokenBlog".into(),
            agent_id: None,
        })
        .await
        .unwrap();
    attest(&lax.agent_address(), &bundles, "TokenBlog")
        .await
        .unwrap();
    lax.server.stop().await;
}

/// Leaves a version 1 schema's `join_tokens` table at `url`, as an older server did, with an
/// unexpired and an expired token; opens the datastore (migrating it); checks what is stored.
async fn old_tokens_are_hashed(url: &str, big: &str) {
    {
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
            .await
            .unwrap();
        for sql in [
            format!(
                "CREATE TABLE schema_migrations (version {big} PRIMARY KEY, applied_at {big} NOT NULL)"
            ),
            "INSERT INTO schema_migrations VALUES (1, 0)".to_owned(),
            format!("CREATE TABLE join_tokens (token TEXT PRIMARY KEY, expires_at {big} NOT NULL)"),
            "INSERT INTO join_tokens VALUES ('live-token', 99999999999), ('dead-token', 1)"
                .to_owned(),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    let ds = spiffe_server::datastore::Datastore::open(url)
        .await
        .unwrap();
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let rows: Vec<String> = sqlx::query("SELECT token_hash FROM join_token_hashes")
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("token_hash"))
        .collect();
    assert_eq!(
        rows,
        [spiffe_server::attest::join_token_hash("live-token")],
        "the unexpired token, hashed; the expired one dropped"
    );
    assert!(
        sqlx::query("SELECT token FROM join_tokens")
            .fetch_all(&mut conn)
            .await
            .is_err(),
        "the plain table is gone"
    );
    assert_eq!(
        ds.take_join_token("live-token").await.unwrap(),
        Some(99_999_999_999)
    );
    assert_eq!(ds.take_join_token("dead-token").await.unwrap(), None);
    ds.close().await;
}

#[tokio::test]
async fn unexpired_plain_tokens_of_an_old_datastore_are_hashed_by_the_migration() {
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("old.sqlite3").display()
    );
    old_tokens_are_hashed(&url, "INTEGER").await;
    let db = common::pg::TestDb::create().await;
    old_tokens_are_hashed(&db.url, "BIGINT").await;
}

/// Bytes in, bytes out: for calls whose messages are never sent.
#[derive(Debug, Clone, Copy, Default)]
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

#[tokio::test]
async fn calls_whose_messages_never_come_time_out_but_the_sync_stream_runs_on() {
    let server = server_with(|c| {
        c.limits.request_timeout = Duration::from_secs(2);
        c.limits.attestation_message_timeout = Duration::from_secs(1);
    })
    .await;
    let bundles = server.bundle_set().await;
    let address = server.agent_address();

    // AttestAgent without its first message.
    let started = Instant::now();
    let status = match AgentClient::new(anonymous(&address, &bundles))
        .attest_agent(futures::stream::pending())
        .await
    {
        Ok(r) => r.into_inner().message().await.unwrap_err(),
        Err(s) => s,
    };
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        status.message(),
        "no attestation parameters within 1s (attestation_message_timeout)"
    );
    assert!(started.elapsed() < Duration::from_secs(3));

    // A unary call whose request body never arrives.
    let mut grpc = tonic::client::Grpc::new(anonymous(&address, &bundles));
    grpc.ready().await.unwrap();
    let started = Instant::now();
    let status = grpc
        .client_streaming(
            tonic::Request::new(futures::stream::pending::<Vec<u8>>()),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/spire.api.server.bundle.v1.Bundle/GetBundle",
            ),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(status.message(), "no response within 2s (request_timeout)");
    assert!(started.elapsed() < Duration::from_secs(4));

    // The sync stream outlives the request timeout and still delivers.
    let token = server.join_token().await;
    let svid = attest(&address, &bundles, &token).await.unwrap();
    let parent = svid.spiffe_id().path().to_owned();
    let mut stream = subscribe(agent_channel(&address, &bundles, svid)).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    create_entry(
        &server,
        pb::Entry {
            spiffe_id: Some(id("/late")),
            parent_id: Some(id(&parent)),
            selectors: vec![pb::Selector {
                r#type: "unix".into(),
                value: "uid:7".into(),
            }],
            ..Default::default()
        },
    )
    .await;
    let msg = tokio::time::timeout(Duration::from_secs(5), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(msg.upserted.len(), 1);
    server.server.stop().await;
}

#[tokio::test]
async fn attestation_attempts_are_rate_limited_per_address() {
    let server = server_with(|c| {
        c.limits.attestation_rate_limit = 1;
        c.limits.attestation_burst = 3;
    })
    .await;
    let bundles = server.bundle_set().await;
    let address = server.agent_address();
    // Three attempts (bad tokens) are answered as such; the fourth is refused for the rate.
    for _ in 0..3 {
        let status = attest(&address, &bundles, "no-such-token")
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }
    let status = attest(&address, &bundles, "no-such-token")
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().starts_with(
            "too many attestation attempts from 127.0.0.1 (attestation_rate_limit); retry in "
        ),
        "{status:?}"
    );
    let pushback: u64 = status
        .metadata()
        .get("grpc-retry-pushback-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((1..=1000).contains(&pushback), "{pushback}");
    // After the hinted wait, the address may try again.
    tokio::time::sleep(Duration::from_millis(pushback + 50)).await;
    let token = server.join_token().await;
    attest(&address, &bundles, &token).await.unwrap();
    server.server.stop().await;
}
