//! [`JwtSource`]: JWT bundles that follow the Workload API, and JWT-SVIDs on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spiffe_core::jwt::Validation;
use spiffe_core::{
    BundleSet, BundleSource, JwtBundle, JwtError, JwtSvid, SpiffeId, TrustDomain, X509Bundle,
};

use super::Options;
use super::supervisor::{self, Feed, Shared, SourceClosed, StartError, Updates};
use crate::client::{Backoff, ClientError, Endpoint, WorkloadApiClient};

type CacheKey = (Vec<String>, Option<SpiffeId>);

/// JWT bundles kept current by a `FetchJWTBundles` stream held open in the background, and
/// JWT-SVIDs fetched when asked (and reused until half their lifetime has passed).
///
/// It is a [`BundleSource`] of JWT keys, so `JwtSvid::validate` and the bearer helpers of
/// [`crate::http`] can validate tokens locally. Handles are cheap clones sharing one task; the
/// task stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct JwtSource {
    shared: Arc<Shared<BundleSet>>,
    client: WorkloadApiClient,
    spiffe_id: Option<SpiffeId>,
    cache: Arc<Mutex<HashMap<CacheKey, JwtSvid>>>,
}

/// Builds a [`JwtSource`].
#[derive(Debug, Default)]
pub struct JwtSourceBuilder {
    options: Options,
    spiffe_id: Option<SpiffeId>,
}

impl JwtSourceBuilder {
    /// The endpoint address (`unix:///path`, ...); `SPIFFE_ENDPOINT_SOCKET` if not given.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.options.address = Some(address.into());
        self
    }

    /// The endpoint.
    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.options.endpoint = Some(endpoint);
        self
    }

    /// An existing client (its connection is shared).
    pub fn client(mut self, client: WorkloadApiClient) -> Self {
        self.options.client = Some(client);
        self
    }

    /// How long [`JwtSourceBuilder::build`] waits for the first bundles (30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The reconnection backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.options.backoff = backoff;
        self
    }

    /// Fetch JWT-SVIDs for this identity (by default: the default identity).
    pub fn spiffe_id(mut self, spiffe_id: SpiffeId) -> Self {
        self.spiffe_id = Some(spiffe_id);
        self
    }

    /// Starts the source and waits for the first JWT bundles.
    ///
    /// # Errors
    ///
    /// [`StartError`] if the endpoint cannot be reached or refuses the caller, or no first
    /// update arrives within the start timeout.
    pub async fn build(self) -> Result<JwtSource, StartError> {
        let client = self.options.client()?;
        let feed = Feed {
            what: "JWT bundles",
            rpc: "FetchJWTBundles",
            open: Arc::new(|client: WorkloadApiClient| {
                Box::pin(async move { client.stream_jwt_bundles().await })
            }),
            same: |a: &BundleSet, b: &BundleSet| a == b,
        };
        let shared = supervisor::start(
            client.clone(),
            feed,
            self.options.backoff,
            self.options.timeout,
        )
        .await?;
        Ok(JwtSource {
            shared: Arc::new(shared),
            client,
            spiffe_id: self.spiffe_id,
            cache: Arc::default(),
        })
    }
}

impl JwtSource {
    /// A source on `SPIFFE_ENDPOINT_SOCKET` with the defaults; waits for the first bundles.
    ///
    /// # Errors
    ///
    /// As [`JwtSourceBuilder::build`]; also if `SPIFFE_ENDPOINT_SOCKET` is unset or invalid.
    pub async fn new() -> Result<Self, StartError> {
        Self::builder().build().await
    }

    /// A builder.
    pub fn builder() -> JwtSourceBuilder {
        JwtSourceBuilder::default()
    }

    /// A JWT-SVID for `audience`, reused while less than half of its lifetime has passed.
    ///
    /// # Errors
    ///
    /// As [`WorkloadApiClient::fetch_jwt_svid`].
    pub async fn fetch_jwt_svid<A: AsRef<str>>(
        &self,
        audience: &[A],
    ) -> Result<JwtSvid, ClientError> {
        let mut key: Vec<String> = audience.iter().map(|a| a.as_ref().to_owned()).collect();
        key.sort();
        key.dedup();
        let key = (key, self.spiffe_id.clone());
        let now = unix_now();
        if let Some(svid) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .filter(|s| now < refresh_at(s))
        {
            return Ok(svid.clone());
        }
        let svid = self
            .client
            .fetch_jwt_svid(audience, self.spiffe_id.as_ref())
            .await?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|_, s| unix_now() < refresh_at(s));
        cache.insert(key, svid.clone());
        Ok(svid)
    }

    /// JWT-SVIDs for `audience`, one per identity (never cached).
    ///
    /// # Errors
    ///
    /// As [`WorkloadApiClient::fetch_jwt_svids`].
    pub async fn fetch_jwt_svids<A: AsRef<str>>(
        &self,
        audience: &[A],
    ) -> Result<Vec<JwtSvid>, ClientError> {
        self.client
            .fetch_jwt_svids(audience, self.spiffe_id.as_ref())
            .await
    }

    /// Validates `token` for `audience` against the JWT bundles held now.
    ///
    /// # Errors
    ///
    /// [`JwtError`] if the token does not parse, is not signed by a key of its trust domain's
    /// bundle, has expired, or is not for `audience`.
    pub fn validate(&self, token: &str, audience: &str) -> Result<JwtSvid, JwtError> {
        JwtSvid::validate(token, self, &Validation::new(&[audience]))
    }

    /// The JWT bundles now (empty when withdrawn).
    pub fn bundles(&self) -> Arc<BundleSet> {
        self.shared.rx.borrow().ready().cloned().unwrap_or_default()
    }

    /// Notifications of changes of the bundles (only real ones).
    pub fn updates(&self) -> Updates<BundleSet> {
        Updates::new(self.shared.rx.clone())
    }

    /// Waits for the next change of the bundles.
    ///
    /// # Errors
    ///
    /// [`SourceClosed`] once the source has stopped.
    pub async fn updated(&self) -> Result<(), SourceClosed> {
        self.updates().changed().await
    }

    /// The last error the background task met (it keeps retrying), if any.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error()
    }

    /// The client (to call `ValidateJWTSVID`, say).
    pub fn client(&self) -> &WorkloadApiClient {
        &self.client
    }
}

impl BundleSource for JwtSource {
    /// A JWT source trusts no X.509 authorities.
    fn x509_bundle(&self, _: &TrustDomain) -> Option<Arc<X509Bundle>> {
        None
    }

    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.shared
            .rx
            .borrow()
            .ready()
            .and_then(|set| set.get(trust_domain.name()).map(|b| b.jwt_shared()))
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// When a cached token is fetched anew: at half its lifetime (or 30 s before `exp` when `iat`
/// is missing).
fn refresh_at(svid: &JwtSvid) -> i64 {
    let exp = svid.expiry_unix();
    match svid.issued_at_unix() {
        Some(iat) if iat < exp => iat + (exp - iat) / 2,
        _ => exp - 30,
    }
}
