//! JWT-SVIDs as HTTP bearer tokens (RFC 6750): adding them on the client, validating them on
//! the server (locally against JWT bundles, or through the Workload API's `ValidateJWTSVID`).

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use spiffe_core::jwt::Validation;
use spiffe_core::{BundleSource, JwtError, JwtSvid, SpiffeId};
use thiserror::Error;

use super::BoxError;
use crate::client::{ClientError, WorkloadApiClient};
use crate::source::JwtSource;

/// Why a request's bearer token was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    Missing,
    /// An `Authorization` header that is not `Bearer <token>` in visible ASCII.
    #[error("Authorization header is not \"Bearer <token>\"")]
    Malformed,
    /// The token is not a valid JWT-SVID for the audience (validated locally).
    #[error("JWT-SVID refused: {0}")]
    Invalid(#[from] JwtError),
    /// The Workload API refused the token, or could not be asked.
    #[error("JWT-SVID refused by the Workload API: {0}")]
    WorkloadApi(#[from] ClientError),
    /// A token that cannot be put in a header.
    #[error("token cannot be sent as a header value")]
    Unencodable,
}

/// The identity a bearer token proved, as a request extension.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtPeer {
    /// The token's subject.
    pub spiffe_id: SpiffeId,
    /// All its claims.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The token of an `Authorization: Bearer <token>` header (scheme matched case-insensitively).
///
/// # Errors
///
/// [`BearerError::Missing`] without the header, [`BearerError::Malformed`] if it is not a
/// bearer token.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, BearerError> {
    let value = headers.get(AUTHORIZATION).ok_or(BearerError::Missing)?;
    let value = value.to_str().map_err(|_| BearerError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(BearerError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(BearerError::Malformed);
    }
    Ok(token)
}

/// Sets `Authorization: Bearer <token>` (marked sensitive, so it stays out of logs).
///
/// # Errors
///
/// [`BearerError::Unencodable`] if `token` cannot be a header value.
pub fn set_bearer(headers: &mut HeaderMap, token: &str) -> Result<(), BearerError> {
    let mut value =
        HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| BearerError::Unencodable)?;
    value.set_sensitive(true);
    headers.insert(AUTHORIZATION, value);
    Ok(())
}

/// Validates the bearer token of `headers` for `audience` against `bundles` (the JWT bundle
/// of the token's trust domain, never another's).
///
/// # Errors
///
/// As [`bearer_token`], and [`BearerError::Invalid`] if the token does not validate.
pub fn validate_bearer(
    headers: &HeaderMap,
    bundles: &dyn BundleSource,
    audience: &str,
) -> Result<JwtSvid, BearerError> {
    let token = bearer_token(headers)?;
    Ok(JwtSvid::validate(
        token,
        bundles,
        &Validation::new(&[audience]),
    )?)
}

/// Has the Workload API validate the bearer token of `headers` for `audience`
/// (SPIFFE_Workload_API.md 6.3 recommends it).
///
/// # Errors
///
/// As [`bearer_token`], and [`BearerError::WorkloadApi`] if the Workload API refuses the token
/// or cannot be reached.
pub async fn validate_bearer_remote(
    headers: &HeaderMap,
    client: &WorkloadApiClient,
    audience: &str,
) -> Result<JwtPeer, BearerError> {
    let token = bearer_token(headers)?;
    let validated = client.validate_jwt_svid(audience, token).await?;
    Ok(JwtPeer {
        spiffe_id: validated.spiffe_id,
        claims: validated.claims,
    })
}

/// Where a server validates bearer tokens.
#[derive(Clone)]
pub enum JwtValidator {
    /// Locally, against JWT bundles (a [`JwtSource`], say).
    Local(Arc<dyn BundleSource>),
    /// Through the Workload API's `ValidateJWTSVID`.
    WorkloadApi(WorkloadApiClient),
}

impl std::fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtValidator::Local(_) => f.write_str("Local(..)"),
            JwtValidator::WorkloadApi(c) => {
                f.debug_tuple("WorkloadApi").field(c.endpoint()).finish()
            }
        }
    }
}

