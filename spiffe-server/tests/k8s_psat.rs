//! The `k8s_psat` node attestor end to end: a real in-process server with clusters `c1` (an
//! explicit API server URL, CA and token) and `c2` (a kubeconfig file), each pointing at a fake
//! API server (`psat_common`) reached through kube's real HTTP client; agents attesting over
//! the agent API with TLS, directly (AttestAgent with SPIRE's `{cluster, token}` payload) and
//! through the agent library.
//!
//! A real API server cannot run here (no container runtime, etcd or cluster network): the fake
//! speaks the API server's wire format for the three requests the attestor makes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod psat_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{TD, TestServer, csr};
use psat_common::{AGENT_POD_UID, FakeApiServer, Issued, NODE_UID};
use spiffe_agent::channel::{agent_tls_config, tls_channel};
use spiffe_core::{BundleSet, PrivateKey, SpiffeId, TrustDomain, X509Svid};
use spiffe_proto::spire::api::server::agent::v1 as agent_api;
use spiffe_proto::spire::api::server::agent::v1::agent_client::AgentClient;
use spiffe_proto::spire::api::types as pb;
use spiffe_server::config::{K8sPsatConfig, KubeApiServer, PsatCluster};
use tonic::Code;

/// The ID `c1` gives the fixture's agent.
fn c1_agent_id() -> String {
    format!("spiffe://{TD}/spire/agent/k8s_psat/c1/{NODE_UID}")
}

/// Every selector `c1` gives the fixture's agent (node label `topology.kubernetes.io/zone`
/// and pod label `app` allowed).
fn c1_selectors() -> Vec<String> {
    let mut v: Vec<String> = [
        "k8s_psat:cluster:c1".to_owned(),
        "k8s_psat:agent_ns:spire".to_owned(),
        "k8s_psat:agent_sa:spire-agent".to_owned(),
        "k8s_psat:agent_pod_name:spire-agent-5d84p".to_owned(),
        format!("k8s_psat:agent_pod_uid:{AGENT_POD_UID}"),
        "k8s_psat:agent_node_ip:172.18.0.3".to_owned(),
        "k8s_psat:agent_node_name:kind-worker".to_owned(),
        format!("k8s_psat:agent_node_uid:{NODE_UID}"),
        "k8s_psat:agent_node_label:topology.kubernetes.io/zone:zone-a".to_owned(),
        "k8s_psat:agent_pod_label:app:spire-agent".to_owned(),
    ]
    .into_iter()
    .collect();
    v.sort();
    v
}

struct World {
    server: TestServer,
    c1: FakeApiServer,
    c2: FakeApiServer,
    bundles: BundleSet,
}

impl World {
    async fn start() -> World {
        let c1 = FakeApiServer::start("c1").await;
        let c2 = FakeApiServer::start("c2").await;
        let dir = tempfile::tempdir().unwrap();
        let mut config = common::server::config(dir.path(), None);

        let mut one = PsatCluster::new(vec!["spire:spire-agent".into()]);
        one.api_server = KubeApiServer::Explicit {
            url: c1.url.clone(),
            ca_file: c1.ca_path(),
            token_file: c1.token_path(),
        };
        one.allowed_node_label_keys = ["topology.kubernetes.io/zone".to_owned()].into();
        one.allowed_pod_label_keys = ["app".to_owned()].into();
        let mut two = PsatCluster::new(vec!["spire:spire-agent".into()]);
        two.api_server = KubeApiServer::Kubeconfig(c2.kubeconfig_path());
        two.use_pod_uid_for_agent_id = true;
        config.k8s_psat = Some(K8sPsatConfig {
            clusters: [("c1".to_owned(), one), ("c2".to_owned(), two)].into(),
        });

        let socket = config.socket_path.clone();
        let server = spiffe_server::start(config).await.unwrap();
        let server = TestServer {
            server,
            dir,
            socket,
        };
        let bundles = server.bundle_set().await;
        World {
            server,
            c1,
            c2,
            bundles,
        }
    }

