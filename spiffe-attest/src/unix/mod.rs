//! [`UnixAttestor`]: selectors of type `unix`, compatible with SPIRE's unix workload attestor.
//!
//! Every fact is read from `/proc/<pid>/...` (never from anything the workload sends):
//!
//! | selector | value |
//! |---|---|
//! | `unix:uid:<uid>` | the **effective** uid (second field of `Uid:` in `/proc/<pid>/status`) |
//! | `unix:user:<name>` | its user name; omitted if the uid has no user |
//! | `unix:gid:<gid>` | the **effective** gid (second field of `Gid:`) |
//! | `unix:group:<name>` | its group name; omitted if the gid has no group |
//! | `unix:supplementary_gid:<gid>` | each gid of the `Groups:` line (which may include the primary gid) |
//! | `unix:supplementary_group:<name>` | its name, for each gid that has one |
//! | `unix:path:<path>` | with `discover_workload_path`: the target of `/proc/<pid>/exe`, as the workload sees it |
//! | `unix:sha256:<hex>` | with `discover_workload_path`: SHA-256 of the binary, read through `/proc/<pid>/exe` |
//!
//! Names are resolved by the agent (`getpwuid_r`/`getgrgid_r` through nix: `/etc/passwd`,
//! `/etc/group`, NSS) in the agent's own view of the system, not the workload's container, and
//! remembered for 30 s. As in SPIRE, a failed or empty lookup only omits the name
//! selector.
//!
//! Without `discover_workload_path`, an attestation whose names are all remembered runs on the
//! calling task: it only reads `/proc/<pid>/status`, which the kernel answers from memory. Name
//! lookups that may block (NSS) and hashing binaries run on tokio's blocking pool. Any failure to read the
//! process's status, its executable path or its binary fails the attestation, and so does a binary
//! larger than a positive `workload_size_limit` (SPIRE: "exceeds size limit").

mod config;
mod digest;
mod names;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use spiffe_core::Selector;
use tracing::{Instrument, debug, debug_span};

pub use config::{UnixConfig, WorkloadSizeLimit};

use crate::attest::WorkloadAttestor;
use crate::error::AttestError;
use crate::proc;
use names::{DEFAULT_NAME_TTL, Kind, NameCache};

/// The selector type, and the attestor's name.
pub const UNIX: &str = "unix";

/// The unix workload attestor. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UnixAttestor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: UnixConfig,
    proc_root: PathBuf,
    names: NameCache,
}

impl Default for UnixAttestor {
    fn default() -> Self {
        Self::new(UnixConfig::default())
    }
}

impl UnixAttestor {
    /// An attestor reading the host's `/proc`.
    pub fn new(config: UnixConfig) -> Self {
        UnixAttestor {
            inner: Arc::new(Inner {
                config,
                proc_root: proc::default_proc_root(),
                names: NameCache::new(DEFAULT_NAME_TTL),
            }),
        }
    }

