//! [`X509Source`]: the workload's X509-SVIDs and X.509 bundles, following rotation.

use std::sync::Arc;
use std::time::Duration;

use spiffe_core::tls::MtlsConfig;
use spiffe_core::{
    Authorizer, BundleSet, BundleSource, JwtBundle, SourceError, SvidSource, TrustDomain,
    X509Bundle, X509Svid,
};

use super::supervisor::{self, Feed, Published, Shared, SourceClosed, StartError, Updates};
use super::{Options, SvidPicker};
use crate::client::{Backoff, ClientError, Endpoint, WorkloadApiClient, X509Context};

/// The workload's X509-SVIDs and X.509 bundles, kept current by a `FetchX509SVID` stream that a
/// background task holds open (reconnecting with backoff when it breaks).
///
/// It is an [`SvidSource`] and a [`BundleSource`]: an [`MtlsConfig`] built on it once presents
/// the newest SVID and trusts the newest bundles at every handshake, with no rebuild. Each read
/// is an `Arc` snapshot. When the server answers PermissionDenied, the SVIDs are withdrawn (the
/// source has none until the server gives them again), as SPIFFE_Workload_API.md 5.2.1 asks.
///
/// Handles are cheap clones sharing one task; the task stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct X509Source {
    shared: Arc<Shared<X509Context>>,
    picker: SvidPicker,
}

/// Builds an [`X509Source`].
#[derive(Debug, Default)]
pub struct X509SourceBuilder {
    options: Options,
    picker: SvidPicker,
}

impl X509SourceBuilder {
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

    /// How long [`X509SourceBuilder::build`] waits for the first update (30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// The reconnection backoff ([`Backoff::default`] by default).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.options.backoff = backoff;
        self
    }

    /// Which SVID to present ([`SvidPicker::Default`], the first, by default).
    pub fn picker(mut self, picker: SvidPicker) -> Self {
        self.picker = picker;
        self
    }

    /// Starts the source and waits for its first update.
    ///
    /// # Errors
    ///
    /// [`StartError`] if the endpoint cannot be reached or refuses the caller, or no first
    /// update arrives within the start timeout.
    pub async fn build(self) -> Result<X509Source, StartError> {
        let client = self.options.client()?;
        let feed = Feed {
            what: "X.509 context",
            rpc: "FetchX509SVID",
            open: Arc::new(|client: WorkloadApiClient| {
                Box::pin(async move { client.stream_x509_contexts().await })
            }),
            same: X509Context::same_as,
        };
        let shared =
            supervisor::start(client, feed, self.options.backoff, self.options.timeout).await?;
        Ok(X509Source {
            shared: Arc::new(shared),
            picker: self.picker,
        })
    }
}

impl X509Source {
    /// A source on `SPIFFE_ENDPOINT_SOCKET` with the defaults; waits for the first update.
    ///
    /// # Errors
    ///
    /// As [`X509SourceBuilder::build`]; also if `SPIFFE_ENDPOINT_SOCKET` is unset or invalid.
    pub async fn new() -> Result<Self, StartError> {
        Self::builder().build().await
    }

    /// A builder.
    pub fn builder() -> X509SourceBuilder {
        X509SourceBuilder::default()
    }

    /// Another handle on the same stream that picks differently.
    pub fn with_picker(&self, picker: SvidPicker) -> Self {
        X509Source {
            shared: Arc::clone(&self.shared),
            picker,
        }
    }

    /// The latest X.509 context, unless withdrawn.
    pub fn context(&self) -> Option<Arc<X509Context>> {
        self.shared.rx.borrow().ready().cloned()
    }

    /// The SVID the picker chooses now.
    ///
    /// # Errors
    ///
    /// [`SourceError`] if no SVID is held (yet, or any more) or none matches the picker.
    pub fn svid(&self) -> Result<Arc<X509Svid>, SourceError> {
        match &*self.shared.rx.borrow() {
            Published::Ready(context) => self.picker.pick(&context.svids),
            Published::Pending => Err(SourceError::NoSvid("no X.509 context received yet".into())),
            Published::Withdrawn => Err(SourceError::NoSvid(
                "the Workload API withdrew this workload's SVIDs (PermissionDenied)".into(),
            )),
            Published::Failed(_) => Err(SourceError::Closed),
        }
    }

    /// The X.509 bundles now (empty when withdrawn).
    pub fn bundles(&self) -> BundleSet {
        self.context()
            .map(|c| c.bundles.clone())
            .unwrap_or_default()
    }

    /// Notifications of changes (only real ones: an update equal to the current context is not
    /// one).
    pub fn updates(&self) -> Updates<X509Context> {
        Updates::new(self.shared.rx.clone())
    }

    /// Waits for the next change.
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

    /// The endpoint followed.
    pub fn endpoint(&self) -> &str {
        &self.shared.endpoint
    }

    /// An mTLS configuration presenting this source's SVID, trusting its bundles, admitting
    /// what `authorizer` admits. It follows rotation by itself.
    pub fn mtls_config(&self, authorizer: Arc<dyn Authorizer>) -> MtlsConfig {
        MtlsConfig::new(Arc::new(self.clone()), Arc::new(self.clone()), authorizer)
    }
}

impl SvidSource for X509Source {
    fn x509_svid(&self) -> Result<Arc<X509Svid>, SourceError> {
        self.svid()
    }
}

impl BundleSource for X509Source {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        self.shared
            .rx
            .borrow()
            .ready()
            .and_then(|c| c.bundles.get(trust_domain.name()).map(|b| b.x509_shared()))
    }

    /// An X.509 source trusts no JWT keys.
    fn jwt_bundle(&self, _: &TrustDomain) -> Option<Arc<JwtBundle>> {
        None
    }
}

impl Options {
    pub(crate) fn client(&self) -> Result<WorkloadApiClient, ClientError> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let endpoint = match (&self.endpoint, &self.address) {
            (Some(endpoint), _) => endpoint.clone(),
            (None, Some(address)) => Endpoint::parse(address)?,
            (None, None) => crate::client::endpoint_from_env()?,
        };
        WorkloadApiClient::connect_lazy(endpoint)
    }
}
