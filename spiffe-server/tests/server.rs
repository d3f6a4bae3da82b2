//! A real server on a temp directory, driven through its gRPC APIs: entries, join token
//! attestation, agent authorization, the push stream, SVID minting, eviction.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::server::{TestServer, agent_channel, attest, csr};
use spiffe_core::x509::verify_chain;
use spiffe_proto::spiffers::sync::v1 as sync_api;
use spiffe_proto::spiffers::sync::v1::sync_client::SyncClient;
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::entry::v1 as entry_api;
use spiffe_proto::spire::api::server::svid::v1 as svid_api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;
use spiffe_proto::spire::api::types as pb;
use tonic::Code;

fn id(path: &str) -> pb::Spiffeid {
    pb::Spiffeid {
        trust_domain: common::server::TD.into(),
        path: path.into(),
    }
}

fn entry(spiffe: &str, parent: pb::Spiffeid, selectors: &[(&str, &str)]) -> pb::Entry {
    pb::Entry {
        spiffe_id: Some(id(spiffe)),
        parent_id: Some(parent),
        selectors: selectors
            .iter()
            .map(|(t, v)| pb::Selector {
                r#type: (*t).into(),
                value: (*v).into(),
            })
            .collect(),
        ..Default::default()
    }
}

async fn create(server: &TestServer, e: pb::Entry) -> Result<pb::Entry, (Code, String)> {
    spiffe_testkit::grpc::create_entry(&server.admin(), e)
        .await
        .map_err(|s| (s.code(), s.message().to_owned()))
}