    /// AttestAgent over TLS, as an agent does, with a `k8s_psat` payload.
    async fn attest(&self, payload: Vec<u8>) -> Result<(X509Svid, bool), tonic::Status> {
        let config = agent_tls_config(
            &TrustDomain::parse(TD).unwrap(),
            Arc::new(self.bundles.clone()),
            None,
        )
        .unwrap();
        let channel = tls_channel(&self.server.agent_address(), Arc::new(config)).unwrap();
        let (csr, key) = csr();
        let request = agent_api::AttestAgentRequest {
            step: Some(agent_api::attest_agent_request::Step::Params(
                agent_api::attest_agent_request::Params {
                    data: Some(pb::AttestationData {
                        r#type: "k8s_psat".into(),
                        payload,
                    }),
                    params: Some(agent_api::AgentX509svidParams { csr }),
                },
            )),
        };
        let mut stream = AgentClient::new(channel)
            .attest_agent(futures::stream::iter([request]))
            .await?
            .into_inner();
        let message = stream.message().await?.expect("a result");
        let Some(agent_api::attest_agent_response::Step::Result(result)) = message.step else {
            panic!("expected a result")
        };
        let chain = result
            .svid
            .unwrap()
            .cert_chain
            .into_iter()
            .map(rustls_pki_types::CertificateDer::from)
            .collect();
        let svid = X509Svid::new(
            chain,
            PrivateKey::from_pkcs8_der(&key.serialize_der()).unwrap(),
        )
        .unwrap();
        Ok((svid, result.reattestable))
    }

    async fn attest_token(
        &self,
        cluster: &str,
        token: &str,
    ) -> Result<(X509Svid, bool), tonic::Status> {
        let payload = serde_json::json!({"cluster": cluster, "token": token});
        self.attest(serde_json::to_vec(&payload).unwrap()).await
    }

    /// The agent record, by ID.
    async fn agent(&self, id: &str) -> pb::Agent {
        let id = SpiffeId::parse(id).unwrap();
        self.server
            .agents()
            .get_agent(agent_api::GetAgentRequest {
                id: Some(pb::Spiffeid {
                    trust_domain: id.trust_domain().name().to_owned(),
                    path: id.path().to_owned(),
                }),
                output_mask: None,
            })
            .await
            .unwrap()
            .into_inner()
    }
}

fn selector_strings(agent: &pb::Agent) -> Vec<String> {
    let mut v: Vec<String> = agent
        .selectors
        .iter()
        .map(|s| format!("{}:{}", s.r#type, s.value))
        .collect();
    v.sort();
    v
}

fn refused(result: Result<(X509Svid, bool), tonic::Status>) -> tonic::Status {
    match result {
        Ok((svid, _)) => panic!("admitted as {}", svid.spiffe_id()),
        Err(status) => status,
    }
}

#[tokio::test]
async fn valid_token_is_admitted_with_spires_id_and_selectors() {
    let w = World::start().await;
    let token = w.c1.issue(Issued::agent());
    let (svid, reattestable) = w.attest_token("c1", &token).await.unwrap();
    assert_eq!(svid.spiffe_id().to_string(), c1_agent_id());
    assert!(reattestable);

    let agent = w.agent(&c1_agent_id()).await;
    assert_eq!(agent.attestation_type, "k8s_psat");
    assert!(agent.can_reattest);
    assert_eq!(selector_strings(&agent), c1_selectors());

    // The server reviewed the token for the default audience with its own credentials, then
    // read the bound pod and its node.
    let seen = w.c1.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/apis/authentication.k8s.io/v1/tokenreviews",
            "/api/v1/namespaces/spire/pods/spire-agent-5d84p",
            "/api/v1/nodes/kind-worker"
        ]
    );
    let review = seen[0].body.clone().unwrap();
    assert_eq!(review["apiVersion"], "authentication.k8s.io/v1");
    assert_eq!(review["kind"], "TokenReview");
    assert_eq!(review["spec"]["token"], token.as_str());
    assert_eq!(
        review["spec"]["audiences"],
        serde_json::json!(["spire-server"])
    );
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer spiffe-server-sa-token-c1"))
    );
}

#[tokio::test]
async fn kubeconfig_cluster_and_pod_uid_agent_ids() {
    let w = World::start().await;
    let token = w.c2.issue(Issued::agent());
    let (svid, _) = w.attest_token("c2", &token).await.unwrap();
    let id = format!("spiffe://{TD}/spire/agent/k8s_psat/c2/pod/{AGENT_POD_UID}");
    assert_eq!(svid.spiffe_id().to_string(), id);
    let selectors = selector_strings(&w.agent(&id).await);
    assert!(selectors.contains(&"k8s_psat:cluster:c2".to_owned()));
    // No label keys allowed for c2: no label selectors.
    assert!(
        !selectors.iter().any(|s| s.contains("_label:")),
        "{selectors:?}"
    );
}

#[tokio::test]
async fn reattestation_is_allowed() {
    let w = World::start().await;
    let first = w.c1.issue(Issued::agent());
    let (svid1, _) = w.attest_token("c1", &first).await.unwrap();
    let serial1 = w.agent(&c1_agent_id()).await.x509svid_serial_number;
    // A fresh token from the same pod: the same agent, a new SVID.
    let second = w.c1.issue(Issued::agent());
    let (svid2, reattestable) = w.attest_token("c1", &second).await.unwrap();
    assert!(reattestable);
    assert_eq!(svid1.spiffe_id(), svid2.spiffe_id());
    let agent = w.agent(&c1_agent_id()).await;
    assert_ne!(agent.x509svid_serial_number, serial1);
    assert_eq!(selector_strings(&agent), c1_selectors());
    // And the same token again (PSATs are not single use, unlike join tokens).
    w.attest_token("c1", &second).await.unwrap();
}

