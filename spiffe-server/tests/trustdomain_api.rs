//! The `TrustDomain` service on a real server's admin socket, on SQLite and on PostgreSQL:
//! SPIRE's per-item statuses and messages, output and input masks, the relationship's bundle,
//! pagination, and `RefreshBundle` fetching from a real bundle endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::pg::TestDb;
use common::server::{TD, TestServer, anonymous};
use spiffe_core::TrustDomain;
use spiffe_proto::spire::api::server::trustdomain::v1 as api;
use spiffe_proto::spire::api::server::trustdomain::v1::trust_domain_client::TrustDomainClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_proto::spire::api::types::federation_relationship::BundleEndpointProfile as P;
use spiffe_server::convert::bundle_to_pb;
use spiffe_server::federation::{BundleEndpointConfig, ServeProfile};
use tonic::Code;
use tonic::transport::Channel;

fn client(s: &TestServer) -> TrustDomainClient<Channel> {
    TrustDomainClient::new(s.admin())
}

fn spiffe(td: &str, url: &str, id: &str) -> pb::FederationRelationship {
    pb::FederationRelationship {
        trust_domain: td.into(),
        bundle_endpoint_url: url.into(),
        bundle_endpoint_profile: Some(P::HttpsSpiffe(pb::HttpsspiffeProfile {
            endpoint_spiffe_id: id.into(),
        })),
        trust_domain_bundle: None,
    }
}

fn web(td: &str, url: &str) -> pb::FederationRelationship {
    pb::FederationRelationship {
        trust_domain: td.into(),
        bundle_endpoint_url: url.into(),
        bundle_endpoint_profile: Some(P::HttpsWeb(pb::HttpsWebProfile {})),
        trust_domain_bundle: None,
    }
}

/// A bundle of a fresh trust domain `td`, as the API carries it.
fn bundle_of(td: &str) -> pb::Bundle {
    let t = spiffe_ca::testing::TestTrustDomain::new(td).unwrap();
    bundle_to_pb(t.bundle_set().get(td).unwrap())
}

fn statuses(results: impl IntoIterator<Item = Option<pb::Status>>) -> Vec<(Code, String)> {
    results
        .into_iter()
        .map(|s| {
            let s = s.unwrap();
            (Code::from_i32(s.code), s.message)
        })
        .collect()
}

