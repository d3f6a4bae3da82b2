//! Connecting to a server's admin API over its UNIX socket (the CLI). An agent's TLS channel
//! to the agent API is `spiffe_agent::channel`.

use std::path::PathBuf;

use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};

/// A gRPC channel to the admin socket at `path`. The connection is made lazily on first use
/// and again after a failure.
///
/// # Errors
///
/// Never in practice: the fixed endpoint URI always parses; the connection itself is made on
/// first use.
pub fn admin_channel(path: impl Into<PathBuf>) -> Result<Channel, tonic::transport::Error> {
    let path: PathBuf = path.into();
    // The URI is not used to connect; the connector dials the socket.
    let endpoint = Endpoint::try_from("http://admin.socket")?;
    Ok(
        endpoint.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        })),
    )
}
