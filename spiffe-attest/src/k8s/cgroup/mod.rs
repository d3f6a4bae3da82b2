//! The pod UID and container ID of a process, from its `/proc/<pid>/cgroup` file.
//!
//! The kernel writes that file and the process cannot change it; `/proc/<pid>/mountinfo`, which
//! a workload can shape by bind-mounting another container's cgroup, is never read.
//!
//! Each line is `hierarchy-ID:controller-list:cgroup-path` (cgroup v1 has one line per
//! hierarchy, v2 a single `0::<path>` line, hybrid hosts both). Forms understood, on either
//! version, with any QoS class (`besteffort`, `burstable`, or none for guaranteed pods):
//!
//! | driver / runtime | cgroup path |
//! |---|---|
//! | cgroupfs | `/kubepods/besteffort/pod<uid>/<id>`, `/kubepods/pod<uid>/<id>` |
//! | systemd + containerd | `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope` |
//! | systemd + docker | `.../kubepods-burstable-pod<uid>.slice/docker-<id>.scope` |
//! | systemd + cri-o | `.../kubepods-pod<uid>.slice/crio-<id>.scope` (`crio-conmon-<id>.scope`, the container monitor, is ignored) |
//! | containerd, systemd driver on cgroup v1 | `/system.slice/containerd.service/kubepods-burstable-pod<uid>.slice:cri-containerd:<id>` |
//! | kind, Docker Desktop | `/docker/<node-id>/kubepods/besteffort/pod<uid>/<id>`, `/kubepods/kubepods/besteffort/pod<uid>/<id>` |
//! | seen from another cgroup namespace | `/../../burstable/pod<uid>/<id>`; a container of the reader's own pod: `/../<id>` (no pod UID) |
//! | cri-o under KubeEdge | `/../crio-<id>.scope` (no pod UID) |
//!
//! Pod UIDs are returned with dashes (the systemd driver's `_` escaping undone); a static pod's
//! UID (32 hex digits, the hash of its manifest) is returned as is. Container IDs are 64 hex
//! digits, found as a token between non-alphanumeric separators.
//!
//! How one path is read: the **outermost** segment holding a `pod<uid>` token is the pod's; the
//! container ID is taken from the rest of that segment (the `...pod<uid>.slice:cri-containerd:<id>`
//! form) or else from the segment right below it, and nothing further down counts. The runtime
//! creates the container's cgroup directly under the pod's; anything below it (crun's
//! `container` sub-cgroup, or cgroups that a workload with a delegated subtree made itself, named
//! like another pod's) is ignored. Without a pod segment, the outermost segment holding a
//! container ID gives the container and the pod UID is unknown. (A process outside any pod
//! that may create cgroups, such as a privileged container, could still name one
//! `pod<uid>/<id>` after another workload; such a caller already controls the node.)
//!
//! Where some line names a pod, lines that name only a container (a kind node's own container, in
//! `0::/docker/<node-id>/system.slice/containerd.service`) are ignored; the lines left must agree,
//! or the file is refused ([`CgroupError::ConflictingPodUids`],
//! [`CgroupError::ConflictingContainerIds`]).

mod path;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing::debug;

/// The largest cgroup file read (the kernel's are a few KiB).
pub const MAX_CGROUP_FILE_LEN: u64 = 1024 * 1024;

/// The pod and container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PodContainer {
    /// The pod's UID (`metadata.uid`), with dashes. `None` when the cgroup path does not show the
    /// pod (cri-o under KubeEdge, or a container of the reader's own pod seen through a cgroup
    /// namespace): the pod is then found by its container ID in the kubelet's pod list.
    pub pod_uid: Option<String>,
    /// The container ID: 64 hex digits, as in the pod status's `containerID` after the
    /// `<runtime>://` prefix.
    pub container_id: String,
}

