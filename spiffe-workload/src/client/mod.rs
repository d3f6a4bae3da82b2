//! The Workload API client: [`WorkloadApiClient`].
//!
//! Every call carries the security header `workload.spiffe.io: true`. Results are typed:
//! [`X509Context`] (SVIDs and bundles), [`BundleSet`]s, [`JwtSvid`]s, [`ValidatedJwt`].
//! Responses with a mandatory field left empty are refused ([`ClientError::MissingField`]).
//! Retrying is the caller's choice; [`ClientError::is_retryable`] and [`Backoff`] implement the
//! standard's rules, and the sources ([`crate::source`]) use them.

mod convert;
mod endpoint;
mod error;

pub use endpoint::{Endpoint, EndpointError};
pub use error::ClientError;
/// Exponential backoff with jitter for reconnecting (the workspace's one, from
/// [`spiffe_core::backoff`]).
pub use spiffe_core::backoff::Backoff;

use std::sync::Arc;

use futures::{Stream, StreamExt as _};
use hyper_util::rt::TokioIo;
use spiffe_core::{BundleSet, JwtSvid, SpiffeId, X509Svid};
use spiffe_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use spiffe_proto::workload::{
    JwtBundlesRequest, JwtsvidRequest, ValidateJwtsvidRequest, X509BundlesRequest, X509svidRequest,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tracing::Instrument as _;

use crate::security_header::AddSecurityHeader;

/// The X.509 material of a `FetchX509SVID` message: the SVIDs (the default one first) and the
/// bundles to verify peers with (each SVID's own trust domain and the federated ones).
#[derive(Debug, Clone)]
pub struct X509Context {
    /// The SVIDs, in the server's order; the first is the default identity.
    pub svids: Vec<Arc<X509Svid>>,
    /// The X.509 bundles by trust domain (their JWT parts are empty).
    pub bundles: BundleSet,
}

impl X509Context {
    /// The default SVID (the first).
    pub fn default_svid(&self) -> Option<&Arc<X509Svid>> {
        self.svids.first()
    }

    /// Whether two contexts hold the same SVIDs (chain, key and hint, in order) and bundles.
    pub fn same_as(&self, other: &X509Context) -> bool {
        self.bundles == other.bundles
            && self.svids.len() == other.svids.len()
            && self
                .svids
                .iter()
                .zip(&other.svids)
                .all(|(a, b)| same_svid(a, b))
    }
}

fn same_svid(a: &X509Svid, b: &X509Svid) -> bool {
    a.chain() == b.chain()
        && a.hint() == b.hint()
        && a.private_key().pkcs8_der() == b.private_key().pkcs8_der()
}

/// The answer of `ValidateJWTSVID`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedJwt {
    /// The token's subject.
    pub spiffe_id: SpiffeId,
    /// Every claim of the token.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// A stream of typed updates.
pub type UpdateStream<T> =
    std::pin::Pin<Box<dyn Stream<Item = Result<T, ClientError>> + Send + 'static>>;

type Grpc = SpiffeWorkloadApiClient<InterceptedService<Channel, AddSecurityHeader>>;

/// A client of the SPIFFE Workload API. Cloning is cheap and clones share the connection,
/// which reconnects by itself when the server comes back.
#[derive(Debug, Clone)]
pub struct WorkloadApiClient {
    grpc: Grpc,
    endpoint: Endpoint,
}

impl WorkloadApiClient {
    /// Connects to `address` (`unix:///path`, `unix:/path`, a plain absolute path, or
    /// `tcp://ip:port`).
    ///
    /// # Errors
    ///
    /// [`ClientError::Endpoint`] if the address does not parse, [`ClientError::Connect`] if the
    /// endpoint cannot be reached.
    pub async fn connect(address: &str) -> Result<Self, ClientError> {
        Self::connect_endpoint(Endpoint::parse(address)?).await
    }

    /// Connects to the endpoint named by `SPIFFE_ENDPOINT_SOCKET`.
    ///
    /// # Errors
    ///
    /// [`ClientError::EnvNotSet`] if `SPIFFE_ENDPOINT_SOCKET` is not set, else as
    /// [`WorkloadApiClient::connect`].
    pub async fn from_env() -> Result<Self, ClientError> {
        Self::connect_endpoint(endpoint_from_env()?).await
    }

    /// Connects to an endpoint.
    ///
    /// # Errors
    ///
    /// [`ClientError::Connect`] if the endpoint cannot be reached.
    pub async fn connect_endpoint(endpoint: Endpoint) -> Result<Self, ClientError> {
        let span = tracing::debug_span!("workload_api_connect", endpoint = %endpoint);
        let channel = async { channel(&endpoint).await }.instrument(span).await?;
        Ok(WorkloadApiClient {
            grpc: SpiffeWorkloadApiClient::with_interceptor(channel, AddSecurityHeader),
            endpoint,
        })
    }

    /// A client that dials only when a call needs the connection (and redials after the
    /// server restarts); it fails at the first call, not here, if nobody listens.
    ///
    /// # Errors
    ///
    /// [`ClientError::Connect`] if a TCP endpoint makes no valid URI.
    pub fn connect_lazy(endpoint: Endpoint) -> Result<Self, ClientError> {
        let channel = lazy_channel(&endpoint)?;
        Ok(WorkloadApiClient {
            grpc: SpiffeWorkloadApiClient::with_interceptor(channel, AddSecurityHeader),
            endpoint,
        })
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The first `FetchX509SVID` message.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] with the server's code (PermissionDenied: no identity for the
    /// caller), [`ClientError::EmptyStream`] if the stream ends before its first message, or an
    /// error naming the field of a response that does not convert.
    pub async fn fetch_x509_context(&self) -> Result<X509Context, ClientError> {
        first(self.stream_x509_contexts().await?, "FetchX509SVID").await
    }

    /// The default X509-SVID (the first of the first `FetchX509SVID` message).
    ///
    /// # Errors
    ///
    /// As [`WorkloadApiClient::fetch_x509_context`]; also an error if the message holds no SVID.
    pub async fn fetch_x509_svid(&self) -> Result<Arc<X509Svid>, ClientError> {
        let context = self.fetch_x509_context().await?;
        context
            .svids
            .into_iter()
            .next()
            .ok_or(ClientError::MissingField {
                field: "X509SVIDResponse.svids",
            })
    }

    /// Opens `FetchX509SVID`: every message, the first at once.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the server refuses the call. Later messages that do not
    /// convert arrive as errors in the stream.
    pub async fn stream_x509_contexts(&self) -> Result<UpdateStream<X509Context>, ClientError> {
        const RPC: &str = "FetchX509SVID";
        let stream = self
            .grpc
            .clone()
            .fetch_x509svid(X509svidRequest {})
            .await
            .map_err(|s| ClientError::status(RPC, s))?
            .into_inner();
        Ok(Box::pin(stream.map(|m| {
            m.map_err(|s| ClientError::status(RPC, s))
                .and_then(|m| convert::x509_context(&m))
        })))
    }

    /// The first `FetchX509Bundles` message.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] with the server's code (PermissionDenied: no identity for the
    /// caller), [`ClientError::EmptyStream`] if the stream ends before its first message, or an
    /// error naming the field of a response that does not convert.
    pub async fn fetch_x509_bundles(&self) -> Result<BundleSet, ClientError> {
        first(self.stream_x509_bundles().await?, "FetchX509Bundles").await
    }

    /// Opens `FetchX509Bundles`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the server refuses the call. Later messages that do not
    /// convert arrive as errors in the stream.
    pub async fn stream_x509_bundles(&self) -> Result<UpdateStream<BundleSet>, ClientError> {
        const RPC: &str = "FetchX509Bundles";
        let stream = self
            .grpc
            .clone()
            .fetch_x509_bundles(X509BundlesRequest {})
            .await
            .map_err(|s| ClientError::status(RPC, s))?
            .into_inner();
        Ok(Box::pin(stream.map(|m| {
            m.map_err(|s| ClientError::status(RPC, s))
                .and_then(|m| convert::x509_bundles(&m))
        })))
    }

    /// The first `FetchJWTBundles` message.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] with the server's code (PermissionDenied: no identity for the
    /// caller), [`ClientError::EmptyStream`] if the stream ends before its first message, or an
    /// error naming the field of a response that does not convert.
    pub async fn fetch_jwt_bundles(&self) -> Result<BundleSet, ClientError> {
        first(self.stream_jwt_bundles().await?, "FetchJWTBundles").await
    }

    /// Opens `FetchJWTBundles`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] if the server refuses the call. Later messages that do not
    /// convert arrive as errors in the stream.
    pub async fn stream_jwt_bundles(&self) -> Result<UpdateStream<BundleSet>, ClientError> {
        const RPC: &str = "FetchJWTBundles";
        let stream = self
            .grpc
            .clone()
            .fetch_jwt_bundles(JwtBundlesRequest {})
            .await
            .map_err(|s| ClientError::status(RPC, s))?
            .into_inner();
        Ok(Box::pin(stream.map(|m| {
            m.map_err(|s| ClientError::status(RPC, s))
                .and_then(|m| convert::jwt_bundles(&m))
        })))
    }

    /// JWT-SVIDs for `audience` (at least one): one per identity, or only `spiffe_id`'s.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidRequest`] without an audience, [`ClientError::Status`] if the server
    /// refuses, [`ClientError::InvalidJwtSvid`] if a returned token does not parse.
    pub async fn fetch_jwt_svids<A: AsRef<str>>(
        &self,
        audience: &[A],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<Vec<JwtSvid>, ClientError> {
        const RPC: &str = "FetchJWTSVID";
        if audience.is_empty() {
            return Err(ClientError::InvalidRequest(
                "FetchJWTSVID needs at least one audience".into(),
            ));
        }
        let request = JwtsvidRequest {
            audience: audience.iter().map(|a| a.as_ref().to_owned()).collect(),
            spiffe_id: spiffe_id.map(ToString::to_string).unwrap_or_default(),
        };
        let response = self
            .grpc
            .clone()
            .fetch_jwtsvid(request)
            .await
            .map_err(|s| ClientError::status(RPC, s))?
            .into_inner();
        convert::jwt_svids(&response)
    }

    /// The first JWT-SVID for `audience` (the default identity's, or `spiffe_id`'s).
    ///
    /// # Errors
    ///
    /// As [`WorkloadApiClient::fetch_jwt_svids`]; also an error if the server returns none.
    pub async fn fetch_jwt_svid<A: AsRef<str>>(
        &self,
        audience: &[A],
        spiffe_id: Option<&SpiffeId>,
    ) -> Result<JwtSvid, ClientError> {
        self.fetch_jwt_svids(audience, spiffe_id)
            .await?
            .into_iter()
            .next()
            .ok_or(ClientError::MissingField {
                field: "JWTSVIDResponse.svids",
            })
    }

    /// Has the server validate `token` for `audience`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Status`] (InvalidArgument) if the server finds the token invalid for
    /// `audience`, or an error naming the field of a response that does not convert.
    pub async fn validate_jwt_svid(
        &self,
        audience: &str,
        token: &str,
    ) -> Result<ValidatedJwt, ClientError> {
        const RPC: &str = "ValidateJWTSVID";
        let response = self
            .grpc
            .clone()
            .validate_jwtsvid(ValidateJwtsvidRequest {
                audience: audience.to_owned(),
                svid: token.to_owned(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, s))?
            .into_inner();
        convert::validated(response)
    }
}

/// The endpoint named by `SPIFFE_ENDPOINT_SOCKET`.
///
/// # Errors
///
/// [`ClientError::EnvNotSet`] if the variable is not set, [`ClientError::Endpoint`] if its
/// value does not parse.
pub fn endpoint_from_env() -> Result<Endpoint, ClientError> {
    let value = std::env::var(crate::ENDPOINT_ENV).map_err(|_| ClientError::EnvNotSet)?;
    Ok(Endpoint::parse(&value)?)
}

async fn first<T>(mut stream: UpdateStream<T>, rpc: &'static str) -> Result<T, ClientError> {
    stream
        .next()
        .await
        .unwrap_or(Err(ClientError::EmptyStream { rpc }))
}

/// Dials a UNIX socket (tonic's connector for a UNIX endpoint).
#[derive(Clone)]
struct UnixConnector(Arc<std::path::Path>);

impl tower::Service<http::Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = futures::future::BoxFuture<'static, std::io::Result<Self::Response>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let path = Arc::clone(&self.0);
        Box::pin(async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(&*path).await?)) })
    }
}

/// A gRPC channel that connects on first use.
fn lazy_channel(endpoint: &Endpoint) -> Result<Channel, ClientError> {
    let connect_err = |source| ClientError::Connect {
        endpoint: endpoint.to_string(),
        source,
    };
    Ok(match endpoint {
        Endpoint::Unix(path) => tonic::transport::Endpoint::from_static("http://localhost")
            .connect_with_connector_lazy(UnixConnector(Arc::from(path.as_path()))),
        Endpoint::Tcp(addr) => tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(connect_err)?
            .connect_lazy(),
    })
}

/// A gRPC channel to the endpoint. The URI given to tonic for a UNIX socket is a placeholder;
/// the connector dials the socket.
async fn channel(endpoint: &Endpoint) -> Result<Channel, ClientError> {
    let connect_err = |source| ClientError::Connect {
        endpoint: endpoint.to_string(),
        source,
    };
    match endpoint {
        Endpoint::Unix(path) => tonic::transport::Endpoint::from_static("http://localhost")
            .connect_with_connector(UnixConnector(Arc::from(path.as_path())))
            .await
            .map_err(connect_err),
        Endpoint::Tcp(addr) => tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .map_err(connect_err)?
            .connect()
            .await
            .map_err(connect_err),
    }
}
