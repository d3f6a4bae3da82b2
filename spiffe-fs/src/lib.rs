//! Local files, directories and UNIX sockets for the daemons, safe against other users of the
//! same node.
//!
//! A daemon that runs as root and keeps its sockets, keys and state in the file system must not
//! let another local user choose what it writes, binds or changes the mode of. The rules, one
//! module each:
//!
//! - [`dir`]: a directory the daemon uses (a socket directory, a data directory) is *trusted*
//!   only if it and every directory above it is owned by root or by the daemon's own user and
//!   is not writable by group or others (unless sticky, as `/tmp` is). A directory planted by
//!   someone else makes the daemon refuse to start, with an error naming the directory, its
//!   owner and its mode. Directories the daemon creates get their mode; directories it did not
//!   create keep theirs.
//! - [`socket`]: a UNIX socket is bound in a trusted directory; a stale socket left by a
//!   previous run is removed, anything else in the way (a file, a symlink, a live socket) is
//!   refused; the socket's mode is set without following links.
//! - [`atomic`]: files are written to a temporary file with an unpredictable name created
//!   exclusively (`O_EXCL`, so never through a planted link) with the final mode, synced, and
//!   renamed into place: readers see the old contents or the new ones, never a mix.
//! - [`read`]: files are read up to a limit, so no path (`/dev/zero`, a growing file) makes the
//!   daemon allocate without bound.
//! - `config` (feature `config`): configuration files, read within a limit and parsed as TOML
//!   with SPIRE's plugin blocks and durations; what the server's and agent's file formats share.

pub mod atomic;
#[cfg(feature = "config")]
pub mod config;
pub mod dir;
mod error;
pub mod read;
pub mod socket;

pub use atomic::write_atomic;
pub use dir::{ensure_trusted_dir, verify_trusted_dir};
pub use error::FsError;
pub use read::{read_bounded, read_secret_bounded, read_to_string_bounded};
pub use socket::{BoundSocket, bind_socket};
