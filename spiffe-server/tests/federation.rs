//! Federation on real sockets and real TLS: the server's SPIFFE bundle endpoint (profiles
//! `https_spiffe` and `https_web`) read by our fetcher and by `curl`; servers keeping each
//! other's bundles fresh; refused bundles never replacing a good one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::server::{TD, TestServer};
use futures::StreamExt;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use spiffe_core::{Bundle, SpiffeId, TrustDomain};
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::bundle::v1::{
    BatchSetFederatedBundleRequest, GetFederatedBundleRequest,
};
use spiffe_proto::spire::api::types as pb;
use spiffe_server::federation::{
    BundleEndpointConfig, BundleFetcher, EndpointAuth, EndpointProfile, EndpointUrl,
    FederationRelationship, FetchError, MAX_BUNDLE_SIZE, RefreshPolicy, ServeProfile,
};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn td() -> TrustDomain {
    TrustDomain::parse(TD).unwrap()
}

/// A CA (PEM) and a serving certificate chain and key it signed, for `localhost` and
/// `127.0.0.1`, written to `<dir>/<name>.crt` and `<dir>/<name>.key`.
struct WebCert {
    ca_pem: String,
    cert_file: PathBuf,
    key_file: PathBuf,
}

fn web_cert(dir: &Path, name: &str) -> WebCert {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: OpenSSL takes a leaf named like its issuer for self-signed.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} CA"));
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let cert_file = dir.join(format!("{name}.crt"));
    let key_file = dir.join(format!("{name}.key"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    WebCert {
        ca_pem: ca.pem(),
        cert_file,
        key_file,
    }
}

fn roots(ca_pem: &str) -> Arc<RootCertStore> {
    let mut store = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        store.add(c.unwrap()).unwrap();
    }
    Arc::new(store)
}

fn endpoint(profile: ServeProfile, hint: u64) -> BundleEndpointConfig {
    let mut e = BundleEndpointConfig::new(local());
    e.profile = profile;
    e.refresh_hint = Duration::from_secs(hint);
    e
}

fn url(addr: SocketAddr, host: &str) -> EndpointUrl {
    EndpointUrl::parse(&format!("https://{host}:{}/", addr.port())).unwrap()
}

fn fetcher(roots: Option<Arc<RootCertStore>>) -> BundleFetcher {
    BundleFetcher::new(roots, Duration::from_secs(10))
}

#[tokio::test]
async fn https_spiffe_endpoint_serves_the_bundle_with_the_server_svid() {
    let s = TestServer::start_with(None, |c| {
        c.federation.bundle_endpoint = Some(endpoint(ServeProfile::HttpsSpiffe, 123));
    })
    .await;
    let addr = s.server.bundle_endpoint_address.unwrap();
    let set = s.bundle_set().await;
    let own = Arc::clone(set.get(TD).unwrap());
    let auth = EndpointAuth::Spiffe {
        endpoint_spiffe_id: SpiffeId::parse("spiffe://example.org/spire/server").unwrap(),
        bundle: Arc::clone(&own),
    };
    let fetched = fetcher(None)
        .fetch(&td(), &url(addr, "127.0.0.1"), &auth)
        .await
        .unwrap();
    assert!(
        fetched.same_keys(&own),
        "the trust domain's bundle is served"
    );
    assert!(!fetched.x509().is_empty() && !fetched.jwt().is_empty());
    assert_eq!(fetched.refresh_hint(), Some(Duration::from_secs(123)));
    let stored = s.server.state.local_bundle().unwrap().sequence_number;
    assert!(stored >= 1);
    assert_eq!(fetched.sequence(), Some(stored));

    // Another endpoint SPIFFE ID: refused at the handshake, naming what was presented.
    let wrong = EndpointAuth::Spiffe {
        endpoint_spiffe_id: SpiffeId::parse("spiffe://example.org/other").unwrap(),
        bundle: Arc::clone(&own),
    };
    let err = fetcher(None)
        .fetch(&td(), &url(addr, "127.0.0.1"), &wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Handshake { .. })
            && err
                .to_string()
                .contains("spiffe://example.org/spire/server"),
        "{err}"
    );

    // A bundle of the same trust domain name with other keys: the SVID does not verify.
    let impostor = spiffe_ca::testing::TestTrustDomain::new(TD).unwrap();
    let other = EndpointAuth::Spiffe {
        endpoint_spiffe_id: SpiffeId::parse("spiffe://example.org/spire/server").unwrap(),
        bundle: Arc::clone(impostor.bundle_set().get(TD).unwrap()),
    };
    let err = fetcher(None)
        .fetch(&td(), &url(addr, "127.0.0.1"), &other)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Handshake { .. }), "{err}");

    // Web PKI roots do not know the server's CA.
    let err = fetcher(None)
        .fetch(&td(), &url(addr, "localhost"), &EndpointAuth::Web)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Handshake { .. }), "{err}");
    s.server.stop().await;
}

