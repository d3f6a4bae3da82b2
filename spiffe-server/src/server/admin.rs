//! The admin API endpoint: a UNIX socket, access by file permissions.

use std::path::Path;

use spiffe_fs::socket::SocketFile;
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::service::Routes;
use tracing::error;

use super::error::{ServerError, io_err};

/// Binds the admin socket: its directory must be trusted (created 0700 if missing), and the
/// socket is made 0600 (only the server's own user may administer it) without following links.
pub(super) fn bind(path: &Path) -> Result<(UnixListener, SocketFile), ServerError> {
    let bound = spiffe_fs::bind_socket(path, "admin socket", 0o700, 0o600)?;
    let (listener, file) = bound.into_parts();
    listener
        .set_nonblocking(true)
        .map_err(io_err("admin socket", file.path().display()))?;
    let listener =
        UnixListener::from_std(listener).map_err(io_err("admin socket", file.path().display()))?;
    Ok((listener, file))
}

/// Serves `routes` on the admin socket until `shutdown`.
pub(super) fn serve(
    uds: UnixListener,
    routes: Routes,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let admin = tonic::transport::Server::builder().add_routes(routes);
    tokio::spawn(async move {
        let incoming = UnixListenerStream::new(uds);
        if let Err(e) = admin
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
        {
            error!(error = %e, "admin endpoint failed");
        }
    })
}