    /// The same attestor reading the proc filesystem at `proc_root` instead (`/host/proc` in a
    /// container, or a fake tree in tests).
    pub fn with_proc_root(self, proc_root: impl Into<PathBuf>) -> Self {
        UnixAttestor {
            inner: Arc::new(Inner {
                config: self.inner.config,
                proc_root: proc_root.into(),
                names: NameCache::new(DEFAULT_NAME_TTL),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &UnixConfig {
        &self.inner.config
    }

    /// The proc root read.
    pub fn proc_root(&self) -> &Path {
        &self.inner.proc_root
    }

    /// The selectors of process `pid`, computed on the calling thread (it reads `/proc`, may
    /// look names up through NSS and may hash a binary: call it where blocking is fine;
    /// [`WorkloadAttestor::attest`] does so on tokio's blocking pool).
    pub fn attest_blocking(&self, pid: i32) -> Result<Vec<Selector>, AttestError> {
        let process = proc::ProcDir::open(&self.inner.proc_root, pid)?;
        let ids = Ids::from(process.ids()?);
        let names = &self.inner.names;
        let mut out = ids.selectors_resolved(names)?;

        let config = &self.inner.config;
        if config.discover_workload_path {
            let path = process.exe()?;
            let path_str = path.to_str().ok_or_else(|| AttestError::NonUtf8ExePath {
                pid,
                path: path.clone(),
            })?;
            out.push("path", path_str.to_owned())?;

            let limit = match config.workload_size_limit {
                WorkloadSizeLimit::NoHash => None,
                WorkloadSizeLimit::Unlimited => Some(None),
                WorkloadSizeLimit::Bytes(limit) => Some(Some(limit)),
            };
            if let Some(limit) = limit {
                // Through the magic link, so the binary is found in the workload's mount
                // namespace, and even after it was deleted or replaced on disk.
                let exe = process_dir(&self.inner.proc_root, pid).join("exe");
                let hex =
                    digest::sha256_hex(&exe, limit).map_err(|e| e.into_attest_error(pid, &path))?;
                out.push("sha256", hex)?;
            }
        }
        debug!(pid, count = out.0.len(), "unix selectors");
        Ok(out.0)
    }

    /// The selectors of `pid` without blocking: `/proc/<pid>/status` (served by the kernel from
    /// memory) and names already in the cache. `None` if a name must be looked up.
    fn attest_from_cache(&self, pid: i32) -> Result<Option<Vec<Selector>>, AttestError> {
        let ids = Ids::from(proc::ProcDir::open(&self.inner.proc_root, pid)?.ids()?);
        let names = &self.inner.names;
        let found = ids.selectors_cached(names)?;
        if found.is_none() {
            debug!(pid, "a name is not cached; looking up on the blocking pool");
        }
        Ok(found.map(|s| s.0))
    }
}

impl WorkloadAttestor for UnixAttestor {
    fn name(&self) -> &str {
        UNIX
    }

    fn attest(&self, pid: i32) -> BoxFuture<'_, Result<Vec<Selector>, AttestError>> {
        let span = debug_span!("unix_attest", pid);
        Box::pin(
            async move {
                if !self.inner.config.discover_workload_path
                    && let Some(found) = self.attest_from_cache(pid)?
                {
                    return Ok(found);
                }
                let this = self.clone();
                proc::run_blocking(UNIX, move || this.attest_blocking(pid)).await
            }
            .instrument(span),
        )
    }
}

/// `<proc_root>/<pid>`.
fn process_dir(proc_root: &Path, pid: i32) -> PathBuf {
    proc_root.join(pid.to_string())
}

/// `unix` selectors in the order SPIRE emits them.
#[derive(Default)]
struct Selectors(Vec<Selector>);

impl Selectors {
    fn push(&mut self, key: &str, value: String) -> Result<(), AttestError> {
        let selector = Selector::new(UNIX, format!("{key}:{value}")).map_err(|source| {
            AttestError::Selector {
                attestor: UNIX.to_owned(),
                source,
            }
        })?;
        self.0.push(selector);
        Ok(())
    }
}

/// The ids a process runs as, from `/proc/<pid>/status`.
struct Ids {
    euid: u32,
    egid: u32,
    groups: Vec<u32>,
}

impl From<proc::StatusIds> for Ids {
    fn from(status: proc::StatusIds) -> Self {
        Ids {
            euid: status.euid,
            egid: status.egid,
            groups: status.groups,
        }
    }
}

impl Ids {
    /// The uid, gid and group selectors, with every name looked up in the cache only: `None`
    /// if one is not there (then nothing is built).
    fn selectors_cached(&self, names: &NameCache) -> Result<Option<Selectors>, AttestError> {
        let mut known = Vec::with_capacity(2 + self.groups.len());
        for (kind, id) in self.name_lookups() {
            match names.cached(kind, id) {
                Some(name) => known.push(name),
                None => return Ok(None),
            }
        }
        self.build(known).map(Some)
    }

    /// The uid, gid and group selectors, names looked up (through NSS if not cached).
    fn selectors_resolved(&self, names: &NameCache) -> Result<Selectors, AttestError> {
        let known = self
            .name_lookups()
            .map(|(kind, id)| names.resolve(kind, id))
            .collect();
        self.build(known)
    }

    /// The names needed, in selector order: the user, the group, each supplementary group.
    fn name_lookups(&self) -> impl Iterator<Item = (Kind, u32)> + '_ {
        [(Kind::User, self.euid), (Kind::Group, self.egid)]
            .into_iter()
            .chain(self.groups.iter().map(|gid| (Kind::Group, *gid)))
    }

    /// The selectors, with `names` in [`Ids::name_lookups`] order (`None`: the id has no name).
    fn build(&self, names: Vec<Option<String>>) -> Result<Selectors, AttestError> {
        let mut names = names.into_iter();
        let mut out = Selectors::default();
        out.push("uid", self.euid.to_string())?;
        if let Some(user) = names.next().flatten() {
            out.push("user", user)?;
        }
        out.push("gid", self.egid.to_string())?;
        if let Some(group) = names.next().flatten() {
            out.push("group", group)?;
        }
        for gid in &self.groups {
            out.push("supplementary_gid", gid.to_string())?;
            if let Some(group) = names.next().flatten() {
                out.push("supplementary_group", group)?;
            }
        }
        Ok(out)
    }
}