/// Runs curl without blocking the test's runtime (which serves the endpoint).
async fn curl(args: &[&str]) -> (String, String) {
    let out = tokio::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code} %{content_type}",
        ])
        .args(args)
        .output()
        .await
        .expect("curl runs");
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (body.to_owned(), status.to_owned())
}

#[tokio::test]
async fn https_web_endpoint_answers_curl_with_a_strict_bundle_document() {
    let dir = tempfile::tempdir().unwrap();
    let cert = web_cert(dir.path(), "web");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert.ca_pem).unwrap();
    let profile = ServeProfile::HttpsWeb {
        cert_file: cert.cert_file.clone(),
        key_file: cert.key_file.clone(),
        file_sync_interval: Duration::from_secs(3600),
    };
    let s = TestServer::start_with(None, |c| {
        c.federation.bundle_endpoint = Some(endpoint(profile, 300));
    })
    .await;
    let port = s.server.bundle_endpoint_address.unwrap().port();
    let base = format!("https://localhost:{port}");
    let ca = ca_file.to_str().unwrap();

    let (body, status) = curl(&["--cacert", ca, &format!("{base}/")]).await;
    assert_eq!(status, "200 application/json", "{body}");
    // What we publish passes the strict (publisher) rules.
    let served = Bundle::parse_json(td(), body.as_bytes()).unwrap();
    let own = s.bundle_set().await;
    assert!(served.same_keys(own.get(TD).unwrap()));
    assert_eq!(served.refresh_hint(), Some(Duration::from_secs(300)));
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["spiffe_sequence"].as_u64(),
        Some(s.server.state.local_bundle().unwrap().sequence_number)
    );
    assert_eq!(json["spiffe_refresh_hint"].as_u64(), Some(300));

    // TLS 1.2 too (Mozilla's intermediate compatibility, SPIFFE_Federation.md 5).
    let (_, status) = curl(&["--cacert", ca, "--tls-max", "1.2", &format!("{base}/")]).await;
    assert_eq!(status, "200 application/json");
    let (_, status) = curl(&["--cacert", ca, "-X", "POST", &format!("{base}/")]).await;
    assert!(status.starts_with("405 "), "{status}");
    let (_, status) = curl(&["--cacert", ca, &format!("{base}/bundle")]).await;
    assert!(status.starts_with("404 "), "{status}");
    // Without the CA, curl refuses the server (exit status, no HTTP status).
    let (_, status) = curl(&[&format!("{base}/")]).await;
    assert!(status.starts_with("000"), "{status}");

    // Our fetcher with the same roots, by name and by IP address.
    for host in ["localhost", "127.0.0.1"] {
        let fetched = fetcher(Some(roots(&cert.ca_pem)))
            .fetch(
                &td(),
                &url(s.server.bundle_endpoint_address.unwrap(), host),
                &EndpointAuth::Web,
            )
            .await
            .unwrap();
        assert!(fetched.same_keys(&served));
    }
    s.server.stop().await;
}

