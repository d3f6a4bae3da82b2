//! Clients nobody here wrote, against our Workload API server: the `spiffe` crate (0.19, from
//! crates.io) and, when installed, the Python `spiffe` package.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestProvider, TestServer, soon};
use spiffe_ca::testing::TestTrustDomain;
use spiffe_core::JwtSvid;

const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment";

async fn federated_server() -> (Arc<TestProvider>, TestServer) {
    let provider = TestProvider::single(PAYMENT);
    provider.federate(Arc::new(TestTrustDomain::new("partner.org").unwrap()));
    let server = TestServer::start(Arc::clone(&provider)).await;
    (provider, server)
}

#[tokio::test]
async fn spiffe_crate_client_fetches_x509_and_jwt() {
    let (provider, server) = federated_server().await;
    let client = spiffe::WorkloadApiClient::connect_to(server.address())
        .await
        .unwrap();
    let example = spiffe::TrustDomain::new("example.org").unwrap();
    let partner = spiffe::TrustDomain::new("partner.org").unwrap();

    // X.509: SVID, context with own and federated bundles, bundles.
    let svid = client.fetch_x509_svid().await.unwrap();
    assert_eq!(svid.spiffe_id().to_string(), PAYMENT);
    assert_eq!(
        svid.cert_chain()[0].as_bytes(),
        provider.svids()[0].leaf().as_ref()
    );
    let context = client.fetch_x509_context().await.unwrap();
    assert_eq!(context.svids().len(), 1);
    let own = context.bundle_set().get(&example).unwrap();
    assert_eq!(
        own.authorities()[0].as_bytes(),
        provider.state().bundle.as_ref().unwrap().authorities()[0].as_ref()
    );
    assert!(context.bundle_set().get(&partner).is_some());
    let bundles = client.fetch_x509_bundles().await.unwrap();
    assert_eq!(bundles.len(), 2);

    // JWT: fetch (parsed by the peer crate), bundles (JWKS), validation by the server.
    let jwt = client.fetch_jwt_svid(["user-service"], None).await.unwrap();
    assert_eq!(jwt.spiffe_id().to_string(), PAYMENT);
    assert_eq!(jwt.audience(), ["user-service"]);
    // The token is a JWT-SVID our own validator accepts too.
    JwtSvid::parse_and_validate(jwt.token(), &*provider.state(), "user-service").unwrap();
    let jwt_bundles = client.fetch_jwt_bundles().await.unwrap();
    let own_jwt = jwt_bundles.get(&example).unwrap();
    assert!(own_jwt.find_jwt_authority(jwt.key_id()).is_some());
    assert!(jwt_bundles.get(&partner).is_some());
    let validated = client
        .validate_jwt_token("user-service", jwt.token())
        .await
        .unwrap();
    assert_eq!(validated.spiffe_id().to_string(), PAYMENT);
    client
        .validate_jwt_token("someone-else", jwt.token())
        .await
        .unwrap_err();
}

#[tokio::test]
async fn spiffe_crate_x509_source_follows_rotation() {
    let (provider, server) = federated_server().await;
    let source = soon(
        spiffe::X509Source::builder()
            .endpoint(server.address())
            .build(),
    )
    .await
    .unwrap();
    let first = source.svid().unwrap();
    assert_eq!(first.spiffe_id().to_string(), PAYMENT);
    let mut updates = source.updated();
    provider.rotate();
    soon(updates.changed()).await.unwrap();
    let rotated = source.svid().unwrap();
    assert_eq!(
        rotated.cert_chain()[0].as_bytes(),
        provider.svids()[0].leaf().as_ref()
    );
    assert_ne!(
        rotated.cert_chain()[0].as_bytes(),
        first.cert_chain()[0].as_bytes()
    );
    soon(source.shutdown()).await;
}

#[tokio::test]
async fn spiffe_crate_stream_sees_rotation_and_redaction() {
    use futures::StreamExt;
    let (provider, server) = federated_server().await;
    let client = spiffe::WorkloadApiClient::connect_to(server.address())
        .await
        .unwrap();
    let mut stream = client.stream_x509_contexts().await.unwrap();
    soon(stream.next()).await.unwrap().unwrap();
    provider.rotate();
    let context = soon(stream.next()).await.unwrap().unwrap();
    assert_eq!(
        context.svids()[0].cert_chain()[0].as_bytes(),
        provider.svids()[0].leaf().as_ref()
    );
    provider.set_identities(&[]);
    let e = soon(stream.next()).await.unwrap().unwrap_err();
    assert!(e.to_string().to_lowercase().contains("permission"), "{e}");
}

/// The interpreter to use: `SPIFFE_WORKLOAD_PYTHON` (a venv's python, say) or `python3`.
fn python() -> String {
    std::env::var("SPIFFE_WORKLOAD_PYTHON").unwrap_or_else(|_| "python3".into())
}

#[tokio::test]
async fn python_spiffe_package_fetches_and_validates() {
    let python = python();
    let probe = tokio::process::Command::new(&python)
        .args(["-c", "import spiffe"])
        .output()
        .await;
    match probe {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            eprintln!(
                "SKIP python interop: `{python} -c 'import spiffe'` failed ({}); \
                 `pip install spiffe` (or set SPIFFE_WORKLOAD_PYTHON to a venv's python) to run it",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or_default()
            );
            return;
        }
        Err(e) => {
            eprintln!("SKIP python interop: cannot run {python}: {e}");
            return;
        }
    }

    let (_provider, server) = federated_server().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/interop.py");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&python)
            .arg(script)
            .args([PAYMENT, "partner.org"])
            .env("SPIFFE_ENDPOINT_SOCKET", server.address())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python interop script timed out")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        output.status.success() && stdout.contains("PYTHON INTEROP OK"),
        "python interop failed:\n{stdout}\n{stderr}"
    );
}
