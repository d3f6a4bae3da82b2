//! mTLS handshakes: spiffe-core's verifiers (chain by trust domain, SPIFFE leaf rules, the
//! Authorizer) against rustls' own WebPKI verifiers on the same certificates, in the same run.
//!
//! Both sides authenticate, session resumption is off on both (a resumed session is not verified
//! again), and the bytes travel in memory, so the figure is the handshake's CPU cost: key
//! exchange, two signatures, two chain verifications. The baseline checks the chains with
//! `WebPkiServerVerifier` / `WebPkiClientVerifier` and the server's DNS name; ours checks the
//! SPIFFE IDs instead.
//!
//! Goal: ours within 1.1x of the baseline. Run: `cargo bench -p spiffe-benches --bench tls`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
};
use spiffe_ca::testing::TestTrustDomain;
use spiffe_core::tls::MtlsConfig;
use spiffe_core::{SpiffeId, SvidCell, X509Svid, authorize};

const SERVER_ID: &str = "spiffe://example.org/ns/prod/sa/user-service";
const CLIENT_ID: &str = "spiffe://example.org/ns/prod/sa/payment-service";
const DNS: &str = "user-service.prod.svc";

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn key_of(svid: &X509Svid) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        svid.private_key().pkcs8_der().to_vec(),
    ))
}

/// Plain rustls on the same certificates: WebPKI verifiers, the CA as the only root.
fn baseline(
    td: &TestTrustDomain,
    server: &X509Svid,
    client: &X509Svid,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let mut roots = RootCertStore::empty();
    let bundles = td.bundle_set();
    for ca in bundles.get("example.org").unwrap().x509().authorities() {
        roots.add(ca.clone()).unwrap();
    }
    let roots = Arc::new(roots);
    let provider = provider();

    let client_verifier =
        WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .unwrap();
    let mut server_config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(server.chain().to_vec(), key_of(server))
        .unwrap();
    server_config.session_storage = Arc::new(NoServerSessionStorage {});
    server_config.send_tls13_tickets = 0;

    let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .unwrap();
    let mut client_config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_webpki_verifier(server_verifier)
        .with_client_auth_cert(client.chain().to_vec(), key_of(client))
        .unwrap();
    client_config.resumption = Resumption::disabled();
    (Arc::new(client_config), Arc::new(server_config))
}

/// spiffe-core's configs: each side admits exactly the other's SPIFFE ID.
fn ours(
    td: &TestTrustDomain,
    server: &X509Svid,
    client: &X509Svid,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let bundles = Arc::new(td.bundle_set());
    let server_side = MtlsConfig::new(
        Arc::new(SvidCell::new(server.clone())),
        bundles.clone(),
        Arc::new(authorize::id(SpiffeId::parse(CLIENT_ID).unwrap())),
    );
    let client_side = MtlsConfig::new(
        Arc::new(SvidCell::new(client.clone())),
        bundles,
        Arc::new(authorize::id(SpiffeId::parse(SERVER_ID).unwrap())),
    );
    (
        Arc::new(client_side.client_config().unwrap()),
        Arc::new(server_side.server_config().unwrap()),
    )
}

/// Moves what `from` has to send into `to`.
fn transfer(from: &mut Connection, to: &mut Connection) {
    let mut bytes = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut bytes).unwrap();
    }
    let mut rest = &bytes[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets().unwrap();
    }
}

/// One full mutual handshake in memory.
fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) {
    let name = ServerName::try_from(DNS).unwrap();
    let mut c = Connection::Client(ClientConnection::new(client.clone(), name).unwrap());
    let mut s = Connection::Server(ServerConnection::new(server.clone()).unwrap());
    while c.is_handshaking() || s.is_handshaking() {
        transfer(&mut c, &mut s);
        transfer(&mut s, &mut c);
    }
    assert!(c.peer_certificates().is_some() && s.peer_certificates().is_some());
}

fn bench(c: &mut Criterion) {
    let td = TestTrustDomain::new("example.org").unwrap();
    let server = td
        .x509_svid_with(SERVER_ID, Duration::from_secs(3600), &[DNS])
        .unwrap();
    let client = td.x509_svid(CLIENT_ID).unwrap();
    let (base_client, base_server) = baseline(&td, &server, &client);
    let (our_client, our_server) = ours(&td, &server, &client);
    // Both must complete before being timed.
    handshake(&base_client, &base_server);
    handshake(&our_client, &our_server);

    let mut group = c.benchmark_group("mtls_handshake");
    group.bench_function("rustls_webpki", |b| {
        b.iter(|| handshake(&base_client, &base_server))
    });
    group.bench_function("spiffe_core", |b| {
        b.iter(|| handshake(&our_client, &our_server))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
