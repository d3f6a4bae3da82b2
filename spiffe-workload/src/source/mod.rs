//! Sources that follow the Workload API in the background: [`X509Source`] and [`JwtSource`].
//!
//! Each keeps one stream open in a tokio task, publishes `Arc` snapshots, notifies watchers
//! only when something really changed, reconnects with exponential backoff and jitter
//! (InvalidArgument and Unimplemented are final, everything else is retried), and stops its
//! task when the last handle is dropped. Building one waits for the first update, up to a
//! timeout.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use spiffe_core::{authorize, SpiffeId};
//! use spiffe_workload::X509Source;
//!
//! let source = X509Source::new().await?; // SPIFFE_ENDPOINT_SOCKET
//! let admit = authorize::id(SpiffeId::parse("spiffe://example.org/ns/prod/sa/payment")?);
//! let server_config = source.mtls_config(Arc::new(admit)).server_config()?;
//! # Ok(())
//! # }
//! ```

mod jwt;
mod picker;
mod supervisor;
mod x509;

use std::time::Duration;

pub use jwt::{JwtSource, JwtSourceBuilder};
pub use picker::{PickFn, SvidPicker};
pub use supervisor::{SourceClosed, StartError, Updates};
pub use x509::{X509Source, X509SourceBuilder};

use crate::client::{Backoff, Endpoint, WorkloadApiClient};

/// How long a source waits for its first update unless told otherwise.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how a source connects.
#[derive(Debug)]
pub(crate) struct Options {
    pub(crate) address: Option<String>,
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) client: Option<WorkloadApiClient>,
    pub(crate) timeout: Duration,
    pub(crate) backoff: Backoff,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            address: None,
            endpoint: None,
            client: None,
            timeout: DEFAULT_START_TIMEOUT,
            backoff: Backoff::default(),
        }
    }
}
