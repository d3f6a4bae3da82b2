//! One fetch of a foreign bundle endpoint: an HTTPS GET of the endpoint URL, the server
//! authenticated by the relationship's profile (SPIFFE_Federation.md 5.2.1.4 and 5.2.2.4),
//! `200 OK` required, the body at most [`MAX_BUNDLE_SIZE`] bytes and parsed as the SPIFFE bundle
//! of the relationship's trust domain. The whole exchange is bounded by one timeout. Up to
//! [`MAX_REDIRECTS`] redirects are followed to valid bundle endpoint URLs, each authenticated
//! as the configured URL is; the configured URL is used again at every refresh.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use spiffe_core::tls::SpiffeServerCertVerifier;
use spiffe_core::{Bundle, BundleError, BundleSet, SpiffeId, TrustDomain, authorize};
use thiserror::Error;
use tokio::net::TcpStream;
use tracing::debug;

use super::EndpointUrl;

/// The largest bundle document read from an endpoint, in bytes (a bundle with a hundred RSA-4096
/// authorities fits several times over).
pub const MAX_BUNDLE_SIZE: usize = 1024 * 1024;

/// The most redirects one fetch follows.
pub const MAX_REDIRECTS: usize = 3;

/// What one GET found.
enum Step {
    Bundle(Bundle),
    Redirect(EndpointUrl),
}

/// The URL a redirect from `from` points to: an absolute `https` URL or an absolute path on the
/// same host, checked as a bundle endpoint URL (SPIFFE_Federation.md 5.2.1.4, 5.2.2.4).
fn redirect_target(
    from: &EndpointUrl,
    location: &header::HeaderValue,
) -> Result<EndpointUrl, FetchError> {
    let refuse = |reason: String| FetchError::Redirect {
        url: from.to_string(),
        reason,
    };
    let location = location
        .to_str()
        .map_err(|_| refuse("Location is not text".into()))?;
    let absolute = if location.starts_with('/') && !location.starts_with("//") {
        let authority = from.uri().authority().map_or("", |a| a.as_str());
        format!("https://{authority}{location}")
    } else {
        location.to_owned()
    };
    EndpointUrl::parse(&absolute).map_err(|e| refuse(format!("to a URL that is refused: {e}")))
}

/// Why a fetch failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// `https_spiffe` needs the bundle of the endpoint SPIFFE ID's trust domain, and the server
    /// has none (an operator sets it first, `bundle set`).
    #[error(
        "can't perform SPIFFE authentication of {endpoint_spiffe_id}: no bundle of trust domain {trust_domain} is stored"
    )]
    NoEndpointBundle {
        /// The endpoint's SPIFFE ID.
        endpoint_spiffe_id: SpiffeId,
        /// Its trust domain.
        trust_domain: TrustDomain,
    },
    /// The URL's host is not a DNS name or IP address.
    #[error("bundle endpoint {url}: host {host:?} is not a DNS name or IP address")]
    Host {
        /// The URL.
        url: String,
        /// The host.
        host: String,
    },
    /// TLS could not be configured.
    #[error("bundle endpoint TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    /// The TCP connection failed.
    #[error("bundle endpoint {url}: connect: {source}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake failed (the server's certificate refused, for one).
    #[error("bundle endpoint {url}: TLS handshake: {source}")]
    Handshake {
        /// The URL.
        url: String,
        /// Why (a refused certificate names the peer and the rule).
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("bundle endpoint {url}: HTTP: {source}")]
    Http {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: hyper::Error,
    },
    /// The request could not be built.
    #[error("bundle endpoint {url}: request: {source}")]
    Request {
        /// The URL.
        url: String,
        /// Why.
        #[source]
        source: http::Error,
    },
    /// The answer is not `200 OK`.
    #[error("bundle endpoint {url}: unexpected status {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: StatusCode,
    },
    /// A redirect that cannot be followed (a target that is not a valid bundle endpoint URL,
    /// or too many).
    #[error("bundle endpoint {url}: redirect: {reason}")]
    Redirect {
        /// The URL configured.
        url: String,
        /// Why.
        reason: String,
    },
    /// The body is larger than [`MAX_BUNDLE_SIZE`] or could not be read.
    #[error("bundle endpoint {url}: body: {reason}")]
    Body {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The body is not a SPIFFE bundle.
    #[error("bundle endpoint {url}: bundle of {trust_domain}: {source}")]
    Bundle {
        /// The URL.
        url: String,
        /// The trust domain it was fetched for.
        trust_domain: TrustDomain,
        /// What is wrong with it.
        #[source]
        source: BundleError,
    },
    /// The whole fetch took longer than allowed.
    #[error("bundle endpoint {url}: no bundle within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The limit.
        timeout: Duration,
    },
}

/// How the endpoint is authenticated for one fetch.
#[derive(Debug, Clone)]
pub enum EndpointAuth {
    /// `https_web`: the fetcher's Web PKI roots and the URL's host.
    Web,
    /// `https_spiffe`: an X509-SVID for `endpoint_spiffe_id`, verified against `bundle` (the
    /// latest bundle of the ID's trust domain).
    Spiffe {
        /// The SPIFFE ID the endpoint must present.
        endpoint_spiffe_id: SpiffeId,
        /// The bundle its X509-SVID must chain to.
        bundle: Arc<Bundle>,
    },
}

