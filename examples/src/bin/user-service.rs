//! user-service: HTTPS over SPIFFE mTLS. It gets its own SVID from the agent (the Workload API
//! socket in `SPIFFE_ENDPOINT_SOCKET`) and admits only the caller named by `--allow`, answering
//! who called. Refused callers are logged with their SPIFFE ID and the reason. With
//! `--show-svid` the answer also names the SVID it presented (serial, and the key ID of the CA
//! that signed it), so a CA rotation can be watched from the caller's side.

use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use spiffe_core::{SpiffeId, authorize};
use spiffe_workload::http::{MtlsAcceptor, PeerId, serve};
use spiffe_workload::source::X509Source;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: String,
    /// The only SPIFFE ID admitted.
    #[arg(long)]
    allow: String,
    /// Adds this service's current SVID (serial, signing CA's key ID) to each answer.
    #[arg(long)]
    show_svid: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    spiffe_examples::init_logging();
    let args = Args::parse();
    let allowed = SpiffeId::parse(&args.allow).context("--allow")?;
    // Blocks until the agent delivers the first SVID, then follows rotation.
    let source = X509Source::new()
        .await
        .context("getting an SVID from the agent")?;
    let me = source.svid()?.spiffe_id().clone();
    let tls = source.mtls_config(Arc::new(authorize::id(allowed.clone())));
    let acceptor = MtlsAcceptor::new(&tls)?;
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!(
        "user-service {me} listening on {}, admitting only {allowed}",
        listener.local_addr()?
    );

    let show_svid = args.show_svid;
    let service = tower::service_fn(move |req: Request<Incoming>| {
        let me = me.clone();
        let svid = show_svid.then(|| svid_json(&source));
        async move {
            let caller = req.extensions().get::<PeerId>().map(|p| p.0.to_string());
            let Some(caller) = caller else {
                return spiffe_examples::json(
                    StatusCode::UNAUTHORIZED,
                    serde_json::json!({"error": "no peer"}),
                );
            };
            tracing::info!(caller = %caller, path = %req.uri().path(), "request admitted");
            let mut body = serde_json::json!({"user": {"id": 42, "name": "Ada"}, "served_by": me.to_string(), "caller": caller});
            if let (Some(svid), Some(map)) = (svid, body.as_object_mut()) {
                map.insert("svid".into(), svid);
            }
            spiffe_examples::json(StatusCode::OK, body)
        }
    });
    serve(listener, acceptor, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// `{"serial": "1a2b3c4d..", "ca_key_id": "5e6f7a8b.."}` of the SVID presented now.
fn svid_json(source: &X509Source) -> serde_json::Value {
    let info = source
        .svid()
        .ok()
        .and_then(|s| spiffe_core::x509::CertificateInfo::parse(s.leaf()).ok());
    let short = |b: &[u8]| {
        b.iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            + ".."
    };
    match info {
        Some(info) => serde_json::json!({
            "serial": short(&info.serial),
            "ca_key_id": info.authority_key_id.as_deref().map(short).unwrap_or_default(),
        }),
        None => serde_json::Value::Null,
    }
}
