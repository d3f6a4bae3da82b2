//! Running a server: the endpoints (admin UNIX socket, agent TCP+TLS, HTTP health), the
//! server's own SVID, and the background tasks (CA rotation, bundle publication, datastore
//! events from other servers, join token pruning).

mod listener;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig as TlsServerConfig;
use rustls::server::NoServerSessionStorage;
use spiffe_ca::{
    CaConfig, CaError, CaKeyType, CertificateAuthority, DiskKeyManager, Signer, SoftSigner,
    SystemClock, UpstreamCa, X509SvidParams,
};
use spiffe_core::backoff::Backoff;
use spiffe_core::tls::{SpiffeClientCertVerifier, SvidResolver};
use spiffe_core::{PrivateKey, SvidCell, X509Svid, authorize};
use spiffe_fs::socket::SocketFile;
use thiserror::Error;
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::Routes;
use tracing::{error, info, warn};

use crate::api::{AgentApi, BundleApi, EntryApi, SvidApi, SyncApi};
use crate::attest::{JoinTokenAttestor, NodeAttestor};
use crate::config::{LimitsError, ServerConfig};
use crate::datastore::{Datastore, DatastoreError, now_unix};
use crate::entry::server_id;
use crate::state::{ServerState, StateBundles};

use spiffe_proto::spiffers::sync::v1::sync_server::SyncServer;
use spiffe_proto::spire::api::server::agent::v1::agent_server::AgentServer;
use spiffe_proto::spire::api::server::bundle::v1::bundle_server::BundleServer;
use spiffe_proto::spire::api::server::entry::v1::entry_server::EntryServer;
use spiffe_proto::spire::api::server::svid::v1::svid_server::SvidServer;

