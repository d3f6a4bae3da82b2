//! The Workload Endpoint on a UNIX socket: binding it safely, serving it within limits,
//! cleaning up.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use spiffe_fs::FsError;
use spiffe_fs::socket::SocketFile;
use spiffe_proto::workload::spiffe_workload_api_server::SpiffeWorkloadApiServer;
use thiserror::Error;
use tokio::net::{UnixListener, UnixStream};

use super::authority::AuthorityFix;
use super::peer::PeerStream;
use super::{IdentityProvider, WorkloadApiService};

/// Mode of the socket file: every local user must reach the endpoint (the endpoint
/// authenticates callers by their kernel credentials, not by file permissions).
pub const SOCKET_MODE: u32 = 0o777;
/// Mode of a socket directory this crate creates (an existing one keeps its mode).
pub const SOCKET_DIR_MODE: u32 = 0o755;

/// Why the endpoint could not be bound or served.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The socket could not be bound safely: its directory (or one above it) is controlled by
    /// another user, something other than a stale socket is in the way, another process
    /// serves on it, or a system call failed. The error names the path, and for a directory
    /// its owner and mode.
    #[error("Workload API socket: {0}")]
    Socket(#[from] FsError),
    /// The bound socket could not be handed to the runtime.
    #[error("Workload API socket {path:?}: {source}")]
    Listen {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("Workload API server on {path:?} failed: {source}")]
    Transport {
        /// The path.
        path: PathBuf,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
}

/// How much one endpoint serves at once. Every local user can reach the socket, so each of
/// these bounds what one of them can make the agent hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// Open connections in all (default 8192). Past it, new connections are closed at once.
    pub max_connections: usize,
    /// Open connections of one uid (default 1024), so one user cannot crowd out the others.
    pub max_connections_per_uid: usize,
    /// Concurrent streams on one connection (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`, default
    /// 128); further streams are refused by the protocol.
    pub max_concurrent_streams: u32,
    /// How long a request may take to arrive and be answered (for streams: until their first
    /// message; default 60 s, above SPIRE's 30 s of kubelet polling for a new pod). A request
    /// whose body never comes is ended with DeadlineExceeded instead of held for ever.
    pub request_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 8192,
            max_connections_per_uid: 1024,
            max_concurrent_streams: 128,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// A bound Workload Endpoint socket, not yet served.
///
/// Binding first and serving second lets a caller know the socket exists (and fail early)
/// before it spawns the server.
#[derive(Debug)]
pub struct UdsEndpoint {
    listener: UnixListener,
    socket: SocketFile,
    authority_fix: bool,
    limits: ConnectionLimits,
}

impl UdsEndpoint {
    /// Binds `path` (see [`spiffe_fs::bind_socket`]): its directory must be owned by root or
    /// this process's user and not writable by others (created with mode 0755 if missing; an
    /// existing one keeps its mode); a stale socket left by a previous run is removed (never a
    /// live one, never anything that is not a socket); the socket gets mode 0777, set without
    /// following links.
    ///
    /// # Errors
    ///
    /// [`ServeError::Socket`] naming what is wrong, [`ServeError::Listen`] if the runtime
    /// cannot take the socket.
    pub async fn bind(path: impl AsRef<Path>) -> Result<Self, ServeError> {
        let bound = spiffe_fs::bind_socket(
            path.as_ref(),
            "Workload API socket",
            SOCKET_DIR_MODE,
            SOCKET_MODE,
        )?;
        let (listener, socket) = bound.into_parts();
        let listen_err = |source| ServeError::Listen {
            path: socket.path().to_path_buf(),
            source,
        };
        listener.set_nonblocking(true).map_err(listen_err)?;
        let listener = UnixListener::from_std(listener).map_err(listen_err)?;
        tracing::info!(path = %socket.path().display(), "Workload API socket bound");
        Ok(UdsEndpoint {
            listener,
            socket,
            authority_fix: true,
            limits: ConnectionLimits::default(),
        })
    }

    /// Whether requests whose `:authority` is not a valid URI authority (the socket path that
    /// gRPC C-core and grpc-java clients send) are accepted, with `localhost` put in its place
    /// (on by default). Without it, h2 refuses those requests and such clients cannot connect.
    pub fn authority_fix(mut self, enabled: bool) -> Self {
        self.authority_fix = enabled;
        self
    }

    /// The limits the endpoint serves within (see [`ConnectionLimits`]).
    pub fn limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The socket path (in its canonical directory).
    pub fn path(&self) -> &Path {
        self.socket.path()
    }

    /// Serves `service` and gRPC health (`grpc.health.v1.Health`) until `shutdown` completes;
    /// then ends the open streams (Unavailable, so clients reconnect elsewhere or later),
    /// drains the connections and removes the socket file (if it is still this one).
    ///
    /// Every accepted connection pins its peer process with a pidfd (see
    /// [`CallerInfo::pidfd`](super::CallerInfo::pidfd)), whether or not the `:authority`
    /// rewriter is on.
    ///
    /// # Errors
    ///
    /// [`ServeError::Transport`] if the gRPC server fails.
    pub async fn serve<F>(self, service: WorkloadApiService, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send,
    {
        let UdsEndpoint {
            listener,
            socket,
            authority_fix,
            limits,
        } = self;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<SpiffeWorkloadApiServer<WorkloadApiService>>()
            .await;
        let switch = service.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("Workload API shutting down");
            health
                .set_not_serving::<SpiffeWorkloadApiServer<WorkloadApiService>>()
                .await;
            switch.shutdown();
        };
        let router = tonic::transport::Server::builder()
            .max_concurrent_streams(limits.max_concurrent_streams)
            .timeout(limits.request_timeout)
            .add_service(health_service)
            .add_service(service.into_server());
        let incoming = Accepted::new(listener, limits);
        let result = if authority_fix {
            use futures::TryStreamExt as _;
            router
                .serve_with_incoming_shutdown(incoming.map_ok(AuthorityFix::new), signal)
                .await
        } else {
            router.serve_with_incoming_shutdown(incoming, signal).await
        };
        socket.remove();
        result.map_err(|source| ServeError::Transport {
            path: socket.path().to_path_buf(),
            source,
        })
    }
}

/// Binds `path` and serves the Workload API of `provider` on it until `shutdown` completes
/// ([`UdsEndpoint::bind`] then [`UdsEndpoint::serve`]).
///
/// # Errors
///
/// As [`UdsEndpoint::bind`] and [`UdsEndpoint::serve`].
pub async fn serve_uds<F>(
    path: impl AsRef<Path>,
    provider: impl IdentityProvider,
    shutdown: F,
) -> Result<(), ServeError>
where
    F: Future<Output = ()> + Send,
{
    UdsEndpoint::bind(path)
        .await?
        .serve(WorkloadApiService::new(provider), shutdown)
        .await
}

/// Open connections, in all and per uid.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_uid: HashMap<u32, usize>,
}

