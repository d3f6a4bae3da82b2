//! `api fetch x509 -write DIR`: SPIRE's files, `svid.<i>.pem`, `svid.<i>.key` (0600),
//! `bundle.<i>.pem` and `federated_bundle.<i>.<j>.pem`, each replaced atomically, with a
//! `Writing ... to file ...` line before each.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use anyhow::{Context, Result};

use super::view::SvidView;
use crate::cli::output;

/// Mode of the key files.
const KEY_MODE: u32 = 0o600;
/// Mode of the certificate files (and of `DIR` when it is created).
const PUBLIC_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// Writes the files of every SVID into `dir` (created if missing).
pub(crate) fn write_all(dir: &Path, views: &[SvidView<'_>]) -> Result<()> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    for (i, view) in views.iter().enumerate() {
        let svid = view.svid;
        let path = dir.join(format!("svid.{i}.pem"));
        output::out(&format!("Writing SVID #{i} to file {}.\n", path.display()))?;
        write_file(&path, svid.chain_pem().as_bytes(), PUBLIC_MODE)?;

        let path = dir.join(format!("svid.{i}.key"));
        output::out(&format!("Writing key #{i} to file {}.\n", path.display()))?;
        write_file(
            &path,
            svid.private_key().to_pkcs8_pem().as_bytes(),
            KEY_MODE,
        )?;

        let path = dir.join(format!("bundle.{i}.pem"));
        output::out(&format!(
            "Writing bundle #{i} to file {}.\n",
            path.display()
        ))?;
        let pem = spiffe_core::pem::encode_certificates(view.bundle);
        write_file(&path, pem.as_bytes(), PUBLIC_MODE)?;

        for (j, (td, certs)) in view.federated.iter().enumerate() {
            let path = dir.join(format!("federated_bundle.{i}.{j}.pem"));
            output::out(&format!(
                "Writing federated bundle #{j} for trust domain {} to file {}.\n",
                td.id_string(),
                path.display()
            ))?;
            let pem = spiffe_core::pem::encode_certificates(*certs);
            write_file(&path, pem.as_bytes(), PUBLIC_MODE)?;
        }
    }
    Ok(())
}

/// Replaces `path` with `contents` and `mode` atomically ([`spiffe_fs::write_atomic`]: a reader
/// sees the old file or the new one, never a partial one, and no link is followed).
fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    spiffe_fs::write_atomic(path, contents, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn atomic_write_with_mode() {
        let Ok(dir) = tempfile::tempdir() else {
            return;
        };
        let path = dir.path().join("svid.0.key");
        assert!(write_file(&path, b"one", KEY_MODE).is_ok());
        assert!(write_file(&path, b"two", KEY_MODE).is_ok());
        assert_eq!(fs::read(&path).ok().as_deref(), Some(&b"two"[..]));
        let mode = fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(KEY_MODE));
        let leftovers = fs::read_dir(dir.path()).map(|d| d.count()).ok();
        assert_eq!(leftovers, Some(1), "no temporary file is left behind");
    }
}