#[tokio::test]
async fn join_token_attestation_push_sync_and_minting() {
    let server = TestServer::start(None).await;
    let bundles = server.bundle_set().await;
    let addr = server.agent_address();

    // A join token admits one agent, once.
    let token = server.join_token().await;
    let agent_svid = attest(&addr, &bundles, &token).await.unwrap();
    let agent_id = format!("spiffe://example.org/spire/agent/join_token/{token}");
    assert_eq!(agent_svid.spiffe_id().as_str(), agent_id);
    verify_chain(agent_svid.chain(), &bundles).unwrap();
    let reused = attest(&addr, &bundles, &token).await.unwrap_err();
    assert_eq!(reused.code(), Code::InvalidArgument);
    assert!(
        reused
            .message()
            .contains("does not exist or has already been used"),
        "{reused:?}"
    );

    // Without a client certificate, agent APIs are refused.
    let anonymous = spiffe_agent::channel::tls_channel(
        &addr,
        std::sync::Arc::new(
            spiffe_agent::channel::agent_tls_config(
                &spiffe_core::TrustDomain::parse("example.org").unwrap(),
                std::sync::Arc::new(bundles.clone()),
                None,
            )
            .unwrap(),
        ),
    )
    .unwrap();
    let denied = SyncClient::new(anonymous)
        .watch_authorized(sync_api::WatchAuthorizedRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The agent's push stream starts with its (empty) authorized set and the bundle.
    let channel = agent_channel(&addr, &bundles, agent_svid.clone());
    let mut stream = SyncClient::new(channel.clone())
        .watch_authorized(sync_api::WatchAuthorizedRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap().unwrap();
    assert!(first.initial);
    assert!(first.upserted.is_empty());
    assert_eq!(first.bundle.unwrap().trust_domain, "example.org");

    // An entry under the agent reaches the open stream in well under a second.
    let agent_pb = pb::Spiffeid {
        trust_domain: "example.org".into(),
        path: format!("/spire/agent/join_token/{token}"),
    };
    let started = Instant::now();
    let created = create(
        &server,
        entry(
            "/ns/prod/sa/payment",
            agent_pb.clone(),
            &[("unix", "uid:1000")],
        ),
    )
    .await
    .unwrap();
    let update = tokio::time::timeout(Duration::from_secs(2), stream.message())
        .await
        .expect("pushed within 2 s")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(update.upserted.len(), 1);
    assert_eq!(update.upserted[0].id, created.id);

    // A similar entry is refused; other bad input too.
    let dup = create(
        &server,
        entry(
            "/ns/prod/sa/payment",
            agent_pb.clone(),
            &[("unix", "uid:1000")],
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        dup,
        (Code::AlreadyExists, "similar entry already exists".into())
    );
    let foreign = create(
        &server,
        pb::Entry {
            spiffe_id: Some(pb::Spiffeid {
                trust_domain: "other.org".into(),
                path: "/x".into(),
            }),
            ..entry("/x", agent_pb.clone(), &[("unix", "uid:1")])
        },
    )
    .await
    .unwrap_err();
    assert_eq!(foreign.0, Code::InvalidArgument);
    assert!(
        foreign.1.contains("is not a member of trust domain"),
        "{}",
        foreign.1
    );
    let no_sel = create(&server, entry("/y", agent_pb.clone(), &[]))
        .await
        .unwrap_err();
    assert!(no_sel.1.contains("selector list is empty"), "{}", no_sel.1);

    // The agent mints an SVID for its authorized entry; not for another agent's.
    let (csr_der, _key) = csr();
    let mut svid_client = SvidClient::new(channel.clone());
    let resp = svid_client
        .batch_new_x509svid(svid_api::BatchNewX509svidRequest {
            params: vec![
                svid_api::NewX509svidParams {
                    entry_id: created.id.clone(),
                    csr: csr_der.clone(),
                },
                svid_api::NewX509svidParams {
                    entry_id: "not-mine".into(),
                    csr: csr_der,
                },
            ],
        })
        .await
        .unwrap()
        .into_inner();
    let ok = resp.results[0].svid.clone().unwrap();
    let chain: Vec<_> = ok
        .cert_chain
        .into_iter()
        .map(rustls_pki_types::CertificateDer::from)
        .collect();
    assert_eq!(
        verify_chain(&chain, &bundles).unwrap().spiffe_id().as_str(),
        "spiffe://example.org/ns/prod/sa/payment"
    );
    assert_eq!(
        resp.results[1].status.as_ref().unwrap().code,
        Code::NotFound as i32
    );

    // Deleting the entry withdraws it from the stream.
    server
        .entries()
        .batch_delete_entry(entry_api::BatchDeleteEntryRequest {
            ids: vec![created.id.clone()],
        })
        .await
        .unwrap();
    let gone = tokio::time::timeout(Duration::from_secs(2), stream.message())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(gone.deleted, std::slice::from_ref(&created.id));

    // Evicting the agent ends its stream and its access.
    server
        .agents()
        .delete_agent(agent_api::DeleteAgentRequest {
            id: Some(agent_pb.clone()),
        })
        .await
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(2), stream.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(end.code(), Code::PermissionDenied);
    let after = SvidClient::new(channel)
        .batch_new_x509svid(svid_api::BatchNewX509svidRequest { params: vec![] })
        .await
        .unwrap_err();
    assert_eq!(after.code(), Code::PermissionDenied);

    server.server.stop().await;
}

#[tokio::test]
async fn token_alias_and_recursive_authorization() {
    let server = TestServer::start(None).await;
    let bundles = server.bundle_set().await;
    let addr = server.agent_address();
    // `token generate -spiffeID X`: X is parented by the agent the token admits.
    let token = server
        .agents()
        .create_join_token(agent_api::CreateJoinTokenRequest {
            ttl: 600,
            token: String::new(),
            agent_id: Some(id("/ns/spire/sa/spire-agent")),
        })
        .await
        .unwrap()
        .into_inner()
        .value;
    // Workload entries name the alias as parent; a grandchild names the workload.
    let pay = create(
        &server,
        entry(
            "/ns/prod/sa/payment",
            id("/ns/spire/sa/spire-agent"),
            &[("k8s", "ns:prod")],
        ),
    )
    .await
    .unwrap();
    let child = create(
        &server,
        entry(
            "/ns/prod/sa/child",
            id("/ns/prod/sa/payment"),
            &[("unix", "uid:5")],
        ),
    )
    .await
    .unwrap();
    let agent_svid = attest(&addr, &bundles, &token).await.unwrap();
    let channel = agent_channel(&addr, &bundles, agent_svid);
    let entries =
        spiffe_proto::spire::api::server::entry::v1::entry_client::EntryClient::new(channel)
            .get_authorized_entries(entry_api::GetAuthorizedEntriesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .entries;
    let mut ids: Vec<String> = entries.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    let mut expected = vec![pay.id, child.id];
    // The alias entry itself (parented by the agent) is authorized too.
    expected.push(
        entries
            .iter()
            .find(|e| e.spiffe_id.as_ref().unwrap().path == "/ns/spire/sa/spire-agent")
            .unwrap()
            .id
            .clone(),
    );
    expected.sort();
    assert_eq!(ids, expected);
    server.server.stop().await;
}