impl JwtValidator {
    /// Validates the bearer token of `headers` for `audience`.
    ///
    /// # Errors
    ///
    /// As [`validate_bearer`] or [`validate_bearer_remote`].
    pub async fn validate(
        &self,
        headers: &HeaderMap,
        audience: &str,
    ) -> Result<JwtPeer, BearerError> {
        match self {
            JwtValidator::Local(bundles) => {
                let svid = validate_bearer(headers, &**bundles, audience)?;
                Ok(JwtPeer {
                    spiffe_id: svid.spiffe_id().clone(),
                    claims: svid.claims(),
                })
            }
            JwtValidator::WorkloadApi(client) => {
                validate_bearer_remote(headers, client, audience).await
            }
        }
    }
}

/// A tower layer that refuses requests without a valid JWT-SVID for `audience` (401 with
/// `WWW-Authenticate: Bearer error="invalid_token"`) and hands the proven identity to the
/// inner service as a [`JwtPeer`] extension.
#[derive(Debug, Clone)]
pub struct JwtAuthLayer {
    validator: JwtValidator,
    audience: Arc<str>,
}

impl JwtAuthLayer {
    /// Validates with `validator` for `audience`.
    pub fn new(validator: JwtValidator, audience: impl Into<Arc<str>>) -> Self {
        JwtAuthLayer {
            validator,
            audience: audience.into(),
        }
    }
}

impl<S> tower::Layer<S> for JwtAuthLayer {
    type Service = JwtAuth<S>;
    fn layer(&self, inner: S) -> JwtAuth<S> {
        JwtAuth {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`JwtAuthLayer`].
#[derive(Debug, Clone)]
pub struct JwtAuth<S> {
    inner: S,
    layer: JwtAuthLayer,
}

impl<S, ReqB, ResB> tower::Service<Request<ReqB>> for JwtAuth<S>
where
    S: tower::Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send,
    ReqB: Send + 'static,
    ResB: Default + Send + 'static,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response<ResB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        // The clone is not ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            match layer
                .validator
                .validate(request.headers(), &layer.audience)
                .await
            {
                Ok(peer) => {
                    tracing::debug!(spiffe_id = %peer.spiffe_id, "bearer JWT-SVID accepted");
                    request.extensions_mut().insert(peer);
                    inner.call(request).await
                }
                Err(e) => {
                    let audience = &*layer.audience;
                    tracing::info!(error = %e, audience, "bearer JWT-SVID refused");
                    Ok(unauthorized())
                }
            }
        })
    }
}

fn unauthorized<B: Default>() -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// A tower layer that adds `Authorization: Bearer <JWT-SVID>` for `audience` to every request,
/// with tokens from a [`JwtSource`] (reused until half their lifetime).
#[derive(Debug, Clone)]
pub struct BearerLayer {
    source: JwtSource,
    audience: Arc<[String]>,
}

impl BearerLayer {
    /// Tokens from `source` for `audience` (at least one).
    pub fn new(source: JwtSource, audience: impl IntoIterator<Item = impl Into<String>>) -> Self {
        BearerLayer {
            source,
            audience: audience.into_iter().map(Into::into).collect(),
        }
    }
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = Bearer<S>;
    fn layer(&self, inner: S) -> Bearer<S> {
        Bearer {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service of [`BearerLayer`].
#[derive(Debug, Clone)]
pub struct Bearer<S> {
    inner: S,
    layer: BearerLayer,
}

impl<S, B> tower::Service<Request<B>> for Bearer<S>
where
    S: tower::Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let svid = layer.source.fetch_jwt_svid(&layer.audience).await?;
            set_bearer(request.headers_mut(), svid.token())?;
            inner.call(request).await.map_err(Into::into)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_forms() {
        let mut h = HeaderMap::new();
        assert!(matches!(bearer_token(&h), Err(BearerError::Missing)));
        set_bearer(&mut h, "a.b.c").unwrap();
        assert_eq!(bearer_token(&h).unwrap(), "a.b.c");
        assert!(h[AUTHORIZATION].is_sensitive());
        for bad in ["Basic abc", "Bearer", "Bearer ", "Bearer a b"] {
            h.insert(AUTHORIZATION, HeaderValue::from_static(bad));
            assert!(
                matches!(bearer_token(&h), Err(BearerError::Malformed)),
                "{bad}"
            );
        }
        h.insert(AUTHORIZATION, HeaderValue::from_static("bearer x.y.z"));
        assert_eq!(bearer_token(&h).unwrap(), "x.y.z");
    }
}