#[tokio::test]
async fn https_web_certificate_files_are_reloaded_and_a_bad_change_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let first = web_cert(dir.path(), "web");
    let profile = ServeProfile::HttpsWeb {
        cert_file: first.cert_file.clone(),
        key_file: first.key_file.clone(),
        file_sync_interval: Duration::from_millis(100),
    };
    let s = TestServer::start_with(None, |c| {
        c.federation.bundle_endpoint = Some(endpoint(profile, 300));
    })
    .await;
    let u = url(s.server.bundle_endpoint_address.unwrap(), "localhost");
    let fetch = |ca: &str| {
        let f = fetcher(Some(roots(ca)));
        let u = u.clone();
        async move { f.fetch(&td(), &u, &EndpointAuth::Web).await }
    };
    fetch(&first.ca_pem).await.unwrap();

    // A key file that does not parse: the certificate in use stays.
    std::fs::write(&first.key_file, "-----BEGIN PRIVATE KEY-----\nAAAA\n").unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    fetch(&first.ca_pem).await.unwrap();

    // A new certificate and key from another CA: presented from the next check on.
    let second = web_cert(dir.path(), "next");
    std::fs::copy(&second.cert_file, &first.cert_file).unwrap();
    std::fs::copy(&second.key_file, &first.key_file).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if fetch(&second.ca_pem).await.is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "new certificate never presented"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(matches!(
        fetch(&first.ca_pem).await,
        Err(FetchError::Handshake { .. })
    ));
    s.server.stop().await;
}

#[tokio::test]
async fn a_serving_key_that_is_not_the_certificates_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let a = web_cert(dir.path(), "a");
    let b = web_cert(dir.path(), "b");
    let mut config = common::server::config(dir.path(), None);
    config.federation.bundle_endpoint = Some(endpoint(
        ServeProfile::HttpsWeb {
            cert_file: a.cert_file,
            key_file: b.key_file.clone(),
            file_sync_interval: Duration::from_secs(3600),
        },
        300,
    ));
    let err = spiffe_server::start(config).await.unwrap_err().to_string();
    assert!(
        err.contains("bundle endpoint serving key") && err.contains(&*b.key_file.to_string_lossy()),
        "{err}"
    );
}

/// Fast refreshes for tests: a 1 s hint means a fetch every 250 ms, failures retried after
/// 50 ms doubling to 200 ms, relationships re-read every 100 ms.
fn fast_policy() -> RefreshPolicy {
    RefreshPolicy {
        min_hint: Duration::from_millis(100),
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(200),
        relationships_interval: Duration::from_millis(100),
        fetch_timeout: Duration::from_secs(5),
        ..RefreshPolicy::default()
    }
}

/// The federated bundle `td` as server `s`'s admin API reports it.
async fn federated(s: &TestServer, td: &str) -> Option<pb::Bundle> {
    BundleClient::new(s.admin())
        .get_federated_bundle(GetFederatedBundleRequest {
            trust_domain: td.into(),
            output_mask: None,
        })
        .await
        .ok()
        .map(tonic::Response::into_inner)
}

