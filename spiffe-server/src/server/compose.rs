//! Composition: [`start`] opens the datastore and the signing authority, builds the services
//! and starts every endpoint and background task; [`RunningServer`] stops them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use spiffe_ca::{CaConfig, CertificateAuthority, DiskKeyManager, SystemClock, UpstreamCa};
use spiffe_core::SvidCell;
use spiffe_fs::socket::SocketFile;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tracing::info;

use super::error::{ServerError, io_err};
use super::identity::{mint_server_svid, tls_config};
use super::{admin, listener, tasks as background};
use crate::api::{AgentApi, BundleApi, EntryApi, SvidApi, SyncApi, TrustDomainApi};
use crate::attest::{JoinTokenAttestor, NodeAttestor};
use crate::config::ServerConfig;
use crate::datastore::Datastore;
use crate::federation::{self, ServeProfile};
use crate::state::ServerState;

use spiffe_proto::spiffers::sync::v1::sync_server::SyncServer;
use spiffe_proto::spire::api::server::agent::v1::agent_server::AgentServer;
use spiffe_proto::spire::api::server::bundle::v1::bundle_server::BundleServer;
use spiffe_proto::spire::api::server::entry::v1::entry_server::EntryServer;
use spiffe_proto::spire::api::server::svid::v1::svid_server::SvidServer;
use spiffe_proto::spire::api::server::trustdomain::v1::trust_domain_server::TrustDomainServer;

/// The largest request message of the admin socket and of authenticated agent API
/// connections (tonic's default).
const MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The shared state (for embedding and tests).
    pub state: Arc<ServerState>,
    /// The bound agent API address.
    pub agent_address: SocketAddr,
    /// The bound health address, if enabled.
    pub health_address: Option<SocketAddr>,
    /// The bound SPIFFE bundle endpoint address, if the server serves one.
    pub bundle_endpoint_address: Option<SocketAddr>,
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
///
/// # Errors
///
/// [`ServerError::Files`] if the data directory or admin socket directory is not trusted;
/// [`ServerError::Limits`] for connection limits that cannot work; [`ServerError::Datastore`]
/// if the datastore cannot be opened or loaded; [`ServerError::Ca`] if the upstream CA, the key
/// directory or the journal cannot be used or the authority cannot mint;
/// [`ServerError::ServerSvid`], [`ServerError::ServerSvidKey`] or [`ServerError::Tls`] if the
/// server's own SVID or TLS configuration cannot be made; a node attestor that cannot be set
/// up; [`ServerError::Io`] if an address or socket cannot be bound.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    // Created 0700 if missing; an existing directory keeps its mode, and is refused if another
    // user controls it (or a directory above it).
    spiffe_fs::ensure_trusted_dir(&config.data_dir, "data directory", 0o700)?;

    config.limits.validate()?;
    for relationship in config.federation.federates_with.values() {
        relationship.check_for(&config.trust_domain)?;
    }
    let ds = Datastore::open(&config.datastore_url()).await?;
    let ca = Arc::new(open_ca(&config)?);
    let state = Arc::new(ServerState::load(config.clone(), ds, ca).await?);
    state.publish_local_bundle().await?;

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut tasks = Vec::new();

    // The server's own SVID, rotated at half-life, presented at every handshake.
    let server_svid = Arc::new(SvidCell::new(mint_server_svid(&state)?));
    let tls = Arc::new(tls_config(&state, Arc::clone(&server_svid))?);

    // The bundle endpoint's certificate and address, before any task starts: a file that does
    // not load or an address in use stops the start here.
    let bundle_endpoint = match &config.federation.bundle_endpoint {
        Some(endpoint) => {
            let (tls, file) =
                federation::endpoint_tls(&endpoint.profile, Arc::clone(&server_svid))?;
            let (listener, bound) = federation::bind_endpoint(endpoint.address).await?;
            Some((tls, file, listener, bound))
        }
        None => None,
    };

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
        .add_service(
            TrustDomainServer::new(TrustDomainApi::new(Arc::clone(&state)))
                .max_decoding_message_size(max_message),
        )
        .prepare()
    };
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;

    // Admin API: UNIX socket, access by file permissions.
    let (uds, admin_socket) = admin::bind(&config.socket_path)?;
    tasks.push(admin::serve(
        uds,
        routes(MAX_MESSAGE_SIZE),
        shutdown_rx.clone(),
    ));

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

    let bundle_endpoint_address = match (&config.federation.bundle_endpoint, bundle_endpoint) {
        (Some(endpoint), Some((tls, file, listener, bound))) => {
            if let (
                Some(file),
                ServeProfile::HttpsWeb {
                    file_sync_interval, ..
                },
            ) = (file, &endpoint.profile)
            {
                tasks.push(tokio::spawn(federation::watch_files(
                    file,
                    *file_sync_interval,
                    shutdown_rx.clone(),
                )));
            }
            tasks.push(tokio::spawn(federation::serve_endpoint(
                listener,
                tls,
                Arc::clone(&state),
                endpoint.clone(),
                shutdown_rx.clone(),
            )));
            info!(
                address = %bound,
                profile = endpoint.profile.name(),
                refresh_hint_s = endpoint.refresh_hint.as_secs(),
                "serving SPIFFE bundle endpoint"
            );
            Some(bound)
        }
        _ => None,
    };

    tasks.push(tokio::spawn(background::rotation_loop(
        Arc::clone(&state),
        Arc::clone(&server_svid),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(federation::run_refresher(
        Arc::clone(&state),
        shutdown_rx.clone(),
    )));
    tasks.push(tokio::spawn(background::event_loop(
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
        bundle_endpoint_address,
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
///
/// # Errors
///
/// As [`start`]; once started, it stops only when `shutdown` completes.
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
