//! The agent API's TCP endpoint: TLS handshakes, then HTTP/2 connections served here (not by
//! tonic's accept loop) so that each connection gets limits fitting who is on the other end.
//!
//! - At most `max_concurrent_handshakes` handshakes run at once, each within
//!   `handshake_timeout`; TCP keepalive is on from the start.
//! - A connection whose certificate is, at the handshake, an agent's current SVID or an admin
//!   workload's is *authenticated*: `max_concurrent_streams` streams, closed (with a GOAWAY)
//!   after `idle_timeout` without an open stream.
//! - Any other connection is *anonymous* (it can only attest): at most
//!   `max_anonymous_connections` of them, `anonymous_max_concurrent_streams` streams each,
//!   request messages of at most `anonymous_max_message_size`, and a life of at most
//!   `anonymous_connection_lifetime`.
//! - Every connection: HTTP/2 PINGs (`keepalive_interval`, `keepalive_timeout`); a GOAWAY
//!   after 1024 streams the server had to reset (streams opened beyond the limit, for example);
//!   each call must produce its response headers within `request_timeout` (a unary call whose
//!   body never arrives is answered `DEADLINE_EXCEEDED`; a stream that answered, such as the
//!   sync stream, runs on).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::ServerConfig as TlsServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tonic::Status;
use tonic::service::Routes;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::api::{TlsPeer, is_authenticated};
use crate::state::ServerState;

/// Streams reset by the server (refused beyond the limit, malformed) before a connection is
/// sent away with `ENHANCE_YOUR_CALM` (hyper's default, which tonic's own loop turns off).
const MAX_LOCAL_RESETS: usize = 1024;
/// Streams the client may open and reset before the server accepts them (h2's default).
const MAX_PENDING_RESETS: usize = 20;
/// How long a connection told to go away may finish its open streams.
const GRACE: Duration = Duration::from_secs(5);
/// The pause after a failed `accept` (out of descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What every connection task shares.
pub(super) struct Endpoint {
    /// The server's state (to tell authenticated connections apart).
    pub(super) state: Arc<ServerState>,
    /// The TLS configuration.
    pub(super) tls: Arc<TlsServerConfig>,
    /// The services for authenticated connections.
    pub(super) routes: Routes,
    /// The services for anonymous connections (smaller message limits).
    pub(super) anonymous_routes: Routes,
}

/// Accepts connections until `shutdown`, then waits for the open ones to close (each is told
/// to go away and given [`GRACE`]).
pub(super) async fn serve(
    listener: TcpListener,
    endpoint: Endpoint,
    mut shutdown: watch::Receiver<bool>,
) {
    let limits = endpoint.state.config.limits.clone();
    let endpoint = Arc::new(endpoint);
    let handshakes = Arc::new(Semaphore::new(limits.max_concurrent_handshakes));
    let anonymous = Arc::new(Semaphore::new(limits.max_anonymous_connections));
    // Every connection task holds a sender; when all are gone, `recv` returns `None`.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        // A handshake slot first: while all are taken, connections wait in the backlog.
        let permit = tokio::select! {
            p = Arc::clone(&handshakes).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut shutdown) => break,
        };
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        tokio::spawn(connection(
            tcp,
            remote,
            permit,
            Arc::clone(&anonymous),
            Arc::clone(&endpoint),
            shutdown.clone(),
            alive.clone(),
        ));
    }
    drop(listener);
    drop(alive);
    let _ = all_closed.recv().await;
}

