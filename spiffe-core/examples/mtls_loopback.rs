//! payment-service calls user-service over SPIFFE mTLS on loopback, and an intruder is refused.
//!
//! The trust domain's CA is made up on the spot (with rcgen) so the example needs nothing else;
//! in a deployment the SVIDs and bundle come from the agent. Run:
//!
//! ```text
//! cargo run -p spiffe-core --features rustls --example mtls_loopback
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use rustls_pki_types::ServerName;
use spiffe_core::authorize;
use spiffe_core::tls::{MtlsConfig, peer_spiffe_id};
use spiffe_core::{
    Bundle, BundleSet, JwtBundle, PrivateKey, SpiffeId, SvidCell, TrustDomain, X509Bundle, X509Svid,
};

const TD: &str = "mycompany.com";
const PAYMENT: &str = "spiffe://mycompany.com/ns/prod/sa/payment-service";
const USER: &str = "spiffe://mycompany.com/ns/prod/sa/user-service";
const INTRUDER: &str = "spiffe://mycompany.com/ns/dev/sa/intruder";

type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

/// A throwaway CA for the trust domain.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    bundle: Arc<BundleSet>,
}

impl Ca {
    fn new() -> Result<Ca> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.subject_alt_names = vec![SanType::URI(format!("spiffe://{TD}").try_into()?)];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "example CA");
        params.distinguished_name = dn;
        let key = KeyPair::generate()?;
        let root = params.self_signed(&key)?.der().clone();
        let td = TrustDomain::parse(TD)?;
        let bundle = Bundle::from_parts(
            X509Bundle::from_authorities(td.clone(), [root])?,
            JwtBundle::new(td),
        )?;
        Ok(Ca {
            params,
            key,
            bundle: Arc::new([bundle].into_iter().collect()),
        })
    }

    fn svid(&self, id: &str) -> Result<X509Svid> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.subject_alt_names = vec![SanType::URI(id.try_into()?)];
        p.not_before = rcgen::date_time_ymd(2024, 1, 1);
        p.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let key = KeyPair::generate()?;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let leaf = p.signed_by(&key, &issuer)?.der().clone();
        Ok(X509Svid::new(
            vec![leaf],
            PrivateKey::from_pkcs8_der(&key.serialize_der())?,
        )?)
    }
}

fn main() -> Result<()> {
    let ca = Ca::new()?;
    println!("trust domain {TD}: a fresh CA, its root in the bundle");

    // user-service: presents its SVID, admits only payment-service.
    let user = MtlsConfig::new(
        Arc::new(SvidCell::new(ca.svid(USER)?)),
        ca.bundle.clone(),
        Arc::new(authorize::id(SpiffeId::parse(PAYMENT)?)),
    );
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server_config = Arc::new(user.server_config()?);
    println!("user-service listening on 127.0.0.1:{port}, admitting only {PAYMENT}");
    let server = std::thread::spawn(move || -> Vec<String> {
        let mut log = Vec::new();
        for _ in 0..2 {
            let Ok((tcp, _)) = listener.accept() else {
                break;
            };
            let Ok(conn) = ServerConnection::new(server_config.clone()) else {
                break;
            };
            let mut tls = StreamOwned::new(conn, tcp);
            let mut line = String::new();
            match BufReader::new(&mut tls).read_line(&mut line) {
                Ok(_) => {
                    let peer = peer_spiffe_id(tls.conn.peer_certificates())
                        .map(|id| id.to_string())
                        .unwrap_or_default();
                    let _ = writeln!(tls, "user-service says hello to {peer}");
                    log.push(format!("user-service: admitted {peer}"));
                }
                Err(e) => log.push(format!("user-service: refused a caller: {e}")),
            }
        }
        log
    });

    for (name, id) in [("payment-service", PAYMENT), ("intruder", INTRUDER)] {
        let caller = MtlsConfig::new(
            Arc::new(SvidCell::new(ca.svid(id)?)),
            ca.bundle.clone(),
            Arc::new(authorize::id(SpiffeId::parse(USER)?)),
        );
        let conn = ClientConnection::new(
            Arc::new(caller.client_config()?),
            ServerName::try_from("user-service")?,
        )?;
        let mut tls = StreamOwned::new(conn, TcpStream::connect(("127.0.0.1", port))?);
        let outcome = writeln!(tls, "GET /me").and_then(|()| {
            let mut answer = String::new();
            BufReader::new(&mut tls)
                .read_line(&mut answer)
                .map(|_| answer)
        });
        match outcome {
            Ok(answer) => println!("{name} ({id}) -> {}", answer.trim()),
            Err(e) => println!("{name} ({id}) -> refused: {e}"),
        }
    }
    for line in server.join().map_err(|_| "server thread panicked")? {
        println!("{line}");
    }
    Ok(())
}
