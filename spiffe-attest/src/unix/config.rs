//! [`UnixConfig`]: the unix attestor's settings, as SPIRE names them.

/// How large a workload binary may be for its `unix:sha256` selector (SPIRE's
/// `workload_size_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkloadSizeLimit {
    /// Hash binaries of any size (SPIRE: `0`, the default).
    #[default]
    Unlimited,
    /// Hash binaries of at most this many bytes; a larger binary fails the attestation
    /// (SPIRE: a positive value).
    Bytes(u64),
    /// Never hash: no `unix:sha256` selector (SPIRE: a negative value).
    NoHash,
}

impl WorkloadSizeLimit {
    /// The limit from SPIRE's integer setting: `0` unlimited, `> 0` that many bytes, `< 0` no
    /// hash at all.
    pub fn from_spire(value: i64) -> Self {
        match u64::try_from(value) {
            Ok(0) => WorkloadSizeLimit::Unlimited,
            Ok(bytes) => WorkloadSizeLimit::Bytes(bytes),
            Err(_) => WorkloadSizeLimit::NoHash,
        }
    }
}

/// Settings of [`crate::UnixAttestor`]; the default is SPIRE's (uid/gid/user/group and
/// supplementary selectors only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UnixConfig {
    /// Also emit `unix:path` and (subject to [`UnixConfig::workload_size_limit`]) `unix:sha256`
    /// selectors (SPIRE's `discover_workload_path`). Reading `/proc/<pid>/exe` needs the agent to
    /// run as root or as the workload's user; if it cannot, attestation fails.
    pub discover_workload_path: bool,
    /// Limit on the binary size for `unix:sha256` (SPIRE's `workload_size_limit`). Hashing
    /// costs the agent work a workload can trigger; bound it, or turn hashing off.
    pub workload_size_limit: WorkloadSizeLimit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spire_size_limit_values() {
        assert_eq!(
            WorkloadSizeLimit::from_spire(0),
            WorkloadSizeLimit::Unlimited
        );
        assert_eq!(
            WorkloadSizeLimit::from_spire(2),
            WorkloadSizeLimit::Bytes(2)
        );
        assert_eq!(WorkloadSizeLimit::from_spire(-1), WorkloadSizeLimit::NoHash);
        assert_eq!(
            WorkloadSizeLimit::from_spire(i64::MIN),
            WorkloadSizeLimit::NoHash
        );
        assert_eq!(WorkloadSizeLimit::default(), WorkloadSizeLimit::Unlimited);
        assert!(!UnixConfig::default().discover_workload_path);
    }
}
