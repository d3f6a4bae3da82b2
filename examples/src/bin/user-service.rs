//! user-service: HTTPS over SPIFFE mTLS. It gets its own SVID from the agent (the Workload API
//! socket in `SPIFFE_ENDPOINT_SOCKET`) and admits only the caller named by `--allow`, answering
//! who called. Refused callers are logged with their SPIFFE ID and the reason.

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

    let service = tower::service_fn(move |req: Request<Incoming>| {
        let me = me.clone();
        async move {
            let caller = req.extensions().get::<PeerId>().map(|p| p.0.to_string());
            let Some(caller) = caller else {
                return spiffe_examples::json(
                    StatusCode::UNAUTHORIZED,
                    serde_json::json!({"error": "no peer"}),
                );
            };
            tracing::info!(caller = %caller, path = %req.uri().path(), "request admitted");
            spiffe_examples::json(
                StatusCode::OK,
                serde_json::json!({"user": {"id": 42, "name": "Ada"}, "served_by": me.to_string(), "caller": caller}),
            )
        }
    });
    serve(listener, acceptor, service, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
