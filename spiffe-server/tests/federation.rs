//! Federation on real sockets and real TLS: the server's SPIFFE bundle endpoint (profiles
//! `https_spiffe` and `https_web`) read by our fetcher and by `curl`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::server::{TD, TestServer};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use spiffe_core::{Bundle, SpiffeId, TrustDomain};
use spiffe_server::federation::{
    BundleEndpointConfig, BundleFetcher, EndpointAuth, EndpointUrl, FetchError, ServeProfile,
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
