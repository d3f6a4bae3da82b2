//! Where the JWT authorities come from, polled every `poll_interval` as SPIRE's provider polls:
//! the server's bundle API on its admin socket (`GetBundle`), an agent's Workload API
//! (`FetchJWTBundles`, the bundle of one trust domain), or a SPIFFE bundle file. Each successful
//! fetch is recorded (readiness); the key set is replaced only when it differs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use spiffe_core::{Bundle, PublicKey, TrustDomain};
use spiffe_proto::spire::api::server::bundle::v1::GetBundleRequest;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::types::BundleMask;
use spiffe_workload::client::{ClientError, Endpoint, WorkloadApiClient};
use thiserror::Error;
use tokio::sync::watch;
use tonic::transport::Channel;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::config::SourceConfig;
use crate::jwks::{Authority, KeyStore};

/// The largest `GetBundle` response read (tonic's default, stated).
const MAX_BUNDLE_MESSAGE: usize = 4 << 20;
/// The largest bundle file read.
const MAX_BUNDLE_FILE: u64 = 1 << 20;
/// The longest one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a fetch failed.
#[derive(Debug, Error)]
pub(crate) enum SourceError {
    /// The server's `GetBundle` failed.
    #[error("GetBundle on the server API failed: {0}")]
    ServerApi(#[source] Box<tonic::Status>),
    /// The agent's `FetchJWTBundles` failed.
    #[error("FetchJWTBundles on the Workload API failed: {0}")]
    WorkloadApi(#[source] Box<ClientError>),
    /// The Workload API answered without the configured trust domain's bundle.
    #[error("no bundle for trust domain {trust_domain:?} in the Workload API response")]
    NoBundle {
        /// The configured trust domain.
        trust_domain: String,
    },
    /// The bundle file cannot be read.
    #[error("{0}")]
    FileRead(#[source] spiffe_fs::FsError),
    /// The bundle file is not a SPIFFE bundle.
    #[error("the bundle file {} is not a SPIFFE bundle: {source}", path.display())]
    FileParse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: spiffe_core::BundleError,
    },
    /// The placeholder trust domain of bundle files does not parse.
    #[error("bundle file trust domain: {0}")]
    FileTrustDomain(#[source] spiffe_core::IdError),
    /// The task reading the bundle file failed.
    #[error("reading the bundle file: {0}")]
    FileTask(#[source] tokio::task::JoinError),
    /// The fetch did not finish in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// A configured source.
#[derive(Debug)]
pub(crate) enum Source {
    /// The server's bundle API.
    ServerApi(BundleClient<Channel>),
    /// An agent's Workload API.
    WorkloadApi {
        /// The client (it dials on use and again after failures).
        client: WorkloadApiClient,
        /// The trust domain whose bundle is served.
        trust_domain: TrustDomain,
    },
    /// A bundle file.
    File {
        /// The file.
        path: PathBuf,
        /// The name its bundle is read under (the file does not say).
        trust_domain: TrustDomain,
    },
}

/// A lazy gRPC channel to a server's admin socket.
fn admin_channel(path: PathBuf) -> Channel {
    // The URI is not used to connect: the connector dials the socket.
    tonic::transport::Endpoint::from_static("http://admin.socket")
        .connect_timeout(Duration::from_secs(10))
        .connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
}

impl Source {
    /// The source `config` names; nothing is dialed yet.
    ///
    /// # Errors
    ///
    /// [`SourceError::WorkloadApi`] if the Workload API client cannot be made.
    pub(crate) fn new(config: &SourceConfig) -> Result<Source, SourceError> {
        Ok(match config {
            SourceConfig::ServerApi { socket, .. } => Source::ServerApi(
                BundleClient::new(admin_channel(socket.clone()))
                    .max_decoding_message_size(MAX_BUNDLE_MESSAGE),
            ),
            SourceConfig::WorkloadApi {
                socket,
                trust_domain,
                ..
            } => Source::WorkloadApi {
                client: WorkloadApiClient::connect_lazy(Endpoint::Unix(socket.clone()))
                    .map_err(|e| SourceError::WorkloadApi(Box::new(e)))?,
                trust_domain: trust_domain.clone(),
            },
            SourceConfig::File { path, .. } => Source::File {
                path: path.clone(),
                trust_domain: TrustDomain::parse(FILE_TRUST_DOMAIN)
                    .map_err(SourceError::FileTrustDomain)?,
            },
        })
    }

    /// The source's name in logs.
    fn kind(&self) -> &'static str {
        match self {
            Source::ServerApi(_) => "server_api",
            Source::WorkloadApi { .. } => "workload_api",
            Source::File { .. } => "file",
        }
    }

    /// Fetches the JWT authorities once.
    ///
    /// # Errors
    ///
    /// [`SourceError`] naming the call or file that failed.
    pub(crate) async fn fetch(&self) -> Result<Vec<Authority>, SourceError> {
        match self {
            Source::ServerApi(client) => {
                let request = GetBundleRequest {
                    output_mask: Some(BundleMask {
                        jwt_authorities: true,
                        ..BundleMask::default()
                    }),
                };
                let bundle = client
                    .clone()
                    .get_bundle(request)
                    .await
                    .map_err(|s| SourceError::ServerApi(Box::new(s)))?
                    .into_inner();
                // A malformed key is left out (and said), as SPIRE's provider does.
                Ok(bundle
                    .jwt_authorities
                    .into_iter()
                    .filter_map(|k| match PublicKey::from_spki_der(&k.public_key) {
                        Ok(key) => Some(Authority {
                            kid: k.key_id,
                            key,
                        }),
                        Err(e) => {
                            warn!(kid = %k.key_id, error = %e, "malformed public key in bundle; left out");
                            None
                        }
                    })
                    .collect())
            }
            Source::WorkloadApi {
                client,
                trust_domain,
            } => {
                let bundles = client
                    .fetch_jwt_bundles()
                    .await
                    .map_err(|e| SourceError::WorkloadApi(Box::new(e)))?;
                let bundle =
                    bundles
                        .get(trust_domain.name())
                        .ok_or_else(|| SourceError::NoBundle {
                            trust_domain: trust_domain.name().to_owned(),
                        })?;
                Ok(authorities(bundle))
            }
            Source::File { path, trust_domain } => {
                let (path, td) = (path.clone(), trust_domain.clone());
                let bundle = tokio::task::spawn_blocking(move || read_bundle_file(&path, td))
                    .await
                    .map_err(SourceError::FileTask)??;
                Ok(authorities(&bundle))
            }
        }
    }
}

/// The JWT authorities of a bundle, ordered by key ID (a bundle keeps no order).
fn authorities(bundle: &Bundle) -> Vec<Authority> {
    let mut out: Vec<Authority> = bundle
        .jwt()
        .authorities()
        .map(|(kid, key)| Authority {
            kid: kid.to_owned(),
            key: key.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.kid.cmp(&b.kid));
    out
}

/// The name bundle files are read under: the file does not say its trust domain, and only
/// its JWT authorities are used.
const FILE_TRUST_DOMAIN: &str = "bundle-file.invalid";

/// Reads a SPIFFE bundle document (a JWK Set).
fn read_bundle_file(path: &Path, td: TrustDomain) -> Result<Bundle, SourceError> {
    let json = spiffe_fs::read_bounded(path, MAX_BUNDLE_FILE).map_err(SourceError::FileRead)?;
    Bundle::parse_json(td, &json).map_err(|source| SourceError::FileParse {
        path: path.to_owned(),
        source,
    })
}

/// Polls `source` every `interval` until `shutdown` turns true, publishing into `store`.
pub(crate) async fn poll(
    source: Source,
    store: KeyStore,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let span = info_span!("key_source", source = source.kind(), interval = ?interval);
    async move {
        debug!("polling started");
        loop {
            match tokio::time::timeout(FETCH_TIMEOUT, source.fetch()).await {
                Ok(Ok(authorities)) => {
                    let count = authorities.len();
                    let kids: Vec<String> = authorities.iter().map(|a| a.kid.clone()).collect();
                    if store.update(authorities) {
                        info!(keys = count, kids = ?kids, "key set changed");
                    }
                }
                Ok(Err(e)) => warn!(error = %e, "failed to fetch the JWT authorities"),
                Err(_) => warn!(
                    error = %SourceError::Timeout(FETCH_TIMEOUT),
                    "failed to fetch the JWT authorities"
                ),
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait_for(|s| *s) => break,
            }
        }
        debug!("polling done");
    }
    .instrument(span)
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    #[tokio::test]
    async fn a_bundle_file_gives_its_jwt_authorities() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bundle.json");
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let public = PublicKey::from_spki_der(&key.subject_public_key_info()).unwrap();
        let td = TrustDomain::parse("example.org").unwrap();
        let mut bundle = Bundle::new(td);
        bundle
            .jwt_mut()
            .add_authority("kid-1".to_owned(), public.clone())
            .unwrap();
        std::fs::write(&path, bundle.to_json()).unwrap();
        let source = Source::new(&SourceConfig::File {
            path: path.clone(),
            poll: Duration::from_secs(1),
        })
        .unwrap();
        let got = source.fetch().await.unwrap();
        assert_eq!(
            got,
            vec![Authority {
                kid: "kid-1".into(),
                key: public
            }]
        );
        std::fs::write(&path, "{\"keys\": 1}").unwrap();
        let e = source.fetch().await.err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("is not a SPIFFE bundle")));
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            source.fetch().await,
            Err(SourceError::FileRead(_))
        ));
    }

    #[tokio::test]
    async fn an_absent_server_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let source = Source::new(&SourceConfig::ServerApi {
            socket: dir.path().join("none.sock"),
            poll: Duration::from_secs(1),
        })
        .unwrap();
        let e = source.fetch().await.err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("GetBundle on the server API failed")));
    }
}
