//! The Workload Endpoint on a UNIX socket: binding it safely, serving it, cleaning up.

use std::future::Future;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use spiffe_proto::workload::spiffe_workload_api_server::SpiffeWorkloadApiServer;
use thiserror::Error;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use futures::TryStreamExt as _;

use super::authority::AuthorityFix;
use super::{IdentityProvider, WorkloadApiService};

/// Mode of the socket file: every local user must reach the endpoint (the endpoint
/// authenticates callers by their kernel credentials, not by file permissions).
pub const SOCKET_MODE: u32 = 0o777;
/// Mode of a socket directory this crate creates.
pub const SOCKET_DIR_MODE: u32 = 0o755;

/// Why the endpoint could not be bound or served.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The socket path has no parent directory or no file name.
    #[error("socket path {path:?} must name a file in a directory")]
    BadPath {
        /// The path.
        path: PathBuf,
    },
    /// The socket's directory could not be created.
    #[error("cannot create socket directory {path:?}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Something other than a socket is in the way; it is never removed.
    #[error("{path:?} exists and is not a socket; refusing to replace it")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// Another process serves on the socket already.
    #[error("{path:?} is in use: another endpoint accepts connections on it")]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// The socket path could not be inspected, probed or cleared.
    #[error("cannot clear stale socket {path:?}: {source}")]
    Stale {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `bind(2)` failed.
    #[error("cannot bind {path:?}: {source}")]
    Bind {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The socket's mode could not be set to 0777.
    #[error("cannot set mode 0777 on socket {path:?}: {source}")]
    SetMode {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
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

/// A bound Workload Endpoint socket, not yet served.
///
/// Binding first and serving second lets a caller know the socket exists (and fail early)
/// before it spawns the server.
#[derive(Debug)]
pub struct UdsEndpoint {
    listener: UnixListener,
    path: PathBuf,
    inode: (u64, u64),
    authority_fix: bool,
}

impl UdsEndpoint {
    /// Binds `path`: creates its directory (mode 0755) if missing, removes a stale socket left
    /// by a previous run (never a live one, never a file that is not a socket), binds, and sets
    /// the socket's mode to 0777.
    pub async fn bind(path: impl AsRef<Path>) -> Result<Self, ServeError> {
        let path = path.as_ref().to_path_buf();
        let dir = match (path.parent(), path.file_name()) {
            (Some(dir), Some(_)) => dir.to_path_buf(),
            _ => return Err(ServeError::BadPath { path }),
        };
        ensure_dir(&dir)?;
        clear_stale(&path).await?;
        let listener = UnixListener::bind(&path).map_err(|source| ServeError::Bind {
            path: path.clone(),
            source,
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(SOCKET_MODE)).map_err(
            |source| ServeError::SetMode {
                path: path.clone(),
                source,
            },
        )?;
        let meta = std::fs::symlink_metadata(&path).map_err(|source| ServeError::Stale {
            path: path.clone(),
            source,
        })?;
        tracing::info!(path = %path.display(), "Workload API socket bound");
        Ok(UdsEndpoint {
            listener,
            path,
            inode: (meta.dev(), meta.ino()),
            authority_fix: true,
        })
    }

    /// Whether requests whose `:authority` is not a valid URI authority (the socket path that
    /// gRPC C-core and grpc-java clients send) are accepted, with `localhost` put in its place
    /// (on by default). Without it, h2 refuses those requests and such clients cannot connect.
    pub fn authority_fix(mut self, enabled: bool) -> Self {
        self.authority_fix = enabled;
        self
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves `service` and gRPC health (`grpc.health.v1.Health`) until `shutdown` completes;
    /// then ends the open streams (Unavailable, so clients reconnect elsewhere or later),
    /// drains the connections and removes the socket file (if it is still this one).
    pub async fn serve<F>(self, service: WorkloadApiService, shutdown: F) -> Result<(), ServeError>
    where
        F: Future<Output = ()> + Send,
    {
        let UdsEndpoint {
            listener,
            path,
            inode,
            authority_fix,
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
            .add_service(health_service)
            .add_service(service.into_server());
        let incoming = UnixListenerStream::new(listener);
        let result = if authority_fix {
            router
                .serve_with_incoming_shutdown(incoming.map_ok(AuthorityFix::new), signal)
                .await
        } else {
            router.serve_with_incoming_shutdown(incoming, signal).await
        };
        remove_if_same(&path, inode);
        result.map_err(|source| ServeError::Transport { path, source })
    }
}

/// Binds `path` and serves the Workload API of `provider` on it until `shutdown` completes
/// ([`UdsEndpoint::bind`] then [`UdsEndpoint::serve`]).
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

fn ensure_dir(dir: &Path) -> Result<(), ServeError> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let err = |source| ServeError::CreateDir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(SOCKET_DIR_MODE)
        .create(dir)
        .map_err(err)?;
    // The umask may have narrowed the mode; the directory must be traversable by all.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(SOCKET_DIR_MODE)).map_err(err)
}

async fn clear_stale(path: &Path) -> Result<(), ServeError> {
    let stale = |source| ServeError::Stale {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(stale(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(ServeError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match tokio::net::UnixStream::connect(path).await {
        Ok(_) => Err(ServeError::InUse {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale socket");
            std::fs::remove_file(path).map_err(stale)
        }
        Err(e) => Err(stale(e)),
    }
}

fn remove_if_same(path: &Path, inode: (u64, u64)) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if (meta.dev(), meta.ino()) == inode => {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot remove socket");
            }
        }
        _ => {}
    }
}
