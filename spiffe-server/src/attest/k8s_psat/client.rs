//! A Kubernetes API client for one cluster, from its [`KubeApiServer`] setting: in-cluster,
//! a kubeconfig file, or an explicit URL with a CA file and a token file.
//!
//! With an explicit token file, the bearer token is set by [`BearerFileLayer`] rather than by
//! kube: kube sends the file's bytes as they are, so a token file ending in a newline (as
//! `echo ... > token` or a Secret written by hand leaves it) would make every request fail with
//! "invalid bearer token". Like client-go, this layer trims surrounding white space, and reads
//! the file again at most once a minute so a rotated token is picked up.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, header::AUTHORIZATION};
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tower::{Layer, Service};
use tracing::warn;

use super::error::PsatSetupError;
use crate::config::KubeApiServer;

/// The client for cluster `cluster`. Files are read now, so a missing one fails at start;
/// kube reads the token file (and, for in-cluster and explicit settings, the CA file) again
/// later as they rotate.
pub(crate) async fn client(cluster: &str, api: &KubeApiServer) -> Result<Client, PsatSetupError> {
    let config = match api {
        KubeApiServer::InCluster => {
            Config::incluster().map_err(|source| PsatSetupError::InCluster {
                cluster: cluster.to_owned(),
                source,
            })?
        }
        KubeApiServer::Kubeconfig(path) => {
            let kubeconfig_err = |source| PsatSetupError::Kubeconfig {
                cluster: cluster.to_owned(),
                path: path.clone(),
                source,
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_err)?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(kubeconfig_err)?
        }
        KubeApiServer::Explicit {
            url,
            ca_file,
            token_file,
        } => {
            let uri = url.parse::<http::Uri>().map_err(|e| PsatSetupError::Url {
                cluster: cluster.to_owned(),
                url: url.clone(),
                detail: e.to_string(),
            })?;
            let file_err = |what, path: &std::path::Path| {
                let path = path.to_owned();
                move |source| PsatSetupError::File {
                    cluster: cluster.to_owned(),
                    what,
                    path,
                    source,
                }
            };
            let pem = std::fs::read(ca_file).map_err(file_err("api_server_ca_file", ca_file))?;
            let roots = CertificateDer::pem_slice_iter(&pem)
                .map(|c| c.map(|c| c.to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .filter(|roots| !roots.is_empty())
                .ok_or_else(|| {
                    file_err("api_server_ca_file", ca_file)(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "no PEM CERTIFICATE block",
                    ))
                })?;
            let bearer = BearerFile::load(token_file)
                .map_err(file_err("api_server_token_file", token_file))?;
            let mut config = Config::new(uri);
            config.root_cert = Some(roots);
            config.root_cert_file = Some(ca_file.clone());
            let builder =
                ClientBuilder::try_from(config).map_err(|source| PsatSetupError::Client {
                    cluster: cluster.to_owned(),
                    source,
                })?;
            return Ok(builder.with_layer(&BearerFileLayer(bearer)).build());
        }
    };
    Client::try_from(config).map_err(|source| PsatSetupError::Client {
        cluster: cluster.to_owned(),
        source,
    })
}

/// How long a token read from its file is used before the file is read again.
const TOKEN_REFRESH: Duration = Duration::from_secs(60);

/// A bearer token kept in a file: read (trimmed) at start, and again when older than
/// [`TOKEN_REFRESH`]. If a later read fails or finds no usable token, the last one is kept
/// (a warning is logged), as kube and client-go do.
#[derive(Debug, Clone)]
pub(crate) struct BearerFile {
    path: PathBuf,
    cached: Arc<Mutex<(HeaderValue, Instant)>>,
}

impl BearerFile {
    /// Reads the token file; fails if it cannot be read, is empty, or holds characters an HTTP
    /// header cannot carry.
    pub(crate) fn load(path: &Path) -> std::io::Result<Self> {
        let header = read_header(path)?;
        Ok(BearerFile {
            path: path.to_owned(),
            cached: Arc::new(Mutex::new((header, Instant::now()))),
        })
    }

    /// The `Authorization` header value, the file read again if the cached one is stale.
    pub(crate) fn header(&self) -> HeaderValue {
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if cached.1.elapsed() >= TOKEN_REFRESH {
            match read_header(&self.path) {
                Ok(header) => cached.0 = header,
                Err(error) => warn!(
                    path = %self.path.display(),
                    %error,
                    "cannot read the API server token file again; using the last token"
                ),
            }
            cached.1 = Instant::now();
        }
        cached.0.clone()
    }
}

/// `Bearer <token>` from the file's trimmed text, marked sensitive.
fn read_header(path: &Path) -> std::io::Result<HeaderValue> {
    let text = std::fs::read_to_string(path)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the file holds no token",
        ));
    }
    let mut header = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the token holds characters an HTTP header cannot carry",
        )
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// Sets `Authorization: Bearer <token from the file>` on every request.
#[derive(Debug, Clone)]
pub(crate) struct BearerFileLayer(pub(crate) BearerFile);

impl<S> Layer<S> for BearerFileLayer {
    type Service = BearerFileService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BearerFileService {
            inner,
            token: self.0.clone(),
        }
    }
}

/// The service of [`BearerFileLayer`].
#[derive(Debug, Clone)]
pub(crate) struct BearerFileService<S> {
    inner: S,
    token: BearerFile,
}

impl<S, B> Service<Request<B>> for BearerFileService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.token.header());
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_files_are_trimmed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  abc.def.ghi\n").unwrap();
        let file = BearerFile::load(&path).unwrap();
        assert_eq!(file.header(), "Bearer abc.def.ghi");
        assert!(file.header().is_sensitive());

        std::fs::write(&path, "\n").unwrap();
        assert_eq!(
            BearerFile::load(&path).unwrap_err().to_string(),
            "the file holds no token"
        );
        std::fs::write(&path, "a\u{7f}b").unwrap();
        assert_eq!(
            BearerFile::load(&path).unwrap_err().to_string(),
            "the token holds characters an HTTP header cannot carry"
        );
        assert!(BearerFile::load(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_stale_token_is_read_again_and_kept_if_the_file_goes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = BearerFile::load(&path).unwrap();
        std::fs::write(&path, "second\n").unwrap();
        // Fresh: the cached token.
        assert_eq!(file.header(), "Bearer first");
        let stale = |file: &BearerFile| {
            let mut cached = file.cached.lock().unwrap();
            cached.1 = Instant::now().checked_sub(TOKEN_REFRESH).unwrap();
        };
        stale(&file);
        assert_eq!(file.header(), "Bearer second");
        std::fs::remove_file(&path).unwrap();
        stale(&file);
        assert_eq!(file.header(), "Bearer second");
    }
}
