//! X509Source and JwtSource against a real server on a UNIX socket: first update, rotation,
//! only-real-change notifications, pickers, withdrawal, reconnection after a restart, and the
//! background task stopping with the last handle.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Identity, TestProvider, TestServer, id, soon, td};
use spiffe_ca::testing::TestTrustDomain;
use spiffe_core::{BundleSource, SourceError, SvidSource};
use spiffe_workload::client::Backoff;
use spiffe_workload::source::StartError;
use spiffe_workload::{JwtSource, SvidPicker, X509Source};

const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment";

fn fast() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
}

async fn x509_source(server: &TestServer) -> X509Source {
    X509Source::builder()
        .address(server.address())
        .timeout(Duration::from_secs(5))
        .backoff(fast())
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn x509_source_first_update_then_rotation() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let source = x509_source(&server).await;

    let svid = source.x509_svid().unwrap();
    assert_eq!(svid.chain(), provider.svids()[0].chain());
    assert!(source.x509_bundle(&td("example.org")).is_some());
    assert!(source.x509_bundle(&td("other.org")).is_none());
    assert!(source.jwt_bundle(&td("example.org")).is_none());

    let mut updates = source.updates();
    provider.rotate();
    soon(updates.changed()).await.unwrap();
    let rotated = source.x509_svid().unwrap();
    assert_ne!(rotated.chain(), svid.chain());
    assert_eq!(rotated.chain(), provider.svids()[0].chain());
    assert_eq!(updates.latest().unwrap().svids[0].chain(), rotated.chain());

    // A state that changes nothing is no change.
    provider.publish((*provider.state()).clone());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), updates.changed())
            .await
            .is_err(),
        "watchers must not be woken for an identical update"
    );
}

#[tokio::test]
async fn x509_source_pickers() {
    let td = Arc::new(TestTrustDomain::new("example.org").unwrap());
    let provider = TestProvider::new(
        td,
        &[
            Identity::from(PAYMENT),
            Identity::from(("spiffe://example.org/b", "external")),
        ],
    );
    let server = TestServer::start(provider).await;
    let source = x509_source(&server).await;
    assert_eq!(source.svid().unwrap().spiffe_id().as_str(), PAYMENT);
    let by_hint = source.with_picker(SvidPicker::Hint("external".into()));
    assert_eq!(
        by_hint.svid().unwrap().spiffe_id().as_str(),
        "spiffe://example.org/b"
    );
    let by_id = source.with_picker(SvidPicker::Id(id("spiffe://example.org/b")));
    assert_eq!(by_id.svid().unwrap().hint(), Some("external"));
    let custom = source.with_picker(SvidPicker::custom(|svids| svids.last().cloned()));
    assert_eq!(
        custom.svid().unwrap().spiffe_id().as_str(),
        "spiffe://example.org/b"
    );
    let missing = source.with_picker(SvidPicker::Hint("internal".into()));
    let SourceError::NoSvid(message) = missing.svid().unwrap_err() else {
        panic!("expected NoSvid")
    };
    assert!(
        message.contains("\"internal\"") && message.contains("\"external\""),
        "{message}"
    );
}

#[tokio::test]
async fn x509_source_withdraws_on_permission_denied_and_recovers() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let source = x509_source(&server).await;
    let mut updates = source.updates();

    provider.set_identities(&[]);
    soon(updates.changed()).await.unwrap();
    assert!(matches!(source.svid(), Err(SourceError::NoSvid(_))));
    assert!(source.context().is_none());
    assert!(source.x509_bundle(&td("example.org")).is_none());
    assert!(source.last_error().unwrap().contains("PermissionDenied"));

    provider.set_identities(&[Identity::from(PAYMENT)]);
    soon(updates.changed()).await.unwrap();
    assert_eq!(source.svid().unwrap().chain(), provider.svids()[0].chain());
}

