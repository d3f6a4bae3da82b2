//! jwt-user-service: the same user-service, authenticating callers by a JWT-SVID bearer token
//! (audience `user-service`) validated locally against the JWT bundles the agent delivers. Use
//! it behind TLS outside a demo: a bearer token must not travel in the clear.

use anyhow::Context;
use clap::Parser;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use spiffe_workload::http::{JwtAuthLayer, JwtPeer, JwtValidator};
use spiffe_workload::source::JwtSource;
use tower::ServiceBuilder;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The only SPIFFE ID admitted.
    #[arg(long)]
    allow: String,
    /// The audience tokens must name.
    #[arg(long, default_value = "user-service")]
    audience: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    spiffe_examples::init_logging();
    let args = Args::parse();
    let source = JwtSource::new()
        .await
        .context("getting JWT bundles from the agent")?;
    let validator = JwtValidator::Local(std::sync::Arc::new(source));
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!(
        "jwt-user-service listening on {}, admitting bearer tokens for audience {:?} from {}",
        listener.local_addr()?,
        args.audience,
        args.allow
    );
    let allow = args.allow.clone();
    let handler = tower::service_fn(move |req: Request<Incoming>| {
        let allow = allow.clone();
        async move {
            let caller = req
                .extensions()
                .get::<JwtPeer>()
                .map(|p| p.spiffe_id.to_string())
                .unwrap_or_default();
            if caller != allow {
                tracing::warn!(caller = %caller, "token valid but caller not admitted");
                return spiffe_examples::json(
                    StatusCode::FORBIDDEN,
                    serde_json::json!({"error": format!("{caller} is not authorized: expected {allow}")}),
                );
            }
            spiffe_examples::json(
                StatusCode::OK,
                serde_json::json!({"user": {"id": 42}, "caller": caller}),
            )
        }
    });
    let service = ServiceBuilder::new()
        .layer(JwtAuthLayer::new(validator, args.audience.as_str()))
        .service(handler);
    loop {
        let (tcp, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}
