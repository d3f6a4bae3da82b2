//! What the Workload API server asks of the agent: [`IdentityProvider`].

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use futures::future::BoxFuture;
use spiffe_core::{BundleSource, JwtBundle, JwtSvid, SpiffeId, TrustDomain, X509Bundle, X509Svid};
use thiserror::Error;
use tokio::sync::watch;

/// Who is calling, as the kernel reports it for the connection (SO_PEERCRED), never as the
/// caller says.
#[derive(Debug, Clone)]
pub struct CallerInfo {
    /// Process ID of the process that opened the connection.
    pub pid: i32,
    /// Its user ID.
    pub uid: u32,
    /// Its group ID.
    pub gid: u32,
    /// A pidfd for the process that opened the connection, taken when it was accepted
    /// (`SO_PEERPIDFD`, or `pidfd_open` of its PID on kernels before 6.5). A provider attests
    /// `pid` only while this shows the process still running
    /// (`spiffe_attest::attest_pinned`), so a PID reused after the caller exited is never
    /// attested in its place. `None` when no pidfd could be had: a provider must then refuse,
    /// not fall back to whatever holds the PID at request time.
    pub pidfd: Option<Arc<OwnedFd>>,
}

/// Equal when pid, uid and gid are equal and both pin the same process descriptor (or none).
impl PartialEq for CallerInfo {
    fn eq(&self, other: &Self) -> bool {
        (self.pid, self.uid, self.gid) == (other.pid, other.uid, other.gid)
            && match (&self.pidfd, &other.pidfd) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Eq for CallerInfo {}

impl fmt::Display for CallerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pid={} uid={} gid={}", self.pid, self.uid, self.gid)
    }
}

/// Everything one caller holds at one moment: its X509-SVIDs and the bundles it trusts.
///
/// The server sends it as a whole (SPIFFE_Workload_API.md 4.3): every message of every stream
/// is made from one snapshot, and anything absent from a newer snapshot is withdrawn.
#[derive(Debug, Clone, Default)]
pub struct WorkloadState {
    /// The caller's X509-SVIDs, the default one first (SPIFFE_Workload_API.md 8). A hint, when
    /// set with [`X509Svid::with_hint`], must be unique; a later SVID repeating an earlier
    /// hint is left out of responses (and logged).
    pub svids: Vec<Arc<X509Svid>>,
    /// The X.509 bundle of the agent's own trust domain.
    pub bundle: Option<Arc<X509Bundle>>,
    /// X.509 bundles of foreign trust domains (federation). An entry for the own trust domain
    /// is ignored.
    pub federated_bundles: BTreeMap<TrustDomain, Arc<X509Bundle>>,
    /// JWT bundles by trust domain, the own one included.
    pub jwt_bundles: BTreeMap<TrustDomain, Arc<JwtBundle>>,
}

impl WorkloadState {
    /// A state with no SVID and no bundle: the caller is entitled to nothing.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Whether the caller holds at least one X509-SVID.
    pub fn has_identity(&self) -> bool {
        !self.svids.is_empty()
    }

    /// The X.509 bundles: the own trust domain's first, then the federated ones.
    pub fn x509_bundles(&self) -> impl Iterator<Item = &Arc<X509Bundle>> {
        let own = self.bundle.as_ref();
        let own_td = own.map(|b| b.trust_domain().clone());
        own.into_iter().chain(
            self.federated_bundles
                .iter()
                .filter(move |(td, _)| Some(*td) != own_td.as_ref())
                .map(|(_, b)| b),
        )
    }
}

/// Lookups by trust domain, each answered only by that trust domain's bundle.
impl BundleSource for WorkloadState {
    fn x509_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<X509Bundle>> {
        match &self.bundle {
            Some(own) if own.trust_domain() == trust_domain => Some(Arc::clone(own)),
            _ => self.federated_bundles.get(trust_domain).cloned(),
        }
    }

    fn jwt_bundle(&self, trust_domain: &TrustDomain) -> Option<Arc<JwtBundle>> {
        self.jwt_bundles.get(trust_domain).cloned()
    }
}

/// Why the provider could not serve a caller; each variant maps to the gRPC code the standard
/// asks for (see [`ProviderError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The caller was attested but holds no identity (PermissionDenied; clients retry).
    #[error("no identity issued to caller {caller}")]
    NoIdentity {
        /// The caller.
        caller: CallerInfo,
    },
    /// The caller asked for a SPIFFE ID it does not hold (PermissionDenied).
    #[error("caller {caller} is not entitled to {spiffe_id}")]
    NotEntitled {
        /// The caller.
        caller: CallerInfo,
        /// The ID asked for.
        spiffe_id: SpiffeId,
    },
    /// The caller could not be attested: it exited, its PID was reused, or a selector source
    /// refused to answer for it (PermissionDenied; clients retry).
    #[error("attestation of caller {caller} failed: {reason}")]
    AttestationFailed {
        /// The caller.
        caller: CallerInfo,
        /// What went wrong.
        reason: String,
    },
    /// The caller asked for too much too fast (ResourceExhausted; clients back off and retry).
    #[error("caller {caller} is rate limited: {reason}")]
    RateLimited {
        /// The caller.
        caller: CallerInfo,
        /// Which limit.
        reason: String,
    },
    /// The agent cannot serve now: it is starting, or cannot reach its server (Unavailable;
    /// clients retry).
    #[error("identity provider unavailable: {reason}")]
    Unavailable {
        /// Why.
        reason: String,
    },
    /// A fault of the agent itself (Internal).
    #[error("identity provider internal error: {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
}

