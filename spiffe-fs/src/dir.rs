//! Trusted directories: who may change what is in them.
//!
//! A directory is trusted when nobody but root and the daemon's own user can add, remove or
//! rename entries in it or in any directory above it:
//!
//! - every directory on the way from `/` is owned by root or by the daemon's effective user;
//! - none above the directory itself is writable by group or others, unless it is sticky (as
//!   `/tmp` is: others may create entries there but not rename or remove the daemon's);
//! - the directory itself is not writable by group or others at all.
//!
//! Checks run on the canonical path (symbolic links resolved once), and that path is what the
//! functions return: the caller works below it from then on, so a link swapped afterwards in a
//! directory it does not trust changes nothing.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{Uid, User};

use crate::error::FsError;

const WRITABLE_BY_OTHERS: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Makes sure `path` is a trusted directory, creating it (and missing parents) with `mode` if
/// it does not exist; returns its canonical path.
///
/// Directories created here get exactly `mode` (whatever the umask); an existing directory
/// keeps its mode: a daemon never changes the mode of a directory it did not create. `what`
/// names the directory in errors (`"socket directory"`, `"data directory"`).
///
/// # Errors
///
/// [`FsError::Untrusted`] naming the first directory (from `/` down) that is not trusted, with
/// its owner and mode; [`FsError::Io`] when a directory cannot be inspected or created;
/// [`FsError::BadPath`] for a path whose missing part is not made of plain names.
pub fn ensure_trusted_dir(path: &Path, what: &str, mode: u32) -> Result<PathBuf, FsError> {
    let absolute = std::path::absolute(path).map_err(FsError::io("resolve", path))?;
    let mut existing = absolute.clone();
    let mut missing: Vec<OsString> = Vec::new();
    loop {
        match fs::symlink_metadata(&existing) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                match existing.components().next_back() {
                    Some(Component::Normal(name)) => missing.push(name.to_os_string()),
                    _ => return Err(FsError::BadPath { path: absolute }),
                }
                existing.pop();
            }
            Err(e) => return Err(FsError::io("inspect", existing)(e)),
        }
    }
    let mut dir = fs::canonicalize(&existing).map_err(FsError::io("resolve", &existing))?;
    check_chain(&dir, what, missing.is_empty())?;
    while let Some(name) = missing.pop() {
        let next = dir.join(&name);
        match fs::DirBuilder::new().mode(mode).create(&next) {
            Ok(()) => {
                set_mode_of_created(&next, mode)?;
                tracing::info!(path = %next.display(), mode = format_args!("{mode:04o}"), "created {what}");
            }
            // Created by someone else in the meantime: checked below like any other.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(FsError::io("create", next)(e)),
        }
        check_one(&next, what, missing.is_empty())?;
        dir = next;
    }
    Ok(dir)
}

/// Checks that `path` exists and is a trusted directory; returns its canonical path.
///
/// # Errors
///
/// As [`ensure_trusted_dir`], and [`FsError::Io`] (not found) when it does not exist.
pub fn verify_trusted_dir(path: &Path, what: &str) -> Result<PathBuf, FsError> {
    let dir = fs::canonicalize(path).map_err(FsError::io("resolve", path))?;
    check_chain(&dir, what, true)?;
    Ok(dir)
}

/// Checks `dir` (canonical) and every directory above it. `dir` itself is the leaf when `leaf`
/// is true (otherwise a directory to be created below it will be).
fn check_chain(dir: &Path, what: &str, leaf: bool) -> Result<(), FsError> {
    let mut first = true;
    for ancestor in dir.ancestors() {
        let is_leaf = first && leaf;
        first = false;
        check_one(ancestor, what, is_leaf)?;
    }
    Ok(())
}