/// Waits (at most 10 s) until `check` holds for the federated bundle `td` of `s`.
async fn wait_for(
    s: &TestServer,
    td: &str,
    what: &str,
    check: impl Fn(&pb::Bundle) -> bool,
) -> pb::Bundle {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(b) = federated(s, td).await.filter(|b| check(b)) {
            return b;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two servers in one process: `example.org` federates with `partner.org` over `https_spiffe`
/// (configured as in the file), bootstrapped with `bundle set`; then follows partner.org's CA
/// rotation, authenticating each later fetch with the bundle it fetched last.
#[tokio::test]
async fn two_servers_federate_over_https_spiffe_and_follow_rotation() {
    let partner = TestServer::start_with(None, |c| {
        c.trust_domain = TrustDomain::parse("partner.org").unwrap();
        c.federation.bundle_endpoint = Some(endpoint(ServeProfile::HttpsSpiffe, 1));
    })
    .await;
    let partner_addr = partner.server.bundle_endpoint_address.unwrap();
    let relationship = FederationRelationship {
        trust_domain: TrustDomain::parse("partner.org").unwrap(),
        bundle_endpoint_url: url(partner_addr, "127.0.0.1"),
        profile: EndpointProfile::HttpsSpiffe {
            endpoint_spiffe_id: SpiffeId::parse("spiffe://partner.org/spire/server").unwrap(),
        },
    };
    let ours = TestServer::start_with(None, |c| {
        c.federation.refresh = fast_policy();
        c.federation
            .federates_with
            .insert(relationship.trust_domain.clone(), relationship.clone());
    })
    .await;

    // An agent of ours.
    let agent_dir = tempfile::tempdir().unwrap();
    let bootstrap = agent_dir.path().join("bootstrap.pem");
    std::fs::write(
        &bootstrap,
        ours.bundle_set().await.get(TD).unwrap().x509().to_pem(),
    )
    .unwrap();
    let mut agent_config =
        spiffe_agent::AgentConfig::new(td(), ours.agent_address(), agent_dir.path().join("data"));
    agent_config.socket_path = agent_dir.path().join("public").join("api.sock");
    agent_config.trust_bootstrap = spiffe_agent::TrustBootstrap::BundleFile(bootstrap);
    agent_config.join_token = Some(ours.join_token().await);
    let agent = spiffe_agent::start(agent_config.clone()).await.unwrap();
    let agent_id = agent.node.svid.get().spiffe_id().clone();
    let workload = spiffe_workload::client::WorkloadApiClient::connect(&format!(
        "unix://{}",
        agent_config.socket_path.display()
    ))
    .await
    .unwrap();
    // Waits until the workload sees exactly these X.509 authorities for partner.org.
    let workload_sees = |want: Vec<Vec<u8>>, what: &'static str| {
        let workload = workload.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let got: Option<Vec<Vec<u8>>> =
                    workload.fetch_x509_context().await.ok().and_then(|c| {
                        c.bundles
                            .get("partner.org")
                            .map(|b| b.x509().authorities().iter().map(|c| c.to_vec()).collect())
                    });
                if got.as_ref() == Some(&want) {
                    return;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never: {what} ({got:?})"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };

    // No bundle of partner.org yet: SPIFFE authentication cannot start, nothing is stored.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(federated(&ours, "partner.org").await.is_none());

    // Bootstrap: the operator sets partner.org's bundle (no refresh hint, sequence 0).
    let mut seed = (*partner.server.state.local_bundle().unwrap()).clone();
    seed.sequence_number = 0;
    seed.refresh_hint = 0;
    let set = BundleClient::new(ours.admin())
        .batch_set_federated_bundle(BatchSetFederatedBundleRequest {
            bundle: vec![seed.clone()],
            output_mask: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.results[0].status.as_ref().unwrap().code, 0);
    // A workload entry federating with partner.org (refused before its bundle exists, as in
    // SPIRE).
    let mut entry = spiffe_testkit::grpc::unix_entry(
        spiffe_testkit::grpc::spiffe_id(TD, "/workload"),
        spiffe_testkit::grpc::spiffe_id(TD, agent_id.path()),
        nix::unistd::geteuid().as_raw(),
    );
    entry.federates_with = vec!["partner.org".into()];
    spiffe_testkit::grpc::create_entry(&ours.admin(), entry)
        .await
        .unwrap();

    // The endpoint's own document replaces the seed (its sequence and hint).
    let sequence = partner.server.state.local_bundle().unwrap().sequence_number;
    let fetched = wait_for(&ours, "partner.org", "the fetched bundle is stored", |b| {
        b.refresh_hint == 1 && b.sequence_number == sequence
    })
    .await;
    assert_eq!(fetched.x509_authorities, seed.x509_authorities);
    let asn1 = |b: &pb::Bundle| -> Vec<Vec<u8>> {
        b.x509_authorities.iter().map(|c| c.asn1.clone()).collect()
    };
    workload_sees(asn1(&fetched), "the workload gets partner.org's bundle").await;
    // Open streams of each kind: partner.org's bundle is in their first message (the JWT
    // authorities in FetchJWTBundles, the X.509 ones in FetchX509Bundles and FetchX509SVID).
    let mut x509_bundles = workload.stream_x509_bundles().await.unwrap();
    let mut contexts = workload.stream_x509_contexts().await.unwrap();
    let mut jwt_bundles = workload.stream_jwt_bundles().await.unwrap();
    let next = |what: &'static str| {
        move |item: Option<Result<spiffe_core::BundleSet, spiffe_workload::client::ClientError>>| {
            item.unwrap_or_else(|| panic!("{what} ended"))
                .unwrap_or_else(|e| panic!("{what}: {e}"))
        }
    };
    let soon = Duration::from_secs(10);
    let partner_x509 = |set: &spiffe_core::BundleSet| -> Option<Vec<Vec<u8>>> {
        set.get("partner.org")
            .map(|b| b.x509().authorities().iter().map(|c| c.to_vec()).collect())
    };
    let first = next("FetchX509Bundles")(
        tokio::time::timeout(soon, x509_bundles.next())
            .await
            .unwrap(),
    );
    assert_eq!(partner_x509(&first), Some(asn1(&fetched)));
    assert!(first.get(TD).is_some());
    let context = tokio::time::timeout(soon, contexts.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(partner_x509(&context.bundles), Some(asn1(&fetched)));
    let jwt = next("FetchJWTBundles")(
        tokio::time::timeout(soon, jwt_bundles.next())
            .await
            .unwrap(),
    );
    let mut partner_jwt: Vec<String> = jwt
        .get("partner.org")
        .expect("partner.org's JWT bundle in FetchJWTBundles")
        .jwt()
        .authorities()
        .map(|(kid, _)| kid.to_owned())
        .collect();
    let mut want_jwt: Vec<String> = fetched
        .jwt_authorities
        .iter()
        .map(|k| k.key_id.clone())
        .collect();
    partner_jwt.sort();
    want_jwt.sort();
    assert!(!want_jwt.is_empty());
    assert_eq!(partner_jwt, want_jwt);
    assert!(jwt.get(TD).is_some());

    // partner.org prepares a new CA: its bundle grows and is fetched.
    partner.server.state.ca.prepare_x509().unwrap();
    partner.server.state.publish_local_bundle().await.unwrap();
    let grown = partner.server.state.local_bundle().unwrap();
    assert_eq!(
        grown.x509_authorities.len(),
        seed.x509_authorities.len() + 1
    );
    let followed = wait_for(&ours, "partner.org", "the rotated bundle is fetched", |b| {
        b.sequence_number == grown.sequence_number
    })
    .await;
    assert_eq!(followed.x509_authorities, grown.x509_authorities);
    // The agent gets the rotated bundle pushed, and the workload with it.
    workload_sees(
        asn1(&grown),
        "the workload gets partner.org's rotated bundle",
    )
    .await;
    // The streams opened before the rotation got it pushed, without asking again.
    let pushed = tokio::time::timeout(soon, async {
        loop {
            let set = next("FetchX509Bundles")(x509_bundles.next().await);
            if partner_x509(&set) == Some(asn1(&grown)) {
                return;
            }
        }
    })
    .await;
    assert!(
        pushed.is_ok(),
        "FetchX509Bundles never pushed the rotated bundle"
    );
    let pushed = tokio::time::timeout(soon, async {
        loop {
            let context = contexts.next().await.unwrap().unwrap();
            if partner_x509(&context.bundles) == Some(asn1(&grown)) {
                return;
            }
        }
    })
    .await;
    assert!(
        pushed.is_ok(),
        "FetchX509SVID never pushed the rotated bundle"
    );
    agent.stop().await;
    ours.server.stop().await;
    partner.server.stop().await;
}

/// What the fake endpoint answers, and how many requests it has had.
#[derive(Default)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    requests: usize,
}

fn document(td: &spiffe_ca::testing::TestTrustDomain, name: &str, sequence: u64) -> Vec<u8> {
    let mut b = (**td.bundle_set().get(name).unwrap()).clone();
    b.set_sequence(Some(sequence));
    b.set_refresh_hint(Some(Duration::from_secs(1)));
    b.to_json().into_bytes()
}

/// An `https_web` relationship from the datastore, to an endpoint that turns hostile: no
/// answer that fails to parse, holds no authority, is older than the last one, fails or is too
/// large replaces the good bundle; a good newer one does.
#[tokio::test]
async fn a_bundle_that_fails_to_parse_or_verify_never_replaces_a_good_one() {
    use std::sync::Mutex;

    let tls = spiffe_testkit::tls::TlsMaterial::new("fake CA", "fake", &["127.0.0.1"]).unwrap();
    let answer = Arc::new(Mutex::new(Answer::default()));
    let shared = Arc::clone(&answer);
    let fake =
        spiffe_testkit::http::HttpServer::start(Some(tls.server_config().unwrap()), move |_req| {
            let shared = Arc::clone(&shared);
            async move {
                let mut a = shared.lock().unwrap();
                a.requests += 1;
                spiffe_testkit::http::text(
                    http::StatusCode::from_u16(a.status).unwrap(),
                    "application/json",
                    a.body.clone(),
                )
            }
        })
        .await
        .unwrap();
    let fake_td = spiffe_ca::testing::TestTrustDomain::new("fake.org").unwrap();
    let set = |status: u16, body: Vec<u8>| {
        let mut a = answer.lock().unwrap();
        a.status = status;
        a.body = body;
        a.requests
    };
    set(200, document(&fake_td, "fake.org", 5));

    let web_roots = roots(&tls.ca_pem);
    let ours = TestServer::start_with(None, |c| {
        c.federation.refresh = fast_policy();
        c.federation.web_roots = Some(web_roots);
    })
    .await;
    let relationship = FederationRelationship {
        trust_domain: TrustDomain::parse("fake.org").unwrap(),
        bundle_endpoint_url: EndpointUrl::parse(&format!("{}/bundle", fake.url())).unwrap(),
        profile: EndpointProfile::HttpsWeb,
    };
    ours.server
        .state
        .ds
        .create_federation_relationship(&relationship)
        .await
        .unwrap();
    let good = wait_for(&ours, "fake.org", "the first bundle is stored", |b| {
        b.sequence_number == 5
    })
    .await;

    let too_large = {
        let mut big = b"{\"keys\":[".to_vec();
        big.extend(std::iter::repeat_n(b' ', MAX_BUNDLE_SIZE));
        big.extend(b"]}");
        big
    };
    let hostile: Vec<(&str, u16, Vec<u8>)> = vec![
        ("not JSON", 200, b"<html>gateway</html>".to_vec()),
        ("no keys member", 200, br#"{"spiffe_sequence": 9}"#.to_vec()),
        (
            "no X.509 authority",
            200,
            br#"{"keys": [], "spiffe_sequence": 9}"#.to_vec(),
        ),
        ("an x509-svid entry that is not a certificate", 200, {
            let mut doc: serde_json::Value =
                serde_json::from_slice(&document(&fake_td, "fake.org", 9)).unwrap();
            doc["keys"][0]["x5c"] = serde_json::json!(["AAAA"]);
            serde_json::to_vec(&doc).unwrap()
        }),
        ("a jwt-svid key without kid", 200, {
            let mut doc: serde_json::Value =
                serde_json::from_slice(&document(&fake_td, "fake.org", 9)).unwrap();
            doc["keys"][1].as_object_mut().unwrap().remove("kid");
            serde_json::to_vec(&doc).unwrap()
        }),
        (
            "older than the last fetched",
            200,
            document(&fake_td, "fake.org", 4),
        ),
        ("a server error", 500, b"{}".to_vec()),
        ("a redirect", 302, Vec::new()),
        ("larger than MAX_BUNDLE_SIZE", 200, too_large),
    ];
    for (what, status, body) in hostile {
        let before = set(status, body);
        // Several fetches happen (failures are retried within 200 ms).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while answer.lock().unwrap().requests < before + 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no refetch after: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            federated(&ours, "fake.org").await.as_ref(),
            Some(&good),
            "{what}"
        );
    }

    // A good, newer bundle with other keys replaces it.
    let rotated = spiffe_ca::testing::TestTrustDomain::new("fake.org").unwrap();
    set(200, document(&rotated, "fake.org", 6));
    let replaced = wait_for(&ours, "fake.org", "the newer bundle is stored", |b| {
        b.sequence_number == 6
    })
    .await;
    assert_ne!(replaced.x509_authorities, good.x509_authorities);

    // The relationship removed: no more fetches; the bundle stays.
    ours.server
        .state
        .ds
        .delete_federation_relationship(&relationship.trust_domain)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after = answer.lock().unwrap().requests;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        answer.lock().unwrap().requests,
        after,
        "the refresher stopped"
    );
    assert_eq!(federated(&ours, "fake.org").await, Some(replaced));
    ours.server.stop().await;
}

/// Redirects (SPIFFE_Federation.md 5.2.1.4): followed to an absolute path or an `https` URL,
/// refused to `http`, and at most `MAX_REDIRECTS` of them.
#[tokio::test]
async fn redirects_are_followed_to_valid_bundle_endpoint_urls_only() {
    let tls = spiffe_testkit::tls::TlsMaterial::new("fake CA", "fake", &["127.0.0.1"]).unwrap();
    let fake_td = spiffe_ca::testing::TestTrustDomain::new("fake.org").unwrap();
    let doc = document(&fake_td, "fake.org", 3);
    let port = Arc::new(std::sync::OnceLock::<u16>::new());
    let p = Arc::clone(&port);
    let fake =
        spiffe_testkit::http::HttpServer::start(Some(tls.server_config().unwrap()), move |req| {
            let doc = doc.clone();
            let port = p.get().copied().unwrap_or(0);
            async move {
                let found = |to: String| {
                    let mut r = spiffe_testkit::http::text(
                        http::StatusCode::FOUND,
                        "text/plain",
                        Vec::new(),
                    );
                    r.headers_mut()
                        .insert(http::header::LOCATION, to.parse().unwrap());
                    r
                };
                match req.uri().path() {
                    "/bundle" => {
                        spiffe_testkit::http::text(http::StatusCode::OK, "application/json", doc)
                    }
                    "/moved" => found("/bundle".into()),
                    "/absolute" => found(format!("https://127.0.0.1:{port}/moved")),
                    "/plain" => found(format!("http://127.0.0.1:{port}/bundle")),
                    _ => found("/loop".into()),
                }
            }
        })
        .await
        .unwrap();
    port.set(fake.addr().port()).unwrap();
    let f = fetcher(Some(roots(&tls.ca_pem)));
    let fake_org = TrustDomain::parse("fake.org").unwrap();
    let at = |path: &str| EndpointUrl::parse(&format!("{}{path}", fake.url())).unwrap();
    for path in ["/moved", "/absolute"] {
        let b = f
            .fetch(&fake_org, &at(path), &EndpointAuth::Web)
            .await
            .unwrap();
        assert_eq!(b.sequence(), Some(3), "{path}");
    }
    let err = f
        .fetch(&fake_org, &at("/plain"), &EndpointAuth::Web)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("must use the https scheme"), "{err}");
    let err = f
        .fetch(&fake_org, &at("/loop"), &EndpointAuth::Web)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than 3 redirects"), "{err}");
}

#[tokio::test]
async fn a_configured_relationship_with_the_own_trust_domain_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::server::config(dir.path(), None);
    config.federation.federates_with.insert(
        td(),
        FederationRelationship {
            trust_domain: td(),
            bundle_endpoint_url: EndpointUrl::parse("https://127.0.0.1:1/").unwrap(),
            profile: EndpointProfile::HttpsWeb,
        },
    );
    let err = spiffe_server::start(config).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "federation: trust_domain \"example.org\": a server does not federate with its own trust domain"
    );
}