#[tokio::test]
async fn token_rejected_by_the_token_review_is_refused() {
    let w = World::start().await;
    let status = refused(
        w.attest_token("c1", "eyJhbGciOiJSUzI1NiJ9.forged.c2ln")
            .await,
    );
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "failed to attest: k8s_psat: token not authenticated according to TokenReview API for \
         cluster \"c1\": [invalid bearer token, square/go-jose: error in cryptographic primitive, \
         token lookup failed]"
    );
    // An expired (revoked) token likewise.
    let token = w.c1.issue(Issued::agent());
    w.c1.revoke(&token);
    assert_eq!(
        refused(w.attest_token("c1", &token).await).code(),
        Code::PermissionDenied
    );
}

#[tokio::test]
async fn token_for_another_audience_is_refused() {
    let w = World::start().await;
    let token = w.c1.issue(Issued {
        audiences: vec!["vault".into()],
        ..Issued::agent()
    });
    let status = refused(w.attest_token("c1", &token).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("token audiences [\"vault\"] is invalid"),
        "{}",
        status.message()
    );
    // An API server that ignores audiences: the attestor checks the review's audiences itself.
    w.c1.ignore_audiences();
    let status = refused(w.attest_token("c1", &token).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "failed to attest: k8s_psat: token review API did not validate audience for cluster \
         \"c1\": wanted one of [\"spire-server\"] but got [\"vault\"]"
    );
}

#[tokio::test]
async fn service_account_not_on_the_allow_list_is_refused() {
    let w = World::start().await;
    let token = w.c1.issue(Issued {
        namespace: "default".into(),
        service_account: "default".into(),
        ..Issued::agent()
    });
    let status = refused(w.attest_token("c1", &token).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.message(),
        "failed to attest: k8s_psat: \"default:default\" is not an allowed service account for \
         cluster \"c1\""
    );
    // Nothing was read about the pod.
    assert_eq!(w.c1.seen().len(), 1);
}

#[tokio::test]
async fn only_service_account_users_attest() {
    let w = World::start().await;
    // Users whose last two fields name an allowed service account, but that are not
    // `system:serviceaccount:<ns>:<sa>`: a node, another four-field user, an empty namespace.
    for username in [
        "system:node:spire:spire-agent",
        "a:b:spire:spire-agent",
        "system:serviceaccounts:spire:spire-agent",
        "system:serviceaccount::spire-agent",
        "system:serviceaccount:spire:spire-agent:x",
    ] {
        w.c1.review_username(username);
        let token = w.c1.issue(Issued::agent());
        let status = refused(w.attest_token("c1", &token).await);
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{username}: {status:?}"
        );
        assert_eq!(
            status.message(),
            format!(
                "failed to attest: k8s_psat: failed to parse username from token review status \
                 for cluster \"c1\": unexpected username format: {username:?}"
            )
        );
    }
    // The service account form itself attests.
    w.c1.review_username("system:serviceaccount:spire:spire-agent");
    let token = w.c1.issue(Issued::agent());
    let (svid, _) = w.attest_token("c1", &token).await.unwrap();
    assert_eq!(svid.spiffe_id().to_string(), c1_agent_id());
}

#[tokio::test]
async fn token_for_another_cluster_is_refused() {
    let w = World::start().await;
    // Issued by c2's API server, presented as c1's: c1's TokenReview does not know it.
    let token = w.c2.issue(Issued::agent());
    let status = refused(w.attest_token("c1", &token).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status
            .message()
            .contains("token not authenticated according to TokenReview API for cluster \"c1\""),
        "{}",
        status.message()
    );
    // A cluster the server does not know.
    let status = refused(w.attest_token("c3", &token).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "failed to attest: k8s_psat: not configured for cluster \"c3\""
    );
}

