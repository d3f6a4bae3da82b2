//! jwt-payment-service: calls jwt-user-service with `Authorization: Bearer <JWT-SVID>` for the
//! audience `user-service`, the token fetched from (and cached by) the agent.

use anyhow::Context;
use clap::Parser;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use spiffe_workload::http::set_bearer;
use spiffe_workload::source::JwtSource;

#[derive(Parser)]
struct Args {
    /// jwt-user-service's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080/users/42")]
    url: String,
    /// The audience to ask a token for.
    #[arg(long, default_value = "user-service")]
    audience: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    spiffe_examples::init_logging();
    let args = Args::parse();
    let source = JwtSource::new().await.context("connecting to the agent")?;
    let svid = source
        .fetch_jwt_svid(&[args.audience.as_str()])
        .await
        .context("fetching a JWT-SVID")?;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = http::Request::get(&args.url).body(Empty::new())?;
    set_bearer(req.headers_mut(), svid.token())?;
    let resp = client.request(req).await?;
    let status = resp.status();
    let challenge = resp
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!(" (WWW-Authenticate: {v})"))
        .unwrap_or_default();
    let body = resp.into_body().collect().await?.to_bytes();
    println!(
        "{} with a JWT-SVID for {:?} -> {status} {}{challenge}",
        svid.spiffe_id(),
        args.audience,
        String::from_utf8_lossy(&body)
    );
    if !status.is_success() {
        std::process::exit(1);
    }
    Ok(())
}
