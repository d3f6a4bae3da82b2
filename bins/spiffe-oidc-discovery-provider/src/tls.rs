//! HTTPS from a certificate and key on disk (`serving_cert_file`): both files read within a
//! limit, checked to belong together, and read again every `file_sync_interval`; a change is
//! taken at the next handshake, a broken file is reported and the last good pair kept.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::sync::watch;
use tracing::{info, warn};

/// The largest certificate file read.
const MAX_CERT_FILE: u64 = 1 << 20;
/// The largest key file read.
const MAX_KEY_FILE: u64 = 64 << 10;

/// Why the serving certificate or key cannot be used.
#[derive(Debug, Error)]
pub(crate) enum TlsFileError {
    /// A file cannot be read.
    #[error("serving_cert_file.{field}: {source}")]
    Read {
        /// `cert_file_path` or `key_file_path`.
        field: &'static str,
        /// Why.
        #[source]
        source: Box<spiffe_fs::FsError>,
    },
    /// The certificate file holds no PEM certificate.
    #[error("serving_cert_file.cert_file_path: no PEM certificate in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no usable PEM private key.
    #[error("serving_cert_file.key_file_path: no usable PEM private key in {}: {reason}", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// Why (never the key itself).
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("serving_cert_file: the key in {} does not match the certificate in {}: {reason}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[source] Box<rustls::Error>),
}

/// The files' contents, to tell a change.
#[derive(PartialEq, Eq)]
struct Contents {
    cert: Vec<u8>,
    key: zeroize::Zeroizing<Vec<u8>>,
}

fn read(cert: &Path, key: &Path) -> Result<Contents, TlsFileError> {
    Ok(Contents {
        cert: spiffe_fs::read_bounded(cert, MAX_CERT_FILE).map_err(|source| {
            TlsFileError::Read {
                field: "cert_file_path",
                source: Box::new(source),
            }
        })?,
        key: spiffe_fs::read_secret_bounded(key, MAX_KEY_FILE).map_err(|source| {
            TlsFileError::Read {
                field: "key_file_path",
                source: Box::new(source),
            }
        })?,
    })
}

fn certified(
    provider: &CryptoProvider,
    contents: &Contents,
    cert: &Path,
    key: &Path,
) -> Result<Arc<CertifiedKey>, TlsFileError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&contents.cert)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: cert.to_owned(),
        });
    }
    let der = PrivateKeyDer::from_pem_slice(&contents.key).map_err(|e| TlsFileError::Key {
        path: key.to_owned(),
        reason: e.to_string(),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| TlsFileError::Key {
            path: key.to_owned(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| TlsFileError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(certified))
}

/// The certificate presented at each handshake: the last good pair read.
#[derive(Debug)]
struct Resolver(watch::Receiver<Arc<CertifiedKey>>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.borrow()))
    }
}

/// Loads the pair, builds the TLS acceptor, and spawns the task that reloads the files every
/// `interval` until `shutdown`.
///
/// # Errors
///
/// [`TlsFileError`] if the files cannot be read or do not make a usable pair now.
pub(crate) fn acceptor(
    cert: PathBuf,
    key: PathBuf,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> Result<tokio_rustls::TlsAcceptor, TlsFileError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut last = read(&cert, &key)?;
    let (tx, rx) = watch::channel(certified(&provider, &last, &cert, &key)?);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsFileError::Config(Box::new(e)))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Resolver(rx)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
            let (c, k) = (cert.clone(), key.clone());
            let fresh = match tokio::task::spawn_blocking(move || read(&c, &k)).await {
                Ok(Ok(contents)) => contents,
                Ok(Err(e)) => {
                    warn!(error = %e, "cannot read the serving certificate files; keeping the last good pair");
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "reading the serving certificate files failed");
                    continue;
                }
            };
            if fresh == last {
                continue;
            }
            match certified(&provider, &fresh, &cert, &key) {
                Ok(pair) => {
                    tx.send_replace(pair);
                    last = fresh;
                    info!(cert_file_path = %cert.display(), "serving certificate reloaded");
                }
                Err(e) => {
                    warn!(error = %e, "the serving certificate files changed but cannot be used; keeping the last good pair");
                }
            }
        }
    });
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
