//! mTLS between a hyper server and hyper-util's client over real TCP sockets, both fed by
//! X509Sources on real Workload API servers; and JWT-SVID bearer tokens over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Identity, TestProvider, TestServer, id, soon};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use spiffe_ca::testing::TestTrustDomain;
use spiffe_core::authorize;
use spiffe_core::pki_types::CertificateDer;
use spiffe_workload::client::Backoff;
use spiffe_workload::http::{
    BearerLayer, JwtAuthLayer, JwtPeer, JwtValidator, MtlsAcceptor, MtlsConnector, PeerId,
    serve_connection,
};
use spiffe_workload::{JwtSource, WorkloadApiClient, X509Source};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tower::{ServiceBuilder, ServiceExt};

const USER: &str = "spiffe://example.org/ns/prod/sa/user-service";
const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment-service";
const INTRUDER: &str = "spiffe://example.org/ns/prod/sa/intruder";

/// A workload: its provider, its Workload API server and its X509Source.
struct Workload {
    provider: Arc<TestProvider>,
    _server: TestServer,
    source: X509Source,
}

impl Workload {
    async fn new(td: &Arc<TestTrustDomain>, spiffe_id: &str) -> Self {
        let provider = TestProvider::new(Arc::clone(td), &[Identity::from(spiffe_id)]);
        let server = TestServer::start(Arc::clone(&provider)).await;
        let source = X509Source::builder()
            .address(server.address())
            .timeout(Duration::from_secs(5))
            .backoff(Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(200),
            ))
            .build()
            .await
            .unwrap();
        Workload {
            provider,
            _server: server,
            source,
        }
    }

    async fn rotate(&self) {
        let mut updates = self.source.updates();
        self.provider.rotate();
        soon(updates.changed()).await.unwrap();
    }

    fn leaf(&self) -> CertificateDer<'static> {
        self.source.svid().unwrap().leaf().clone()
    }
}

/// What the test server saw of each connection.
#[derive(Debug)]
enum Seen {
    Admitted(CertificateDer<'static>),
    Refused(String),
}

/// An mTLS hyper server admitting only `admit`; answers with the caller's ID.
async fn mtls_server(
    source: &X509Source,
    admit: &str,
) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let config = source.mtls_config(Arc::new(authorize::id(id(admit))));
    let acceptor = MtlsAcceptor::new(&config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Err(e) => {
                        let _ = tx.send(Seen::Refused(e.to_string()));
                    }
                    Ok(accepted) => {
                        let leaf =
                            accepted.stream.get_ref().1.peer_certificates().unwrap()[0].clone();
                        let _ = tx.send(Seen::Admitted(leaf));
                        let service = tower::service_fn(|req: Request<Incoming>| async move {
                            let peer = req.extensions().get::<PeerId>().unwrap().0.to_string();
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(peer))))
                        });
                        let _ = serve_connection(accepted, service).await;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn mtls_client(source: &X509Source, expect_server: &str) -> Client<MtlsConnector, Empty<Bytes>> {
    let config = source.mtls_config(Arc::new(authorize::id(id(expect_server))));
    Client::builder(TokioExecutor::new())
        // A fresh connection (so a fresh handshake) for every request.
        .pool_max_idle_per_host(0)
        .build(MtlsConnector::new(&config).unwrap())
}

