//! Reaching the server's admin socket, and gRPC errors printed as SPIRE prints them.

use std::fmt;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{Result, anyhow};
use tonic::Code;
use tonic::transport::Channel;

/// A gRPC channel to the admin socket. The socket is dialed once first, so that a missing
/// server is reported plainly instead of as a transport error.
pub(crate) async fn connect(socket: &Path) -> Result<Channel> {
    if let Err(e) = tokio::net::UnixStream::connect(socket).await {
        return Err(anyhow!(
            "could not reach the server at -socketPath {}: {} (is `spiffe-server run` running with this socket?)",
            socket.display(),
            io_reason(&e)
        ));
    }
    spiffe_server::client::admin_channel(socket)
        .map_err(|e| anyhow!("admin socket {}: {e}", socket.display()))
}

/// A short, lower-case reason for a failed dial.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => "no such socket".into(),
        ErrorKind::ConnectionRefused => "connection refused (stale socket?)".into(),
        ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// A failed call, displayed like grpc-go: `rpc error: code = NotFound desc = entry not found`.
#[derive(Debug)]
pub(crate) struct Rpc(pub(crate) tonic::Status);

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rpc error: code = {} desc = {}",
            code_name(self.0.code()),
            self.0.message()
        )
    }
}

impl std::error::Error for Rpc {}

/// A failed call as an error.
pub(crate) fn rpc(status: tonic::Status) -> anyhow::Error {
    anyhow::Error::new(Rpc(status))
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

/// The name of a per-item status code of a batch response.
pub(crate) fn status_code_name(code: i32) -> String {
    match Code::from_i32(code) {
        Code::Unknown if code != Code::Unknown as i32 => format!("Code({code})"),
        c => code_name(c).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_go_display() {
        let e = rpc(tonic::Status::not_found("agent not found"));
        assert_eq!(
            e.to_string(),
            "rpc error: code = NotFound desc = agent not found"
        );
        assert_eq!(status_code_name(6), "AlreadyExists");
        assert_eq!(status_code_name(99), "Code(99)");
    }
}
