//! The server's SPIFFE bundle endpoint (SPIFFE_Federation.md 5.2.1.3 and 5.2.2.3): HTTPS,
//! no client authentication, `GET /` answered with the trust domain's bundle as a SPIFFE bundle
//! document (`spiffe_sequence` is the stored bundle's sequence number, `spiffe_refresh_hint`
//! the configured hint), `Content-Type: application/json`. Another method is answered 405,
//! another path 404 (as SPIRE does).
//!
//! Profiles: `https_spiffe` presents the server's own X509-SVID (read at every handshake, so
//! rotation needs nothing here); `https_web` presents a certificate chain and key read from
//! files ([`FileCert`]), reloaded when their modification times change.
//!
//! Bounds: at most `max_connections` connections at once, the TLS handshake and then each
//! request's headers within `handshake_timeout`, and a connection lives at most
//! `connection_lifetime`. Request bodies are never read.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig as TlsServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use spiffe_core::SvidCell;
use spiffe_core::tls::SvidResolver;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use super::{BundleEndpointConfig, ServeProfile};
use crate::state::ServerState;

/// The largest certificate file read, in bytes.
const MAX_CERT_FILE: u64 = 1024 * 1024;
/// The largest key file read, in bytes.
const MAX_KEY_FILE: u64 = 64 * 1024;
/// The pause after a failed `accept`, so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How long open connections may finish once the server stops.
const GRACE: Duration = Duration::from_secs(5);

/// Why the bundle endpoint cannot be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// A serving certificate or key file cannot be read.
    #[error("bundle endpoint {what} {path}: {source}")]
    Read {
        /// `cert_file_path` or `key_file_path`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<spiffe_fs::FsError>,
    },
    /// A serving certificate or key file holds no usable PEM block.
    #[error("bundle endpoint {what} {path}: {reason}")]
    Pem {
        /// `cert_file_path` or `key_file_path`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The key cannot sign, or is not the certificate's.
    #[error("bundle endpoint serving key {path}: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// Why rustls refused it.
        #[source]
        source: rustls::Error,
    },
    /// TLS could not be configured.
    #[error("bundle endpoint TLS: {0}")]
    Tls(#[source] rustls::Error),
    /// The address cannot be bound.
    #[error("bundle endpoint address {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// A serving certificate chain and key from PEM files (profile `https_web`), presented at every
/// handshake and replaced by [`FileCert::reload_if_changed`] when the files change. A change
/// that does not load (a half-written file, a key that is not the certificate's) keeps the
/// certificate in use.
#[derive(Debug)]
pub struct FileCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    stamps: Mutex<(Option<SystemTime>, Option<SystemTime>)>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl FileCert {
    /// Loads the certificate chain (leaf first) and its key.
    ///
    /// # Errors
    ///
    /// [`EndpointError::Read`] if a file cannot be read (or exceeds 1 MiB / 64 KiB);
    /// [`EndpointError::Pem`] if it holds no certificate or key; [`EndpointError::Key`] if the
    /// key cannot sign or is not the leaf certificate's.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, EndpointError> {
        let stamps = (modified(cert_file), modified(key_file));
        let key = load_certified_key(cert_file, key_file)?;
        Ok(FileCert {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new(Arc::new(key)),
            stamps: Mutex::new(stamps),
        })
    }

    /// The certificate chain presented now.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .cert
            .clone()
    }

    /// Reloads the files if either modification time changed. Returns whether a new
    /// certificate is in use.
    ///
    /// # Errors
    ///
    /// As [`FileCert::load`]; the certificate in use stays, and the next call tries again.
    pub fn reload_if_changed(&self) -> Result<bool, EndpointError> {
        let now = (modified(&self.cert_file), modified(&self.key_file));
        let mut stamps = self.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        if *stamps == now {
            return Ok(false);
        }
        let key = load_certified_key(&self.cert_file, &self.key_file)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(key);
        *stamps = now;
        Ok(true)
    }
}

impl ResolvesServerCert for FileCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