/// The endpoint's bounds: connections beyond `max_connections` are closed at once, and a
/// connection that never completes its handshake gives its slot back after
/// `handshake_timeout`.
#[tokio::test]
async fn the_endpoint_bounds_connections_and_handshakes() {
    let mut e = endpoint(ServeProfile::HttpsSpiffe, 300);
    e.limits.max_connections = 2;
    e.limits.handshake_timeout = Duration::from_millis(500);
    let s = TestServer::start_with(None, |c| c.federation.bundle_endpoint = Some(e)).await;
    let addr = s.server.bundle_endpoint_address.unwrap();
    let own = Arc::clone(s.bundle_set().await.get(TD).unwrap());
    let auth = EndpointAuth::Spiffe {
        endpoint_spiffe_id: SpiffeId::parse("spiffe://example.org/spire/server").unwrap(),
        bundle: own,
    };
    let fetch = || async {
        fetcher(None)
            .fetch(&td(), &url(addr, "127.0.0.1"), &auth)
            .await
    };

    // Two silent clients take both slots: a third is closed before its handshake.
    let silent: Vec<_> =
        futures::future::join_all((0..2).map(|_| tokio::net::TcpStream::connect(addr)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = fetch().await.unwrap_err();
    assert!(matches!(refused, FetchError::Handshake { .. }), "{refused}");

    // Their handshakes time out; the slots come back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while fetch().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slots never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(silent);
    s.server.stop().await;
}

#[tokio::test]
async fn a_bundle_endpoint_address_in_use_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::server::config(dir.path(), None);
    config.federation.bundle_endpoint = Some(BundleEndpointConfig::new(address));
    let err = spiffe_server::start(config).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("bundle endpoint address {address}: ")),
        "{err}"
    );
}
