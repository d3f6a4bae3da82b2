//! The HTTP/1.1 server the fakes share: `127.0.0.1` on an ephemeral port, plain or TLS, every
//! connection served by one handler; JSON and text answers; stopped (with its open
//! connections, so that watches end) when dropped.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A response body: whole, or streamed (watches).
pub type Body = BoxBody<Bytes, Infallible>;

/// A request as the handler gets it.
pub type Request = http::Request<Incoming>;

/// `status` with `body` and its `Content-Type`.
pub fn text(
    status: http::StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> http::Response<Body> {
    let mut resp = http::Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    resp
}

/// `status` with `body` as `application/json`.
pub fn json(status: http::StatusCode, body: &serde_json::Value) -> http::Response<Body> {
    text(
        status,
        "application/json",
        serde_json::to_vec(body).unwrap_or_default(),
    )
}

/// The `Authorization` header of a request, if it has a readable one.
pub fn authorization(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A running server. Dropping it stops it and ends its open connections.
pub struct HttpServer {
    addr: SocketAddr,
    tls: bool,
    shutdown: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Starts a server on an ephemeral port of `127.0.0.1`: HTTPS with `tls`, else plain
    /// HTTP; `handler` answers every request. A client that refuses the certificate ends its
    /// handshake and nothing more.
    pub async fn start<H, F>(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: H,
    ) -> std::io::Result<HttpServer>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = http::Response<Body>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let is_tls = tls.is_some();
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        let accept = tokio::spawn(accept_loop(
            listener,
            acceptor,
            Arc::new(handler),
            shutdown_rx,
        ));
        Ok(HttpServer {
            addr,
            tls: is_tls,
            shutdown,
            accept,
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// `http://127.0.0.1:<port>` or `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.accept.abort();
    }
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    handler: Arc<H>,
    shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = http::Response<Body>> + Send + 'static,
{
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let acceptor = acceptor.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request| {
                let answer = handler(req);
                async move { Ok::<_, Infallible>(answer.await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            let served = async {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(tcp), svc).await;
                    }
                }
            };
            tokio::select! {
                () = served => {}
                _ = shutdown.wait_for(|s| *s) => {}
            }
        });
    }
}
