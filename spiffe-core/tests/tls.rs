//! Real rustls handshakes over loopback TCP with the SPIFFE verifiers and resolvers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;

use common::{Ca, leaf_params};
use rustls::{
    ClientConfig, ClientConnection, HandshakeKind, ServerConfig, ServerConnection, StreamOwned,
};
use rustls_pki_types::ServerName;
use spiffe_core::authorize::{self, Authorizer};
use spiffe_core::tls::{MtlsConfig, peer_spiffe_id};
use spiffe_core::{Bundle, BundleSet, JwtBundle, SpiffeId, SvidCell, X509Svid};

const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment-service";
const USER: &str = "spiffe://example.org/ns/prod/sa/user-service";
const INTRUDER: &str = "spiffe://example.org/ns/prod/sa/intruder";

fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}

fn bundles(ca: &Ca) -> Arc<BundleSet> {
    let b = Bundle::from_parts(ca.bundle(), JwtBundle::new(ca.trust_domain.clone())).unwrap();
    Arc::new([b].into_iter().collect())
}

fn mtls(
    svid: X509Svid,
    bundles: Arc<BundleSet>,
    authorizer: impl Authorizer + 'static,
) -> MtlsConfig {
    MtlsConfig::new(Arc::new(SvidCell::new(svid)), bundles, Arc::new(authorizer))
}

/// Accepts `n` connections; for each, answers with the peer's SPIFFE ID, and reports the
/// handshake outcome.
fn serve(config: ServerConfig, n: usize) -> (u16, JoinHandle<Vec<Result<String, String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = Arc::new(config);
    let handle = std::thread::spawn(move || {
        (0..n)
            .map(|_| {
                let (tcp, _) = listener.accept().unwrap();
                let conn = ServerConnection::new(Arc::clone(&config)).unwrap();
                let mut tls = StreamOwned::new(conn, tcp);
                let mut line = String::new();
                let mut reader = BufReader::new(&mut tls);
                reader.read_line(&mut line).map_err(|e| e.to_string())?;
                let peer =
                    peer_spiffe_id(tls.conn.peer_certificates()).map_err(|e| e.to_string())?;
                tls.write_all(format!("hello {peer}\n").as_bytes())
                    .map_err(|e| e.to_string())?;
                tls.flush().map_err(|e| e.to_string())?;
                Ok(peer.to_string())
            })
            .collect()
    });
    (port, handle)
}

/// Connects, sends a line, reads the answer; returns the answer and the server's leaf.
fn call(
    config: Arc<ClientConfig>,
    port: u16,
) -> Result<(String, Vec<u8>, Option<HandshakeKind>), String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // The name is not checked against anything: SPIFFE authorizes by ID.
    let conn =
        ClientConnection::new(config, ServerName::try_from("anything.invalid").unwrap()).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(b"hi\n").map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&mut tls)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let leaf = tls.conn.peer_certificates().unwrap()[0].to_vec();
    Ok((line.trim().to_owned(), leaf, tls.conn.handshake_kind()))
}

#[test]
fn the_right_peers_are_admitted_both_ways() {
    let ca = Ca::root("example.org");
    let b = bundles(&ca);
    let server = mtls(ca.svid(USER), b.clone(), authorize::id(id(PAYMENT)));
    let client = mtls(ca.svid(PAYMENT), b, authorize::id(id(USER)));
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    let (answer, _, _) = call(Arc::new(client.client_config().unwrap()), port).unwrap();
    assert_eq!(answer, format!("hello {PAYMENT}"));
    assert_eq!(handle.join().unwrap(), [Ok(PAYMENT.to_owned())]);
}

#[test]
fn a_wrong_client_id_is_refused_and_named() {
    let ca = Ca::root("example.org");
    let b = bundles(&ca);
    let server = mtls(ca.svid(USER), b.clone(), authorize::id(id(PAYMENT)));
    let intruder = mtls(ca.svid(INTRUDER), b, authorize::id(id(USER)));
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    let client_err = call(Arc::new(intruder.client_config().unwrap()), port).unwrap_err();
    let server_err = handle.join().unwrap().remove(0).unwrap_err();
    assert!(server_err.contains(INTRUDER), "{server_err}");
    assert!(
        server_err.contains(&format!("expected {PAYMENT}")),
        "{server_err}"
    );
    // The client only learns that its certificate was refused.
    assert!(
        client_err.contains("alert") || client_err.contains("Alert"),
        "{client_err}"
    );
}

