//! File sinks: for workloads that read files, the agent writes `svid.pem`, `key.pem` (0600) and
//! `bundle.pem` into a directory, each by atomic rename, again on every rotation.

use std::sync::Arc;

use spiffe_core::X509Svid;
use spiffe_workload::files::FileSink as Writer;
use tracing::{info, warn};

use crate::cache::Cache;
use crate::config::FileSink;

/// Writes the configured sinks whenever their SVID or the bundle changes.
pub(crate) async fn sink_loop(cache: Arc<Cache>, sinks: Vec<FileSink>) {
    if sinks.is_empty() {
        return;
    }
    let mut rx = cache.subscribe();
    let mut written: Vec<Option<(Vec<u8>, Option<u64>)>> = vec![None; sinks.len()];
    loop {
        for (i, sink) in sinks.iter().enumerate() {
            let found = cache.read(|s| {
                let mut ids: Vec<&String> = s.svids.keys().collect();
                ids.sort();
                let svid: Option<Arc<X509Svid>> = ids.into_iter().find_map(|id| {
                    let entry = s.entries.get(id)?;
                    let wanted = match &sink.spiffe_id {
                        Some(sid) => &entry.spiffe_id == sid,
                        None => {
                            !sink.selectors.is_empty()
                                && sink.selectors.iter().all(|x| entry.selectors.contains(x))
                        }
                    };
                    if wanted {
                        s.svids.get(id).map(|c| Arc::clone(&c.svid))
                    } else {
                        None
                    }
                });
                svid.map(|v| (v, s.bundle.clone()))
            });
            let Some((svid, bundle)) = found else {
                continue;
            };
            let Some(bundle) = bundle else { continue };
            let version = (svid.leaf().to_vec(), bundle.sequence());
            if written[i].as_ref() == Some(&version) {
                continue;
            }
            match Writer::new(&sink.dir).write(&svid, &[bundle.x509()]) {
                Ok(()) => {
                    info!(dir = %sink.dir.display(), spiffe_id = %svid.spiffe_id(), "SVID files written");
                    written[i] = Some(version);
                }
                Err(e) => {
                    warn!(dir = %sink.dir.display(), error = %e, "could not write SVID files")
                }
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
