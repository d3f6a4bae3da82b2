//! Binding a UNIX socket in a trusted directory.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::{FchmodatFlags, Mode};

use crate::dir::ensure_trusted_dir;
use crate::error::FsError;

/// A bound, listening UNIX socket and the file it was bound at.
#[derive(Debug)]
pub struct BoundSocket {
    listener: UnixListener,
    path: PathBuf,
    inode: (u64, u64),
}

impl BoundSocket {
    /// The socket's path (in the canonical directory).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener (blocking; call `set_nonblocking(true)` before handing it to an async
    /// runtime).
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }

    /// Splits into the listener and a [`SocketFile`] that removes the file later.
    pub fn into_parts(self) -> (UnixListener, SocketFile) {
        (
            self.listener,
            SocketFile {
                path: self.path,
                inode: self.inode,
            },
        )
    }
}

/// The file a socket was bound at, for removal when the daemon stops.
#[derive(Debug, Clone)]
pub struct SocketFile {
    path: PathBuf,
    inode: (u64, u64),
}

impl SocketFile {
    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the socket file if it is still the one bound (another process may have bound
    /// the path since).
    pub fn remove(&self) {
        match fs::symlink_metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.inode => {
                if let Err(e) = fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot remove socket");
                }
            }
            _ => {}
        }
    }
}

/// Binds a UNIX socket at `path` with mode `socket_mode`.
///
/// The socket's directory must be trusted ([`ensure_trusted_dir`]; created with `dir_mode` if
/// missing; `what` names the socket in errors, e.g. `"Workload API socket"`). A stale socket
/// left by a previous run is removed; a live one, a symbolic link or any other file is refused
/// and left alone. The mode is set on the bound socket without following links.
///
/// # Errors
///
/// [`FsError::Untrusted`] for a directory someone else controls, [`FsError::InUse`] for a
/// socket another process serves, [`FsError::NotASocket`] for anything else in the way,
/// [`FsError::BadPath`] and [`FsError::Io`] otherwise.
pub fn bind_socket(
    path: &Path,
    what: &str,
    dir_mode: u32,
    socket_mode: u32,
) -> Result<BoundSocket, FsError> {
    let (dir, name) = match (path.parent(), path.components().next_back()) {
        (Some(dir), Some(Component::Normal(name))) => (dir, name),
        _ => {
            return Err(FsError::BadPath {
                path: path.to_path_buf(),
            });
        }
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let dir = ensure_trusted_dir(dir, &format!("{what} directory"), dir_mode)?;
    let path = dir.join(name);
    clear_stale(&path)?;
    let listener = UnixListener::bind(&path).map_err(FsError::io("bind", &path))?;
    let dir_fd = nix::fcntl::open(
        &dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(FsError::errno("open", &dir))?;
    nix::sys::stat::fchmodat(
        &dir_fd,
        name,
        Mode::from_bits_truncate(socket_mode),
        FchmodatFlags::NoFollowSymlink,
    )
    .map_err(FsError::errno("set the mode of", &path))?;
    let meta = fs::symlink_metadata(&path).map_err(FsError::io("inspect", &path))?;
    if !meta.file_type().is_socket() {
        return Err(FsError::NotASocket {
            path,
            kind: kind(&meta),
        });
    }
    tracing::debug!(path = %path.display(), mode = format_args!("{socket_mode:04o}"), "socket bound");
    Ok(BoundSocket {
        listener,
        path,
        inode: (meta.dev(), meta.ino()),
    })
}

/// Removes a socket nobody serves any more; refuses anything else.
fn clear_stale(path: &Path) -> Result<(), FsError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(FsError::io("inspect", path)(e)),
    };
    if !meta.file_type().is_socket() {
        return Err(FsError::NotASocket {
            path: path.to_path_buf(),
            kind: kind(&meta),
        });
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(FsError::InUse {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale socket");
            fs::remove_file(path).map_err(FsError::io("remove stale socket", path))
        }
        Err(e) => Err(FsError::io("probe", path)(e)),
    }
}

fn kind(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "something else"
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode_of(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn binds_with_the_exact_mode_and_replaces_only_stale_sockets() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("public/api.sock");
        let bound = bind_socket(&path, "Workload API socket", 0o755, 0o777).unwrap();
        assert_eq!(mode_of(&path), 0o777);
        assert_eq!(mode_of(&tmp.path().join("public")), 0o755);

        // Live: refused.
        assert!(matches!(
            bind_socket(&path, "Workload API socket", 0o755, 0o777),
            Err(FsError::InUse { .. })
        ));
        // Stale: replaced.
        drop(bound);
        let bound = bind_socket(&path, "Workload API socket", 0o755, 0o600).unwrap();
        assert_eq!(mode_of(&path), 0o600);
        let (_listener, file) = bound.into_parts();
        file.remove();
        assert!(!path.exists());
    }

    #[test]
    fn a_planted_link_or_file_is_refused_and_its_target_untouched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, b"secret").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.join("api.sock");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let err = bind_socket(&path, "Workload API socket", 0o755, 0o777).unwrap_err();
        assert!(
            matches!(
                err,
                FsError::NotASocket {
                    kind: "a symbolic link",
                    ..
                }
            ),
            "{err}"
        );
        assert_eq!(mode_of(&victim), 0o600);
        assert_eq!(fs::read(&victim).unwrap(), b"secret");

        fs::remove_file(&path).unwrap();
        fs::write(&path, b"x").unwrap();
        let err = bind_socket(&path, "Workload API socket", 0o755, 0o777).unwrap_err();
        assert!(
            matches!(
                err,
                FsError::NotASocket {
                    kind: "a regular file",
                    ..
                }
            ),
            "{err}"
        );
        assert!(path.exists());
    }

    #[test]
    fn an_untrusted_directory_is_refused_before_binding() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let err = bind_socket(&dir.join("api.sock"), "admin socket", 0o700, 0o600).unwrap_err();
        assert!(err.to_string().contains("admin socket directory"), "{err}");
        assert!(!dir.join("api.sock").exists());
    }
}
