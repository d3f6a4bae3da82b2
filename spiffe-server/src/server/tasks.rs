//! The server's background loops: CA rotation with bundle publication, server SVID renewal and
//! join token pruning; and following the datastore events of other servers.

use std::sync::Arc;
use std::time::Duration;

use spiffe_core::SvidCell;
use spiffe_core::backoff::Backoff;
use tokio::sync::watch;
use tracing::{info, warn};

use super::identity::mint_server_svid;
use crate::datastore::now_unix;
use crate::state::ServerState;

/// Rotates the CA on schedule, publishes bundle changes, renews the server SVID at half-life,
/// prunes expired join tokens.
pub(super) async fn rotation_loop(
    state: Arc<ServerState>,
    svid: Arc<SvidCell>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(state.config.rotation_interval);
    let mut last_prune = 0i64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        match state.ca.rotate() {
            Ok(report) if report.bundle_changed => {
                if let Err(e) = state.publish_local_bundle().await {
                    warn!(error = %e, "bundle publication failed; will retry");
                }
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "CA rotation failed; will retry"),
        }
        let current = svid.get();
        let now = now_unix();
        let half = (current.not_before_unix() + current.expires_at_unix()) / 2;
        if now >= half {
            match mint_server_svid(&state) {
                Ok(new) => {
                    svid.set(new);
                    info!("server SVID renewed");
                }
                Err(e) => warn!(error = %e, "server SVID renewal failed; will retry"),
            }
        }
        if now - last_prune > 3600 {
            last_prune = now;
            if let Err(e) = state.ds.prune_join_tokens(now).await {
                warn!(error = %e, "join token pruning failed");
            }
        }
    }
}

/// Follows the changes other servers commit to a shared PostgreSQL database.
pub(super) async fn event_loop(state: Arc<ServerState>, mut shutdown: watch::Receiver<bool>) {
    // Jittered, so that servers sharing a database that went away do not all come back at once.
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        let mut events = match state.ds.listen().await {
            Ok(Some(events)) => events,
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "datastore event listener failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = shutdown.wait_for(|s| *s) => return,
                }
                continue;
            }
        };
        // Anything missed while not listening is picked up by one reload.
        if let Err(e) = state.reload().await {
            warn!(error = %e, "reload after (re)connecting to the datastore failed");
        }
        backoff.reset();
        loop {
            let next = tokio::select! {
                n = events.next() => n,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            match next {
                Ok(Some(event)) => {
                    if let Err(e) = state.refresh(&event).await {
                        warn!(error = %e, ?event, "datastore refresh failed");
                    }
                }
                Ok(None) => {
                    if let Err(e) = state.reload().await {
                        warn!(error = %e, "reload after a lost event connection failed");
                    }
                }
                Err(e) => {
                    warn!(error = %e, "datastore event stream failed; reconnecting");
                    break;
                }
            }
        }
    }
}
