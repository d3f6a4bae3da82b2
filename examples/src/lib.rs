//! Shared pieces of the examples: logging set-up and the small HTTP helpers they use.

use std::convert::Infallible;

use http::Response;
use http_body_util::Full;
use hyper::body::Bytes;

/// Logs to stderr at `info` (or `RUST_LOG`), one line per event, with the program's name.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A JSON response.
pub fn json(
    status: http::StatusCode,
    body: serde_json::Value,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}
