//! payment-service: calls user-service over SPIFFE mTLS with its own SVID, checking that the
//! server is `--expect`. With `--repeat N` it calls every `--interval` seconds and shows the
//! SVIDs on both sides, so rotation can be watched. `--new-connection-per-call` makes every call
//! a fresh TLS handshake (so each is verified against the bundles held at that moment), and
//! `--show-bundles` prints how many CAs of each trust domain the workload trusts at each call
//! (its own and the federated ones the agent delivers).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use spiffe_core::{SpiffeId, authorize};
use spiffe_workload::http::{MtlsConnector, PeerId};
use spiffe_workload::source::X509Source;

#[derive(Parser)]
struct Args {
    /// user-service's URL.
    #[arg(long, default_value = "https://127.0.0.1:8443/users/42")]
    url: String,
    /// The SPIFFE ID user-service must present.
    #[arg(long)]
    expect: String,
    /// How many calls.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Seconds between calls.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// A new connection (and TLS handshake) for every call instead of reusing one.
    #[arg(long)]
    new_connection_per_call: bool,
    /// Prints, with each call, the number of CAs trusted per trust domain.
    #[arg(long)]
    show_bundles: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    spiffe_examples::init_logging();
    let args = Args::parse();
    let expect = SpiffeId::parse(&args.expect).context("--expect")?;
    let source = X509Source::new()
        .await
        .context("getting an SVID from the agent")?;
    let tls = source.mtls_config(Arc::new(authorize::id(expect)));
    let mut builder = Client::builder(TokioExecutor::new());
    if args.new_connection_per_call {
        builder.pool_max_idle_per_host(0);
    }
    let client: Client<MtlsConnector, Empty<Bytes>> = builder.build(MtlsConnector::new(&tls)?);
    let mut failures = 0;
    for i in 0..args.repeat {
        if i > 0 {
            tokio::time::sleep(Duration::from_secs_f64(args.interval)).await;
        }
        let svid = source.svid()?;
        let me = svid.spiffe_id();
        let trusted = if args.show_bundles {
            trusted(&source)
        } else {
            String::new()
        };
        let outcome = async {
            let resp = client.get(args.url.parse()?).await?;
            let server = resp
                .extensions()
                .get::<PeerId>()
                .map(|p| p.0.to_string())
                .unwrap_or_default();
            let status = resp.status();
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, server, String::from_utf8_lossy(&body).into_owned()))
        }
        .await;
        match outcome {
            Ok((status, server, body)) => println!(
                "call {}: {me} (SVID serial {}, expires {}){trusted} -> {server}: {status} {body}",
                i + 1,
                serial(&svid),
                unix(svid.expires_at_unix()),
            ),
            Err(e) => {
                failures += 1;
                println!("call {}: {me}{trusted} -> refused: {}", i + 1, chain(&*e));
            }
        }
    }
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// ` [trusting mycompany.com: 1 CA, partner.org: 2 CAs]`: the X.509 bundles held now.
fn trusted(source: &X509Source) -> String {
    let list: Vec<String> = source
        .bundles()
        .iter()
        .map(|b| {
            let n = b.x509().authorities().len();
            format!(
                "{}: {n} CA{}",
                b.trust_domain(),
                if n == 1 { "" } else { "s" }
            )
        })
        .collect();
    format!(" [trusting {}]", list.join(", "))
}

fn serial(svid: &spiffe_core::X509Svid) -> String {
    spiffe_core::x509::CertificateInfo::parse(svid.leaf())
        .map(|i| {
            i.serial
                .iter()
                .take(4)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                + ".."
        })
        .unwrap_or_default()
}

fn unix(t: i64) -> String {
    format!(
        "+{}s",
        t - spiffe_core::x509::UnixTime::now().as_secs() as i64
    )
}

/// An error and its causes on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !out.contains(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}
