//! The datastore on real SQLite files and real PostgreSQL databases: the same code path on both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::pg::TestDb;
use spiffe_core::{Selector, SpiffeId, TrustDomain};
use spiffe_proto::spire::api::types::Bundle;
use spiffe_server::datastore::{AttestedNode, Backend, ChangeEvent, Datastore, DatastoreError};
use spiffe_server::entry::Entry;

fn entry(id: &str, spiffe: &str) -> Entry {
    let mut e = Entry::new(
        SpiffeId::parse(spiffe).unwrap(),
        SpiffeId::parse("spiffe://example.org/spire/agent/join_token/t1").unwrap(),
        vec![
            Selector::parse("unix:uid:1000").unwrap(),
            Selector::parse("k8s:ns:prod").unwrap(),
        ],
    );
    e.id = id.into();
    e.dns_names = vec!["a.example".into()];
    e.federates_with = vec![TrustDomain::parse("other.org").unwrap()];
    e.hint = "internal".into();
    e.x509_svid_ttl = 3600;
    e.created_at = 1_700_000_000;
    e
}

async fn exercise(ds: &Datastore) {
    // Entries: create, similar refused, same ID refused, read back, update bumps revision.
    let e = entry("e1", "spiffe://example.org/a");
    ds.create_entry(&e).await.unwrap();
    assert!(matches!(
        ds.create_entry(&entry("e2", "spiffe://example.org/a")).await,
        Err(DatastoreError::AlreadyExists(m)) if m == "similar entry already exists"
    ));
    assert!(matches!(
        ds.create_entry(&entry("e1", "spiffe://example.org/b"))
            .await,
        Err(DatastoreError::AlreadyExists(_))
    ));
    assert_eq!(ds.fetch_entry("e1").await.unwrap().unwrap(), e);
    let mut changed = e.clone();
    changed.admin = true;
    let stored = ds.update_entry(&changed).await.unwrap();
    assert_eq!(stored.revision_number, 1);
    assert!(stored.admin);
    ds.create_entry(&entry("e2", "spiffe://example.org/b"))
        .await
        .unwrap();
    assert_eq!(ds.list_entries().await.unwrap().len(), 2);
    assert_eq!(ds.count_entries().await.unwrap(), 2);
    assert_eq!(ds.delete_entry("e2").await.unwrap().id, "e2");
    assert!(matches!(
        ds.delete_entry("e2").await,
        Err(DatastoreError::NotFound(_))
    ));

    // Nodes: put, renew, ban (and a banned node cannot come back), evict.
    let agent = SpiffeId::parse("spiffe://example.org/spire/agent/join_token/t1").unwrap();
    let node = AttestedNode {
        spiffe_id: agent.clone(),
        attestation_type: "join_token".into(),
        serial_number: "1".into(),
        expires_at: 10,
        new_serial_number: String::new(),
        new_expires_at: 0,
        can_reattest: false,
        banned: false,
        selectors: vec![Selector::parse("join_token:t1").unwrap()],
        agent_version: String::new(),
        created_at: 5,
    };
    ds.put_node(&node).await.unwrap();
    ds.set_node_svid(&agent, "2", 20).await.unwrap();
    let got = ds.fetch_node(&agent).await.unwrap().unwrap();
    assert_eq!((got.serial_number.as_str(), got.expires_at), ("2", 20));
    ds.ban_node(&agent).await.unwrap();
    assert!(ds.fetch_node(&agent).await.unwrap().unwrap().banned);
    assert!(
        ds.put_node(&node).await.is_err(),
        "a banned agent stays banned"
    );
    assert_eq!(ds.list_nodes().await.unwrap().len(), 1);
    ds.delete_node(&agent).await.unwrap();
    assert!(ds.fetch_node(&agent).await.unwrap().is_none());

    // Join tokens are single use.
    ds.create_join_token("tok", 100).await.unwrap();
    assert_eq!(ds.take_join_token("tok").await.unwrap(), Some(100));
    assert_eq!(ds.take_join_token("tok").await.unwrap(), None);
    ds.create_join_token("old", 1).await.unwrap();
    assert_eq!(ds.prune_join_tokens(2).await.unwrap(), 1);

    // Bundles.
    let b = Bundle {
        trust_domain: "other.org".into(),
        sequence_number: 3,
        ..Bundle::default()
    };
    ds.create_bundle(&b).await.unwrap();
    assert!(ds.create_bundle(&b).await.is_err());
    let updated = ds
        .update_bundle("other.org", |cur| {
            let mut cur = cur.unwrap();
            cur.sequence_number += 1;
            Ok(Some(cur))
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.sequence_number, 4);
    assert_eq!(
        ds.fetch_bundle("other.org").await.unwrap().unwrap(),
        updated
    );
    assert_eq!(ds.list_bundles().await.unwrap().len(), 1);
    ds.delete_bundle("other.org").await.unwrap();
    assert!(ds.fetch_bundle("other.org").await.unwrap().is_none());
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("datastore.sqlite3");
    let ds = Datastore::open_sqlite(&path).await.unwrap();
    assert_eq!(ds.backend(), Backend::Sqlite);
    exercise(&ds).await;
    assert!(ds.listen().await.unwrap().is_none());
    ds.close().await;
    // Reopening applies no migration twice and keeps the data.
    let ds = Datastore::open_sqlite(&path).await.unwrap();
    assert_eq!(ds.count_entries().await.unwrap(), 1);
}

#[tokio::test]
async fn postgres() {
    let db = TestDb::create().await;
    let ds = Datastore::open(&db.url).await.unwrap();
    assert_eq!(ds.backend(), Backend::Postgres);
    let mut events = ds.listen().await.unwrap().unwrap();
    exercise(&ds).await;
    // The first committed change arrives as an event.
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first, Some(ChangeEvent::Entry("e1".into())));
    ds.close().await;
    // Two servers opening one database at once run the migrations once.
    let (a, b) = tokio::join!(Datastore::open(&db.url), Datastore::open(&db.url));
    a.unwrap();
    b.unwrap();
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    assert!(matches!(
        Datastore::open("mysql://x").await,
        Err(DatastoreError::UnsupportedUrl { .. })
    ));
}
