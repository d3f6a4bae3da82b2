//! A test identity provider on an in-process trust domain, and a Workload API server on a UNIX
//! socket in a temporary directory.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use spiffe_ca::testing::TestTrustDomain;
use spiffe_core::{JwtSvid, SpiffeId, TrustDomain, X509Svid};
use spiffe_workload::server::{
    CallerInfo, IdentityProvider, ProviderError, ServeError, UdsEndpoint, WorkloadApiService,
    WorkloadState,
};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A short timeout for anything that should happen "at once".
pub const SOON: Duration = Duration::from_secs(5);

/// Awaits `f` for at most [`SOON`].
pub async fn soon<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(SOON, f)
        .await
        .expect("timed out waiting for something that should happen at once")
}

/// One identity of the provider: its SPIFFE ID and optional hint.
#[derive(Clone, Debug)]
pub struct Identity {
    pub id: String,
    pub hint: Option<String>,
}

impl From<&str> for Identity {
    fn from(id: &str) -> Self {
        Identity {
            id: id.to_owned(),
            hint: None,
        }
    }
}

impl From<(&str, &str)> for Identity {
    fn from((id, hint): (&str, &str)) -> Self {
        Identity {
            id: id.to_owned(),
            hint: Some(hint.to_owned()),
        }
    }
}

/// An [`IdentityProvider`] that gives every caller the same identities, minted by a
/// [`TestTrustDomain`], and can rotate, change or withdraw them.
pub struct TestProvider {
    pub td: Arc<TestTrustDomain>,
    federated: Mutex<Vec<Arc<TestTrustDomain>>>,
    identities: Mutex<Vec<Identity>>,
    state: watch::Sender<Arc<WorkloadState>>,
    /// The caller of the last subscription, as the server reported it.
    pub last_caller: Mutex<Option<CallerInfo>>,
}

impl TestProvider {
    /// A provider handing out `identities` (none: the caller has no identity).
    pub fn new(td: Arc<TestTrustDomain>, identities: &[Identity]) -> Arc<Self> {
        let provider = Arc::new(TestProvider {
            td,
            federated: Mutex::new(Vec::new()),
            identities: Mutex::new(identities.to_vec()),
            state: watch::channel(Arc::new(WorkloadState::empty())).0,
            last_caller: Mutex::new(None),
        });
        provider.rotate();
        provider
    }

    /// A provider for a fresh trust domain `example.org` and one ID.
    pub fn single(id: &str) -> Arc<Self> {
        let td = Arc::new(TestTrustDomain::new("example.org").unwrap());
        Self::new(td, &[Identity::from(id)])
    }

    /// The state from the current identities and bundles, with fresh SVIDs.
    fn build(&self) -> WorkloadState {
        let identities = self.identities.lock().unwrap().clone();
        if identities.is_empty() {
            return WorkloadState::empty();
        }
        let svids = identities
            .iter()
            .map(|i| {
                let svid = self.td.x509_svid(&i.id).unwrap();
                Arc::new(match &i.hint {
                    Some(h) => svid.with_hint(h.as_str()),
                    None => svid,
                })
            })
            .collect();
        let own = self.td.bundle_set();
        let own = own.iter().next().unwrap();
        let mut jwt_bundles = BTreeMap::new();
        jwt_bundles.insert(own.trust_domain().clone(), own.jwt_shared());
        let mut federated_bundles = BTreeMap::new();
        for other in self.federated.lock().unwrap().iter() {
            let set = other.bundle_set();
            let b = set.iter().next().unwrap();
            federated_bundles.insert(b.trust_domain().clone(), b.x509_shared());
            jwt_bundles.insert(b.trust_domain().clone(), b.jwt_shared());
        }
        WorkloadState {
            svids,
            bundle: Some(own.x509_shared()),
            federated_bundles,
            jwt_bundles,
        }
    }

    /// Mints fresh SVIDs for the current identities and publishes them.
    pub fn rotate(&self) {
        self.state.send_replace(Arc::new(self.build()));
    }

    /// Replaces the identities (and rotates).
    pub fn set_identities(&self, identities: &[Identity]) {
        *self.identities.lock().unwrap() = identities.to_vec();
        self.rotate();
    }

