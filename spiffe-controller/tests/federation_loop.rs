//! Kubernetes federation against a real spiffe-server (in-process) and the test API server:
//! a `ClusterFederatedTrustDomain` becomes a federation relationship seen through the
//! server's TrustDomain API (with its `trustDomainBundle` stored as the federated bundle),
//! follows the resource's edits and goes away with it; a relationship no resource names is
//! deleted (as spire-controller-manager does); an invalid resource, a younger one naming a
//! trust domain again, and one the server refuses change nothing and get a Warning event; and a `ClusterSPIFFEID` or `ClusterStaticEntry` with `federatesWith` puts
//! the trust domain in its entries' `federates_with`, which the server accepts (a value that is
//! not a trust domain does not render).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use spiffe_controller::FederationController;
use spiffe_controller::registry::{GrpcEntryStore, GrpcRelationshipStore};
use spiffe_core::{Bundle, JwtBundle, TrustDomain, X509Bundle};
use spiffe_proto::spire::api::server::bundle::v1 as bundle_api;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::trustdomain::v1 as td_api;
use spiffe_proto::spire::api::server::trustdomain::v1::trust_domain_client::TrustDomainClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_testkit::apiserver::FakeApiServer;
use tokio::sync::oneshot;

const AV: &str = "spire.spiffe.io/v1alpha1";
const KIND: &str = "ClusterFederatedTrustDomain";

fn partner_bundle() -> (String, Vec<u8>) {
    let tls =
        spiffe_testkit::tls::TlsMaterial::new("partner CA", "endpoint", &["localhost"]).unwrap();
    let td = TrustDomain::parse("partner.org").unwrap();
    let x509 = X509Bundle::parse_pem(td.clone(), tls.ca_pem.as_bytes()).unwrap();
    let der = x509.authorities()[0].to_vec();
    let json = Bundle::from_parts(x509, JwtBundle::new(td))
        .unwrap()
        .to_json();
    (json, der)
}

fn cftd(name: &str, spec: Value) -> Value {
    json!({"apiVersion": AV, "kind": KIND, "metadata": {"name": name}, "spec": spec})
}

