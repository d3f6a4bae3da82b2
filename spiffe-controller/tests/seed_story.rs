//! The seed's story against a real spiffe-server (in-process, on a temp directory) and the
//! test API server: the ClusterSPIFFEID `payment-service-identity` gives the `payment-service`
//! pod in `prod` (service account `payment-sa`) the entry
//! `spiffe://mycompany.com/ns/prod/sa/payment-sa`; deleting the pod removes it within 2 s; an
//! entry made by hand through the admin API is never touched, and neither is a join token's
//! alias entry, whatever its ID and whatever declares it.
//!
//! A real API server (kube-apiserver with etcd) cannot run on the machines this project builds
//! and tests on, so the cluster is the fake API server of `spiffe_testkit::apiserver`: it
//! speaks the real wire format (list + `?watch=1` with resourceVersions and bookmarks) and the
//! controller reaches it through kube's real HTTP client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use spiffe_controller::registry::GrpcEntryStore;
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::server::entry::v1 as api;
use spiffe_proto::spire::api::types as pb;

fn manual_entry() -> pb::Entry {
    // The seed's `spiffe-server entry create` (`-spiffeID ... -parentID ... -selector ... -ttl 3600`).
    let id = |path: &str| pb::Spiffeid {
        trust_domain: TD.into(),
        path: path.into(),
    };
    let sel = |v: &str| pb::Selector {
        r#type: "k8s".into(),
        value: v.into(),
    };
    pb::Entry {
        spiffe_id: Some(id("/ns/prod/sa/payment-service")),
        parent_id: Some(id("/ns/spire/sa/spire-agent")),
        selectors: vec![
            sel("ns:prod"),
            sel("sa:payment-sa"),
            sel("pod-label:app:payment-service"),
        ],
        x509_svid_ttl: 3600,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_spiffe_id_gives_the_pod_its_entry_and_takes_it_back() {
    let api = cluster().await;
    let server = Server::start().await;

    // An administrator's entry, made directly through the admin API.
    let created = server
        .entries()
        .batch_create_entry(api::BatchCreateEntryRequest {
            entries: vec![manual_entry()],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    let manual = created.results[0].entry.clone().unwrap();
    assert_eq!(created.results[0].status.as_ref().unwrap().code, 0);

    let mut running = Running::start(&api, config(), GrpcEntryStore::new(server.channel()));
    running
        .report("first reconcile", |r| r.generation >= 1)
        .await;
    assert_eq!(server.list().await.len(), 1, "nothing declared yet");

    // kubectl apply -f payment-service-spiffe-id.yaml
    api.load_text("seed", &fixture("resources/payment-service-spiffe-id.yaml"))
        .unwrap();
    let want_id = "spiffe://mycompany.com/ns/prod/sa/payment-sa";
    let entry = eventually("the pod's entry", Duration::from_secs(5), || async {
        server
            .list()
            .await
            .into_iter()
            .find(|e| id_string(e.spiffe_id.as_ref()) == want_id)
    })
    .await;
    assert!(entry.id.starts_with("spiffe-controller."), "{}", entry.id);
    assert_eq!(
        id_string(entry.parent_id.as_ref()),
        format!("spiffe://{TD}/spire/agent/k8s_psat/{CLUSTER}/{NODE_1_UID}")
    );
    assert_eq!(
        selectors(&entry),
        [format!("k8s:pod-uid:{PAYMENT_POD_UID}")]
    );
    // Only the prod pod: the staging and kube-system pods with the same label are not selected.
    assert_eq!(server.list().await.len(), 2);

    // The status counts what happened.
    let status = eventually("status", Duration::from_secs(5), || async {
        api.get(
            "spire.spiffe.io/v1alpha1",
            "ClusterSPIFFEID",
            "",
            "payment-service-identity",
        )
        .and_then(|o| o.pointer("/status/stats").cloned())
        .filter(|s| s["entrySuccess"] == 1)
    })
    .await;
    assert_eq!(status["namespacesSelected"], 1);
    assert_eq!(status["podsSelected"], 1);
    assert_eq!(status["entriesToSet"], 1);
    assert_eq!(status["entryFailures"], 0);
    assert_eq!(status["podEntryRenderFailures"], 0);

    // Reconciling again changes nothing (deterministic IDs).
    let g = running.reports.borrow().generation;
    let again = running
        .report("a later reconcile", |r| r.generation > g + 1)
        .await;
    assert_eq!((again.created, again.updated, again.deleted), (0, 0, 0));
    assert_eq!(again.unchanged, 1);
    let same = server.list().await;
    assert_eq!(
        same.iter()
            .find(|e| e.id == entry.id)
            .unwrap()
            .revision_number,
        entry.revision_number
    );

    // The pod goes away: a DELETED watch event, and the entry is gone within 2 s.
    let deleted_at = Instant::now();
    api.delete("v1", "Pod", "prod", "payment-service-7d9f8b6c5-x2k4q")
        .unwrap();
    eventually("the entry's removal", Duration::from_secs(2), || async {
        (!server.list().await.iter().any(|e| e.id == entry.id)).then_some(())
    })
    .await;
    let took = deleted_at.elapsed();
    assert!(took < Duration::from_secs(2), "{took:?}");

    // The administrator's entry is exactly as it was.
    let now = server.list().await;
    assert_eq!(now.len(), 1);
    assert_eq!(now[0], manual);

    // Deleting the resource (with its pod back) takes its entries too, the manual one stays.
    api.load_text("pods", &fixture("cluster/pods.yaml"))
        .unwrap();
    eventually("the entry again", Duration::from_secs(5), || async {
        (server.list().await.len() == 2).then_some(())
    })
    .await;
    api.delete(
        "spire.spiffe.io/v1alpha1",
        "ClusterSPIFFEID",
        "",
        "payment-service-identity",
    )
    .unwrap();
    eventually("the entry's removal", Duration::from_secs(5), || async {
        (server.list().await == vec![manual.clone()]).then_some(())
    })
    .await;

    running.stop().await;
    server.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_failures_go_to_status_and_events_and_static_entries_are_set() {
    let api = cluster().await;
    let server = Server::start().await;
    api.load_dir(&fixtures().join("resources")).unwrap();
    let mut running = Running::start(&api, config(), GrpcEntryStore::new(server.channel()));
    let report = running
        .report("entries written", |r| {
            r.generation >= 1 && r.error.is_none()
        })
        .await;
    assert_eq!(report.render_failures, 1, "{report:?}");

    let status = eventually("broken status", Duration::from_secs(5), || async {
        api.get(
            "spire.spiffe.io/v1alpha1",
            "ClusterSPIFFEID",
            "",
            "broken-template",
        )
        .and_then(|o| o.pointer("/status/stats").cloned())
    })
    .await;
    assert_eq!(status["podsSelected"], 1);
    assert_eq!(status["podEntryRenderFailures"], 1);
    assert_eq!(status["entriesToSet"], 0);

    let event = eventually("a Warning event", Duration::from_secs(5), || async {
        let (events, _) = api.store().list(
            &api.store()
                .resource("events.k8s.io", "v1", "events")
                .unwrap(),
            "default",
        );
        events
            .into_iter()
            .find(|e| e["reason"] == "RenderFailed")
            .map(|e| (*e).clone())
    })
    .await;
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["regarding"]["name"], "broken-template");
    let note = event["note"].as_str().unwrap();
    assert!(note.contains("user-service-5c4b3a291-m8n7p"), "{note}");
    assert!(note.contains("can't evaluate field Team"), "{note}");

    // The static entry is on the server, with its TTL and DNS name, and its status says so.
    let entries = server.list().await;
    let batch = entries
        .iter()
        .find(|e| id_string(e.spiffe_id.as_ref()) == "spiffe://mycompany.com/legacy/batch")
        .expect("static entry");
    assert_eq!(batch.x509_svid_ttl, 3600);
    assert_eq!(batch.dns_names, ["batch.prod.svc"]);
    let st: Value = eventually("static status", Duration::from_secs(5), || async {
        api.get(
            "spire.spiffe.io/v1alpha1",
            "ClusterStaticEntry",
            "",
            "legacy-batch-job",
        )
        .and_then(|o| o.get("status").cloned())
        .filter(|s| s["set"] == true)
    })
    .await;
    assert_eq!(st["rendered"], true);
    assert_eq!(st["masked"], false);
    running.stop().await;
    server.server.stop().await;
}

/// `spiffe-server token generate -spiffeID spiffe://mycompany.com/<alias>` through the admin
/// API: the server makes the node alias entry of the join token. Returns the token.
async fn join_token_with_alias(server: &Server, alias: &str) -> String {
    AgentClient::new(server.channel())
        .create_join_token(agent_api::CreateJoinTokenRequest {
            ttl: 600,
            agent_id: Some(pb::Spiffeid {
                trust_domain: TD.into(),
                path: alias.into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_token_entries_are_never_deleted_or_rewritten() {
    let api = cluster().await;
    let server = Server::start().await;
    // The server's alias entry for a token, and a ClusterStaticEntry that declares the same
    // alias with a TTL: the server would refuse a second, similar entry, and the controller
    // must not rewrite the server's.
    let token = join_token_with_alias(&server, "/node-b").await;
    api.load_text(
        "alias",
        &format!(
            r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterStaticEntry
metadata:
  name: node-b-alias
spec:
  spiffeID: spiffe://{TD}/node-b
  parentID: spiffe://{TD}/spire/agent/join_token/{token}
  selectors: ["spiffe_id:spiffe://{TD}/spire/agent/join_token/{token}"]
  x509SVIDTTL: 1h
"#
        ),
    )
    .unwrap();
    // A join-token alias under the controller's prefix that nothing declares.
    let agent = "/spire/agent/join_token/0123456789abcdef0123456789abcdef";
    let created = server
        .entries()
        .batch_create_entry(api::BatchCreateEntryRequest {
            entries: vec![pb::Entry {
                id: "spiffe-controller.jt-node-a".into(),
                spiffe_id: Some(pb::Spiffeid {
                    trust_domain: TD.into(),
                    path: "/node-a".into(),
                }),
                parent_id: Some(pb::Spiffeid {
                    trust_domain: TD.into(),
                    path: agent.into(),
                }),
                selectors: vec![pb::Selector {
                    r#type: "spiffe_id".into(),
                    value: format!("spiffe://{TD}{agent}"),
                }],
                ..Default::default()
            }],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.results[0].status.as_ref().unwrap().code, 0);
    let before = server.list().await;
    assert_eq!(before.len(), 2);

    let mut running = Running::start(&api, config(), GrpcEntryStore::new(server.channel()));
    let r = running
        .report("first reconcile", |r| {
            r.generation >= 1 && r.error.is_none()
        })
        .await;
    assert_eq!(
        (r.created, r.updated, r.deleted, r.failed, r.kept),
        (0, 0, 0, 0, 2),
        "{r:?}"
    );
    assert_eq!(server.list().await, before, "no entry written");

    // The declaration goes: both entries stay, reconcile after reconcile.
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
    assert_eq!(server.list().await, before);
    running.stop().await;
    server.server.stop().await;
}
