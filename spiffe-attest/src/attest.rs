//! [`WorkloadAttestor`] and [`attest_process`]: several attestors' selectors for one process,
//! guarded against PID reuse.

use std::path::Path;
use std::sync::Arc;

use futures::future::{BoxFuture, join_all};
use spiffe_core::Selector;
use tracing::{Instrument, debug, debug_span};

use crate::error::AttestError;
use crate::proc;
use crate::process::ProcessIdentity;

/// A source of selectors for a process, named by the selector type it emits (`unix`, `k8s`).
///
/// Object safe: attestors are held as `Arc<dyn WorkloadAttestor>` and combined by
/// [`attest_process`]. An attestor with nothing to say about a process (a `k8s` attestor asked
/// about a process outside any pod) returns no selectors rather than an error.
pub trait WorkloadAttestor: Send + Sync {
    /// The attestor's name, which is also the type of every selector it emits.
    fn name(&self) -> &str;

    /// The selectors of the process `pid`, from facts the process cannot forge.
    fn attest(&self, pid: i32) -> BoxFuture<'_, Result<Vec<Selector>, AttestError>>;
}

/// The result of attesting one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// Every attestor's selectors, sorted and without duplicates.
    pub selectors: Vec<Selector>,
    /// The process the selectors describe, checked to be the same before and after.
    pub process: ProcessIdentity,
}

/// Attests the process `pid` (read from the host's `/proc`) with every attestor.
///
/// Captures the process's identity, runs the attestors concurrently, and checks that the PID
/// still names the same process: see [`crate::process`] for the PID-reuse threat this closes.
pub async fn attest_process(
    pid: i32,
    attestors: &[Arc<dyn WorkloadAttestor>],
) -> Result<Attestation, AttestError> {
    attest_process_in(&proc::default_proc_root(), pid, attestors).await
}

/// [`attest_process`] with the proc filesystem at `proc_root`.
pub async fn attest_process_in(
    proc_root: &Path,
    pid: i32,
    attestors: &[Arc<dyn WorkloadAttestor>],
) -> Result<Attestation, AttestError> {
    let process = ProcessIdentity::capture_in(proc_root, pid)?;
    attest_captured_in(proc_root, process, attestors).await
}

/// Attests a process whose identity was captured earlier (ideally right when its connection was
/// accepted), against the host's `/proc`.
pub async fn attest_captured(
    process: ProcessIdentity,
    attestors: &[Arc<dyn WorkloadAttestor>],
) -> Result<Attestation, AttestError> {
    attest_captured_in(&proc::default_proc_root(), process, attestors).await
}

/// [`attest_captured`] with the proc filesystem at `proc_root`.
///
/// If an attestor fails and the process also changed or exited, the PID-reuse error is returned:
/// it explains the failure.
pub async fn attest_captured_in(
    proc_root: &Path,
    process: ProcessIdentity,
    attestors: &[Arc<dyn WorkloadAttestor>],
) -> Result<Attestation, AttestError> {
    let pid = process.pid();
    let span = debug_span!("attest_process", pid, attestors = attestors.len());
    async move {
        let results = join_all(attestors.iter().map(|a| a.attest(pid))).await;
        let mut selectors = Vec::new();
        let mut failure = None;
        for (attestor, result) in attestors.iter().zip(results) {
            match result.and_then(|found| own_selectors(attestor.name(), found)) {
                Ok(found) => {
                    debug!(attestor = attestor.name(), count = found.len(), "attested");
                    selectors.extend(found);
                }
                Err(err) => {
                    debug!(attestor = attestor.name(), error = %err, "attestor failed");
                    failure.get_or_insert(err);
                }
            }
        }
        process.verify_in(proc_root)?;
        if let Some(err) = failure {
            return Err(err);
        }
        selectors.sort();
        selectors.dedup();
        debug!(count = selectors.len(), "process attested");
        Ok(Attestation { selectors, process })
    }
    .instrument(span)
    .await
}

/// Checks that every selector is of the attestor's own type.
fn own_selectors(attestor: &str, selectors: Vec<Selector>) -> Result<Vec<Selector>, AttestError> {
    match selectors.iter().find(|s| s.kind() != attestor) {
        Some(foreign) => Err(AttestError::ForeignSelector {
            attestor: attestor.to_owned(),
            selector: foreign.to_string(),
        }),
        None => Ok(selectors),
    }
}
