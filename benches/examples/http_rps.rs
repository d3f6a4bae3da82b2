//! Requests per second through spiffe-workload's hyper helpers (`MtlsAcceptor` + `serve` on the
//! server, `MtlsConnector` on the client) against plain tokio-rustls + hyper with rustls' WebPKI
//! verifiers, on the same certificates, same machine, same run:
//!
//! - keep-alive: sequential GET requests over one HTTP/1.1 connection (the helpers' per-request
//!   cost: the peer's SPIFFE ID handed to each request);
//! - new connection per request: TCP connect + mutual TLS handshake + one GET (the verifiers'
//!   cost).
//!
//! ```text
//! cargo run --release -p spiffe-benches --example http_rps [seconds per run, default 3]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use spiffe_ca::testing::TestTrustDomain;
use spiffe_core::tls::MtlsConfig;
use spiffe_core::{SpiffeId, SvidCell, X509Svid, authorize};
use spiffe_workload::http::{MtlsAcceptor, MtlsConnector, PeerId, serve};
use tokio::net::{TcpListener, TcpStream};

const SERVER_ID: &str = "spiffe://example.org/ns/prod/sa/user-service";
const CLIENT_ID: &str = "spiffe://example.org/ns/prod/sa/payment-service";
const DNS: &str = "localhost";

fn key_of(svid: &X509Svid) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        svid.private_key().pkcs8_der().to_vec(),
    ))
}

async fn ok(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let who = req
        .extensions()
        .get::<PeerId>()
        .map(|p| p.0.to_string())
        .unwrap_or_default();
    Ok(Response::new(Full::new(Bytes::from(format!(
        "hello {who}"
    )))))
}

/// A client: makes an HTTP/1.1 connection (TLS included) to the server.
trait Dial: Send + Sync {
    fn dial(
        &self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = hyper::client::conn::http1::SendRequest<Empty<Bytes>>>
                + Send
                + '_,
        >,
    >;
}

struct Ours {
    connector: MtlsConnector,
    uri: Uri,
}

impl Dial for Ours {
    fn dial(
        &self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = hyper::client::conn::http1::SendRequest<Empty<Bytes>>>
                + Send
                + '_,
        >,
    > {
        Box::pin(async move {
            let io = self.connector.connect(&self.uri).await.unwrap();
            let (send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            send
        })
    }
}

struct Plain {
    connector: tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
}

impl Dial for Plain {
    fn dial(
        &self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = hyper::client::conn::http1::SendRequest<Empty<Bytes>>>
                + Send
                + '_,
        >,
    > {
        Box::pin(async move {
            // Resolved by name, as `MtlsConnector` does with the URI's host.
            let tcp = TcpStream::connect((DNS, self.addr.port())).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let tls = self
                .connector
                .connect(ServerName::try_from(DNS).unwrap(), tcp)
                .await
                .unwrap();
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .unwrap();
            tokio::spawn(conn);
            send
        })
    }
}

async fn get(send: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>, uri: &Uri) {
    send.ready().await.unwrap();
    let req = Request::get(uri.clone())
        .header("host", DNS)
        .body(Empty::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert!(resp.status().is_success());
    resp.into_body().collect().await.unwrap();
}

async fn keep_alive_rate(client: &dyn Dial, uri: &Uri, secs: f64) -> f64 {
    let mut send = client.dial().await;
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        get(&mut send, uri).await;
        n += 1;
    }
    n as f64 / t.elapsed().as_secs_f64()
}

async fn new_connection_rate(client: &dyn Dial, uri: &Uri, secs: f64) -> f64 {
    let t = Instant::now();
    let mut n = 0u64;
    while t.elapsed().as_secs_f64() < secs {
        let mut send = client.dial().await;
        get(&mut send, uri).await;
        n += 1;
    }
    n as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let td = TestTrustDomain::new("example.org").unwrap();
    let server_svid = td
        .x509_svid_with(SERVER_ID, Duration::from_secs(3600), &[DNS])
        .unwrap();
    let client_svid = td.x509_svid(CLIENT_ID).unwrap();
    let bundles = Arc::new(td.bundle_set());

    // Ours: spiffe-workload's helpers over spiffe-core's configs.
    let server_tls = MtlsConfig::new(
        Arc::new(SvidCell::new(server_svid.clone())),
        bundles.clone(),
        Arc::new(authorize::id(SpiffeId::parse(CLIENT_ID).unwrap())),
    );
    let client_tls = MtlsConfig::new(
        Arc::new(SvidCell::new(client_svid.clone())),
        bundles.clone(),
        Arc::new(authorize::id(SpiffeId::parse(SERVER_ID).unwrap())),
    );
    let ours_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ours_addr = ours_listener.local_addr().unwrap();
    let acceptor = MtlsAcceptor::new(&server_tls).unwrap();
    tokio::spawn(serve(
        ours_listener,
        acceptor,
        tower::service_fn(ok),
        std::future::pending(),
    ));
    let mut client_config = client_tls.client_config().unwrap();
    client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let ours_uri: Uri = format!("https://{DNS}:{}/", ours_addr.port())
        .parse()
        .unwrap();
    let ours = Ours {
        connector: MtlsConnector::from_client_config(Arc::new(client_config)),
        uri: ours_uri.clone(),
    };

    // Plain: tokio-rustls + hyper, WebPKI verifiers, the CA as the only root.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in bundles.get("example.org").unwrap().x509().authorities() {
        roots.add(ca.clone()).unwrap();
    }
    let roots = Arc::new(roots);
    let mut plain_server = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                .build()
                .unwrap(),
        )
        .with_single_cert(server_svid.chain().to_vec(), key_of(&server_svid))
        .unwrap();
    plain_server.session_storage = Arc::new(NoServerSessionStorage {});
    plain_server.send_tls13_tickets = 0;
    let plain_acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(plain_server));
    let plain_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let plain_addr = plain_listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = plain_listener.accept().await.unwrap();
            let acceptor = plain_acceptor.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), hyper::service::service_fn(ok))
                    .await;
            });
        }
    });
    let mut plain_client = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_webpki_verifier(
            WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .unwrap(),
        )
        .with_client_auth_cert(client_svid.chain().to_vec(), key_of(&client_svid))
        .unwrap();
    plain_client.resumption = Resumption::disabled();
    plain_client.alpn_protocols = vec![b"http/1.1".to_vec()];
    let plain_uri: Uri = format!("https://{DNS}:{}/", plain_addr.port())
        .parse()
        .unwrap();
    let plain = Plain {
        connector: tokio_rustls::TlsConnector::from(Arc::new(plain_client)),
        addr: plain_addr,
    };

    println!("http_rps: {secs} s per run, each run twice in alternation");
    let mut rows = Vec::new();
    for (what, keep) in [("keep-alive GET", true), ("new connection + GET", false)] {
        let (mut o, mut p) = (0.0f64, 0.0f64);
        for _ in 0..2 {
            let (po, pp) = if keep {
                (
                    keep_alive_rate(&ours, &ours_uri, secs).await,
                    keep_alive_rate(&plain, &plain_uri, secs).await,
                )
            } else {
                (
                    new_connection_rate(&ours, &ours_uri, secs).await,
                    new_connection_rate(&plain, &plain_uri, secs).await,
                )
            };
            o = o.max(po);
            p = p.max(pp);
        }
        rows.push((what, o, p));
    }
    println!(
        "{:<24} {:>14} {:>14} {:>8}",
        "", "ours req/s", "plain req/s", "ratio"
    );
    for (what, o, p) in rows {
        println!("{what:<24} {o:>14.0} {p:>14.0} {:>8.3}", o / p);
    }
}
