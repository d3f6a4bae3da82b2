//! Writing minted credentials atomically with their final mode ([`spiffe_fs::write_atomic`]), so
//! a reader never sees a partial key or a key with looser permissions, and no link planted at
//! the path or a temporary name is followed.

use std::path::Path;

use anyhow::{Context, Result};

/// Writes `data` to `path` with `mode` (0600 for keys, 0644 otherwise).
pub(super) fn write(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    spiffe_fs::write_atomic(path, data, mode).with_context(|| format!("writing {}", path.display()))
}