impl ProviderError {
    /// The gRPC status code of this error.
    pub fn code(&self) -> tonic::Code {
        match self {
            ProviderError::NoIdentity { .. }
            | ProviderError::NotEntitled { .. }
            | ProviderError::AttestationFailed { .. } => tonic::Code::PermissionDenied,
            ProviderError::RateLimited { .. } => tonic::Code::ResourceExhausted,
            ProviderError::Unavailable { .. } => tonic::Code::Unavailable,
            ProviderError::Internal { .. } => tonic::Code::Internal,
        }
    }
}

impl From<ProviderError> for tonic::Status {
    fn from(e: ProviderError) -> Self {
        tonic::Status::new(e.code(), e.to_string())
    }
}

/// The agent's side of the Workload API: who the caller is and what it holds.
///
/// The server calls [`IdentityProvider::subscribe`] once per stream (and once per
/// `ValidateJWTSVID`) and serves whatever the returned `watch` channel holds, sending a new
/// message whenever its value changes. The provider attests the caller there (from `caller`,
/// which comes from the kernel), and then keeps the channel current: a rotated SVID, a new CA
/// or a removed entry is one `send` of a new [`WorkloadState`], and every open stream of that
/// caller follows. Dropping the sender ends the caller's streams with Unavailable, so clients
/// reconnect and are attested again.
///
/// A caller that is attested but holds nothing may be answered either with
/// [`ProviderError::NoIdentity`] or with a channel holding an empty state; the server answers
/// PermissionDenied in both cases (and ends an open stream with PermissionDenied when a
/// caller's state becomes empty, as the standard's redaction rule asks).
///
/// An agent typically keeps one `watch::Sender` per distinct set of matching entries (so
/// callers with the same selectors share one), and re-checks the PID after attestation (the
/// process may have exited and its PID been reused while its selectors were gathered):
///
/// ```
/// use std::sync::Arc;
/// use futures::future::BoxFuture;
/// use spiffe_core::{JwtSvid, SpiffeId};
/// use spiffe_workload::server::{CallerInfo, IdentityProvider, ProviderError, WorkloadState};
/// use tokio::sync::watch;
///
/// /// Gives callers running as uid 1000 one shared state, and nothing to anyone else.
/// struct ByUid {
///     state: watch::Sender<Arc<WorkloadState>>,
/// }
///
/// impl IdentityProvider for ByUid {
///     fn subscribe(
///         &self,
///         caller: CallerInfo,
///     ) -> BoxFuture<'_, Result<watch::Receiver<Arc<WorkloadState>>, ProviderError>> {
///         Box::pin(async move {
///             if caller.uid != 1000 {
///                 return Err(ProviderError::NoIdentity { caller });
///             }
///             Ok(self.state.subscribe())
///         })
///     }
///
///     fn fetch_jwt_svids(
///         &self,
///         caller: CallerInfo,
///         _audience: Vec<String>,
///         _spiffe_id: Option<SpiffeId>,
///     ) -> BoxFuture<'_, Result<Vec<JwtSvid>, ProviderError>> {
///         // A real agent signs (or asks its server to sign) one token per identity here.
///         Box::pin(async move {
///             Err(ProviderError::Unavailable { reason: format!("no JWT signer for {caller}") })
///         })
///     }
/// }
///
/// let provider = ByUid { state: watch::channel(Arc::new(WorkloadState::empty())).0 };
/// // Rotation: one send, and every open stream of these callers follows.
/// provider.state.send_replace(Arc::new(WorkloadState::empty()));
/// ```
pub trait IdentityProvider: Send + Sync + 'static {
    /// Attests `caller` and returns the channel of its state.
    fn subscribe(
        &self,
        caller: CallerInfo,
    ) -> BoxFuture<'_, Result<watch::Receiver<Arc<WorkloadState>>, ProviderError>>;

    /// Mints JWT-SVIDs for `caller` with `audience` (never empty): one per identity it holds,
    /// or only `spiffe_id` when given (then [`ProviderError::NotEntitled`] if it does not hold
    /// it). The default identity comes first.
    fn fetch_jwt_svids(
        &self,
        caller: CallerInfo,
        audience: Vec<String>,
        spiffe_id: Option<SpiffeId>,
    ) -> BoxFuture<'_, Result<Vec<JwtSvid>, ProviderError>>;
}

impl<P: IdentityProvider + ?Sized> IdentityProvider for Arc<P> {
    fn subscribe(
        &self,
        caller: CallerInfo,
    ) -> BoxFuture<'_, Result<watch::Receiver<Arc<WorkloadState>>, ProviderError>> {
        (**self).subscribe(caller)
    }

    fn fetch_jwt_svids(
        &self,
        caller: CallerInfo,
        audience: Vec<String>,
        spiffe_id: Option<SpiffeId>,
    ) -> BoxFuture<'_, Result<Vec<JwtSvid>, ProviderError>> {
        (**self).fetch_jwt_svids(caller, audience, spiffe_id)
    }
}