#[test]
fn a_wrong_server_id_is_refused_by_the_client() {
    let ca = Ca::root("example.org");
    let b = bundles(&ca);
    let impostor = mtls(ca.svid(INTRUDER), b.clone(), authorize::any());
    let client = mtls(ca.svid(PAYMENT), b, authorize::id(id(USER)));
    let (port, handle) = serve(impostor.server_config().unwrap(), 1);
    let err = call(Arc::new(client.client_config().unwrap()), port).unwrap_err();
    assert!(
        err.contains(INTRUDER) && err.contains(&format!("expected {USER}")),
        "{err}"
    );
    assert!(handle.join().unwrap()[0].is_err());
}

#[test]
fn a_chain_to_another_trust_domains_root_is_refused() {
    let ours = Ca::root("example.org");
    let theirs = Ca::root("other.org");
    // Both trust domains are trusted, but a leaf for example.org signed by other.org's CA must
    // be checked against example.org's bundle only.
    let mut set = (*bundles(&ours)).clone();
    set.insert(
        Bundle::from_parts(theirs.bundle(), JwtBundle::new(theirs.trust_domain.clone())).unwrap(),
    );
    let set = Arc::new(set);
    let server = mtls(ours.svid(USER), set.clone(), authorize::any());
    let (chain, key) = theirs.issue(&leaf_params(PAYMENT));
    let forged = X509Svid::new(chain, common::private_key(&key)).unwrap();
    let client = mtls(forged, set, authorize::any());
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    assert!(call(Arc::new(client.client_config().unwrap()), port).is_err());
    let server_err = handle.join().unwrap().remove(0).unwrap_err();
    assert!(
        server_err.contains(PAYMENT) && server_err.contains("bundle of example.org"),
        "{server_err}"
    );
}

#[test]
fn swapping_the_svid_changes_the_next_handshake_without_a_new_config() {
    let ca = Ca::root("example.org");
    let b = bundles(&ca);
    let first = ca.svid(USER);
    let second = ca.svid(USER);
    let cell = Arc::new(SvidCell::new(first.clone()));
    let server = MtlsConfig::new(cell.clone(), b.clone(), Arc::new(authorize::any()));
    let client = Arc::new(
        mtls(ca.svid(PAYMENT), b, authorize::id(id(USER)))
            .client_config()
            .unwrap(),
    );
    let (port, handle) = serve(server.server_config().unwrap(), 3);

    let (_, leaf1, kind1) = call(client.clone(), port).unwrap();
    assert_eq!(leaf1, first.leaf().to_vec());
    cell.set(second.clone());
    let (_, leaf2, kind2) = call(client.clone(), port).unwrap();
    assert_eq!(leaf2, second.leaf().to_vec());
    let (_, leaf3, kind3) = call(client, port).unwrap();
    assert_eq!(leaf3, second.leaf().to_vec());
    // Resumption is off by default: every handshake is a full one (and so verified).
    for kind in [kind1, kind2, kind3] {
        assert_eq!(kind, Some(HandshakeKind::Full));
    }
    assert!(handle.join().unwrap().iter().all(Result::is_ok));
}

#[test]
fn a_peer_without_a_certificate_is_refused() {
    let ca = Ca::root("example.org");
    let server = mtls(ca.svid(USER), bundles(&ca), authorize::any());
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    let plain = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(spiffe_core::tls::SpiffeServerCertVerifier::new(
        bundles(&ca),
        Arc::new(authorize::any()),
        &rustls::crypto::aws_lc_rs::default_provider(),
    )))
    .with_no_client_auth();
    assert!(call(Arc::new(plain), port).is_err());
    let err = handle.join().unwrap().remove(0).unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

const PARTNER: &str = "spiffe://partner.org/ns/prod/sa/user-service";
const PARTNER_OTHER: &str = "spiffe://partner.org/ns/prod/sa/reporting";

/// Bundles of several trust domains in one set, as a workload federating with them holds.
fn federated_set(cas: &[&Ca]) -> Arc<BundleSet> {
    Arc::new(
        cas.iter()
            .map(|ca| {
                Bundle::from_parts(ca.bundle(), JwtBundle::new(ca.trust_domain.clone())).unwrap()
            })
            .collect(),
    )
}

