//! [`ClientError`]: what can go wrong talking to the Workload API.

use spiffe_core::{BundleError, IdError, JwtError, X509Error};
use thiserror::Error;

use super::EndpointError;

/// Why a Workload API call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `SPIFFE_ENDPOINT_SOCKET` is not set and no address was given.
    #[error("no Workload API address: SPIFFE_ENDPOINT_SOCKET is not set")]
    EnvNotSet,
    /// The endpoint address is malformed.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The endpoint could not be reached.
    #[error("cannot connect to the Workload API at {endpoint}: {source}")]
    Connect {
        /// The address.
        endpoint: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The server answered with an error status.
    #[error("{rpc}: {code:?}: {message}")]
    Status {
        /// The RPC.
        rpc: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The server's message.
        message: String,
    },
    /// A stream ended before its first message.
    #[error("{rpc}: stream ended without a message")]
    EmptyStream {
        /// The RPC.
        rpc: &'static str,
    },
    /// The server closed a stream (after sending messages) without an error.
    #[error("{rpc}: the server closed the stream")]
    StreamEnded {
        /// The RPC.
        rpc: &'static str,
    },
    /// A mandatory field of a response has its default value (SPIFFE_Workload_API.md 4.5: the
    /// message is discarded).
    #[error("response field {field} is mandatory but empty")]
    MissingField {
        /// The field, as `Message.field`.
        field: &'static str,
    },
    /// A field that should hold a SPIFFE ID or trust domain does not.
    #[error("response field {field} holds {value:?}, which is not valid: {source}")]
    InvalidId {
        /// The field.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why it was refused.
        #[source]
        source: IdError,
    },
    /// An X509-SVID of the response is invalid.
    #[error("X509SVIDResponse.svids[{index}] ({spiffe_id}): {source}")]
    InvalidX509Svid {
        /// Its position in `svids`.
        index: usize,
        /// The `spiffe_id` field.
        spiffe_id: String,
        /// Why it was refused.
        #[source]
        source: X509Error,
    },
    /// The `spiffe_id` field of an SVID is not the ID in its certificate or token.
    #[error("{field} says {claimed} but the SVID is for {actual}")]
    IdMismatch {
        /// The field.
        field: &'static str,
        /// The field's value.
        claimed: String,
        /// The ID in the SVID.
        actual: String,
    },
    /// A bundle of the response is invalid.
    #[error("bundle of {trust_domain} in {field}: {source}")]
    InvalidBundle {
        /// The field.
        field: &'static str,
        /// The trust domain.
        trust_domain: String,
        /// Why it was refused.
        #[source]
        source: BundleError,
    },
    /// A trust domain appears twice in one response.
    #[error("trust domain {trust_domain} appears twice in {field}")]
    DuplicateTrustDomain {
        /// The field.
        field: &'static str,
        /// The trust domain.
        trust_domain: String,
    },
    /// A JWT-SVID of the response is invalid.
    #[error("JWTSVIDResponse.svids[{index}]: {source}")]
    InvalidJwtSvid {
        /// Its position in `svids`.
        index: usize,
        /// Why it was refused.
        #[source]
        source: JwtError,
    },
    /// The request was refused before it was sent (an argument the server would refuse).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl ClientError {
    /// The gRPC status code, when the server answered with one.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying (after a backoff) may help, per SPIFFE_Workload_Endpoint.md 6:
    /// InvalidArgument and Unimplemented are final, as are a bad address and a bad request;
    /// Unavailable, PermissionDenied, an unreachable endpoint and malformed responses are
    /// retried (the server may be starting, or eventually consistent).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Status { code, .. } => !matches!(
                code,
                tonic::Code::InvalidArgument | tonic::Code::Unimplemented
            ),
            ClientError::EnvNotSet | ClientError::Endpoint(_) | ClientError::InvalidRequest(_) => {
                false
            }
            _ => true,
        }
    }

    /// Whether the server said the caller may not have what it asked for (PermissionDenied):
    /// per SPIFFE_Workload_API.md 5.2, what the stream delivered before must no longer be used.
    pub fn is_permission_denied(&self) -> bool {
        self.code() == Some(tonic::Code::PermissionDenied)
    }

    pub(crate) fn status(rpc: &'static str, status: tonic::Status) -> Self {
        ClientError::Status {
            rpc,
            code: status.code(),
            message: status.message().to_owned(),
        }
    }
}