    /// Federates with `other` (and rotates).
    pub fn federate(&self, other: Arc<TestTrustDomain>) {
        self.federated.lock().unwrap().push(other);
        self.rotate();
    }

    /// Publishes `state` as is.
    pub fn publish(&self, state: WorkloadState) {
        self.state.send_replace(Arc::new(state));
    }

    /// The state now.
    pub fn state(&self) -> Arc<WorkloadState> {
        Arc::clone(&self.state.borrow())
    }

    /// The SVIDs now.
    pub fn svids(&self) -> Vec<Arc<X509Svid>> {
        self.state().svids.clone()
    }

    /// How many subscriptions (open streams) are alive.
    pub fn subscribers(&self) -> usize {
        self.state.receiver_count()
    }

    /// Waits until exactly `n` subscriptions are alive.
    pub async fn wait_subscribers(&self, n: usize) {
        soon(async {
            while self.subscribers() != n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

impl IdentityProvider for TestProvider {
    fn subscribe(
        &self,
        caller: CallerInfo,
    ) -> BoxFuture<'_, Result<watch::Receiver<Arc<WorkloadState>>, ProviderError>> {
        *self.last_caller.lock().unwrap() = Some(caller);
        Box::pin(async move { Ok(self.state.subscribe()) })
    }

    fn fetch_jwt_svids(
        &self,
        caller: CallerInfo,
        audience: Vec<String>,
        spiffe_id: Option<SpiffeId>,
    ) -> BoxFuture<'_, Result<Vec<JwtSvid>, ProviderError>> {
        Box::pin(async move {
            let identities = self.identities.lock().unwrap().clone();
            if identities.is_empty() {
                return Err(ProviderError::NoIdentity { caller });
            }
            let audience: Vec<&str> = audience.iter().map(String::as_str).collect();
            let chosen: Vec<&Identity> = match &spiffe_id {
                None => identities.iter().collect(),
                Some(id) => identities.iter().filter(|i| i.id == id.as_str()).collect(),
            };
            if chosen.is_empty() {
                return Err(ProviderError::NotEntitled {
                    caller,
                    spiffe_id: spiffe_id.unwrap(),
                });
            }
            chosen
                .into_iter()
                .map(|i| {
                    let svid = self.td.jwt_svid(&i.id, &audience).map_err(|e| {
                        ProviderError::Internal {
                            reason: e.to_string(),
                        }
                    })?;
                    Ok(match &i.hint {
                        Some(h) => svid.with_hint(h.as_str()),
                        None => svid,
                    })
                })
                .collect()
        })
    }
}

/// A Workload API server on a UNIX socket, stoppable and restartable.
pub struct TestServer {
    pub path: PathBuf,
    pub service: WorkloadApiService,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Serves `provider` on a socket in a new temporary directory.
    pub async fn start(provider: Arc<TestProvider>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let mut server = Self::start_at(&path, provider).await;
        server._dir = Some(dir);
        server
    }

    /// Serves `provider` on `path`.
    pub async fn start_at(path: &Path, provider: Arc<TestProvider>) -> Self {
        let endpoint = UdsEndpoint::bind(path).await.unwrap();
        let service = WorkloadApiService::new(provider);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(endpoint.serve(service.clone(), async move {
            let _ = stopped.await;
        }));
        TestServer {
            path: path.to_path_buf(),
            service,
            stop: Some(stop),
            task: Some(task),
            _dir: None,
        }
    }

    /// The address, as `SPIFFE_ENDPOINT_SOCKET` would hold it.
    pub fn address(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Stops serving (ending open streams) and waits for the server to finish; keeps the
    /// temporary directory for a restart at the same path.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            soon(task).await.unwrap().unwrap();
        }
    }

    /// Serves `provider` again at the same path.
    pub async fn restart(&mut self, provider: Arc<TestProvider>) {
        self.stop().await;
        let dir = self._dir.take();
        *self = Self::start_at(&self.path.clone(), provider).await;
        self._dir = dir;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A trust domain name as a [`TrustDomain`].
pub fn td(name: &str) -> TrustDomain {
    TrustDomain::parse(name).unwrap()
}

/// A SPIFFE ID.
pub fn id(s: &str) -> SpiffeId {
    SpiffeId::parse(s).unwrap()
}