/// Why a cgroup file could not be read or interpreted.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// A line has fewer than the three `:`-separated fields.
    #[error("cgroup file line {line}: expected hierarchy-ID:controller-list:cgroup-path")]
    MissingField {
        /// The line number, from 1.
        line: usize,
    },
    /// The hierarchy ID is not a decimal number.
    #[error("cgroup file line {line}: hierarchy ID {id:?} is not a decimal number")]
    BadHierarchyId {
        /// The line number, from 1.
        line: usize,
        /// The hierarchy ID found.
        id: String,
    },
    /// The cgroup path does not start with `/`.
    #[error("cgroup file line {line}: cgroup path must start with '/'")]
    RelativePath {
        /// The line number, from 1.
        line: usize,
    },
    /// One path segment holds two different container IDs.
    #[error("cgroup file line {line}: two container IDs in one path segment ({first}, {second})")]
    AmbiguousContainerId {
        /// The line number, from 1.
        line: usize,
        /// The first ID.
        first: String,
        /// The second ID.
        second: String,
    },
    /// Two lines name different pods.
    #[error("cgroup file names two pod UIDs ({first}, {second})")]
    ConflictingPodUids {
        /// The first pod UID.
        first: String,
        /// The second pod UID.
        second: String,
    },
    /// Two lines name different containers.
    #[error("cgroup file names two container IDs ({first}, {second})")]
    ConflictingContainerIds {
        /// The first container ID.
        first: String,
        /// The second container ID.
        second: String,
    },
    /// The file is larger than [`MAX_CGROUP_FILE_LEN`].
    #[error("cgroup file {path:?} is larger than {MAX_CGROUP_FILE_LEN} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read (`NotFound`: the process is gone).
    #[error("cannot read cgroup file {path:?}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The pod UID and container ID in the contents of a `/proc/<pid>/cgroup` file; `None` for a
/// process in no container.
pub fn parse_cgroup_file(contents: &str) -> Result<Option<PodContainer>, CgroupError> {
    let mut candidates = Vec::new();
    for (index, text) in contents.lines().enumerate() {
        let line = index + 1;
        if text.is_empty() {
            continue;
        }
        let cgroup_path = split_line(text, line)?;
        if let Some(candidate) = path::in_path(cgroup_path, line)? {
            candidates.push(candidate);
        }
    }
    if candidates.iter().any(|c| c.pod_uid.is_some()) {
        candidates.retain(|c| c.pod_uid.is_some());
    }
    let mut candidates = candidates.into_iter();
    let Some(first) = candidates.next() else {
        return Ok(None);
    };
    for other in candidates {
        if let (Some(a), Some(b)) = (&first.pod_uid, &other.pod_uid)
            && a != b
        {
            return Err(CgroupError::ConflictingPodUids {
                first: a.clone(),
                second: b.clone(),
            });
        }
        if other.container_id != first.container_id {
            return Err(CgroupError::ConflictingContainerIds {
                first: first.container_id.to_owned(),
                second: other.container_id.to_owned(),
            });
        }
    }
    Ok(Some(PodContainer {
        pod_uid: first.pod_uid,
        container_id: first.container_id.to_owned(),
    }))
}

/// The cgroup path of a `hierarchy-ID:controller-list:cgroup-path` line, the line checked.
fn split_line(text: &str, line: usize) -> Result<&str, CgroupError> {
    let mut fields = text.splitn(3, ':');
    let (Some(id), Some(_controllers), Some(cgroup_path)) =
        (fields.next(), fields.next(), fields.next())
    else {
        return Err(CgroupError::MissingField { line });
    };
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CgroupError::BadHierarchyId {
            line,
            id: id.to_owned(),
        });
    }
    if !cgroup_path.starts_with('/') {
        return Err(CgroupError::RelativePath { line });
    }
    Ok(cgroup_path)
}

/// The pod UID and container ID of process `pid`, from `<proc_root>/<pid>/cgroup` (`proc_root`
/// is `/proc` on a host, the host's proc mount in an agent container).
///
/// Bytes that are not UTF-8 (a cgroup name may hold any) are read as U+FFFD, which is neither
/// a hex digit nor alphanumeric, so they can neither form nor extend a pod UID or container ID.
///
/// A process whose directory has no `cgroup` file (a kernel without cgroups) is in no pod:
/// `Ok(None)`, as SPIRE answers; a missing process directory stays an error.
pub fn for_pid(proc_root: &Path, pid: i32) -> Result<Option<PodContainer>, CgroupError> {
    let dir = proc_root.join(pid.to_string());
    let path = dir.join("cgroup");
    let read_error = |source| CgroupError::Read {
        path: path.clone(),
        source,
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir.is_dir() => {
            debug!(pid, "no cgroup file: not in a pod");
            return Ok(None);
        }
        Err(e) => return Err(read_error(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_CGROUP_FILE_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_CGROUP_FILE_LEN {
        return Err(CgroupError::TooLarge { path });
    }
    let found = parse_cgroup_file(&String::from_utf8_lossy(&bytes))?;
    debug!(pid, found = ?found, "cgroup file read");
    Ok(found)
}
