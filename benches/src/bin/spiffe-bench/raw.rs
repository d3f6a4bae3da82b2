//! A raw Workload API client for the driver: FetchX509SVID over the agent's UNIX socket with
//! no parsing of the answer, so that a figure is the agent's and the transport's alone.

use std::path::Path;

use anyhow::Context;
use spiffe_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use spiffe_proto::workload::{X509svidRequest, X509svidResponse};
use tonic::transport::Channel;

/// A raw Workload API client on the agent's socket (no parsing of what it returns).
pub(crate) async fn workload_client(
    socket: &Path,
) -> anyhow::Result<SpiffeWorkloadApiClient<Channel>> {
    let socket = socket.to_owned();
    let channel = tonic::transport::Endpoint::try_from("http://localhost")?
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await?;
    Ok(SpiffeWorkloadApiClient::new(channel).max_decoding_message_size(64 << 20))
}

fn x509_request() -> tonic::Request<X509svidRequest> {
    let mut req = tonic::Request::new(X509svidRequest {});
    req.metadata_mut().insert(
        "workload.spiffe.io",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    req
}

/// Opens a FetchX509SVID stream (with the `workload.spiffe.io` header every caller must send).
pub(crate) async fn open_stream(
    client: &mut SpiffeWorkloadApiClient<Channel>,
) -> anyhow::Result<tonic::Streaming<X509svidResponse>> {
    Ok(client.fetch_x509svid(x509_request()).await?.into_inner())
}

/// The first message of a new FetchX509SVID stream.
pub(crate) async fn first_message(
    client: &mut SpiffeWorkloadApiClient<Channel>,
) -> anyhow::Result<X509svidResponse> {
    open_stream(client)
        .await?
        .message()
        .await?
        .context("the stream ended without a message")
}