async fn get(
    client: &Client<MtlsConnector, Empty<Bytes>>,
    addr: SocketAddr,
) -> Result<(String, PeerId), String> {
    let uri: http::Uri = format!("https://localhost:{}/", addr.port())
        .parse()
        .unwrap();
    let response = soon(client.get(uri)).await.map_err(|e| error_chain(&e))?;
    let peer = response.extensions().get::<PeerId>().cloned().unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Ok((String::from_utf8(body.to_vec()).unwrap(), peer))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[tokio::test]
async fn mtls_admits_the_right_peer_refuses_intruders_and_follows_rotation() {
    let td = Arc::new(TestTrustDomain::new("example.org").unwrap());
    let user = Workload::new(&td, USER).await;
    let payment = Workload::new(&td, PAYMENT).await;
    let intruder = Workload::new(&td, INTRUDER).await;

    let (addr, mut seen) = mtls_server(&user.source, PAYMENT).await;
    let client = mtls_client(&payment.source, USER);
    let intruder_client = mtls_client(&intruder.source, USER);

    // The intruder's own server, which payment must refuse.
    let (evil_addr, _evil_seen) = mtls_server(&intruder.source, PAYMENT).await;

    for round in ["before rotation", "after rotation"] {
        // payment -> user: admitted both ways; each side sees the other's current SVID.
        let (body, server_id) = get(&client, addr).await.unwrap();
        assert_eq!(body, PAYMENT, "{round}: the server saw the client's ID");
        assert_eq!(server_id, PeerId(id(USER)), "{round}");
        match soon(seen.recv()).await.unwrap() {
            Seen::Admitted(leaf) => assert_eq!(leaf, payment.leaf(), "{round}: newest client SVID"),
            Seen::Refused(e) => panic!("{round}: payment refused: {e}"),
        }
        let config = payment
            .source
            .mtls_config(Arc::new(authorize::id(id(USER))));
        let stream = MtlsConnector::new(&config)
            .unwrap()
            .connect(
                &format!("https://localhost:{}/", addr.port())
                    .parse()
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(stream.peer_id(), &id(USER));
        assert_eq!(
            stream.peer_certificates().unwrap()[0],
            user.leaf(),
            "{round}: newest server SVID"
        );
        drop(stream);
        let _ = soon(seen.recv()).await.unwrap();

        // intruder -> user: refused by the server, which names the intruder.
        let e = get(&intruder_client, addr).await.unwrap_err();
        match soon(seen.recv()).await.unwrap() {
            Seen::Refused(message) => {
                eprintln!("{round}: server refused the intruder: {message}");
                assert!(message.contains(INTRUDER), "{round}: {message}");
                assert!(
                    message.contains(&format!("expected {PAYMENT}")),
                    "{round}: {message}"
                );
            }
            Seen::Admitted(_) => panic!("{round}: intruder admitted"),
        }
        assert!(!e.is_empty());

        // payment -> intruder's server: refused by the client, which names the intruder.
        let e = get(&client, evil_addr).await.unwrap_err();
        eprintln!("{round}: client refused the intruder's server: {e}");
        assert!(e.contains(INTRUDER), "{round}: {e}");
        assert!(e.contains(&format!("expected {USER}")), "{round}: {e}");

        if round == "before rotation" {
            let (old_user, old_payment) = (user.leaf(), payment.leaf());
            user.rotate().await;
            payment.rotate().await;
            intruder.rotate().await;
            assert_ne!(user.leaf(), old_user);
            assert_ne!(payment.leaf(), old_payment);
        }
    }
}

/// A plain HTTP/1 server behind `JwtAuthLayer`, answering with the token's subject.
async fn jwt_server(validator: JwtValidator) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .layer(JwtAuthLayer::new(validator.clone(), "user-service"))
                .service(tower::service_fn(|req: Request<Incoming>| async move {
                    let peer = req.extensions().get::<JwtPeer>().unwrap();
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(
                        peer.spiffe_id.to_string(),
                    ))))
                }));
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(service)),
            );
        }
    });
    addr
}

#[tokio::test]
async fn jwt_bearer_tokens_over_http() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let jwt = JwtSource::builder()
        .address(server.address())
        .timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let api = WorkloadApiClient::connect(&server.address()).await.unwrap();
    let plain: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();

    for validator in [
        JwtValidator::Local(Arc::new(jwt.clone())),
        JwtValidator::WorkloadApi(api.clone()),
    ] {
        let addr = jwt_server(validator.clone()).await;
        let uri: http::Uri = format!("http://{addr}/").parse().unwrap();

        // With a token for the right audience: admitted, the subject reaches the handler.
        let with_token = ServiceBuilder::new()
            .layer(BearerLayer::new(jwt.clone(), ["user-service"]))
            .service(plain.clone());
        let request = Request::get(uri.clone()).body(Empty::new()).unwrap();
        let response = soon(with_token.oneshot(request)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{validator:?}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, PAYMENT.as_bytes());

        // Without a token, or with one for another audience: 401.
        let response = soon(plain.get(uri.clone())).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{validator:?}");
        assert!(
            response.headers()[http::header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        let wrong = ServiceBuilder::new()
            .layer(BearerLayer::new(jwt.clone(), ["billing"]))
            .service(plain.clone());
        let request = Request::get(uri).body(Empty::new()).unwrap();
        let response = soon(wrong.oneshot(request)).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{validator:?}");
    }
}
