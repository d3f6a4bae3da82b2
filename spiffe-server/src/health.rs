//! HTTP health endpoints: `/live` (the process answers) and `/ready` (the datastore answers and
//! a CA is active), as JSON, 200 or 500.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::ServerState;

async fn handle(
    state: Arc<ServerState>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/live" => (StatusCode::OK, "{\"live\":true}\n".to_owned()),
        "/ready" => {
            let datastore = state.ds.ping().await.is_ok();
            let ca = state.ca.active_x509().is_ok();
            let ok = datastore && ca;
            (
                if ok {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                },
                format!("{{\"ready\":{ok},\"datastore\":{datastore},\"ca\":{ca}}}\n"),
            )
        }
        _ => (
            StatusCode::NOT_FOUND,
            "{\"error\":\"not found\"}\n".to_owned(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Serves the health endpoints on `addr` until shutdown; returns the bound address.
pub(crate) async fn serve(
    addr: SocketAddr,
    state: Arc<ServerState>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let state = Arc::clone(&state);
            tokio::spawn(async move {
                let svc = service_fn(move |req| handle(Arc::clone(&state), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    Ok((bound, task))
}