/// Checks one directory, without following a link at its last component.
fn check_one(dir: &Path, what: &str, leaf: bool) -> Result<(), FsError> {
    let meta = fs::symlink_metadata(dir).map_err(FsError::io("inspect", dir))?;
    let mode = meta.mode() & 0o7777;
    let problem = if meta.file_type().is_symlink() {
        Some("it is a symbolic link")
    } else if !meta.is_dir() {
        Some("it is not a directory")
    } else if meta.uid() != 0 && meta.uid() != Uid::effective().as_raw() {
        Some("it is owned by another user")
    } else if leaf && mode & WRITABLE_BY_OTHERS != 0 {
        Some("it is writable by group or others")
    } else if mode & WRITABLE_BY_OTHERS != 0 && mode & STICKY == 0 {
        Some("it is writable by group or others without the sticky bit")
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(FsError::Untrusted {
            what: if leaf {
                what.to_owned()
            } else {
                format!("directory above the {what}")
            },
            path: dir.to_path_buf(),
            problem,
            owner: user_name(meta.uid()),
            mode,
            daemon: user_name(Uid::effective().as_raw()),
        }),
    }
}

/// Sets exactly `mode` on a directory just created (the umask may have narrowed it), through a
/// descriptor opened without following links.
fn set_mode_of_created(dir: &Path, mode: u32) -> Result<(), FsError> {
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(FsError::errno("open", dir))?;
    nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))
        .map_err(FsError::errno("set the mode of", dir))
}

/// `uid 1001 (alice)`, or `uid 1001` when the name is unknown.
pub(crate) fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn mode_of(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn creates_missing_directories_with_the_exact_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("a/b/c");
        let got = ensure_trusted_dir(&target, "socket directory", 0o755).unwrap();
        assert_eq!(got, fs::canonicalize(&target).unwrap());
        for p in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode_of(&tmp.path().join(p)), 0o755, "{p}");
        }
        let private = tmp.path().join("private");
        ensure_trusted_dir(&private, "data directory", 0o700).unwrap();
        assert_eq!(mode_of(&private), 0o700);
    }

    #[test]
    fn an_existing_directory_keeps_its_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o750);
        ensure_trusted_dir(&dir, "data directory", 0o700).unwrap();
        assert_eq!(mode_of(&dir), 0o750);
    }

    #[test]
    fn group_or_world_writable_directories_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("open");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o777);
        let err = ensure_trusted_dir(&dir, "socket directory", 0o755).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, FsError::Untrusted { mode: 0o777, .. }),
            "{msg}"
        );
        assert!(
            msg.contains("socket directory") && msg.contains("0777"),
            "{msg}"
        );
        assert_eq!(mode_of(&dir), 0o777, "the mode was not changed");

        // Sticky and world-writable above the directory (as /tmp) is fine; not as the
        // directory itself.
        chmod(&dir, 0o1777);
        ensure_trusted_dir(&dir.join("sub"), "socket directory", 0o755).unwrap();
        assert!(ensure_trusted_dir(&dir, "socket directory", 0o755).is_err());

        // Writable without the sticky bit above it: refused, naming that directory.
        chmod(&dir, 0o775);
        let err = ensure_trusted_dir(&dir.join("sub"), "socket directory", 0o755).unwrap_err();
        match err {
            FsError::Untrusted { path, what, .. } => {
                assert_eq!(path, fs::canonicalize(&dir).unwrap());
                assert_eq!(what, "directory above the socket directory");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_link_is_resolved_once_and_the_target_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        fs::create_dir(&real).unwrap();
        chmod(&real, 0o755);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let got = ensure_trusted_dir(&link.join("sock"), "socket directory", 0o755).unwrap();
        assert_eq!(got, fs::canonicalize(&real).unwrap().join("sock"));
        // A link to an untrusted directory is refused like the directory.
        chmod(&real, 0o777);
        assert!(ensure_trusted_dir(&link, "socket directory", 0o755).is_err());
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        fs::write(&file, b"x").unwrap();
        let err = ensure_trusted_dir(&file, "data directory", 0o700).unwrap_err();
        assert!(
            matches!(
                err,
                FsError::Untrusted {
                    problem: "it is not a directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        if !Uid::effective().is_root() {
            eprintln!("SKIP a_directory_of_another_user_is_refused: needs root to chown");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("theirs");
        fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o755);
        nix::unistd::chown(&dir, Some(Uid::from_raw(65534)), None).unwrap();
        let err = ensure_trusted_dir(&dir, "socket directory", 0o755).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("owned by another user") && msg.contains("uid 65534"),
            "{msg}"
        );
    }
}