#[tokio::test]
async fn x509_source_reconnects_after_server_restart() {
    let provider = TestProvider::single(PAYMENT);
    let mut server = TestServer::start(Arc::clone(&provider)).await;
    let source = x509_source(&server).await;
    let before = source.svid().unwrap();
    let mut updates = source.updates();

    server.stop().await;
    // While the server is down the last SVID stays usable.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(source.svid().unwrap().chain(), before.chain());
    assert!(source.last_error().is_some());

    provider.rotate();
    server.restart(Arc::clone(&provider)).await;
    soon(updates.changed()).await.unwrap();
    assert_eq!(source.svid().unwrap().chain(), provider.svids()[0].chain());
    assert_ne!(source.svid().unwrap().chain(), before.chain());

    // And it keeps following on the new connection.
    provider.rotate();
    soon(updates.changed()).await.unwrap();
    assert_eq!(source.svid().unwrap().chain(), provider.svids()[0].chain());
}

#[tokio::test]
async fn dropping_the_last_handle_stops_the_background_task() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    // Only the provider's own sender side: no subscriber yet.
    provider.wait_subscribers(0).await;

    let source = x509_source(&server).await;
    provider.wait_subscribers(1).await;
    let handle = source.clone();
    let mut watcher = source.updates();
    drop(source);
    // A clone keeps the task (and its stream) alive.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(provider.subscribers(), 1);
    assert!(handle.svid().is_ok());

    drop(handle);
    // The task is aborted: its stream closes and the server drops the subscription.
    provider.wait_subscribers(0).await;
    // A watcher that outlives the source learns it is closed.
    assert!(soon(watcher.changed()).await.is_err());
}

#[tokio::test]
async fn x509_source_times_out_with_the_reason() {
    let td = Arc::new(TestTrustDomain::new("example.org").unwrap());
    let provider = TestProvider::new(td, &[]);
    let server = TestServer::start(provider).await;
    let e = X509Source::builder()
        .address(server.address())
        .timeout(Duration::from_millis(300))
        .backoff(fast())
        .build()
        .await
        .unwrap_err();
    let StartError::Timeout { last_error, .. } = &e else {
        panic!("expected a timeout, got {e}")
    };
    assert!(
        last_error.as_deref().unwrap().contains("PermissionDenied"),
        "{e}"
    );
    assert!(
        e.to_string().contains("no X509-SVID issued to caller pid="),
        "{e}"
    );

    // No server at all: also a timeout that says why.
    let e = X509Source::builder()
        .address("unix:///nonexistent/agent.sock")
        .timeout(Duration::from_millis(200))
        .backoff(fast())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, StartError::Timeout { .. }), "{e}");

    // A malformed address fails at once.
    let e = X509Source::builder()
        .address("http://nope")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(e, StartError::Client(_)), "{e}");
}

#[tokio::test]
async fn jwt_source_bundles_tokens_and_local_validation() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let source = JwtSource::builder()
        .address(server.address())
        .timeout(Duration::from_secs(5))
        .backoff(fast())
        .build()
        .await
        .unwrap();
    assert!(source.jwt_bundle(&td("example.org")).is_some());
    assert!(source.x509_bundle(&td("example.org")).is_none());

    let svid = source.fetch_jwt_svid(&["user-service"]).await.unwrap();
    // Reused while fresh.
    let again = source.fetch_jwt_svid(&["user-service"]).await.unwrap();
    assert_eq!(svid.token(), again.token());
    let validated = source.validate(svid.token(), "user-service").unwrap();
    assert_eq!(validated.spiffe_id().as_str(), PAYMENT);
    assert!(source.validate(svid.token(), "other").is_err());

    // A federated trust domain arrives as a real change.
    let mut updates = source.updates();
    let partner = Arc::new(TestTrustDomain::new("partner.org").unwrap());
    provider.federate(Arc::clone(&partner));
    soon(updates.changed()).await.unwrap();
    let foreign = partner
        .jwt_svid("spiffe://partner.org/api", &["user-service"])
        .unwrap();
    assert_eq!(
        source
            .validate(foreign.token(), "user-service")
            .unwrap()
            .spiffe_id()
            .as_str(),
        "spiffe://partner.org/api"
    );

    drop(source);
    provider.wait_subscribers(0).await;
}
