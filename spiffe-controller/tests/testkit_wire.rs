//! The test API server through kube's real HTTP client: lists carry a `resourceVersion`,
//! `?watch=1` streams ADDED/MODIFIED/DELETED from a resourceVersion and BOOKMARKs when asked
//! for, a resourceVersion older than the history is `410 Expired`, the status subresource
//! only changes `status`, and services and `EndpointSlice`s (`discovery.k8s.io/v1`) are served
//! like any other kind.
//!
//! A real API server (kube-apiserver with etcd) cannot run on the machines this project builds
//! and tests on; this server speaks its wire format instead, seeded from fixtures in the real
//! format.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{ListParams, Patch, PatchParams, WatchEvent, WatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use spiffe_controller::ClusterSPIFFEID;

#[tokio::test]
async fn list_and_watch_with_resource_versions_and_bookmarks() {
    let api = cluster().await;
    let pods: Api<Pod> = Api::namespaced(api.client().unwrap(), "prod");
    let list = pods.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 2);
    let rv = list.metadata.resource_version.clone().unwrap();
    assert!(rv.parse::<u64>().unwrap() > 0);
    assert!(list.items.iter().all(|p| p.resource_version().is_some()));

    // kube asks for bookmarks by default (allowWatchBookmarks=true).
    let wp = WatchParams::default().timeout(30);
    let mut stream = pods.watch(&wp, &rv).await.unwrap().boxed();

    // Changes made through the store arrive as events, in order.
    let mut pod = serde_json::to_value(&list.items[0]).unwrap();
    pod["metadata"]["labels"]["version"] = json!("v2");
    api.apply(pod).unwrap();
    api.delete("v1", "Pod", "prod", list.items[1].name_any().as_str())
        .unwrap();
    let mut seen = Vec::new();
    let mut bookmark_rv = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while bookmark_rv.is_none() || seen.len() < 2 {
        let ev = tokio::time::timeout_at(deadline, stream.try_next())
            .await
            .expect("events and a bookmark within 5 s")
            .unwrap()
            .expect("stream open");
        match ev {
            WatchEvent::Added(p) => seen.push(format!("ADDED {}", p.name_any())),
            WatchEvent::Modified(p) => seen.push(format!(
                "MODIFIED {} {}",
                p.name_any(),
                p.labels()["version"]
            )),
            WatchEvent::Deleted(p) => seen.push(format!("DELETED {}", p.name_any())),
            WatchEvent::Bookmark(b) => bookmark_rv = Some(b.metadata.resource_version),
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(
        seen,
        [
            format!("MODIFIED {} v2", list.items[0].name_any()),
            format!("DELETED {}", list.items[1].name_any()),
        ]
    );
    let bookmark_rv: u64 = bookmark_rv.unwrap().parse().unwrap();
    assert!(bookmark_rv > rv.parse::<u64>().unwrap());

    // A new pod, then a watch from the old resourceVersion replays everything since.
    api.load_text(
        "new",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"late","namespace":"prod"},"spec":{"containers":[{"name":"c","image":"x"}]}}"#,
    )
    .unwrap();
    let replay: Vec<String> = pods
        .watch(&WatchParams::default().disable_bookmarks().timeout(1), &rv)
        .await
        .unwrap()
        .take(3)
        .map(|e| match e.unwrap() {
            WatchEvent::Added(p) => format!("ADDED {}", p.name_any()),
            WatchEvent::Modified(p) => format!("MODIFIED {}", p.name_any()),
            WatchEvent::Deleted(p) => format!("DELETED {}", p.name_any()),
            other => format!("{other:?}"),
        })
        .collect()
        .await;
    assert_eq!(replay.len(), 3, "{replay:?}");
    assert_eq!(replay[2], "ADDED late");
}

#[tokio::test]
async fn expired_resource_versions_and_status_subresource() {
    let api = cluster().await;
    // Push the history window past resourceVersion 2.
    for i in 0..50_010 {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "churn", "labels": {"i": i.to_string()}}});
        api.apply(ns).unwrap();
    }
    let pods: Api<Pod> = Api::all(api.client().unwrap());
    let mut old = pods
        .watch(&WatchParams::default(), "2")
        .await
        .unwrap()
        .boxed();
    match old.try_next().await {
        Ok(Some(WatchEvent::Error(e))) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        Err(kube::Error::Api(e)) => assert_eq!(e.code, 410),
        other => panic!("expected 410 Expired, got {other:?}"),
    }

    api.load_text("seed", &fixture("resources/payment-service-spiffe-id.yaml"))
        .unwrap();
    let ids: Api<ClusterSPIFFEID> = Api::all(api.client().unwrap());
    let patch = json!({
        "spec": {"spiffeIDTemplate": "spiffe://changed/by/status/patch"},
        "status": {"stats": {"podsSelected": 7}}
    });
    let after = ids
        .patch_status(
            "payment-service-identity",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    assert_eq!(after.status.unwrap().stats.pods_selected, 7);
    assert!(
        after
            .spec
            .spiffe_id_template
            .contains(".Pod.ServiceAccount"),
        "the status subresource must not change the spec"
    );
}

#[tokio::test]
async fn services_and_endpoint_slices_list_and_watch() {
    let api = cluster().await;
    api.load_text("services", &fixture("network/services.yaml"))
        .unwrap();
    let client = api.client().unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), "prod");
    let mut names: Vec<String> = services
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    assert_eq!(names, ["payment-service", "payments-peers", "user-service"]);

    // Across namespaces, by the label that names the service, as kubectl and controllers ask.
    let slices: Api<EndpointSlice> = Api::all(client);
    let list = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=payment-service"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    let slice = &list.items[0];
    assert_eq!(slice.address_type, "IPv4");
    assert_eq!(
        slice.endpoints[0]
            .target_ref
            .as_ref()
            .and_then(|t| t.uid.as_deref()),
        Some(PAYMENT_POD_UID)
    );
    let rv = list.metadata.resource_version.clone().unwrap();
    let mut stream = slices
        .watch(&WatchParams::default().disable_bookmarks().timeout(5), &rv)
        .await
        .unwrap()
        .boxed();
    let mut changed = serde_json::to_value(slice).unwrap();
    changed["endpoints"][0]["conditions"]["ready"] = json!(false);
    api.apply(changed).unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("an event within 5 s")
        .unwrap()
        .expect("stream open");
    match ev {
        WatchEvent::Modified(s) => {
            assert_eq!(s.name_any(), slice.name_any());
            assert_eq!(
                s.endpoints[0].conditions.as_ref().and_then(|c| c.ready),
                Some(false)
            );
        }
        other => panic!("{other:?}"),
    }
}