async fn relationships(server: &Server) -> Vec<pb::FederationRelationship> {
    let mut v = TrustDomainClient::new(server.channel())
        .list_federation_relationships(td_api::ListFederationRelationshipsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .federation_relationships;
    v.sort_by(|a, b| a.trust_domain.cmp(&b.trust_domain));
    v
}

fn endpoint_id(r: &pb::FederationRelationship) -> Option<String> {
    match &r.bundle_endpoint_profile {
        Some(pb::federation_relationship::BundleEndpointProfile::HttpsSpiffe(p)) => {
            Some(p.endpoint_spiffe_id.clone())
        }
        _ => None,
    }
}

fn warning(api: &FakeApiServer, reason: &str, resource: &str) -> Option<Value> {
    let store = api.store();
    let (events, _) = store.list(
        &store.resource("events.k8s.io", "v1", "events").unwrap(),
        "default",
    );
    events
        .into_iter()
        .find(|e| e["reason"] == reason && e["regarding"]["name"] == resource)
        .map(|e| (*e).clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_federated_trust_domain_is_the_servers_relationship() {
    let api = cluster().await;
    let server = Server::start().await;

    // A relationship made by hand through the TrustDomain API: no resource names it, so the
    // controller deletes it, as spire-controller-manager does.
    let made = TrustDomainClient::new(server.channel())
        .batch_create_federation_relationship(td_api::BatchCreateFederationRelationshipRequest {
            federation_relationships: vec![pb::FederationRelationship {
                trust_domain: "manual.org".into(),
                bundle_endpoint_url: "https://127.0.0.1:1/".into(),
                bundle_endpoint_profile: Some(
                    pb::federation_relationship::BundleEndpointProfile::HttpsWeb(
                        pb::HttpsWebProfile {},
                    ),
                ),
                trust_domain_bundle: None,
            }],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(made.results[0].status.as_ref().unwrap().code, 0);

    let (bundle_json, ca_der) = partner_bundle();
    api.apply(cftd(
        "partner",
        json!({
            "trustDomain": "partner.org",
            "bundleEndpointURL": "https://127.0.0.1:1/",
            "bundleEndpointProfile": {
                "type": "https_spiffe",
                "endpointSPIFFEID": "spiffe://partner.org/spire/server"
            },
            "trustDomainBundle": bundle_json
        }),
    ))
    .unwrap();
    // Invalid: https_spiffe without endpointSPIFFEID.
    api.apply(cftd(
        "broken",
        json!({
            "trustDomain": "broken.org",
            "bundleEndpointURL": "https://127.0.0.1:1/",
            "bundleEndpointProfile": {"type": "https_spiffe"}
        }),
    ))
    .unwrap();
    // Another class: not this controller's.
    api.apply(cftd(
        "other-class",
        json!({
            "trustDomain": "other.org",
            "bundleEndpointURL": "https://127.0.0.1:1/",
            "bundleEndpointProfile": {"type": "https_web"},
            "className": "green"
        }),
    ))
    .unwrap();

    let controller = FederationController::new(
        config(),
        api.client().unwrap(),
        GrpcRelationshipStore::new(server.channel()),
    );
    let mut reports = controller.reports();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(async {
        let _ = stopped.await;
    }));

    let rels = eventually("partner.org alone", Duration::from_secs(10), || async {
        let r = relationships(&server).await;
        (r.len() == 1 && r[0].trust_domain == "partner.org").then_some(r)
    })
    .await;
    assert_eq!(rels[0].bundle_endpoint_url, "https://127.0.0.1:1/");
    assert_eq!(
        endpoint_id(&rels[0]).as_deref(),
        Some("spiffe://partner.org/spire/server")
    );
    let report = reports
        .wait_for(|r| r.generation >= 1 && r.error.is_none())
        .await
        .unwrap()
        .clone();
    assert_eq!(report.refused, 1, "{report:?}");

    // The trustDomainBundle is the server's federated bundle of partner.org.
    let stored = BundleClient::new(server.channel())
        .get_federated_bundle(bundle_api::GetFederatedBundleRequest {
            trust_domain: "partner.org".into(),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.x509_authorities.len(), 1);
    assert_eq!(stored.x509_authorities[0].asn1, ca_der);

    // The invalid resource is reported and changed nothing.
    let event = eventually("InvalidSpec event", Duration::from_secs(5), || async {
        warning(&api, "InvalidSpec", "broken")
    })
    .await;
    assert_eq!(event["type"], "Warning");
    let note = event["note"].as_str().unwrap();
    assert!(
        note.contains("bundleEndpointProfile.endpointSPIFFEID is required"),
        "{note}"
    );

    // A younger resource naming partner.org again is refused as a conflict; one naming the
    // server's own trust domain is refused by the server. Neither changes the relationships.
    api.apply(cftd(
        "partner-again",
        json!({
            "trustDomain": "partner.org",
            "bundleEndpointURL": "https://127.0.0.1:9/",
            "bundleEndpointProfile": {"type": "https_web"}
        }),
    ))
    .unwrap();
    api.apply(cftd(
        "ourselves",
        json!({
            "trustDomain": TD,
            "bundleEndpointURL": "https://127.0.0.1:1/",
            "bundleEndpointProfile": {"type": "https_web"}
        }),
    ))
    .unwrap();
    let event = eventually(
        "TrustDomainConflict event",
        Duration::from_secs(5),
        || async { warning(&api, "TrustDomainConflict", "partner-again") },
    )
    .await;
    assert!(
        event["note"]
            .as_str()
            .unwrap()
            .contains("partner names the same trust domain"),
        "{event}"
    );
    let event = eventually(
        "RelationshipFailed event",
        Duration::from_secs(5),
        || async { warning(&api, "RelationshipFailed", "ourselves") },
    )
    .await;
    let note = event["note"].as_str().unwrap();
    assert!(
        note.contains("unable to create federation relationship for server trust domain"),
        "{note}"
    );
    let rels = relationships(&server).await;
    assert_eq!(rels.len(), 1);
    assert_eq!(rels[0].bundle_endpoint_url, "https://127.0.0.1:1/");
    api.delete(AV, KIND, "", "partner-again").unwrap();
    api.delete(AV, KIND, "", "ourselves").unwrap();

    // A ClusterSPIFFEID federating with partner.org: its entry carries it, and the server
    // takes the entry.
    let mut id: Value =
        serde_yaml::from_str(&fixture("resources/payment-service-spiffe-id.yaml")).unwrap();
    id["spec"]["federatesWith"] = json!(["partner.org"]);
    api.apply(id).unwrap();
    let entries = Running::start(&api, config(), GrpcEntryStore::new(server.channel()));
    let entry = eventually("the federating entry", Duration::from_secs(10), || async {
        server.list().await.into_iter().find(|e| {
            id_string(e.spiffe_id.as_ref()) == "spiffe://mycompany.com/ns/prod/sa/payment-sa"
        })
    })
    .await;
    assert_eq!(entry.federates_with, ["partner.org"]);

    // A ClusterStaticEntry federating with partner.org: the same; one naming something that is
    // not a trust domain does not render.
    let static_entry = |name: &str, path: &str, federates: Value| {
        json!({
            "apiVersion": AV,
            "kind": "ClusterStaticEntry",
            "metadata": {"name": name},
            "spec": {
                "spiffeID": format!("spiffe://{TD}{path}"),
                "parentID": format!("spiffe://{TD}/ns/spire/sa/spire-agent"),
                "selectors": ["k8s:ns:batch"],
                "federatesWith": federates
            }
        })
    };
    api.apply(static_entry(
        "reporter",
        "/reporter",
        json!(["partner.org"]),
    ))
    .unwrap();
    api.apply(static_entry(
        "bad-federation",
        "/bad",
        json!(["Partner Org"]),
    ))
    .unwrap();
    let entry = eventually(
        "the federating static entry",
        Duration::from_secs(10),
        || async {
            server
                .list()
                .await
                .into_iter()
                .find(|e| id_string(e.spiffe_id.as_ref()) == "spiffe://mycompany.com/reporter")
        },
    )
    .await;
    assert_eq!(entry.federates_with, ["partner.org"]);
    let status = eventually(
        "bad-federation's status",
        Duration::from_secs(5),
        || async {
            api.get(AV, "ClusterStaticEntry", "", "bad-federation")
                .and_then(|o| o.get("status").cloned())
        },
    )
    .await;
    assert_eq!(status["rendered"], false);
    assert!(
        !server
            .list()
            .await
            .iter()
            .any(|e| id_string(e.spiffe_id.as_ref()) == "spiffe://mycompany.com/bad")
    );
    entries.stop().await;

    // Edited: the relationship follows (a new URL and endpoint SPIFFE ID).
    api.apply(cftd(
        "partner",
        json!({
            "trustDomain": "partner.org",
            "bundleEndpointURL": "https://127.0.0.1:2/bundle",
            "bundleEndpointProfile": {
                "type": "https_spiffe",
                "endpointSPIFFEID": "spiffe://partner.org/bundle-endpoint"
            }
        }),
    ))
    .unwrap();
    let rels = eventually("the edit", Duration::from_secs(10), || async {
        let r = relationships(&server).await;
        (r.len() == 1 && r[0].bundle_endpoint_url == "https://127.0.0.1:2/bundle").then_some(r)
    })
    .await;
    assert_eq!(
        endpoint_id(&rels[0]).as_deref(),
        Some("spiffe://partner.org/bundle-endpoint")
    );

    // Deleted: the relationship goes.
    api.delete(AV, KIND, "", "partner").unwrap();
    eventually("no relationship", Duration::from_secs(10), || async {
        relationships(&server).await.is_empty().then_some(())
    })
    .await;

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("controller stops")
        .expect("controller task")
        .expect("controller ran");
}
