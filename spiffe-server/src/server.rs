//! Running a server: the endpoints (admin UNIX socket, agent TCP+TLS, HTTP health, SPIFFE
//! bundle endpoint), the server's own SVID, and the background tasks (CA rotation, bundle
//! publication, federated bundle refresh, datastore events from other servers, join token
//! pruning).
//!
//! - `compose`: [`start`] and [`run`] put the pieces together; [`RunningServer`] stops them.
//! - `admin`: the admin API's UNIX socket.
//! - `listener`: the agent API's TCP accept loop, TLS handshakes and per-connection limits.
//! - `identity`: the server's own X509-SVID and the TLS configuration presenting it.
//! - `tasks`: the background loops (rotation, datastore events).
//! - `error`: [`ServerError`].

mod admin;
mod compose;
mod error;
mod identity;
mod listener;
mod tasks;

pub use compose::{RunningServer, run, start};
pub use error::ServerError;
