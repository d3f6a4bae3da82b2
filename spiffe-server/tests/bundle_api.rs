//! The bundle service's federated-bundle RPCs on a real server's admin socket, as SPIRE's
//! behave: output masks, the update's input mask, and SPIRE's messages for refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::server::{TD, TestServer};
use spiffe_proto::spire::api::server::bundle::v1 as api;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::convert::bundle_to_pb;
use tonic::Code;

fn partner_bundle() -> pb::Bundle {
    let t = spiffe_ca::testing::TestTrustDomain::new("partner.org").unwrap();
    let mut b = bundle_to_pb(t.bundle_set().get("partner.org").unwrap());
    b.sequence_number = 7;
    b.refresh_hint = 60;
    b
}

fn only_x509() -> Option<pb::BundleMask> {
    Some(pb::BundleMask {
        x509_authorities: true,
        ..Default::default()
    })
}

#[tokio::test]
async fn federated_bundle_rpcs_apply_masks_and_answer_as_spire() {
    let s = TestServer::start(None).await;
    let mut c = BundleClient::new(s.admin());
    let b = partner_bundle();
    assert!(!b.jwt_authorities.is_empty());
    let set = c
        .batch_set_federated_bundle(api::BatchSetFederatedBundleRequest {
            bundle: vec![b.clone()],
            output_mask: only_x509(),
        })
        .await
        .unwrap()
        .into_inner();
    let out = set.results[0].bundle.clone().unwrap();
    assert_eq!(out.x509_authorities, b.x509_authorities);
    assert_eq!(
        (
            out.sequence_number,
            out.refresh_hint,
            out.jwt_authorities.len()
        ),
        (0, 0, 0),
        "the output mask leaves out what it does not name"
    );
    // Stored whole, masked only on the way out.
    assert_eq!(s.server.state.bundle("partner.org").as_deref(), Some(&b));
    let got = c
        .get_federated_bundle(api::GetFederatedBundleRequest {
            trust_domain: "partner.org".into(),
            output_mask: only_x509(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.sequence_number, got.jwt_authorities.len()), (0, 0));
    let listed = c
        .list_federated_bundles(api::ListFederatedBundlesRequest {
            output_mask: Some(pb::BundleMask::default()),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.bundles.len(), 1);
    assert!(listed.bundles[0].x509_authorities.is_empty());
    assert_eq!(listed.bundles[0].trust_domain, "partner.org");

    // An update replaces only what its input mask names.
    let mut changed = b.clone();
    changed.refresh_hint = 600;
    changed.sequence_number = 99;
    changed.jwt_authorities.clear();
    let updated = c
        .batch_update_federated_bundle(api::BatchUpdateFederatedBundleRequest {
            bundle: vec![changed],
            input_mask: Some(pb::BundleMask {
                refresh_hint: true,
                ..Default::default()
            }),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    let after = updated.results[0].bundle.clone().unwrap();
    assert_eq!(after.refresh_hint, 600);
    assert_eq!(after.sequence_number, 7);
    assert_eq!(after.jwt_authorities, b.jwt_authorities);

    // SPIRE's refusals.
    let e = c
        .get_federated_bundle(api::GetFederatedBundleRequest {
            trust_domain: TD.into(),
            output_mask: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "getting a federated bundle for the server's own trust domain is not allowed"
    );
    let mut own = b.clone();
    own.trust_domain = TD.into();
    let mut bad = b.clone();
    bad.trust_domain = "not a td".into();
    let created = c
        .batch_create_federated_bundle(api::BatchCreateFederatedBundleRequest {
            bundle: vec![b.clone(), own.clone(), bad],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    let statuses: Vec<(i32, String)> = created
        .results
        .iter()
        .map(|r| {
            let s = r.status.clone().unwrap();
            (s.code, s.message)
        })
        .collect();
    assert_eq!(
        statuses[0],
        (Code::AlreadyExists as i32, "bundle already exists".into())
    );
    assert_eq!(
        statuses[1],
        (
            Code::InvalidArgument as i32,
            "creating a federated bundle for the server's own trust domain is not allowed".into()
        )
    );
    assert_eq!(statuses[2].0, Code::InvalidArgument as i32);
    assert!(
        statuses[2]
            .1
            .starts_with("trust domain argument is not valid: ")
    );
    let deleted = c
        .batch_delete_federated_bundle(api::BatchDeleteFederatedBundleRequest {
            trust_domains: vec!["unknown.org".into(), TD.into(), "partner.org".into()],
            mode: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let statuses: Vec<(i32, String)> = deleted
        .results
        .iter()
        .map(|r| {
            let s = r.status.clone().unwrap();
            (s.code, s.message)
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (Code::NotFound as i32, "bundle not found".into()),
            (
                Code::InvalidArgument as i32,
                "removing the bundle for the server trust domain is not allowed".into()
            ),
            (0, "OK".into()),
        ]
    );
    s.server.stop().await;
}
