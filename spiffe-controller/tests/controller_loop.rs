//! The reconcile loop against the test API server and an in-memory entry store: stale owned
//! entries are deleted, foreign ones never touched, changes made behind the controller's back
//! are put right by the periodic resync, and every kind of watch change (resource edited, pod
//! relabelled) is acted on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use spiffe_controller::registry::{EntryStore, MemoryEntryStore};
use spiffe_proto::spire::api::types as pb;

fn entry(id: &str, path: &str) -> pb::Entry {
    pb::Entry {
        id: id.into(),
        spiffe_id: Some(pb::Spiffeid {
            trust_domain: TD.into(),
            path: path.into(),
        }),
        parent_id: Some(pb::Spiffeid {
            trust_domain: TD.into(),
            path: "/ns/spire/sa/spire-agent".into(),
        }),
        selectors: vec![pb::Selector {
            r#type: "k8s".into(),
            value: "sa:payment-sa".into(),
        }],
        ..Default::default()
    }
}

fn spiffe_ids(store: &MemoryEntryStore) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = store
        .snapshot()
        .into_iter()
        .map(|e| (e.id.clone(), id_string(e.spiffe_id.as_ref())))
        .collect();
    v.sort();
    v
}

const PAYMENT: &str = "spiffe://mycompany.com/ns/prod/sa/payment-sa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owns_only_its_entries_and_follows_every_change() {
    let api = cluster().await;
    api.load_text("seed", &fixture("resources/payment-service-spiffe-id.yaml"))
        .unwrap();
    let store = MemoryEntryStore::new();
    // A foreign entry with the very SPIFFE ID the controller will declare, and a stale entry
    // under the controller's prefix that nothing declares.
    let foreign = entry("manual-payment", "/ns/prod/sa/payment-sa");
    store.insert(foreign.clone());
    store.insert(entry("spiffe-controller.0000stale", "/gone"));

    let mut running = Running::start(&api, config(), store.clone());
    running
        .report("first reconcile", |r| r.generation >= 1)
        .await;
    let owned = eventually("initial state", Duration::from_secs(5), || async {
        let now = spiffe_ids(&store);
        let owned: Vec<_> = now
            .iter()
            .filter(|(id, _)| id.starts_with("spiffe-controller."))
            .cloned()
            .collect();
        (owned.len() == 1 && owned[0].1 == PAYMENT).then_some(owned[0].0.clone())
    })
    .await;
    let foreign_now = store
        .snapshot()
        .into_iter()
        .find(|e| e.id == "manual-payment")
        .unwrap();
    assert_eq!(foreign_now, foreign, "the foreign entry is untouched");

    // Behind the controller's back: its entry deleted, another one's TTL changed. The periodic
    // resync (2 s here) puts both right without any watch event.
    let mut handle = store.clone();
    handle.delete(vec![owned.clone()]).await.unwrap();
    eventually(
        "the resync to restore the entry",
        Duration::from_secs(5),
        || async { store.snapshot().iter().any(|e| e.id == owned).then_some(()) },
    )
    .await;
    let mut tampered = store
        .snapshot()
        .into_iter()
        .find(|e| e.id == owned)
        .unwrap();
    tampered.x509_svid_ttl = 42;
    handle.update(vec![tampered]).await.unwrap();
    eventually(
        "the resync to undo the change",
        Duration::from_secs(5),
        || async {
            store
                .snapshot()
                .iter()
                .any(|e| e.id == owned && e.x509_svid_ttl == 0)
                .then_some(())
        },
    )
    .await;

    // The resource is edited: the old entry goes, the new one comes.
    let mut csid = (*api
        .get(
            "spire.spiffe.io/v1alpha1",
            "ClusterSPIFFEID",
            "",
            "payment-service-identity",
        )
        .unwrap())
    .clone();
    csid["spec"]["spiffeIDTemplate"] =
        json!("spiffe://mycompany.com/payments/{{ .Pod.ServiceAccount }}");
    csid["spec"]["ttl"] = json!("10m");
    api.apply(csid).unwrap();
    eventually("the edited entry", Duration::from_secs(2), || async {
        let owned: Vec<_> = store
            .snapshot()
            .into_iter()
            .filter(|e| e.id.starts_with("spiffe-controller."))
            .collect();
        (owned.len() == 1
            && id_string(owned[0].spiffe_id.as_ref())
                == "spiffe://mycompany.com/payments/payment-sa"
            && owned[0].x509_svid_ttl == 600)
            .then_some(())
    })
    .await;

    // The pod is relabelled out of the selector: its entry goes.
    let mut pod = (*api
        .get("v1", "Pod", "prod", "payment-service-7d9f8b6c5-x2k4q")
        .unwrap())
    .clone();
    pod["metadata"]["labels"]["app"] = json!("something-else");
    api.apply(pod).unwrap();
    eventually("no owned entries", Duration::from_secs(2), || async {
        (spiffe_ids(&store) == [("manual-payment".to_owned(), PAYMENT.to_owned())]).then_some(())
    })
    .await;

    // The status says what the last reconcile did.
    let stats = eventually("status", Duration::from_secs(5), || async {
        api.get(
            "spire.spiffe.io/v1alpha1",
            "ClusterSPIFFEID",
            "",
            "payment-service-identity",
        )
        .and_then(|o| o.pointer("/status/stats").cloned())
        .filter(|s| s["podsSelected"] == 0)
    })
    .await;
    assert_eq!(stats["entriesToSet"], 0);
    assert_eq!(stats["namespacesSelected"], 1);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_entries_come_and_go_with_their_resource() {
    let api = cluster().await;
    let store = MemoryEntryStore::new();
    let mut running = Running::start(&api, config(), store.clone());
    running
        .report("first reconcile", |r| r.generation >= 1)
        .await;
    assert!(store.snapshot().is_empty());
    api.load_text("static", &fixture("resources/static-entry.yaml"))
        .unwrap();
    let e = eventually("static entry", Duration::from_secs(2), || async {
        store.snapshot().into_iter().next()
    })
    .await;
    assert_eq!(
        id_string(e.spiffe_id.as_ref()),
        "spiffe://mycompany.com/legacy/batch"
    );
    assert_eq!(e.x509_svid_ttl, 3600);
    api.delete(
        "spire.spiffe.io/v1alpha1",
        "ClusterStaticEntry",
        "",
        "legacy-batch-job",
    )
    .unwrap();
    eventually("static entry removed", Duration::from_secs(2), || async {
        store.snapshot().is_empty().then_some(())
    })
    .await;
    running.stop().await;
}
