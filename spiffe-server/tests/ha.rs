//! Two servers on one PostgreSQL database: each keeps its own CA, the shared bundle holds both
//! roots, and an entry created through server A reaches an agent connected to server B within
//! a second (pushed by PostgreSQL notifications, no periodic reload).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::pg::TestDb;
use common::server::{TestServer, agent_channel, attest};
use spiffe_proto::spiffers::sync::v1 as sync_api;
use spiffe_proto::spiffers::sync::v1::sync_client::SyncClient;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::types as pb;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_created_on_a_reaches_an_agent_on_b() {
    let db = TestDb::create().await;
    let a = TestServer::start(Some(db.url.clone())).await;
    let b = TestServer::start(Some(db.url.clone())).await;

    // Each server has its own CA; both roots end up in the shared bundle (B published after A,
    // and A learns B's root through a notification).
    let a_root = a.server.state.ca.bundle().x509().authorities()[0].clone();
    let b_root = b.server.state.ca.bundle().x509().authorities()[0].clone();
    assert_ne!(a_root, b_root);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen_by_a = a.bundle_set().await;
        let roots = seen_by_a
            .get("example.org")
            .unwrap()
            .x509()
            .authorities()
            .to_vec();
        if roots.contains(&a_root) && roots.contains(&b_root) {
            break;
        }
        assert!(Instant::now() < deadline, "server A never saw B's root");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // An agent attests with a token made on A, through B (join tokens are shared, single use).
    let token = a.join_token().await;
    let bundles = b.bundle_set().await;
    let agent_svid = attest(&b.agent_address(), &bundles, &token).await.unwrap();
    let mut stream = SyncClient::new(agent_channel(&b.agent_address(), &bundles, agent_svid))
        .watch_authorized(sync_api::WatchAuthorizedRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().unwrap().initial);

    // An entry created through A reaches the agent connected to B.
    let started = Instant::now();
    let r = a
        .entries()
        .batch_create_entry(entry_api::BatchCreateEntryRequest {
            entries: vec![pb::Entry {
                spiffe_id: Some(pb::Spiffeid {
                    trust_domain: "example.org".into(),
                    path: "/ns/prod/sa/payment".into(),
                }),
                parent_id: Some(pb::Spiffeid {
                    trust_domain: "example.org".into(),
                    path: format!("/spire/agent/join_token/{token}"),
                }),
                selectors: vec![pb::Selector {
                    r#type: "unix".into(),
                    value: "uid:1000".into(),
                }],
                ..Default::default()
            }],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.results[0].status.as_ref().unwrap().code, 0);
    let update = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            let m = stream.message().await.unwrap().unwrap();
            if !m.upserted.is_empty() {
                return m;
            }
        }
    })
    .await
    .expect("the entry reached the agent on B");
    let elapsed = started.elapsed();
    assert_eq!(
        update.upserted[0].id,
        r.results[0].entry.as_ref().unwrap().id
    );
    assert!(
        elapsed < Duration::from_secs(1),
        "propagation took {elapsed:?}"
    );

    // The token cannot be used again on either server.
    assert!(attest(&a.agent_address(), &bundles, &token).await.is_err());

    b.server.stop().await;
    a.server.stop().await;
}
