//! The datastore on real SQLite files and real PostgreSQL databases: the same code path on both.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::pg::TestDb;
use spiffe_core::{Selector, SpiffeId, TrustDomain};
use spiffe_proto::spire::api::types::Bundle;
use spiffe_server::datastore::{AttestedNode, Backend, ChangeEvent, Datastore, DatastoreError};
use spiffe_server::entry::Entry;
use spiffe_server::federation::{EndpointProfile, EndpointUrl, FederationRelationship};

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

    federation_relationships(ds).await;
}

fn relationship(td: &str, url: &str, profile: EndpointProfile) -> FederationRelationship {
    FederationRelationship {
        trust_domain: TrustDomain::parse(td).unwrap(),
        bundle_endpoint_url: EndpointUrl::parse(url).unwrap(),
        profile,
    }
}

/// Federation relationships: create (once), read back both profiles, update, list in order,
/// delete (once).
async fn federation_relationships(ds: &Datastore) {
    let partner = TrustDomain::parse("partner.org").unwrap();
    assert!(
        ds.fetch_federation_relationship(&partner)
            .await
            .unwrap()
            .is_none()
    );
    let spiffe = relationship(
        "partner.org",
        "https://partner.example:8443/bundle",
        EndpointProfile::HttpsSpiffe {
            endpoint_spiffe_id: SpiffeId::parse("spiffe://partner.org/spire/server").unwrap(),
        },
    );
    let web = relationship("a-web.org", "https://[::1]:443", EndpointProfile::HttpsWeb);
    ds.create_federation_relationship(&spiffe).await.unwrap();
    ds.create_federation_relationship(&web).await.unwrap();
    assert!(matches!(
        ds.create_federation_relationship(&spiffe).await,
        Err(DatastoreError::AlreadyExists(m)) if m == "federation relationship already exists"
    ));
    assert_eq!(
        ds.fetch_federation_relationship(&partner).await.unwrap(),
        Some(spiffe.clone())
    );
    assert_eq!(
        ds.list_federation_relationships().await.unwrap(),
        vec![web.clone(), spiffe.clone()]
    );
    // https_spiffe to https_web: the endpoint ID goes with the profile.
    let moved = relationship(
        "partner.org",
        "https://new.partner.example/",
        EndpointProfile::HttpsWeb,
    );
    ds.update_federation_relationship(&moved).await.unwrap();
    assert_eq!(
        ds.fetch_federation_relationship(&partner).await.unwrap(),
        Some(moved)
    );
    let missing = relationship("nobody.org", "https://n", EndpointProfile::HttpsWeb);
    assert!(matches!(
        ds.update_federation_relationship(&missing).await,
        Err(DatastoreError::NotFound(_))
    ));
    ds.delete_federation_relationship(&partner).await.unwrap();
    assert!(matches!(
        ds.delete_federation_relationship(&partner).await,
        Err(DatastoreError::NotFound(_))
    ));
    assert_eq!(ds.list_federation_relationships().await.unwrap(), vec![web]);
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
    assert_eq!(ds.list_federation_relationships().await.unwrap().len(), 1);
}

/// A relationship row that no longer reads back (edited by hand, say) is reported as corrupt,
/// naming the trust domain and the rule, never taken for something else.
#[tokio::test]
async fn corrupt_relationship_rows_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("datastore.sqlite3");
    let ds = Datastore::open_sqlite(&path).await.unwrap();
    ds.close().await;
    let url = format!("sqlite://{}", path.display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO federation_relationships VALUES ('p.org', 'http://p', 'https_web', '', 0, 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let ds = Datastore::open_sqlite(&path).await.unwrap();
    let err = ds
        .list_federation_relationships()
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "stored federation relationship is corrupt: p.org: bundle_endpoint_url \"http://p\": must use the https scheme"
    );
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
    // Relationship changes reach other servers too.
    let relationship_event = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            if let Some(ChangeEvent::FederationRelationship(td)) = events.next().await.unwrap() {
                return td;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(relationship_event, "partner.org");
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