fn load_certified_key(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, EndpointError> {
    let certs = spiffe_fs::read_bounded(cert_file, MAX_CERT_FILE).map_err(|source| {
        EndpointError::Read {
            what: "cert_file_path",
            path: cert_file.to_owned(),
            source: Box::new(source),
        }
    })?;
    let chain = CertificateDer::pem_slice_iter(&certs)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| EndpointError::Pem {
            what: "cert_file_path",
            path: cert_file.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(EndpointError::Pem {
            what: "cert_file_path",
            path: cert_file.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    let key_pem = spiffe_fs::read_secret_bounded(key_file, MAX_KEY_FILE).map_err(|source| {
        EndpointError::Read {
            what: "key_file_path",
            path: key_file.to_owned(),
            source: Box::new(source),
        }
    })?;
    // The error names the PEM problem, never the key's bytes.
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| EndpointError::Pem {
        what: "key_file_path",
        path: key_file.to_owned(),
        reason: e.to_string(),
    })?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let certified =
        CertifiedKey::from_der(chain, key, &provider).map_err(|source| EndpointError::Key {
            path: key_file.to_owned(),
            source,
        })?;
    // `from_der` lets a key whose consistency it cannot judge through; this one must match.
    certified
        .keys_match()
        .map_err(|source| EndpointError::Key {
            path: key_file.to_owned(),
            source,
        })?;
    Ok(certified)
}

/// The TLS configuration of the endpoint: TLS 1.2 and 1.3, HTTP/1.1, no client certificate,
/// the profile's certificate.
pub(crate) fn tls_config(
    profile: &ServeProfile,
    server_svid: Arc<SvidCell>,
) -> Result<(Arc<TlsServerConfig>, Option<Arc<FileCert>>), EndpointError> {
    let (resolver, file): (Arc<dyn ResolvesServerCert>, _) = match profile {
        ServeProfile::HttpsSpiffe => (Arc::new(SvidResolver::new(server_svid)), None),
        ServeProfile::HttpsWeb {
            cert_file,
            key_file,
            ..
        } => {
            let file = Arc::new(FileCert::load(cert_file, key_file)?);
            (Arc::clone(&file) as Arc<dyn ResolvesServerCert>, Some(file))
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = TlsServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(EndpointError::Tls)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), file))
}

/// Binds the endpoint's address.
pub(crate) async fn bind(address: SocketAddr) -> Result<(TcpListener, SocketAddr), EndpointError> {
    let bind = |source| EndpointError::Bind { address, source };
    let listener = TcpListener::bind(address).await.map_err(bind)?;
    let bound = listener.local_addr().map_err(bind)?;
    Ok((listener, bound))
}

/// Checks a `https_web` certificate's files every `interval` until `shutdown`.
pub(crate) async fn watch_files(
    file: Arc<FileCert>,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stopped(&mut shutdown) => return,
        }
        match file.reload_if_changed() {
            Ok(true) => info!(
                cert_file = %file.cert_file.display(),
                "bundle endpoint serving certificate reloaded"
            ),
            Ok(false) => {}
            Err(e) => {
                warn!(error = %e, "bundle endpoint serving certificate not reloaded; the previous one stays in use")
            }
        }
    }
}

/// Completes when the server stops (or its shutdown flag is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// What every connection shares.
struct Shared {
    state: Arc<ServerState>,
    tls: tokio_rustls::TlsAcceptor,
    config: BundleEndpointConfig,
}

/// Accepts connections until `shutdown`, then gives open ones [`GRACE`] to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Arc<TlsServerConfig>,
    state: Arc<ServerState>,
    config: BundleEndpointConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(config.limits.max_connections));
    let shared = Arc::new(Shared {
        state,
        tls: tokio_rustls::TlsAcceptor::from(tls),
        config,
    });
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    loop {
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    warn!(error = %e, "bundle endpoint accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            debug!(
                remote = %remote,
                limit = shared.config.limits.max_connections,
                "bundle endpoint connection closed: max_connections reached"
            );
            continue;
        };
        let span = info_span!("bundle_endpoint", remote = %remote);
        let shared = Arc::clone(&shared);
        let shutdown = shutdown.clone();
        let alive = alive.clone();
        tokio::spawn(
            async move {
                connection(tcp, &shared, shutdown).await;
                drop(slot);
                drop(alive);
            }
            .instrument(span),
        );
    }
    drop(listener);
    drop(alive);
    let _ = tokio::time::timeout(GRACE, all_closed.recv()).await;
}

async fn connection(tcp: TcpStream, shared: &Shared, mut shutdown: watch::Receiver<bool>) {
    let limits = &shared.config.limits;
    let _ = tcp.set_nodelay(true);
    let stream = match tokio::time::timeout(limits.handshake_timeout, shared.tls.accept(tcp)).await
    {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            debug!(error = %e, "bundle endpoint TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!("bundle endpoint TLS handshake timed out");
            return;
        }
    };
    let state = Arc::clone(&shared.state);
    let hint = shared.config.refresh_hint;
    let service = hyper::service::service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(respond(&state, hint, &req)) }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.handshake_timeout)
        .max_buf_size(16 * 1024);
    let conn = http.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                debug!(error = %e, "bundle endpoint connection ended");
            }
            return;
        }
        () = tokio::time::sleep(limits.connection_lifetime) => {}
        () = stopped(&mut shutdown) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(GRACE, conn.as_mut()).await;
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The answer to one request.
fn respond(
    state: &ServerState,
    refresh_hint: Duration,
    req: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "405 method not allowed\n");
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
        return r;
    }
    if req.uri().path() != "/" {
        return plain(StatusCode::NOT_FOUND, "404 page not found\n");
    }
    let td = state.config.trust_domain.name();
    let Some(bundle) = state.core_bundle(td) else {
        warn!(
            trust_domain = td,
            "bundle endpoint: no bundle of the trust domain to serve"
        );
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 unable to retrieve local bundle\n",
        );
    };
    let mut document = (*bundle).clone();
    document.set_refresh_hint(Some(refresh_hint));
    debug!(
        trust_domain = td,
        sequence = document.sequence().unwrap_or(0),
        "bundle served"
    );
    let mut response = Response::new(Full::new(Bytes::from(document.to_json())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}
