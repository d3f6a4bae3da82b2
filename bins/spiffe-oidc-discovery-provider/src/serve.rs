//! Listeners: plain HTTP on TCP (`insecure_addr`, and the health checks), plain HTTP on a UNIX
//! socket behind a proxy (`listen_socket_path`), HTTPS (`serving_cert_file`). HTTP/1.1, with
//! bounds on everything a client controls: connections at once, header size and read time, TLS
//! handshake time, a connection's life.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use spiffe_fs::socket::SocketFile;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Semaphore, watch};
use tracing::{Instrument, debug, debug_span, warn};

use crate::handler::{Handler, Health, Resp};

/// Connections served at once by one listener; more wait in the backlog.
const MAX_CONNECTIONS: usize = 1024;
/// Time for a request's headers (SPIRE's `ReadHeaderTimeout`).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time for a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest life of one connection.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(300);
/// Largest buffered request head.
const MAX_BUF: usize = 64 << 10;

/// What answers requests on a listener.
pub(crate) trait Route: Send + Sync + 'static {
    /// The response to `req`, which arrived over TLS or not.
    fn respond(&self, req: &Request<Incoming>, tls: bool) -> Resp;
}

impl Route for Handler {
    fn respond(&self, req: &Request<Incoming>, tls: bool) -> Resp {
        self.handle(req, tls)
    }
}

impl Route for Health {
    fn respond(&self, req: &Request<Incoming>, _tls: bool) -> Resp {
        self.handle(req)
    }
}

/// A bound listener.
pub(crate) enum Listener {
    /// Plain HTTP on TCP.
    Tcp(TcpListener),
    /// HTTPS on TCP.
    Tls(TcpListener, tokio_rustls::TlsAcceptor),
    /// Plain HTTP on a UNIX socket (removed when serving ends).
    Unix(UnixListener, SocketFile),
}

impl Listener {
    /// Binds `addr` (`host:port`).
    ///
    /// # Errors
    ///
    /// The bind's I/O error.
    pub(crate) async fn tcp(addr: &str) -> std::io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    /// Binds a UNIX socket at `path` (mode 0666, for the proxy in front) in a trusted
    /// directory (created 0755 if missing).
    ///
    /// # Errors
    ///
    /// [`spiffe_fs::FsError`] if the directory is not trusted or the path is in use.
    pub(crate) fn unix(path: &Path) -> Result<Listener, spiffe_fs::FsError> {
        let bound = spiffe_fs::bind_socket(path, "listen_socket_path", 0o755, 0o666)?;
        let (std_listener, file) = bound.into_parts();
        let io_err = |what: &'static str| {
            move |source: std::io::Error| spiffe_fs::FsError::Io {
                what,
                path: path.to_owned(),
                source,
            }
        };
        std_listener
            .set_nonblocking(true)
            .map_err(io_err("configure"))?;
        let listener = UnixListener::from_std(std_listener).map_err(io_err("listen on"))?;
        Ok(Listener::Unix(listener, file))
    }
}

/// Serves one connection.
async fn connection<I, R>(io: I, route: Arc<R>, tls: bool, log_requests: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    R: Route,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        if log_requests {
            debug!(
                method = %req.method(),
                url = %req.uri(),
                user_agent = req.headers().get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or(""),
                "incoming request"
            );
        }
        let resp = route.respond(&req, tls);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_BUF)
        .serve_connection(TokioIo::new(io), svc);
    match tokio::time::timeout(CONNECTION_LIFETIME, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(error = %e, "connection ended"),
        Err(_) => debug!("connection closed at the end of its lifetime"),
    }
}

/// Accepts and serves connections on `listener` until `shutdown` turns true.
pub(crate) async fn run<R: Route>(
    listener: Listener,
    route: Arc<R>,
    log_requests: bool,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let route = Arc::clone(&route);
        match &listener {
            Listener::Tcp(l) => {
                let accepted = tokio::select! {
                    a = l.accept() => a,
                    _ = shutdown.wait_for(|s| *s) => break,
                };
                match accepted {
                    Ok((tcp, peer)) => {
                        let span = debug_span!("http_connection", peer = %peer);
                        tokio::spawn(
                            async move {
                                connection(tcp, route, false, log_requests).await;
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                    Err(e) => accept_failed(&e).await,
                }
            }
            Listener::Tls(l, acceptor) => {
                let accepted = tokio::select! {
                    a = l.accept() => a,
                    _ = shutdown.wait_for(|s| *s) => break,
                };
                match accepted {
                    Ok((tcp, peer)) => {
                        let acceptor = acceptor.clone();
                        let span = debug_span!("https_connection", peer = %peer);
                        tokio::spawn(
                            async move {
                                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
                                    .await
                                {
                                    Ok(Ok(tls)) => {
                                        connection(tls, route, true, log_requests).await;
                                    }
                                    Ok(Err(e)) => debug!(error = %e, "TLS handshake failed"),
                                    Err(_) => debug!("TLS handshake timed out"),
                                }
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                    Err(e) => accept_failed(&e).await,
                }
            }
            Listener::Unix(l, _) => {
                let accepted = tokio::select! {
                    a = l.accept() => a,
                    _ = shutdown.wait_for(|s| *s) => break,
                };
                match accepted {
                    Ok((stream, _)) => {
                        let span = debug_span!("unix_connection");
                        tokio::spawn(
                            async move {
                                connection(stream, route, false, log_requests).await;
                                drop(permit);
                            }
                            .instrument(span),
                        );
                    }
                    Err(e) => accept_failed(&e).await,
                }
            }
        }
    }
    if let Listener::Unix(_, file) = &listener {
        file.remove();
    }
}

/// An accept error (out of file descriptors, say): reported, then a pause so that the loop
/// does not spin.
async fn accept_failed(e: &std::io::Error) {
    warn!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
