//! [`KubeletClient`]: `GET /pods` from the kubelet, over HTTPS on its secure port (bearer token,
//! client certificate or anonymous) or plain HTTP on its read-only port. One HTTP/1.1 connection
//! is kept and reused; the token file is read again for every request, the CA file and the
//! client certificate and key for every new connection.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::header::{ACCEPT, AUTHORIZATION, HOST};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::TlsConnector;
use tracing::{Instrument, debug, debug_span, warn};

use crate::k8s::config::{K8sConfig, Kubelet, KubeletAuth, KubeletVerification};
use crate::k8s::error::K8sError;
use crate::k8s::tls;

/// The largest pod list read (a kubelet with 110 pods answers well under 10 MiB).
pub const MAX_POD_LIST_BYTES: usize = 64 * 1024 * 1024;
/// How long one `GET /pods` may take, connection included (SPIRE's `kubeletRequestTimeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How requests are secured.
#[derive(Debug)]
enum Transport {
    /// Plain HTTP (read-only port).
    Http,
    /// HTTPS (secure port).
    Https {
        verification: KubeletVerification,
        auth: KubeletAuth,
        server_name: ServerName<'static>,
        check_name: bool,
    },
}

/// A client of one kubelet's `/pods`.
#[derive(Debug)]
pub(crate) struct KubeletClient {
    host: String,
    port: u16,
    /// `host:port`, for messages and the `Host` header.
    address: String,
    transport: Transport,
    connection: Mutex<Option<SendRequest<Empty<Bytes>>>>,
}

impl KubeletClient {
    /// A client for the kubelet `config` names (not connected yet).
    pub(crate) fn new(config: &K8sConfig) -> Result<Self, K8sError> {
        let host = config
            .node_name
            .clone()
            .unwrap_or_else(|| "127.0.0.1".to_owned());
        let (port, transport) = match &config.kubelet {
            Kubelet::ReadOnly { port } => (*port, Transport::Http),
            Kubelet::Secure {
                port,
                verification,
                auth,
            } => {
                let server_name = ServerName::try_from(host.clone())
                    .map_err(|_| K8sError::BadNodeName { name: host.clone() })?;
                if *verification == KubeletVerification::Skip {
                    warn!(
                        kubelet = %host,
                        "kubelet certificate verification is DISABLED (skip_kubelet_verification): \
                         whoever answers on the kubelet's address chooses every workload's selectors"
                    );
                }
                // The configuration is checked once up front, so a bad CA file fails at start.
                tls::client_config(verification, config.node_name.is_some(), auth)?;
                (
                    *port,
                    Transport::Https {
                        verification: verification.clone(),
                        auth: auth.clone(),
                        server_name,
                        check_name: config.node_name.is_some(),
                    },
                )
            }
        };
        if port == 0 {
            return Err(K8sError::Config {
                field: "kubelet port",
                rule: "must not be 0",
            });
        }
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(KubeletClient {
            host,
            port,
            address,
            transport,
            connection: Mutex::new(None),
        })
    }

    /// `host:port`.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The body of `GET /pods`, within [`REQUEST_TIMEOUT`].
    pub(crate) async fn get_pods(&self) -> Result<Bytes, K8sError> {
        let span = debug_span!("kubelet_get_pods", kubelet = %self.address);
        match tokio::time::timeout(REQUEST_TIMEOUT, self.get_pods_now().instrument(span)).await {
            Ok(result) => result,
            Err(_) => {
                // The connection may be wedged: start afresh next time.
                *self.connection.lock().await = None;
                Err(K8sError::Timeout {
                    address: self.address.clone(),
                    timeout: REQUEST_TIMEOUT,
                })
            }
        }
    }

    async fn get_pods_now(&self) -> Result<Bytes, K8sError> {
        let host =
            HeaderValue::try_from(self.address.as_str()).map_err(|_| K8sError::BadNodeName {
                name: self.host.clone(),
            })?;
        let mut request = Request::new(Empty::new());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = Uri::from_static("/pods");
        let headers = request.headers_mut();
        headers.insert(HOST, host);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if let Transport::Https {
            auth: KubeletAuth::Token(path),
            ..
        } = &self.transport
        {
            let token = read_token(path).await?;
            let mut value = HeaderValue::try_from(format!("Bearer {token}"))
                .map_err(|_| K8sError::BadToken { path: path.clone() })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }

        let mut connection = self.connection.lock().await;
        let reusable = match connection.take() {
            Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
            None => None,
        };
        let mut sender = match reusable {
            Some(sender) => sender,
            None => self.connect().await?,
        };
        let http_err = |source| K8sError::Http {
            address: self.address.clone(),
            source,
        };
        let response = sender.send_request(request).await.map_err(http_err)?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_POD_LIST_BYTES)
            .collect()
            .await
            .map_err(|e| match e.downcast::<hyper::Error>() {
                Ok(source) => http_err(*source),
                Err(_) => K8sError::TooLarge {
                    address: self.address.clone(),
                    limit: MAX_POD_LIST_BYTES,
                },
            })?
            .to_bytes();
        // Whole answer read: the connection can carry the next request.
        *connection = Some(sender);
        if status != StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            return Err(K8sError::Status {
                address: self.address.clone(),
                status: status.as_u16(),
                body: text,
            });
        }
        debug!(bytes = body.len(), "pod list received");
        Ok(body)
    }

    /// A new connection (TCP, then TLS on the secure port, then the HTTP/1.1 handshake).
    async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, K8sError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|source| K8sError::Connect {
                address: self.address.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        match &self.transport {
            Transport::Http => self.handshake(tcp).await,
            Transport::Https {
                verification,
                auth,
                server_name,
                check_name,
            } => {
                let config = tls::client_config(verification, *check_name, auth)?;
                let stream = TlsConnector::from(Arc::new(config))
                    .connect(server_name.clone(), tcp)
                    .await
                    .map_err(|source| K8sError::Handshake {
                        address: self.address.clone(),
                        source,
                    })?;
                self.handshake(stream).await
            }
        }
    }

    async fn handshake<S>(&self, stream: S) -> Result<SendRequest<Empty<Bytes>>, K8sError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|source| K8sError::Http {
                    address: self.address.clone(),
                    source,
                })?;
        let address = self.address.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(kubelet = %address, error = %e, "kubelet connection closed");
            }
        });
        debug!(kubelet = %self.address, "connected to the kubelet");
        Ok(sender)
    }
}

/// The bearer token in `path`, trimmed.
async fn read_token(path: &Path) -> Result<String, K8sError> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|source| K8sError::ReadFile {
            what: "token",
            path: path.to_owned(),
            source,
        })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(K8sError::EmptyToken {
            path: path.to_owned(),
        });
    }
    Ok(token.to_owned())
}
