//! The reconcile loop against the test API server and an in-memory entry store: stale owned
//! entries are deleted, foreign ones and join-token entries never touched, changes made behind
//! the controller's back are put right by the periodic resync, and every kind of watch change
//! (resource edited, pod relabelled, a service's endpoints changed) is acted on.
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

/// The node alias entry the server makes for a join token created with an agent ID, as the
/// entry API carries it.
fn join_token_alias(id: &str, token: &str, alias: &str) -> pb::Entry {
    let agent = format!("/spire/agent/join_token/{token}");
    pb::Entry {
        id: id.into(),
        spiffe_id: Some(pb::Spiffeid {
            trust_domain: TD.into(),
            path: alias.into(),
        }),
        parent_id: Some(pb::Spiffeid {
            trust_domain: TD.into(),
            path: agent.clone(),
        }),
        selectors: vec![pb::Selector {
            r#type: "spiffe_id".into(),
            value: format!("spiffe://{TD}{agent}"),
        }],
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_token_entries_are_never_deleted_or_updated() {
    let api = cluster().await;
    let store = MemoryEntryStore::new();
    // Under the controller's prefix, declared by nothing: any other such entry is deleted.
    let owned = join_token_alias("spiffe-controller.jt-node-a", "abc", "/node-a");
    // The server's own alias entry (a UUID ID), which a ClusterStaticEntry declares with
    // another TTL.
    let spire_made = join_token_alias("0b6d1c9e-4f3a-4e2b-9d8c-7a6b5c4d3e2f", "def", "/node-b");
    store.insert(owned.clone());
    store.insert(spire_made.clone());
    store.insert(entry("spiffe-controller.0000stale", "/gone"));
    api.load_text(
        "alias",
        r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterStaticEntry
metadata:
  name: node-b-alias
spec:
  spiffeID: spiffe://mycompany.com/node-b
  parentID: spiffe://mycompany.com/spire/agent/join_token/def
  selectors: ["spiffe_id:spiffe://mycompany.com/spire/agent/join_token/def"]
  x509SVIDTTL: 1h
"#,
    )
    .unwrap();

    let mut running = Running::start(&api, config(), store.clone());
    let r = running
        .report("a reconcile that deleted the stale entry", |r| {
            r.generation >= 1 && r.error.is_none()
        })
        .await;
    assert_eq!(
        (r.deleted, r.created, r.updated, r.failed, r.kept),
        (1, 0, 0, 0, 2),
        "{r:?}"
    );
    let mut want = vec![owned.clone(), spire_made.clone()];
    want.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        store.snapshot(),
        want,
        "both join-token entries as they were"
    );
    let status = eventually("static entry status", Duration::from_secs(5), || async {
        api.get(
            "spire.spiffe.io/v1alpha1",
            "ClusterStaticEntry",
            "",
            "node-b-alias",
        )
        .and_then(|o| o.get("status").cloned())
    })
    .await;
    assert_eq!(
        status,
        json!({"rendered": true, "masked": false, "set": true})
    );
    // Its TTL differs from the server's entry, which stays as it is: the owner is told.
    let event = eventually("a Warning event", Duration::from_secs(5), || async {
        let store = api.store();
        let events = store.resource("events.k8s.io", "v1", "events").unwrap();
        store
            .list(&events, "default")
            .0
            .into_iter()
            .find(|e| e["reason"] == "JoinTokenEntryKept")
    })
    .await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["regarding"]["name"], "node-b-alias");
    let note = event["note"].as_str().unwrap();
    assert!(note.contains(&spire_made.id), "{note}");

    // The declaration goes; the server's entry stays, and so does the owned one, reconcile
    // after reconcile.
    api.delete(
        "spire.spiffe.io/v1alpha1",
        "ClusterStaticEntry",
        "",
        "node-b-alias",
    )
    .unwrap();
    let after = r.generation + 2;
    let r = running
        .report("two more reconciles", |r| r.generation >= after)
        .await;
    // Only the owned one counts as kept: the server's alias is not under the prefix, so with
    // nothing declaring it the controller does not even consider it.
    assert_eq!((r.desired, r.deleted, r.kept), (0, 0, 1), "{r:?}");
    assert_eq!(store.snapshot(), want);
    running.stop().await;
}

/// The DNS names of the controller's entry, when it has exactly one.
fn dns_of(store: &MemoryEntryStore) -> Option<Vec<String>> {
    let owned: Vec<pb::Entry> = store
        .snapshot()
        .into_iter()
        .filter(|e| e.id.starts_with("spiffe-controller."))
        .collect();
    match owned.as_slice() {
        [e] => Some(e.dns_names.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_populated_dns_names_follow_services_and_endpoint_slices() {
    let api = cluster().await;
    api.load_text("services", &fixture("network/services.yaml"))
        .unwrap();
    api.load_text(
        "id",
        r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: payments
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
  podSelector: {matchLabels: {app: payment-service}}
  namespaceSelector: {matchNames: [prod]}
  autoPopulateDNSNames: true
"#,
    )
    .unwrap();
    let store = MemoryEntryStore::new();
    let running = Running::start(&api, config(), store.clone());
    let names = |want: &'static [&'static str]| {
        let store = store.clone();
        move || {
            let store = store.clone();
            async move { (dns_of(&store)? == want).then_some(()) }
        }
    };
    eventually(
        "the names of both services",
        Duration::from_secs(5),
        names(&[
            "payment-service",
            "payment-service.prod",
            "payment-service.prod.svc",
            "payment-service.prod.svc.cluster.local",
            "payments-peers",
            "payments-peers.prod",
            "payments-peers.prod.svc",
            "payments-peers.prod.svc.cluster.local",
        ]),
    )
    .await;

    // The headless service's slice no longer lists the pod: its names go.
    let mut slice = (*api
        .get(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            "prod",
            "payments-peers-q9w8e",
        )
        .unwrap())
    .clone();
    slice["endpoints"] = json!([]);
    api.apply(slice).unwrap();
    eventually(
        "the headless service's names gone",
        Duration::from_secs(2),
        names(&[
            "payment-service",
            "payment-service.prod",
            "payment-service.prod.svc",
            "payment-service.prod.svc.cluster.local",
        ]),
    )
    .await;

    // The service is deleted (its slice is still there): no names left.
    api.delete("v1", "Service", "prod", "payment-service")
        .unwrap();
    eventually("no names", Duration::from_secs(2), names(&[])).await;
    running.stop().await;
}
