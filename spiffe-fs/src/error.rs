//! [`FsError`]: what went wrong, naming the path.

use std::io;
use std::path::PathBuf;

/// Why a directory, socket or file could not be used safely.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FsError {
    /// A directory on the path is not trusted: owned by another user, or writable by group or
    /// others without the sticky bit, or not a directory at all.
    #[error(
        "{what} {} is not safe to use: {problem} (owner {owner}, mode {mode:04o}); it must be \
         a directory owned by root or by this daemon's user ({daemon}) and not writable by group \
         or others (unless sticky, as /tmp is)",
        path.display()
    )]
    Untrusted {
        /// What the directory is for (`socket directory`, `data directory`, ...), or `parent of
        /// ...` for a directory above it.
        what: String,
        /// The directory.
        path: PathBuf,
        /// The rule it breaks.
        problem: &'static str,
        /// Its owner, as `uid 1001 (alice)`.
        owner: String,
        /// Its permission bits (with setuid, setgid and sticky).
        mode: u32,
        /// The daemon's own user, as `uid 0 (root)`.
        daemon: String,
    },
    /// Something other than a stale socket is where a socket must be bound; it is never
    /// removed.
    #[error("{} exists and is not a socket (it is {kind}); refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
        /// What is there (`a symbolic link`, `a regular file`, ...).
        kind: &'static str,
    },
    /// Another process accepts connections on the socket already.
    #[error("{} is in use: another process accepts connections on it", path.display())]
    InUse {
        /// The path.
        path: PathBuf,
    },
    /// A file is larger than the daemon reads.
    #[error("{} is larger than {limit} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A path that must name a file in a directory does not.
    #[error("{} must name a file in a directory", path.display())]
    BadPath {
        /// The path.
        path: PathBuf,
    },
    /// A system call failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done (`create`, `bind`, `set the mode of`, ...).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl FsError {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| FsError::Io { what, path, source }
    }

    pub(crate) fn errno(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(nix::errno::Errno) -> Self {
        let path = path.into();
        move |e| FsError::Io {
            what,
            path,
            source: io::Error::from(e),
        }
    }
}