/// Fetches bundles from bundle endpoints.
#[derive(Debug, Clone)]
pub struct BundleFetcher {
    web_roots: Arc<RootCertStore>,
    timeout: Duration,
}

impl BundleFetcher {
    /// A fetcher checking `https_web` endpoints against `web_roots` (the Mozilla root
    /// program's when `None`), each fetch bounded by `timeout`.
    pub fn new(web_roots: Option<Arc<RootCertStore>>, timeout: Duration) -> Self {
        let web_roots = web_roots.unwrap_or_else(|| {
            Arc::new(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            })
        });
        BundleFetcher { web_roots, timeout }
    }

    fn client_config(&self, auth: &EndpointAuth) -> Result<ClientConfig, FetchError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(FetchError::Tls)?;
        let mut config = match auth {
            EndpointAuth::Web => builder
                .with_root_certificates(Arc::clone(&self.web_roots))
                .with_no_client_auth(),
            EndpointAuth::Spiffe {
                endpoint_spiffe_id,
                bundle,
            } => {
                let mut set = BundleSet::new();
                set.insert_shared(Arc::clone(bundle));
                let verifier = SpiffeServerCertVerifier::new(
                    Arc::new(set),
                    Arc::new(authorize::id(endpoint_spiffe_id.clone())),
                    &provider,
                );
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(verifier))
                    .with_no_client_auth()
            }
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// Fetches the bundle of `trust_domain` from `url`, authenticating the endpoint by `auth`.
    ///
    /// # Errors
    ///
    /// A [`FetchError`] naming the step that failed: connection, handshake (a certificate that
    /// does not verify, or names another SPIFFE ID), HTTP, a status other than 200, a body over
    /// [`MAX_BUNDLE_SIZE`], a document that is not a SPIFFE bundle, or the timeout.
    pub async fn fetch(
        &self,
        trust_domain: &TrustDomain,
        url: &EndpointUrl,
        auth: &EndpointAuth,
    ) -> Result<Bundle, FetchError> {
        tokio::time::timeout(self.timeout, self.fetch_unbounded(trust_domain, url, auth))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::Timeout {
                    url: url.to_string(),
                    timeout: self.timeout,
                })
            })
    }

    /// Follows at most [`MAX_REDIRECTS`] redirects, each target checked as a bundle endpoint URL
    /// and authenticated as the configured URL is (for `https_spiffe`, the same SPIFFE ID).
    async fn fetch_unbounded(
        &self,
        trust_domain: &TrustDomain,
        url: &EndpointUrl,
        auth: &EndpointAuth,
    ) -> Result<Bundle, FetchError> {
        let mut current = url.clone();
        for _ in 0..=MAX_REDIRECTS {
            match self.get_once(trust_domain, &current, auth).await? {
                Step::Bundle(b) => return Ok(b),
                Step::Redirect(next) => {
                    debug!(from = %current, to = %next, "bundle endpoint redirect followed");
                    current = next;
                }
            }
        }
        Err(FetchError::Redirect {
            url: url.to_string(),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    async fn get_once(
        &self,
        trust_domain: &TrustDomain,
        url: &EndpointUrl,
        auth: &EndpointAuth,
    ) -> Result<Step, FetchError> {
        let u = || url.to_string();
        let server_name =
            ServerName::try_from(url.host().to_owned()).map_err(|_| FetchError::Host {
                url: u(),
                host: url.host().to_owned(),
            })?;
        let config = self.client_config(auth)?;
        let tcp = TcpStream::connect((url.host(), url.port()))
            .await
            .map_err(|source| FetchError::Connect { url: u(), source })?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(server_name, tcp)
            .await
            .map_err(|source| FetchError::Handshake { url: u(), source })?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|source| FetchError::Http { url: u(), source })?;
        let driver = tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "bundle endpoint connection ended");
            }
        });
        let host = match url.uri().port_u16() {
            Some(port) => format!("{}:{port}", url.uri().host().unwrap_or_default()),
            None => url.uri().host().unwrap_or_default().to_owned(),
        };
        let request = Request::get(url.path_and_query())
            .header(header::HOST, host)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "spiffe-server")
            .body(Empty::<Bytes>::new())
            .map_err(|source| FetchError::Request { url: u(), source })?;
        let result = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|source| FetchError::Http { url: u(), source })?;
            if response.status().is_redirection()
                && let Some(location) = response.headers().get(header::LOCATION)
            {
                return redirect_target(url, location).map(Step::Redirect);
            }
            if response.status() != StatusCode::OK {
                return Err(FetchError::Status {
                    url: u(),
                    status: response.status(),
                });
            }
            let body = Limited::new(response.into_body(), MAX_BUNDLE_SIZE)
                .collect()
                .await
                .map_err(|e| FetchError::Body {
                    url: u(),
                    reason: if e.is::<http_body_util::LengthLimitError>() {
                        format!("larger than {MAX_BUNDLE_SIZE} bytes")
                    } else {
                        e.to_string()
                    },
                })?
                .to_bytes();
            // The consumer rules of X509-SVID.md 6.2: what a publisher may add is read, not
            // refused.
            Bundle::parse_json_lenient(trust_domain.clone(), &body)
                .map(Step::Bundle)
                .map_err(|source| FetchError::Bundle {
                    url: u(),
                    trust_domain: trust_domain.clone(),
                    source,
                })
        }
        .await;
        driver.abort();
        result
    }
}