/// One connection: handshake, classification, then HTTP/2 until it ends, idles, outlives its
/// allowance or the server stops.
async fn connection(
    tcp: TcpStream,
    remote: SocketAddr,
    handshake: OwnedSemaphorePermit,
    anonymous: Arc<Semaphore>,
    endpoint: Arc<Endpoint>,
    mut shutdown: watch::Receiver<bool>,
    _alive: mpsc::Sender<()>,
) {
    let limits = &endpoint.state.config.limits;
    let _ = tcp.set_nodelay(true);
    set_tcp_keepalive(&tcp, limits.tcp_keepalive);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&endpoint.tls));
    let stream = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            info!(remote = %remote, error = %e, "TLS handshake refused");
            return;
        }
        Err(_) => {
            info!(remote = %remote, "TLS handshake timed out");
            return;
        }
    };
    drop(handshake);
    let certificates: Vec<_> = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let authenticated = is_authenticated(&endpoint.state, &certificates);
    let _slot = if authenticated {
        None
    } else {
        match anonymous.try_acquire_owned() {
            Ok(slot) => Some(slot),
            Err(_) => {
                debug!(
                    remote = %remote,
                    limit = limits.max_anonymous_connections,
                    "anonymous connection closed: max_anonymous_connections reached"
                );
                return;
            }
        }
    };
    let peer = TlsPeer {
        certificates: Arc::new(certificates),
        remote: Some(remote),
    };
    let (open, open_rx) = watch::channel(0usize);
    let service = ConnService {
        routes: if authenticated {
            endpoint.routes.clone()
        } else {
            endpoint.anonymous_routes.clone()
        },
        peer,
        open: Arc::new(open),
        request_timeout: limits.request_timeout,
    };
    let mut http = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http.timer(TokioTimer::new())
        .max_concurrent_streams(if authenticated {
            limits.max_concurrent_streams
        } else {
            limits.anonymous_max_concurrent_streams
        })
        .max_local_error_reset_streams(MAX_LOCAL_RESETS)
        .max_pending_accept_reset_streams(MAX_PENDING_RESETS)
        .keep_alive_interval(
            (!limits.keepalive_interval.is_zero()).then_some(limits.keepalive_interval),
        )
        .keep_alive_timeout(limits.keepalive_timeout);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let lifetime = async {
        if authenticated {
            std::future::pending::<()>().await;
        } else {
            tokio::time::sleep(limits.anonymous_connection_lifetime).await;
        }
    };
    let reason = tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                debug!(remote = %remote, error = %e, "connection ended");
            }
            return;
        }
        () = lifetime => "anonymous_connection_lifetime reached",
        () = idle(open_rx, limits.idle_timeout) => "idle_timeout reached",
        () = stopped(&mut shutdown) => "server stopping",
    };
    debug!(remote = %remote, authenticated, reason, "closing connection");
    conn.as_mut().graceful_shutdown();
    if tokio::time::timeout(GRACE, conn.as_mut()).await.is_err() {
        debug!(remote = %remote, "connection cut after the grace period");
    }
}

/// Completes when the server stops (or its shutdown flag is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Completes once no stream has been open for `after`.
async fn idle(mut open: watch::Receiver<usize>, after: Duration) {
    loop {
        if *open.borrow_and_update() == 0 {
            tokio::select! {
                () = tokio::time::sleep(after) => return,
                r = open.changed() => if r.is_err() { std::future::pending::<()>().await },
            }
        } else if open.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// TCP keepalive after `idle` without traffic, then a probe every quarter of it, three at
/// most. Failures are harmless (HTTP/2 PINGs also find dead peers) and ignored.
fn set_tcp_keepalive(tcp: &TcpStream, idle: Duration) {
    use nix::sys::socket::{setsockopt, sockopt};
    if idle.is_zero() {
        return;
    }
    let secs = u32::try_from(idle.as_secs()).unwrap_or(u32::MAX).max(1);
    let _ = setsockopt(tcp, sockopt::KeepAlive, &true);
    let _ = setsockopt(tcp, sockopt::TcpKeepIdle, &secs);
    let _ = setsockopt(tcp, sockopt::TcpKeepInterval, &(secs / 4).max(1));
    let _ = setsockopt(tcp, sockopt::TcpKeepCount, &3);
}

/// The per-connection service: puts the peer into each request, counts open streams, bounds
/// the time to the response headers.
#[derive(Clone)]
struct ConnService {
    routes: Routes,
    peer: TlsPeer,
    open: Arc<watch::Sender<usize>>,
    request_timeout: Duration,
}

impl hyper::service::Service<http::Request<Incoming>> for ConnService {
    type Response = http::Response<CountedBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn call(&self, mut req: http::Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.peer.clone());
        let stream = OpenStream::new(Arc::clone(&self.open));
        let call = self.routes.clone().oneshot(req);
        let limit = self.request_timeout;
        Box::pin(async move {
            let response = match tokio::time::timeout(limit, call).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => Status::deadline_exceeded(format!(
                    "no response within {}s (request_timeout)",
                    limit.as_secs_f64()
                ))
                .into_http::<tonic::body::Body>(),
            };
            Ok(response.map(|inner| CountedBody {
                inner,
                _stream: stream,
            }))
        })
    }
}

/// One open stream of a connection, counted until dropped.
struct OpenStream(Arc<watch::Sender<usize>>);

impl OpenStream {
    fn new(open: Arc<watch::Sender<usize>>) -> Self {
        open.send_modify(|n| *n += 1);
        OpenStream(open)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A response body that keeps its stream counted as open until hyper drops it (sent, or reset).
struct CountedBody {
    inner: tonic::body::Body,
    _stream: OpenStream,
}

impl HttpBody for CountedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn idle_waits_for_no_open_stream() {
        let ms = Duration::from_millis;
        let open = Arc::new(watch::channel(0usize).0);
        let stream = OpenStream::new(Arc::clone(&open));
        let mut done = std::pin::pin!(idle(open.subscribe(), ms(300)));
        // A stream is open: never idle.
        assert!(tokio::time::timeout(ms(600), done.as_mut()).await.is_err());
        drop(stream);
        assert_eq!(*open.borrow(), 0);
        // Idle only after the full period without streams.
        assert!(tokio::time::timeout(ms(150), done.as_mut()).await.is_err());
        assert!(tokio::time::timeout(ms(1000), done.as_mut()).await.is_ok());
    }
}
