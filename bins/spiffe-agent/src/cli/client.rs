//! Reaching the agent: the Workload API endpoint (`-socketPath`, else `SPIFFE_ENDPOINT_SOCKET`,
//! else the default socket), a first dial so that a missing agent is reported the way grpc-go
//! reports it, `-timeout`, and errors printed as SPIRE prints them
//! (`rpc error: code = PermissionDenied desc = no identity issued`).

use std::fmt;
use std::future::Future;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, anyhow};
use hyper_util::rt::TokioIo;
use spiffe_agent::config::DEFAULT_SOCKET_PATH;
use spiffe_workload::client::Endpoint;
use spiffe_workload::{ClientError, ENDPOINT_ENV, WorkloadApiClient};
use tonic::Code;
use tonic::transport::Channel;

use crate::cli::flags::SocketArgs;

/// The endpoint to dial: `-socketPath` (a path, or a `unix:`/`tcp:` URI), else the
/// `SPIFFE_ENDPOINT_SOCKET` environment variable, else the default socket.
pub(crate) fn endpoint(args: &SocketArgs) -> Result<Endpoint> {
    match args.socket_path.as_deref() {
        Some(value) if value.starts_with("unix:") || value.starts_with("tcp:") => {
            Endpoint::parse(value).map_err(|e| anyhow!("invalid -socketPath: {e}"))
        }
        Some(value) => {
            let path = std::path::absolute(value)
                .map_err(|e| anyhow!("invalid -socketPath {value:?}: {e}"))?;
            Ok(Endpoint::Unix(path))
        }
        None => match std::env::var(ENDPOINT_ENV) {
            Ok(value) if !value.is_empty() => {
                Endpoint::parse(&value).map_err(|e| anyhow!("invalid {ENDPOINT_ENV}: {e}"))
            }
            _ => Ok(Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET_PATH))),
        },
    }
}

/// Dials the endpoint once, so that an agent that is not there is reported plainly.
async fn dial(endpoint: &Endpoint) -> Result<()> {
    let (network, address, result) = match endpoint {
        Endpoint::Unix(path) => (
            "unix",
            path.display().to_string(),
            tokio::net::UnixStream::connect(path).await.map(drop),
        ),
        Endpoint::Tcp(addr) => (
            "tcp",
            addr.to_string(),
            tokio::net::TcpStream::connect(addr).await.map(drop),
        ),
    };
    result.map_err(|e| {
        anyhow::Error::new(Rpc {
            code: Code::Unavailable,
            message: format!(
                "connection error: desc = \"transport: Error while dialing: dial {network} {address}: connect: {}\"",
                io_reason(&e)
            ),
        })
    })
}

/// A Workload API client of the agent at `args`' endpoint.
pub(crate) async fn connect(args: &SocketArgs) -> Result<WorkloadApiClient> {
    let endpoint = endpoint(args)?;
    dial(&endpoint).await?;
    WorkloadApiClient::connect_lazy(endpoint).map_err(client_error)
}

/// A plain gRPC channel to the endpoint (for `grpc.health.v1`).
pub(crate) async fn channel(args: &SocketArgs) -> Result<Channel> {
    let endpoint = endpoint(args)?;
    dial(&endpoint).await?;
    match endpoint {
        Endpoint::Unix(path) => {
            // The URI is a placeholder; the connector dials the socket.
            let uri = tonic::transport::Endpoint::from_static("http://localhost");
            Ok(
                uri.connect_with_connector_lazy(tower::service_fn(move |_: http::Uri| {
                    let path = path.clone();
                    async move {
                        let stream = tokio::net::UnixStream::connect(path).await?;
                        Ok::<_, std::io::Error>(TokioIo::new(stream))
                    }
                })),
            )
        }
        Endpoint::Tcp(addr) => {
            Ok(tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?.connect_lazy())
        }
    }
}

/// Runs `call` within `timeout` (none when zero), failing as grpc-go does when it expires.
pub(crate) async fn within<T>(
    timeout: Duration,
    call: impl Future<Output = Result<T>>,
) -> Result<T> {
    if timeout.is_zero() {
        return call.await;
    }
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result,
        Err(_) => Err(anyhow::Error::new(Rpc {
            code: Code::DeadlineExceeded,
            message: "context deadline exceeded".into(),
        })),
    }
}

/// A short, lower-case reason for a failed dial, as Go's syscall errors read.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "no such file or directory".into(),
        ErrorKind::ConnectionRefused => "connection refused".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => {
            let text = e.to_string();
            let text = text
                .split_once(" (os error")
                .map_or(text.as_str(), |(t, _)| t);
            let mut chars = text.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_lowercase().chain(chars).collect()
            })
        }
    }
}

/// A failed call, displayed like grpc-go: `rpc error: code = NotFound desc = ...`.
#[derive(Debug)]
pub(crate) struct Rpc {
    /// The status code.
    pub(crate) code: Code,
    /// The status message.
    pub(crate) message: String,
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rpc error: code = {} desc = {}",
            code_name(self.code),
            self.message
        )
    }
}

impl std::error::Error for Rpc {}

/// A Workload API client error as SPIRE's CLI prints it: statuses as grpc-go does, a
/// response without SVIDs as `workload response contains no svids`, the rest as it is.
pub(crate) fn client_error(e: ClientError) -> anyhow::Error {
    match e {
        ClientError::Status { code, message, .. } => anyhow::Error::new(Rpc { code, message }),
        ClientError::Connect { source, .. } => anyhow::Error::new(Rpc {
            code: Code::Unavailable,
            message: format!("connection error: {source}"),
        }),
        ClientError::EmptyStream { .. } | ClientError::StreamEnded { .. } => {
            anyhow::Error::new(Rpc {
                code: Code::Unavailable,
                message: "the agent closed the stream".into(),
            })
        }
        ClientError::MissingField {
            field: "X509SVIDResponse.svids",
        } => anyhow!("workload response contains no svids"),
        other => anyhow::Error::new(other),
    }
}

/// Go's `codes.Code.String()`.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_go_display() {
        let e = client_error(ClientError::Status {
            rpc: "FetchX509SVID",
            code: Code::PermissionDenied,
            message: "no identity issued".into(),
        });
        assert_eq!(
            e.to_string(),
            "rpc error: code = PermissionDenied desc = no identity issued"
        );
        let e = client_error(ClientError::MissingField {
            field: "X509SVIDResponse.svids",
        });
        assert_eq!(e.to_string(), "workload response contains no svids");
    }

    #[test]
    fn endpoints() {
        let args = |s: &str| SocketArgs {
            socket_path: Some(s.to_owned()),
        };
        assert_eq!(
            endpoint(&args("/run/agent.sock")).ok(),
            Some(Endpoint::Unix("/run/agent.sock".into()))
        );
        assert_eq!(
            endpoint(&args("unix:///run/agent.sock")).ok(),
            Some(Endpoint::Unix("/run/agent.sock".into()))
        );
        let relative = endpoint(&args("agent.sock")).ok();
        assert!(
            relative
                .as_ref()
                .and_then(Endpoint::unix_path)
                .is_some_and(|p| p.is_absolute() && p.ends_with("agent.sock")),
            "{relative:?}"
        );
        assert!(endpoint(&args("tcp://localhost:1")).is_err());
    }

    #[test]
    fn io_reasons_read_like_go() {
        let e = std::io::Error::from(ErrorKind::NotFound);
        assert_eq!(io_reason(&e), "no such file or directory");
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(io_reason(&e), "connection refused");
    }
}