#[tokio::test]
async fn token_of_a_deleted_pod_is_refused() {
    let w = World::start().await;
    let token = w.c1.issue(Issued::agent());
    w.c1.recreate_agent_pod("11111111-2222-4333-8444-555555555555");
    let status = refused(w.attest_token("c1", &token).await);
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("pod UID mismatch"),
        "{}",
        status.message()
    );
    // A token bound to a pod the API server does not have.
    let token = w.c1.issue(Issued {
        pod_name: "spire-agent-gone".into(),
        ..Issued::agent()
    });
    let status = refused(w.attest_token("c1", &token).await);
    assert_eq!(status.code(), Code::Internal);
    assert!(
        status
            .message()
            .contains("get pod spire/spire-agent-gone for cluster \"c1\" failed"),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn malformed_payloads_are_refused() {
    let w = World::start().await;
    let status = refused(w.attest(b"not json".to_vec()).await);
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("failed to attest: k8s_psat: failed to unmarshal data payload"),
        "{}",
        status.message()
    );
    let status = refused(w.attest(br#"{"token":"x"}"#.to_vec()).await);
    assert_eq!(
        status.message(),
        "failed to attest: k8s_psat: missing cluster in attestation data"
    );
    let status = refused(w.attest(br#"{"cluster":"c1"}"#.to_vec()).await);
    assert_eq!(
        status.message(),
        "failed to attest: k8s_psat: missing token in attestation data"
    );
}

#[tokio::test]
async fn bad_cluster_settings_stop_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::server::config(dir.path(), None);
    let mut cluster = PsatCluster::new(vec!["spire:spire-agent".into()]);
    cluster.api_server = KubeApiServer::Kubeconfig(dir.path().join("missing-kubeconfig"));
    config.k8s_psat = Some(K8sPsatConfig {
        clusters: [("c1".to_owned(), cluster)].into(),
    });
    let err = spiffe_server::start(config.clone()).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("node attestor k8s_psat: k8s_psat cluster \"c1\": kube_config_file"),
        "{err}"
    );
    let mut clusters = config.k8s_psat.take().unwrap();
    clusters
        .clusters
        .get_mut("c1")
        .unwrap()
        .service_account_allow_list
        .clear();
    config.k8s_psat = Some(clusters);
    let err = spiffe_server::start(config).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "node attestor k8s_psat: k8s_psat cluster \"c1\": service_account_allow_list must have \
         at least one service account"
    );
}

#[tokio::test]
async fn agent_library_attests_and_comes_back_after_eviction() {
    let w = World::start().await;
    let agent_dir = tempfile::tempdir().unwrap();
    let bootstrap = agent_dir.path().join("bootstrap.pem");
    let bundle = w.bundles.iter().next().unwrap().x509().to_pem();
    std::fs::write(&bootstrap, bundle).unwrap();
    let token_path = agent_dir.path().join("spire-agent");
    let first = w.c1.issue(Issued::agent());
    std::fs::write(&token_path, format!("{first}\n")).unwrap();

    let mut config = spiffe_agent::AgentConfig::new(
        TrustDomain::parse(TD).unwrap(),
        w.server.agent_address(),
        agent_dir.path().join("data"),
    );
    config.socket_path = agent_dir.path().join("public").join("api.sock");
    config.trust_bootstrap = spiffe_agent::TrustBootstrap::BundleFile(bootstrap);
    config.max_backoff = Duration::from_millis(300);
    config.k8s_psat = Some(spiffe_agent::config::K8sPsatConfig {
        cluster: "c1".into(),
        token_path: token_path.clone(),
    });
    let agent = spiffe_agent::start(config).await.unwrap();
    let svid = agent.node.svid.get();
    assert_eq!(svid.spiffe_id().to_string(), c1_agent_id());
    assert!(agent.node.reattestable());
    let leaf = svid.leaf().to_vec();
    assert_eq!(
        selector_strings(&w.agent(&c1_agent_id()).await),
        c1_selectors()
    );

    // The kubelet rotated the token; the old one is no longer valid. Evict the agent: it must
    // attest again by itself, with the token now in the file.
    let second = w.c1.issue(Issued::agent());
    std::fs::write(&token_path, format!("{second}\n")).unwrap();
    w.c1.revoke(&first);
    let id = SpiffeId::parse(&c1_agent_id()).unwrap();
    w.server
        .agents()
        .delete_agent(agent_api::DeleteAgentRequest {
            id: Some(pb::Spiffeid {
                trust_domain: TD.into(),
                path: id.path().to_owned(),
            }),
        })
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while agent.node.svid.get().leaf().as_ref() == leaf.as_slice() {
        assert!(Instant::now() < deadline, "the agent did not attest again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(agent.node.svid.get().spiffe_id().to_string(), c1_agent_id());
    let reviewed: Vec<String> =
        w.c1.seen()
            .iter()
            .filter_map(|s| s.body.as_ref())
            .filter_map(|b| b["spec"]["token"].as_str().map(str::to_owned))
            .collect();
    assert_eq!(reviewed.last(), Some(&second));
    assert!(w.agent(&c1_agent_id()).await.can_reattest);
    agent.stop().await;
}