#[test]
fn a_federated_peer_is_admitted_both_ways_when_the_authorizer_names_it() {
    let ours = Ca::root("example.org");
    let partner = Ca::root("partner.org");
    // Each side holds its own bundle and the other's (as the Workload API delivers them).
    let set = federated_set(&[&ours, &partner]);
    let server = mtls(
        partner.svid(PARTNER),
        set.clone(),
        authorize::id(id(PAYMENT)),
    );
    let client = mtls(ours.svid(PAYMENT), set, authorize::id(id(PARTNER)));
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    let (answer, leaf, _) = call(Arc::new(client.client_config().unwrap()), port).unwrap();
    assert_eq!(answer, format!("hello {PAYMENT}"));
    assert_eq!(
        peer_spiffe_id(Some(&[leaf.into()])).unwrap().to_string(),
        PARTNER
    );
    assert_eq!(handle.join().unwrap(), [Ok(PAYMENT.to_owned())]);
}

#[test]
fn a_federated_peer_the_authorizer_does_not_name_is_refused_both_ways() {
    let ours = Ca::root("example.org");
    let partner = Ca::root("partner.org");
    let set = federated_set(&[&ours, &partner]);

    // Server side: partner.org's reporting service verifies (its bundle is held) but is not the
    // ID admitted.
    let server = mtls(ours.svid(USER), set.clone(), authorize::id(id(PAYMENT)));
    let other = mtls(partner.svid(PARTNER_OTHER), set.clone(), authorize::any());
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    assert!(call(Arc::new(other.client_config().unwrap()), port).is_err());
    let err = handle.join().unwrap().remove(0).unwrap_err();
    assert!(
        err.contains(PARTNER_OTHER) && err.contains(&format!("expected {PAYMENT}")),
        "{err}"
    );

    // Client side: a partner.org server with another ID than the one expected.
    let impostor = mtls(partner.svid(PARTNER_OTHER), set.clone(), authorize::any());
    let client = mtls(ours.svid(PAYMENT), set, authorize::id(id(PARTNER)));
    let (port, handle) = serve(impostor.server_config().unwrap(), 1);
    let err = call(Arc::new(client.client_config().unwrap()), port).unwrap_err();
    assert!(
        err.contains(PARTNER_OTHER) && err.contains(&format!("expected {PARTNER}")),
        "{err}"
    );
    assert!(handle.join().unwrap()[0].is_err());
}

#[test]
fn a_peer_of_a_trust_domain_without_a_bundle_is_refused_even_if_authorized() {
    let ours = Ca::root("example.org");
    let partner = Ca::root("partner.org");
    // Only our own bundle: partner.org is not federated with, whatever the authorizer says.
    let own_only = federated_set(&[&ours]);
    let server = mtls(
        ours.svid(USER),
        own_only.clone(),
        authorize::id(id(PARTNER)),
    );
    let both = federated_set(&[&ours, &partner]);
    let client = mtls(partner.svid(PARTNER), both.clone(), authorize::any());
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    assert!(call(Arc::new(client.client_config().unwrap()), port).is_err());
    let err = handle.join().unwrap().remove(0).unwrap_err();
    assert!(
        err.contains(PARTNER) && err.contains("partner.org"),
        "{err}"
    );

    // The same from the client's side: a partner.org server is refused without its bundle.
    let partner_server = mtls(partner.svid(PARTNER), both, authorize::any());
    let client = mtls(ours.svid(PAYMENT), own_only, authorize::id(id(PARTNER)));
    let (port, handle) = serve(partner_server.server_config().unwrap(), 1);
    let err = call(Arc::new(client.client_config().unwrap()), port).unwrap_err();
    assert!(err.contains(PARTNER), "{err}");
    assert!(handle.join().unwrap()[0].is_err());
}

#[test]
fn a_federated_chain_signed_by_another_federated_root_is_refused() {
    let ours = Ca::root("example.org");
    let partner = Ca::root("partner.org");
    let third = Ca::root("third.org");
    // All three are trusted; a partner.org leaf signed by third.org's CA verifies against
    // partner.org's bundle only, and fails there.
    let set = federated_set(&[&ours, &partner, &third]);
    let server = mtls(ours.svid(USER), set.clone(), authorize::id(id(PARTNER)));
    let (chain, key) = third.issue(&leaf_params(PARTNER));
    let forged = X509Svid::new(chain, common::private_key(&key)).unwrap();
    let client = mtls(forged, set, authorize::any());
    let (port, handle) = serve(server.server_config().unwrap(), 1);
    assert!(call(Arc::new(client.client_config().unwrap()), port).is_err());
    let err = handle.join().unwrap().remove(0).unwrap_err();
    assert!(
        err.contains(PARTNER) && err.contains("bundle of partner.org"),
        "{err}"
    );
}
