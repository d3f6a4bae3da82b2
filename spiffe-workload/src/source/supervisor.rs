//! The background task shared by the sources: keeps one stream open, publishes each update
//! that changes something, reconnects with backoff, and stops when its owner is dropped.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::client::{Backoff, ClientError, UpdateStream, WorkloadApiClient};

/// What a source holds at one moment.
#[derive(Debug)]
pub(crate) enum Published<T> {
    /// No update yet.
    Pending,
    /// The latest update.
    Ready(Arc<T>),
    /// The server withdrew everything it had sent (PermissionDenied): it must not be used.
    Withdrawn,
    /// A final error (InvalidArgument, Unimplemented): the task stopped.
    Failed(Arc<ClientError>),
}

impl<T> Published<T> {
    pub(crate) fn ready(&self) -> Option<&Arc<T>> {
        match self {
            Published::Ready(value) => Some(value),
            _ => None,
        }
    }
}

/// A source whose background task has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("source closed: its background task has stopped")]
pub struct SourceClosed;

/// Why a source could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The endpoint address is missing or malformed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// No update arrived in time.
    #[error(
        "no {what} from the Workload API at {endpoint} within {waited:?}{}",
        last_error_suffix(last_error.as_deref())
    )]
    Timeout {
        /// What was awaited (`X.509 context`, `JWT bundles`).
        what: &'static str,
        /// The endpoint.
        endpoint: String,
        /// How long it waited.
        waited: Duration,
        /// The last error seen while retrying.
        last_error: Option<String>,
    },
    /// The server answered with an error that must not be retried.
    #[error("{what} refused by the Workload API at {endpoint}: {source}")]
    Refused {
        /// What was asked for.
        what: &'static str,
        /// The endpoint.
        endpoint: String,
        /// The error.
        #[source]
        source: Arc<ClientError>,
    },
}

fn last_error_suffix(last_error: Option<&str>) -> String {
    last_error
        .map(|e| format!(" (last error: {e})"))
        .unwrap_or_default()
}

/// Notifications of a source's changes.
#[derive(Debug)]
pub struct Updates<T> {
    rx: watch::Receiver<Published<T>>,
}

impl<T> Clone for Updates<T> {
    fn clone(&self) -> Self {
        Updates {
            rx: self.rx.clone(),
        }
    }
}

impl<T> Updates<T> {
    pub(crate) fn new(mut rx: watch::Receiver<Published<T>>) -> Self {
        rx.mark_unchanged();
        Updates { rx }
    }

    /// Waits for the next change (a new value, or a withdrawal) after the last one seen.
    ///
    /// # Errors
    ///
    /// [`SourceClosed`] once the source has stopped.
    pub async fn changed(&mut self) -> Result<(), SourceClosed> {
        self.rx.changed().await.map_err(|_| SourceClosed)
    }

    /// The value now, if the source holds one (and marks it seen).
    pub fn latest(&mut self) -> Option<Arc<T>> {
        self.rx.borrow_and_update().ready().cloned()
    }
}

/// Opens the stream a source follows.
pub(crate) type Open<T> = Arc<
    dyn Fn(WorkloadApiClient) -> BoxFuture<'static, Result<UpdateStream<T>, ClientError>>
        + Send
        + Sync,
>;

/// What one source follows.
pub(crate) struct Feed<T> {
    /// For logs and errors: `X.509 context`, `JWT bundles`.
    pub(crate) what: &'static str,
    /// The RPC followed.
    pub(crate) rpc: &'static str,
    pub(crate) open: Open<T>,
    /// Whether two updates carry the same content (no notification then).
    pub(crate) same: fn(&T, &T) -> bool,
}

/// Aborts the background task when the last handle of a source is dropped.
#[derive(Debug)]
pub(crate) struct TaskGuard(JoinHandle<()>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The part of a source its handles share.
#[derive(Debug)]
pub(crate) struct Shared<T> {
    pub(crate) rx: watch::Receiver<Published<T>>,
    pub(crate) last_error: Arc<Mutex<Option<String>>>,
    pub(crate) endpoint: String,
    _guard: TaskGuard,
}

impl<T> Shared<T> {
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Starts the task and waits (up to `timeout`) for its first update.
pub(crate) async fn start<T: Send + Sync + 'static>(
    client: WorkloadApiClient,
    feed: Feed<T>,
    backoff: Backoff,
    timeout: Duration,
) -> Result<Shared<T>, StartError> {
    let (tx, mut rx) = watch::channel(Published::Pending);
    let last_error = Arc::new(Mutex::new(None));
    let endpoint = client.endpoint().to_string();
    let what = feed.what;
    let span = tracing::info_span!("workload_source", rpc = feed.rpc, endpoint = %endpoint);
    let task =
        tokio::spawn(run(client, feed, tx, Arc::clone(&last_error), backoff).instrument(span));
    let shared = Shared {
        rx: rx.clone(),
        last_error,
        endpoint: endpoint.clone(),
        _guard: TaskGuard(task),
    };
    let first = tokio::time::timeout(
        timeout,
        rx.wait_for(|p| matches!(p, Published::Ready(_) | Published::Failed(_))),
    )
    .await;
    match first {
        Ok(Ok(published)) => match &*published {
            Published::Failed(e) => Err(StartError::Refused {
                what,
                endpoint,
                source: Arc::clone(e),
            }),
            _ => {
                drop(published);
                Ok(shared)
            }
        },
        Ok(Err(_)) | Err(_) => Err(StartError::Timeout {
            what,
            endpoint,
            waited: timeout,
            last_error: shared.last_error(),
        }),
    }
}

async fn run<T: Send + Sync + 'static>(
    client: WorkloadApiClient,
    feed: Feed<T>,
    tx: watch::Sender<Published<T>>,
    last_error: Arc<Mutex<Option<String>>>,
    mut backoff: Backoff,
) {
    loop {
        let error = follow(&client, &feed, &tx, &mut backoff).await;
        *last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
        if error.is_permission_denied() {
            tracing::warn!(error = %error, "identity withdrawn by the Workload API");
            tx.send_if_modified(|p| {
                let changed = !matches!(p, Published::Withdrawn | Published::Pending);
                if changed {
                    *p = Published::Withdrawn;
                }
                changed
            });
        }
        if !error.is_retryable() {
            tracing::error!(error = %error, "Workload API refused the request; not retrying");
            tx.send_replace(Published::Failed(Arc::new(error)));
            return;
        }
        let delay = backoff.next_delay();
        tracing::debug!(error = %error, ?delay, "reconnecting after backoff");
        tokio::time::sleep(delay).await;
    }
}

/// Follows one stream until it fails or ends; returns why it stopped.
async fn follow<T>(
    client: &WorkloadApiClient,
    feed: &Feed<T>,
    tx: &watch::Sender<Published<T>>,
    backoff: &mut Backoff,
) -> ClientError {
    let mut stream = match (feed.open)(client.clone()).await {
        Ok(stream) => stream,
        Err(e) => return e,
    };
    while let Some(item) = stream.next().await {
        let update = match item {
            Ok(update) => update,
            Err(e) => return e,
        };
        backoff.reset();
        let changed = tx.send_if_modified(|p| match p {
            Published::Ready(old) if (feed.same)(old, &update) => false,
            _ => {
                *p = Published::Ready(Arc::new(update));
                true
            }
        });
        tracing::debug!(changed, "update received");
    }
    ClientError::StreamEnded { rpc: feed.rpc }
}