/// Counts a connection while it is open.
struct Slot {
    counts: Arc<Mutex<Counts>>,
    uid: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_uid.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.per_uid.remove(&self.uid);
            }
        }
    }
}

/// The accepted connections, within the limits. Connections past a limit are closed at once
/// (and counted in the log at most once a second); a failing `accept` (out of file
/// descriptors) pauses accepting briefly instead of spinning.
struct Accepted {
    listener: UnixListener,
    limits: ConnectionLimits,
    counts: Arc<Mutex<Counts>>,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    refused: u64,
    last_report: Option<tokio::time::Instant>,
}

impl Accepted {
    fn new(listener: UnixListener, limits: ConnectionLimits) -> Self {
        Accepted {
            listener,
            limits,
            counts: Arc::default(),
            pause: None,
            refused: 0,
            last_report: None,
        }
    }

    /// A slot for a connection of `uid`, if within the limits.
    fn admit(&mut self, uid: u32) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let mine = counts.per_uid.get(&uid).copied().unwrap_or(0);
        if counts.total >= self.limits.max_connections
            || mine >= self.limits.max_connections_per_uid
        {
            return None;
        }
        counts.total += 1;
        *counts.per_uid.entry(uid).or_insert(0) += 1;
        drop(counts);
        Some(Slot {
            counts: Arc::clone(&self.counts),
            uid,
        })
    }

    fn refuse(&mut self, uid: u32) {
        self.refused += 1;
        let now = tokio::time::Instant::now();
        if self
            .last_report
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_report = Some(now);
            tracing::warn!(
                uid,
                refused = self.refused,
                max_connections = self.limits.max_connections,
                max_connections_per_uid = self.limits.max_connections_per_uid,
                "Workload API connection limit reached; closing new connections"
            );
        }
    }

    fn accept(&mut self, stream: UnixStream) -> Option<PeerStream> {
        // A peer whose credentials cannot be read is admitted under an impossible uid's
        // budget and refused later, when a request cannot name its caller.
        let uid = stream.peer_cred().map(|c| c.uid()).unwrap_or(u32::MAX);
        match self.admit(uid) {
            Some(slot) => Some(PeerStream::new(stream, Box::new(slot))),
            None => {
                self.refuse(uid);
                None
            }
        }
    }
}

impl Stream for Accepted {
    type Item = Result<PeerStream, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = this.pause.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, _))) => {
                    if let Some(admitted) = this.accept(stream) {
                        return Poll::Ready(Some(Ok(admitted)));
                    }
                }
                Poll::Ready(Err(e)) => {
                    tracing::warn!(error = %e, "Workload API accept failed; pausing 100 ms");
                    this.pause = Some(Box::pin(tokio::time::sleep(Duration::from_millis(100))));
                }
            }
        }
    }
}
