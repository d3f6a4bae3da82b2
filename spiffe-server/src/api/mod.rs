//! The gRPC services, modeled on SPIRE's server API, and who may call them.
//!
//! Callers on the admin UNIX socket are administrators (the socket's file permissions decide
//! who can connect). Callers on the TCP endpoint are authenticated by their X509-SVID in the TLS
//! handshake: agents (an attested, unbanned node whose current SVID serial matches), or
//! workloads holding an unexpired admin entry. A connection outlives the handshake, so every
//! call checks again: the SVID must still be within its validity period, the agent still
//! attested with that serial, the admin entry still there.

mod agent;
mod bundle;
mod entry;
pub mod expires_before;
mod filters;
mod ratelimit;
mod svid;
mod sync;
mod trustdomain;

pub use agent::AgentApi;
pub use bundle::BundleApi;
pub use entry::EntryApi;
pub use svid::SvidApi;
pub use sync::SyncApi;
pub use trustdomain::TrustDomainApi;

use std::net::SocketAddr;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use spiffe_core::SpiffeId;
use spiffe_core::x509::{CertificateInfo, leaf_spiffe_id};
use spiffe_proto::spire::api::types as pb;
use tonic::{Code, Request, Status};
use tracing::warn;

use crate::attest::LogId;
use crate::convert::serial_to_decimal;
use crate::datastore::{DatastoreError, now_unix};
use crate::entry::is_agent_id;
use crate::state::ServerState;

/// What the TLS endpoint knows about a connection: the peer's verified certificates and
/// address.
#[derive(Debug, Clone, Default)]
pub struct TlsPeer {
    /// The peer's chain, leaf first, as verified in the handshake (empty: no client certificate).
    pub certificates: Arc<Vec<CertificateDer<'static>>>,
    /// The peer's address (for per-address limits), when known.
    pub remote: Option<SocketAddr>,
}

/// Who is calling.
#[derive(Debug, Clone)]
pub(crate) enum Caller {
    /// On the admin socket.
    Local,
    /// An agent, by its SPIFFE ID.
    Agent(SpiffeId),
    /// A workload with an admin entry.
    AdminWorkload(SpiffeId),
    /// A TLS peer with no usable SVID (only attestation is open to it).
    Anonymous,
}

fn tls_peer<T>(req: &Request<T>) -> Option<TlsPeer> {
    req.extensions().get::<TlsPeer>().cloned().or_else(|| {
        req.extensions()
            .get::<tonic::transport::server::TcpConnectInfo>()
            .map(|_| TlsPeer::default())
    })
}

/// Establishes who is calling. Local socket callers are administrators.
pub(crate) fn caller<T>(state: &ServerState, req: &Request<T>) -> Result<Caller, Status> {
    let Some(peer) = tls_peer(req) else {
        return Ok(Caller::Local);
    };
    let Some(leaf) = peer.certificates.first() else {
        return Ok(Caller::Anonymous);
    };
    let id = leaf_spiffe_id(leaf)
        .map_err(|e| Status::unauthenticated(format!("caller certificate: {e}")))?;
    let info = CertificateInfo::parse(leaf)
        .map_err(|e| Status::unauthenticated(format!("caller certificate: {e}")))?;
    check_validity(&info, now_unix())?;
    if is_agent_id(&id) {
        check_agent(state, &id, &serial_to_decimal(&info.serial))?;
        return Ok(Caller::Agent(id));
    }
    if state.with_index(|ix| ix.is_admin(&id, now_unix())) {
        Ok(Caller::AdminWorkload(id))
    } else {
        Ok(Caller::Anonymous)
    }
}