async fn scenario(datastore: Option<String>) {
    let s = TestServer::start(datastore).await;
    let mut c = client(&s);
    let partner_bundle = bundle_of("partner.org");
    let mut with_bundle = spiffe(
        "partner.org",
        "https://partner.example:8443/bundle",
        "spiffe://partner.org/spire/server",
    );
    with_bundle.trust_domain_bundle = Some(partner_bundle.clone());
    let mut mismatched = web("mismatch.org", "https://mismatch.example");
    mismatched.trust_domain_bundle = Some(bundle_of("other.org"));
    let mut no_profile = web("noprofile.org", "https://noprofile.example");
    no_profile.bundle_endpoint_profile = None;
    let created = c
        .batch_create_federation_relationship(api::BatchCreateFederationRelationshipRequest {
            federation_relationships: vec![
                with_bundle.clone(),
                web("web.org", "https://bundle.web.example/"),
                web("", "https://x.example"),
                web("Bad..td", "https://x.example"),
                web("plain.org", "http://plain.example"),
                web("user.org", "https://u:p@user.example"),
                spiffe("id.org", "https://id.example", "spiffe://id.org/a//b"),
                no_profile,
                mismatched,
                web(TD, "https://self.example"),
                web("partner.org", "https://again.example"),
            ],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    let got = statuses(created.results.iter().map(|r| r.status.clone()));
    let conv = "failed to convert federation relationship: ";
    assert_eq!(got[0], (Code::Ok, "OK".into()));
    assert_eq!(got[1], (Code::Ok, "OK".into()));
    for (i, prefix) in [
        (2, "failed to parse trust domain: "),
        (3, "failed to parse trust domain: "),
        (6, "failed to parse endpoint SPIFFE ID: "),
        (8, "trust domain bundle (\"other.org\") must match"),
    ] {
        assert_eq!(got[i].0, Code::InvalidArgument, "{i}: {got:?}");
        assert!(
            got[i].1.starts_with(&format!("{conv}{prefix}")),
            "{i}: {got:?}"
        );
    }
    assert_eq!(
        got[4],
        (
            Code::InvalidArgument,
            format!("{conv}bundle endpoint URL must use the https scheme")
        )
    );
    assert_eq!(
        got[5],
        (
            Code::InvalidArgument,
            format!("{conv}bundle endpoint URL must not contain user info")
        )
    );
    assert_eq!(
        got[7],
        (
            Code::InvalidArgument,
            format!("{conv}unsupported bundle endpoint profile type: <nil>")
        )
    );
    assert_eq!(
        got[9],
        (
            Code::InvalidArgument,
            "unable to create federation relationship for server trust domain".into()
        )
    );
    assert_eq!(
        got[10],
        (
            Code::AlreadyExists,
            "failed to create federation relationship: federation relationship already exists"
                .into()
        )
    );
    // Only successes carry the relationship; the created one has its bundle.
    assert!(
        created.results[2..]
            .iter()
            .all(|r| r.federation_relationship.is_none())
    );
    assert_eq!(
        created.results[0].federation_relationship.as_ref(),
        Some(&with_bundle)
    );
    // The bundle was stored as partner.org's federated bundle; the failed duplicate left the
    // first relationship as it was.
    assert_eq!(
        s.server.state.bundle("partner.org").as_deref(),
        Some(&partner_bundle)
    );

    // Get, with and without an output mask.
    let got = c
        .get_federation_relationship(api::GetFederationRelationshipRequest {
            trust_domain: "partner.org".into(),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, with_bundle);
    let masked = c
        .get_federation_relationship(api::GetFederationRelationshipRequest {
            trust_domain: "partner.org".into(),
            output_mask: Some(pb::FederationRelationshipMask {
                bundle_endpoint_url: true,
                ..Default::default()
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        masked,
        pb::FederationRelationship {
            trust_domain: "partner.org".into(),
            bundle_endpoint_url: "https://partner.example:8443/bundle".into(),
            bundle_endpoint_profile: None,
            trust_domain_bundle: None,
        }
    );
    for (td, code, message) in [
        (
            "unknown.org",
            Code::NotFound,
            "federation relationship does not exist",
        ),
        ("", Code::InvalidArgument, "failed to parse trust domain: "),
    ] {
        let e = c
            .get_federation_relationship(api::GetFederationRelationshipRequest {
                trust_domain: td.into(),
                output_mask: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{td}: {e:?}");
        assert!(e.message().starts_with(message), "{td}: {e:?}");
    }

    // List: ordered by trust domain; pages of one.
    let lister = c.clone();
    let list = |page_size: i32, page_token: String| {
        let mut c = lister.clone();
        async move {
            c.list_federation_relationships(api::ListFederationRelationshipsRequest {
                output_mask: Some(pb::FederationRelationshipMask::default()),
                page_size,
                page_token,
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    let all = list(0, String::new()).await;
    let names: Vec<_> = all
        .federation_relationships
        .iter()
        .map(|r| r.trust_domain.as_str())
        .collect();
    assert_eq!(names, ["partner.org", "web.org"]);
    assert!(all.next_page_token.is_empty());
    assert!(
        all.federation_relationships
            .iter()
            .all(|r| r.bundle_endpoint_url.is_empty() && r.bundle_endpoint_profile.is_none()),
        "an empty output mask leaves only the trust domain"
    );
    let first = list(1, String::new()).await;
    assert_eq!(first.federation_relationships.len(), 1);
    assert_eq!(first.next_page_token, "partner.org");
    let second = list(1, first.next_page_token).await;
    assert_eq!(second.federation_relationships[0].trust_domain, "web.org");
    assert!(second.next_page_token.is_empty());

    // Update: the input mask picks what changes; an unknown trust domain is NotFound.
    let updated = c
        .batch_update_federation_relationship(api::BatchUpdateFederationRelationshipRequest {
            federation_relationships: vec![
                spiffe(
                    "web.org",
                    "https://new.web.example/",
                    "spiffe://web.org/server",
                ),
                web("unknown.org", "https://unknown.example"),
                web("web.org", "ftp://x"),
            ],
            input_mask: Some(pb::FederationRelationshipMask {
                bundle_endpoint_url: true,
                ..Default::default()
            }),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    let got = statuses(updated.results.iter().map(|r| r.status.clone()));
    assert_eq!(got[0], (Code::Ok, "OK".into()));
    assert_eq!(
        got[1],
        (
            Code::NotFound,
            "failed to update federation relationship: federation relationship not found".into()
        )
    );
    assert_eq!(
        got[2],
        (
            Code::InvalidArgument,
            format!("{conv}bundle endpoint URL must use the https scheme")
        )
    );
    assert_eq!(
        updated.results[0].federation_relationship.as_ref(),
        Some(&web("web.org", "https://new.web.example/")),
        "the profile was not in the input mask"
    );
    // Without an input mask, everything, the bundle included.
    let mut web_spiffe = spiffe(
        "web.org",
        "https://new.web.example/",
        "spiffe://web.org/server",
    );
    web_spiffe.trust_domain_bundle = Some(bundle_of("web.org"));
    let updated = c
        .batch_update_federation_relationship(api::BatchUpdateFederationRelationshipRequest {
            federation_relationships: vec![web_spiffe.clone()],
            input_mask: None,
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        updated.results[0].federation_relationship.as_ref(),
        Some(&web_spiffe)
    );
    assert_eq!(
        s.server.state.bundle("web.org").as_deref(),
        web_spiffe.trust_domain_bundle.as_ref()
    );

    // Refresh: NotFound for a trust domain without a relationship (the server's own
    // included); a failed fetch is Internal and leaves the bundle.
    for td in ["unknown.org", TD] {
        let e = c
            .refresh_bundle(api::RefreshBundleRequest {
                trust_domain: td.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::NotFound);
        assert_eq!(
            e.message(),
            format!("no relationship with trust domain {td:?}")
        );
    }
    let e = c
        .refresh_bundle(api::RefreshBundleRequest {
            trust_domain: "not a td".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("failed to parse trust domain: "));
    let e = c
        .refresh_bundle(api::RefreshBundleRequest {
            trust_domain: "web.org".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Internal, "{e:?}");
    assert!(
        e.message().starts_with("failed to refresh bundle: "),
        "{e:?}"
    );
    assert_eq!(
        s.server.state.bundle("web.org").as_deref(),
        web_spiffe.trust_domain_bundle.as_ref()
    );

    // Delete: per-item statuses; the bundle stays (as in SPIRE).
    let deleted = c
        .batch_delete_federation_relationship(api::BatchDeleteFederationRelationshipRequest {
            trust_domains: vec![
                "partner.org".into(),
                "unknown.org".into(),
                String::new(),
                "not a td".into(),
                "WEB.org".into(),
            ],
        })
        .await
        .unwrap()
        .into_inner();
    let got = statuses(deleted.results.iter().map(|r| r.status.clone()));
    assert_eq!(got[0], (Code::Ok, "OK".into()));
    assert_eq!(
        got[1],
        (Code::NotFound, "federation relationship not found".into())
    );
    assert_eq!(
        got[2],
        (Code::InvalidArgument, "missing trust domain".into())
    );
    assert_eq!(got[3].0, Code::InvalidArgument);
    assert!(got[3].1.starts_with("failed to parse trust domain: "));
    let tds: Vec<_> = deleted
        .results
        .iter()
        .map(|r| r.trust_domain.as_str())
        .collect();
    assert_eq!(
        tds,
        ["partner.org", "unknown.org", "", "not a td", "WEB.org"]
    );
    // Upper case is not a valid trust domain name in the API (as go-spiffe's parser).
    assert_eq!(got[4].0, Code::InvalidArgument);
    assert!(s.server.state.bundle("partner.org").is_some());
    let left = list(0, String::new()).await;
    assert_eq!(left.federation_relationships.len(), 1);

    // A batch larger than the bound is refused whole.
    let e = c
        .batch_delete_federation_relationship(api::BatchDeleteFederationRelationshipRequest {
            trust_domains: vec!["a.org".into(); 501],
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(
        e.message(),
        "trust_domains: 501 items, at most 500 per request"
    );

    // A caller on the TCP endpoint without an admin SVID may not call.
    let bundles = s.bundle_set().await;
    let mut anon = TrustDomainClient::new(anonymous(&s.agent_address(), &bundles));
    let e = anon
        .list_federation_relationships(api::ListFederationRelationshipsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    s.server.stop().await;
}

#[tokio::test]
async fn trust_domain_api_on_sqlite() {
    scenario(None).await;
}

#[tokio::test]
async fn trust_domain_api_on_postgres() {
    let db = TestDb::create().await;
    scenario(Some(db.url.clone())).await;
}

/// A relationship created through the API is followed by the refresher at once (the write
/// wakes it; the periodic re-read is an hour away here), and `RefreshBundle` fetches now: after
/// the partner's CA is rotated, its next scheduled fetch is 15 minutes away, yet the new bundle
/// is stored when the call returns.
#[tokio::test]
async fn created_relationships_are_followed_and_refresh_bundle_fetches_now() {
    let partner = TestServer::start_with(None, |c| {
        c.trust_domain = TrustDomain::parse("partner.org").unwrap();
        let mut e = BundleEndpointConfig::new("127.0.0.1:0".parse().unwrap());
        e.profile = ServeProfile::HttpsSpiffe;
        e.refresh_hint = Duration::from_secs(3600);
        c.federation.bundle_endpoint = Some(e);
    })
    .await;
    let port = partner.server.bundle_endpoint_address.unwrap().port();
    let ours = TestServer::start_with(None, |c| {
        c.federation.refresh.relationships_interval = Duration::from_secs(3600);
    })
    .await;
    let mut c = client(&ours);
    let served = (*partner.server.state.local_bundle().unwrap()).clone();
    let mut seed = served.clone();
    seed.sequence_number = 0;
    seed.refresh_hint = 0;
    let mut rel = spiffe(
        "partner.org",
        &format!("https://127.0.0.1:{port}/"),
        "spiffe://partner.org/spire/server",
    );
    rel.trust_domain_bundle = Some(seed.clone());
    let created = c
        .batch_create_federation_relationship(api::BatchCreateFederationRelationshipRequest {
            federation_relationships: vec![rel],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.results[0].status.as_ref().unwrap().code, 0);
    // The refresher fetches the endpoint's document (its refresh hint) on its own.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stored = ours.server.state.bundle("partner.org").unwrap();
        if stored.refresh_hint == 3600 {
            assert_eq!(stored.sequence_number, served.sequence_number);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refresher never fetched the new relationship's bundle"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The partner prepares a new CA; RefreshBundle stores its grown bundle now.
    partner.server.state.ca.prepare_x509().unwrap();
    partner.server.state.publish_local_bundle().await.unwrap();
    let grown = partner.server.state.local_bundle().unwrap();
    assert!(grown.sequence_number > served.sequence_number);
    c.refresh_bundle(api::RefreshBundleRequest {
        trust_domain: "partner.org".into(),
    })
    .await
    .unwrap();
    let stored = ours.server.state.bundle("partner.org").unwrap();
    assert_eq!(stored.sequence_number, grown.sequence_number);
    assert_eq!(stored.x509_authorities, grown.x509_authorities);
    // The relationship reads back with the refreshed bundle.
    let got = c
        .get_federation_relationship(api::GetFederationRelationshipRequest {
            trust_domain: "partner.org".into(),
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.trust_domain_bundle.as_ref(), Some(&*stored));
    ours.server.stop().await;
    partner.server.stop().await;
}