/// The largest request message of the admin socket and of authenticated agent API
/// connections (tonic's default).
const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// Why the server could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The datastore failed.
    #[error("datastore: {0}")]
    Datastore(#[from] DatastoreError),
    /// The signing authority failed.
    #[error("signing authority: {0}")]
    Ca(#[from] CaError),
    /// A directory or socket is not safe to use (another user controls it), or could not be
    /// created or bound.
    #[error("{0}")]
    Files(#[from] spiffe_fs::FsError),
    /// A file or socket could not be set up.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being set up.
        what: &'static str,
        /// The path or address.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be configured.
    #[error("TLS: {0}")]
    Tls(String),
    /// A connection limit cannot work.
    #[error("connection limits: {0}")]
    Limits(#[from] LimitsError),
    /// The `k8s_psat` node attestor could not be set up (a refused setting, or an API server
    /// configuration that cannot be loaded).
    #[cfg(feature = "k8s-psat")]
    #[error("node attestor k8s_psat: {0}")]
    K8sPsat(#[source] crate::attest::k8s_psat::PsatSetupError),
    /// A node attestor could not be set up.
    #[error("node attestor {attestor}: {detail}")]
    NodeAttestor {
        /// The attestor (`k8s_psat`).
        attestor: &'static str,
        /// What is wrong.
        detail: String,
    },
}

fn io_err(
    what: &'static str,
    path: impl std::fmt::Display,
) -> impl FnOnce(std::io::Error) -> ServerError {
    let path = path.to_string();
    move |source| ServerError::Io { what, path, source }
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The shared state (for embedding and tests).
    pub state: Arc<ServerState>,
    /// The bound agent API address.
    pub agent_address: SocketAddr,
    /// The bound health address, if enabled.
    pub health_address: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    admin_socket: SocketFile,
}

impl RunningServer {
    /// Stops the endpoints and tasks and waits for them.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        self.state.hub.shut_down();
        for mut t in self.tasks.drain(..) {
            // Give in-flight calls a moment, then cut them.
            if tokio::time::timeout(Duration::from_secs(5), &mut t)
                .await
                .is_err()
            {
                t.abort();
                let _ = t.await;
            }
        }
        self.admin_socket.remove();
        self.state.ds.close().await;
    }

    /// Waits until the server stops on its own (it does not, unless a task fails).
    pub async fn wait(&mut self) {
        for t in self.tasks.iter_mut() {
            let _ = t.await;
        }
    }
}

/// Starts a server; returns once every endpoint is listening.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    // Created 0700 if missing; an existing directory keeps its mode, and is refused if another
    // user controls it (or a directory above it).
    spiffe_fs::ensure_trusted_dir(&config.data_dir, "data directory", 0o700)?;

    config.limits.validate()?;
    let ds = Datastore::open(&config.datastore_url()).await?;
    let ca = Arc::new(open_ca(&config)?);
    let state = Arc::new(ServerState::load(config.clone(), ds, ca).await?);
    state.publish_local_bundle().await?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    // The server's own SVID, rotated at half-life, presented at every handshake.
    let server_svid = Arc::new(SvidCell::new(mint_server_svid(&state)?));
    let tls = Arc::new(tls_config(&state, Arc::clone(&server_svid))?);

    let attestors = node_attestors(&config).await?;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    // One agent service for every endpoint: they share its attestation rate limiter.
    let agent_api = AgentApi::new(Arc::clone(&state), attestors);
    // Every service, each decoding request messages of at most `max_message` bytes.
    let routes = |max_message: usize| {
        Routes::new(
            health_service
                .clone()
                .max_decoding_message_size(max_message),
        )
        .add_service(
            EntryServer::new(EntryApi::new(Arc::clone(&state)))
                .max_decoding_message_size(max_message),
        )
        .add_service(AgentServer::new(agent_api.clone()).max_decoding_message_size(max_message))
        .add_service(
            SvidServer::new(SvidApi::new(Arc::clone(&state)))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            BundleServer::new(BundleApi::new(Arc::clone(&state)))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            SyncServer::new(SyncApi::new(Arc::clone(&state)))
                .max_decoding_message_size(max_message),
        )
        .prepare()
    };
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;

    // Admin API: UNIX socket, access by file permissions.
    let (uds, admin_socket) = bind_admin_socket(&config.socket_path)?;
    let mut rx = shutdown_rx.clone();
    let admin = tonic::transport::Server::builder().add_routes(routes(MAX_MESSAGE_SIZE));
    tasks.push(tokio::spawn(async move {
        let incoming = UnixListenerStream::new(uds);
        if let Err(e) = admin
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await
        {
            error!(error = %e, "admin endpoint failed");
        }
    }));

    // Agent API: TCP with TLS.
    let tcp = TcpListener::bind(config.bind_address)
        .await
        .map_err(io_err("agent API address", config.bind_address))?;
    let agent_address = tcp
        .local_addr()
        .map_err(io_err("agent API address", config.bind_address))?;
    let endpoint = listener::Endpoint {
        state: Arc::clone(&state),
        tls: Arc::clone(&tls),
        routes: routes(MAX_MESSAGE_SIZE),
        anonymous_routes: routes(config.limits.anonymous_max_message_size),
    };
    tasks.push(tokio::spawn(listener::serve(
        tcp,
        endpoint,
        shutdown_rx.clone(),
    )));

    let health_address = match config.health_address {
        Some(addr) => {
            let (bound, task) = crate::health::serve(addr, Arc::clone(&state), shutdown_rx.clone())
                .await
                .map_err(io_err("health address", addr))?;
            tasks.push(task);
            Some(bound)
        }
        None => None,
    };

    tasks.push(tokio::spawn(rotation_loop(
        Arc::clone(&state),
        Arc::clone(&server_svid),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(event_loop(
        Arc::clone(&state),
        shutdown_rx.clone(),
    )));

    info!(
        trust_domain = %config.trust_domain,
        agent_address = %agent_address,
        socket = %config.socket_path.display(),
        "server started"
    );
    Ok(RunningServer {
        state,
        agent_address,
        health_address,
        shutdown: shutdown_tx,
        tasks,
        admin_socket,
    })
}

/// The node attestors: join tokens always, `k8s_psat` when configured (and built with the
/// `k8s-psat` feature).
async fn node_attestors(config: &ServerConfig) -> Result<Vec<Arc<dyn NodeAttestor>>, ServerError> {
    #[cfg_attr(not(feature = "k8s-psat"), allow(unused_mut))]
    let mut attestors: Vec<Arc<dyn NodeAttestor>> = vec![Arc::new(JoinTokenAttestor)];
    if let Some(psat) = &config.k8s_psat {
        #[cfg(feature = "k8s-psat")]
        {
            let attestor = crate::attest::k8s_psat::K8sPsatAttestor::new(psat)
                .await
                .map_err(ServerError::K8sPsat)?;
            info!(clusters = ?psat.clusters.keys().collect::<Vec<_>>(), "k8s_psat node attestor enabled");
            attestors.push(Arc::new(attestor));
        }
        #[cfg(not(feature = "k8s-psat"))]
        {
            let _ = psat;
            return Err(ServerError::NodeAttestor {
                attestor: "k8s_psat",
                detail: "configured, but this server was built without the k8s-psat feature".into(),
            });
        }
    }
    Ok(attestors)
}

/// Runs a server until `shutdown` completes (for example SIGTERM).
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    let server = start(config).await?;
    shutdown.await;
    info!("server stopping");
    server.stop().await;
    Ok(())
}

fn open_ca(config: &ServerConfig) -> Result<CertificateAuthority, ServerError> {
    let mut ca_config = CaConfig::new(config.trust_domain.clone());
    ca_config.ca_ttl = config.ca_ttl;
    ca_config.ca_key_type = config.ca_key_type;
    ca_config.jwt_algorithm = config.jwt_algorithm;
    ca_config.ca_subject = config.ca_subject.clone();
    ca_config.journal_path = Some(config.data_dir.join("journal.json"));
    if let Some(up) = &config.upstream {
        ca_config.upstream = Some(Arc::new(UpstreamCa::load(
            &up.cert_path,
            &up.key_path,
            up.bundle_path.as_deref(),
        )?));
    }
    let keys = Arc::new(DiskKeyManager::open(config.data_dir.join("keys"))?);
    Ok(CertificateAuthority::new(
        ca_config,
        keys,
        Arc::new(SystemClock),
    )?)
}

/// Mints `spiffe://<td>/spire/server` with a fresh key.
fn mint_server_svid(state: &ServerState) -> Result<X509Svid, ServerError> {
    let key = SoftSigner::generate(CaKeyType::EcP256)?;
    let chain = state.ca.mint_x509_svid(
        key.public_key(),
        &X509SvidParams {
            spiffe_id: server_id(&state.config.trust_domain),
            ttl: state.config.default_x509_svid_ttl,
            dns_names: Vec::new(),
        },
    )?;
    let private =
        PrivateKey::from_pkcs8_der(key.pkcs8_der()).map_err(|e| ServerError::Tls(e.to_string()))?;
    X509Svid::new(chain, private).map_err(|e| ServerError::Tls(e.to_string()))
}

fn tls_config(
    state: &Arc<ServerState>,
    svid: Arc<SvidCell>,
) -> Result<TlsServerConfig, ServerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // Client certificates are optional at the TLS level: attestation has none. A presented
    // one must verify against the trust domain's bundle; the APIs decide what it may do.
    let verifier = SpiffeClientCertVerifier::new(
        Arc::new(StateBundles(Arc::clone(state))),
        Arc::new(authorize::member_of(state.config.trust_domain.clone())),
        &provider,
    )
    .optional();
    let mut config = TlsServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(SvidResolver::new(svid)));
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// Binds the admin socket: its directory must be trusted (created 0700 if missing), and the
/// socket is made 0600 (only the server's own user may administer it) without following links.
fn bind_admin_socket(path: &Path) -> Result<(UnixListener, SocketFile), ServerError> {
    let bound = spiffe_fs::bind_socket(path, "admin socket", 0o700, 0o600)?;
    let (listener, file) = bound.into_parts();
    listener
        .set_nonblocking(true)
        .map_err(io_err("admin socket", file.path().display()))?;
    let listener =
        UnixListener::from_std(listener).map_err(io_err("admin socket", file.path().display()))?;
    Ok((listener, file))
}

/// Rotates the CA on schedule, publishes bundle changes, renews the server SVID at half-life,
/// prunes expired join tokens.
async fn rotation_loop(
    state: Arc<ServerState>,
    svid: Arc<SvidCell>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(state.config.rotation_interval);
    let mut last_prune = 0i64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        match state.ca.rotate() {
            Ok(report) if report.bundle_changed => {
                if let Err(e) = state.publish_local_bundle().await {
                    warn!(error = %e, "bundle publication failed; will retry");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "CA rotation failed; will retry"),
        }
        let current = svid.get();
        let now = now_unix();
        let half = (current.not_before_unix() + current.expires_at_unix()) / 2;
        if now >= half {
            match mint_server_svid(&state) {
                Ok(new) => {
                    svid.set(new);
                    info!("server SVID renewed");
                }
                Err(e) => warn!(error = %e, "server SVID renewal failed; will retry"),
            }
        }
        if now - last_prune > 3600 {
            last_prune = now;
            if let Err(e) = state.ds.prune_join_tokens(now).await {
                warn!(error = %e, "join token pruning failed");
            }
        }
    }
}

/// Follows the changes other servers commit to a shared PostgreSQL database.
async fn event_loop(state: Arc<ServerState>, mut shutdown: watch::Receiver<bool>) {
    // Jittered, so that servers sharing a database that went away do not all come back at once.
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let mut events = match state.ds.listen().await {
            Ok(Some(events)) => events,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "datastore event listener failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                continue;
            }
        };
        // Anything missed while not listening is picked up by one reload.
        if let Err(e) = state.reload().await {
            warn!(error = %e, "reload after (re)connecting to the datastore failed");
        }
        backoff.reset();
        loop {
            let next = tokio::select! {
                n = events.next() => n,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match next {
                Ok(Some(event)) => {
                    if let Err(e) = state.refresh(&event).await {
                        warn!(error = %e, ?event, "datastore refresh failed");
                    }
                }
                Ok(None) => {
                    if let Err(e) = state.reload().await {
                        warn!(error = %e, "reload after a lost event connection failed");
                    }
                }
                Err(e) => {
                    warn!(error = %e, "datastore event stream failed; reconnecting");
                    break;
                }
            }
        }
    }
}
