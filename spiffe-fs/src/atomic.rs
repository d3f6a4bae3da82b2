//! Atomic file writes.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::FsError;

/// Writes `contents` to `path` with `mode`, atomically: a reader (or a crash) sees the old file
/// or the new one, never a mix.
///
/// The data goes to a temporary file next to `path`, created exclusively (`O_CREAT|O_EXCL`, so
/// never through a link someone planted) under an unpredictable name and mode 0600, given
/// `mode` through its descriptor, synced, then renamed over `path` (a link at `path` is
/// replaced, not followed); the directory is synced so the rename survives a crash (where the
/// file system supports it). The temporary file is removed on failure.
///
/// # Errors
///
/// [`FsError::Io`] naming the step and the path.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| FsError::BadPath {
        path: path.to_path_buf(),
    })?;
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(FsError::io("create a temporary file for", path))?;
    tmp.write_all(contents)
        .map_err(FsError::io("write a temporary file for", path))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(FsError::io("set the mode of a temporary file for", path))?;
    tmp.as_file()
        .sync_all()
        .map_err(FsError::io("sync a temporary file for", path))?;
    tmp.persist(path)
        .map_err(|e| FsError::io("rename a temporary file over", path)(e.error))?;
    if let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "directory not synced");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn writes_with_the_mode_and_replaces() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("key.pem");
        write_atomic(&path, b"one", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        write_atomic(&path, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        // No temporary file left behind.
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_link_at_the_path_is_replaced_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let path = tmp.path().join("svid.pem");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write_atomic(&path, b"new", 0o644).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert!(
            !fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn links_planted_at_predictable_temporary_names_are_never_written_through() {
        // The old helpers wrote to `.<name>.tmp.<pid>`: a link planted there sent the key to a
        // file of the attacker's choice.
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        for name in [
            format!(".key.pem.tmp.{}", std::process::id()),
            format!(".key.pem.tmp-{}-0", std::process::id()),
        ] {
            std::os::unix::fs::symlink(&victim, tmp.path().join(name)).unwrap();
        }
        write_atomic(&tmp.path().join("key.pem"), b"secret", 0o600).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("missing/key.pem");
        let err = write_atomic(&path, b"x", 0o600).unwrap_err();
        assert!(err.to_string().contains("key.pem"), "{err}");
    }
}