/// Whether a TLS peer's certificates, now, make it an agent or an admin workload (see
/// [`caller`]): such connections get the limits of authenticated connections, any other the
/// tighter ones of anonymous connections.
pub(crate) fn is_authenticated(state: &ServerState, certificates: &[CertificateDer<'_>]) -> bool {
    let Some(leaf) = certificates.first() else {
        return false;
    };
    let (Ok(id), Ok(info)) = (leaf_spiffe_id(leaf), CertificateInfo::parse(leaf)) else {
        return false;
    };
    if check_validity(&info, now_unix()).is_err() {
        return false;
    }
    if is_agent_id(&id) {
        check_agent(state, &id, &serial_to_decimal(&info.serial)).is_ok()
    } else {
        state.with_index(|ix| ix.is_admin(&id, now_unix()))
    }
}

/// A certificate is accepted only within its validity period, at every call: the TLS handshake
/// checked it once, but a connection (and a stream) may outlive it.
pub(crate) fn check_validity(info: &CertificateInfo, now: i64) -> Result<(), Status> {
    if now > info.not_after {
        return Err(Status::unauthenticated(format!(
            "caller certificate expired at {} (now {now}); reconnect with a current SVID",
            info.not_after
        )));
    }
    if now < info.not_before {
        return Err(Status::unauthenticated(format!(
            "caller certificate is not valid before {} (now {now})",
            info.not_before
        )));
    }
    Ok(())
}

/// An agent may call while it is attested, not banned, and presents its current (or just
/// renewed) SVID (`serial`, decimal). The statuses name the agent in full: they go to the agent
/// itself, whose join token (if any) was spent when it attested.
pub(crate) fn check_agent(state: &ServerState, id: &SpiffeId, serial: &str) -> Result<(), Status> {
    let node = state.with_index(|ix| ix.node(id).cloned()).ok_or_else(|| {
        Status::permission_denied(format!("agent {id} is not attested (evicted?)"))
    })?;
    if node.banned {
        return Err(Status::permission_denied(format!("agent {id} is banned")));
    }
    if serial != node.serial_number && serial != node.new_serial_number {
        return Err(Status::permission_denied(format!(
            "agent {id} presented an SVID that is no longer current"
        )));
    }
    Ok(())
}

/// Requires an administrator.
pub(crate) fn require_admin<T>(state: &ServerState, req: &Request<T>) -> Result<(), Status> {
    match caller(state, req)? {
        Caller::Local => Ok(()),
        Caller::AdminWorkload(id) => {
            tracing::debug!(caller = %LogId(&id), "admin call with an admin X509-SVID");
            Ok(())
        }
        Caller::Agent(id) => Err(Status::permission_denied(format!(
            "agent {id} may not call admin APIs"
        ))),
        Caller::Anonymous => Err(Status::permission_denied(
            "admin APIs need the admin socket or an admin X509-SVID",
        )),
    }
}

/// Requires an agent; returns its ID.
pub(crate) fn require_agent<T>(state: &ServerState, req: &Request<T>) -> Result<SpiffeId, Status> {
    match caller(state, req)? {
        Caller::Agent(id) => Ok(id),
        _ => Err(Status::permission_denied("caller is not an attested agent")),
    }
}

/// Maps a datastore error to a gRPC status.
pub(crate) fn ds_status(e: DatastoreError) -> Status {
    match e {
        DatastoreError::AlreadyExists(m) => Status::already_exists(m),
        DatastoreError::NotFound(m) => Status::not_found(m),
        other => {
            warn!(error = %other, "datastore failure");
            Status::internal(other.to_string())
        }
    }
}

/// Maps a datastore error to a gRPC status (for the server's other modules).
pub fn ds_status_pub(e: DatastoreError) -> Status {
    ds_status(e)
}

/// A per-item status of a batch response.
pub(crate) fn ok_status() -> pb::Status {
    pb::Status {
        code: Code::Ok as i32,
        message: "OK".into(),
    }
}

/// A per-item status from an error.
pub(crate) fn item_status(s: &Status) -> pb::Status {
    pb::Status {
        code: s.code() as i32,
        message: s.message().to_owned(),
    }
}
