//! The client side of SPIFFE mTLS for hyper-util's legacy `Client`: a connector that dials
//! TCP, presents the current SVID, and admits the server only if its SVID verifies and the
//! authorizer admits its SPIFFE ID.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use spiffe_core::SpiffeId;
use spiffe_core::tls::MtlsConfig;
use thiserror::Error;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{PeerId, alpn};

/// Why the connector could not connect.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URI has no host.
    #[error("URI {uri} has no host to connect to")]
    NoHost {
        /// The URI.
        uri: String,
    },
    /// The host is not a DNS name or IP address.
    #[error("host {host:?} is not a valid DNS name or IP address")]
    BadHost {
        /// The host.
        host: String,
    },
    /// The TCP connection failed.
    #[error("cannot connect to {authority}: {source}")]
    Tcp {
        /// `host:port`.
        authority: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed; a refused server's error names its SPIFFE ID and why.
    #[error("mTLS handshake with {authority} failed: {source}")]
    Tls {
        /// `host:port`.
        authority: String,
        /// The error (a rustls error inside).
        #[source]
        source: io::Error,
    },
    /// The server's certificate carries no SPIFFE ID (cannot happen after verification).
    #[error("server at {authority} presented no SPIFFE ID: {source}")]
    PeerId {
        /// `host:port`.
        authority: String,
        /// Why.
        #[source]
        source: spiffe_core::X509Error,
    },
}

/// A connector for `hyper_util::client::legacy::Client` that speaks SPIFFE mTLS to every
/// server (whatever the URI's scheme; the default port is 443). The DNS name is used for SNI
/// only: the server is identified by its SPIFFE ID, which the [`MtlsConfig`]'s authorizer
/// checks. Responses carry the server's ID as a [`PeerId`] extension.
#[derive(Clone)]
pub struct MtlsConnector {
    tls: TlsConnector,
}

impl std::fmt::Debug for MtlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsConnector").finish_non_exhaustive()
    }
}

impl MtlsConnector {
    /// A connector from `config`'s client side, offering HTTP/2 and HTTP/1.1 by ALPN.
    ///
    /// # Errors
    ///
    /// [`rustls::Error`] if `config` cannot make a client configuration.
    pub fn new(config: &MtlsConfig) -> Result<Self, rustls::Error> {
        let mut client = config.client_config()?;
        client.alpn_protocols = alpn();
        Ok(Self::from_client_config(Arc::new(client)))
    }

    /// A connector from a ready rustls config (it must verify server SVIDs, as
    /// [`MtlsConfig::client_config`] does).
    pub fn from_client_config(config: Arc<rustls::ClientConfig>) -> Self {
        MtlsConnector {
            tls: TlsConnector::from(config),
        }
    }

    /// Connects to `uri`'s host and port and runs the handshake.
    ///
    /// # Errors
    ///
    /// [`ConnectError`] if `uri` names no usable host, the TCP connection fails, the handshake
    /// fails, or the server presents no valid SPIFFE ID.
    pub async fn connect(&self, uri: &Uri) -> Result<MtlsStream, ConnectError> {
        let host = uri.host().ok_or_else(|| ConnectError::NoHost {
            uri: uri.to_string(),
        })?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(443);
        let authority = format!("{host}:{port}");
        let server_name =
            ServerName::try_from(bare.to_owned()).map_err(|_| ConnectError::BadHost {
                host: host.to_owned(),
            })?;
        let tcp = TcpStream::connect((bare, port))
            .await
            .map_err(|source| ConnectError::Tcp {
                authority: authority.clone(),
                source,
            })?;
        // Small requests should not wait for Nagle; failure to set it is harmless.
        let _ = tcp.set_nodelay(true);
        let stream =
            self.tls
                .connect(server_name, tcp)
                .await
                .map_err(|source| ConnectError::Tls {
                    authority: authority.clone(),
                    source,
                })?;
        let (_, conn) = stream.get_ref();
        let peer = spiffe_core::tls::peer_spiffe_id(conn.peer_certificates())
            .map_err(|source| ConnectError::PeerId { authority, source })?;
        let h2 = conn.alpn_protocol() == Some(b"h2".as_slice());
        tracing::debug!(spiffe_id = %peer, h2, "mTLS connection established");
        Ok(MtlsStream {
            io: TokioIo::new(stream),
            peer,
            h2,
        })
    }
}

impl tower::Service<Uri> for MtlsConnector {
    type Response = MtlsStream;
    type Error = ConnectError;
    type Future = BoxFuture<'static, Result<MtlsStream, ConnectError>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(&uri).await })
    }
}

/// An mTLS connection made by [`MtlsConnector`], with the server's SPIFFE ID.
#[derive(Debug)]
pub struct MtlsStream {
    io: TokioIo<TlsStream<TcpStream>>,
    peer: SpiffeId,
    h2: bool,
}

impl MtlsStream {
    /// The server's verified and authorized SPIFFE ID.
    pub fn peer_id(&self) -> &SpiffeId {
        &self.peer
    }

    /// The certificates the server presented, leaf first.
    pub fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.io.inner().get_ref().1.peer_certificates()
    }
}

impl Connection for MtlsStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().extra(PeerId(self.peer.clone()));
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for MtlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for MtlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}
