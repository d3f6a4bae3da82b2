//! The server side of SPIFFE mTLS for hyper: a TLS acceptor that yields the peer's verified
//! SPIFFE ID, and a connection driver that hands it to every request as [`PeerId`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use spiffe_core::SpiffeId;
use spiffe_core::tls::MtlsConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::Instrument as _;

use super::{BoxError, HandshakeError, PeerId, alpn};

/// How long a TLS handshake may take unless told otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts mTLS connections: the client must present an X509-SVID that verifies against the
/// bundle of its trust domain and that the authorizer admits.
#[derive(Clone)]
pub struct MtlsAcceptor {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for MtlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsAcceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// A connection whose handshake succeeded, with the client's SPIFFE ID.
#[derive(Debug)]
pub struct Accepted<IO> {
    /// The TLS stream.
    pub stream: TlsStream<IO>,
    /// The client's verified and authorized SPIFFE ID.
    pub peer: SpiffeId,
}

impl MtlsAcceptor {
    /// An acceptor from `config`'s server side, offering HTTP/2 and HTTP/1.1 by ALPN.
    ///
    /// # Errors
    ///
    /// [`rustls::Error`] if `config` cannot make a server configuration.
    pub fn new(config: &MtlsConfig) -> Result<Self, rustls::Error> {
        let mut server = config.server_config()?;
        server.alpn_protocols = alpn();
        Ok(Self::from_server_config(Arc::new(server)))
    }

    /// An acceptor from a ready rustls config (it must require and verify client SVIDs, as
    /// [`MtlsConfig::server_config`] does).
    pub fn from_server_config(config: Arc<rustls::ServerConfig>) -> Self {
        MtlsAcceptor {
            acceptor: TlsAcceptor::from(config),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }

    /// The same with another handshake timeout.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Runs the handshake on `io`. A refused client's error names its SPIFFE ID and why.
    ///
    /// # Errors
    ///
    /// [`HandshakeError`] if the handshake times out or fails, or the client presents no valid
    /// SPIFFE ID.
    pub async fn accept<IO>(&self, io: IO) -> Result<Accepted<IO>, HandshakeError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = tokio::time::timeout(self.handshake_timeout, self.acceptor.accept(io))
            .await
            .map_err(|_| HandshakeError::Timeout(self.handshake_timeout))?
            .map_err(HandshakeError::Tls)?;
        let peer = spiffe_core::tls::peer_spiffe_id(stream.get_ref().1.peer_certificates())
            .map_err(HandshakeError::PeerId)?;
        Ok(Accepted { stream, peer })
    }
}

/// Serves HTTP/1.1 or HTTP/2 (as ALPN chose) on an accepted connection; every request reaches
/// `service` with a [`PeerId`] extension holding the client's SPIFFE ID.
///
/// # Errors
///
/// The connection's error, if hyper ends it with one.
pub async fn serve_connection<IO, S, B>(accepted: Accepted<IO>, service: S) -> Result<(), BoxError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let peer = PeerId(accepted.peer);
    let service = tower::util::MapRequest::new(service, move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(peer.clone());
        request
    });
    hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(
            TokioIo::new(accepted.stream),
            TowerToHyperService::new(service),
        )
        .await
}

/// Accepts connections on `listener` until `shutdown` completes, each served by `service`
/// after the mTLS handshake. Refused handshakes are logged with the peer address and the
/// reason (which names the refused SPIFFE ID); connections in progress run to their end.
///
/// # Errors
///
/// The listener's error if accepting fails.
pub async fn serve<S, B, F>(
    listener: TcpListener,
    acceptor: MtlsAcceptor,
    service: S,
    shutdown: F,
) -> std::io::Result<()>
where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        // Small responses should not wait for Nagle; failure to set it is harmless.
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = service.clone();
        tokio::spawn(async move { handle(tcp, addr, acceptor, service).await });
    }
}

async fn handle<S, B>(
    tcp: tokio::net::TcpStream,
    addr: SocketAddr,
    acceptor: MtlsAcceptor,
    service: S,
) where
    S: tower::Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let accepted = match acceptor.accept(tcp).await {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::warn!(peer_addr = %addr, error = %e, "mTLS handshake refused");
            return;
        }
    };
    let span =
        tracing::debug_span!("mtls_connection", peer_addr = %addr, spiffe_id = %accepted.peer);
    async move {
        tracing::debug!("mTLS connection accepted");
        if let Err(e) = serve_connection(accepted, service).await {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
    .instrument(span)
    .await;
}
