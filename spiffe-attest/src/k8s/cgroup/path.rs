//! What one cgroup path says: a pod UID (`pod<uid>`) and a container ID (64 hex digits).
//!
//! A path is split into segments at `/`. The pod segment is the **outermost** segment holding a
//! `pod<uid>` token; the container ID is then taken from the rest of that segment (the
//! `...-pod<uid>.slice:cri-containerd:<id>` form) or else from the segment right below it. What
//! lies further down is ignored: the runtime creates the container's cgroup directly under the
//! pod's, and anything below it (`crun`'s `container` sub-cgroup, or a cgroup a workload with a
//! delegated subtree made itself, possibly named like another pod or container) does not count.
//!
//! Without a pod segment (cri-o under KubeEdge, or a container of the reader's own pod seen from
//! inside a cgroup namespace, `0::/../<id>`), the container ID is taken from the outermost segment
//! that holds one, and the pod UID is unknown.

use super::CgroupError;

/// A pod UID and container ID found in one cgroup path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Candidate<'a> {
    /// The pod UID with dashes, if the path names the pod.
    pub(super) pod_uid: Option<String>,
    /// The 64-hex container ID.
    pub(super) container_id: &'a str,
}

/// What a piece of a segment holds in the way of a container ID.
enum ContainerToken<'a> {
    /// No container ID.
    None,
    /// A container ID in a cri-o container monitor's scope (`crio-conmon-<id>.scope`): conmon is
    /// not the workload, so this names no workload container.
    Conmon,
    /// A container ID.
    Id(&'a str),
}

/// The pod UID and container ID of one cgroup path (line `line` of the file), if it names a
/// container.
pub(super) fn in_path(path: &str, line: usize) -> Result<Option<Candidate<'_>>, CgroupError> {
    let mut segments = path.split('/');
    while let Some(segment) = segments.next() {
        let Some((pod_uid, end)) = find_pod_uid(segment) else {
            continue;
        };
        let rest = segment.get(end..).unwrap_or_default();
        let token = match container_token(rest, line)? {
            ContainerToken::None => match segments.next() {
                Some(below) => container_token(below, line)?,
                None => ContainerToken::None,
            },
            found => found,
        };
        return Ok(match token {
            ContainerToken::Id(container_id) => Some(Candidate {
                pod_uid: Some(pod_uid),
                container_id,
            }),
            ContainerToken::None | ContainerToken::Conmon => None,
        });
    }
    for segment in path.split('/') {
        match container_token(segment, line)? {
            ContainerToken::None => continue,
            ContainerToken::Conmon => return Ok(None),
            ContainerToken::Id(container_id) => {
                return Ok(Some(Candidate {
                    pod_uid: None,
                    container_id,
                }));
            }
        }
    }
    Ok(None)
}

/// The first `pod<uid>` token of a segment: the UID with `_` turned back into `-` (the systemd
/// driver escapes dashes), and the byte offset just past it.
///
/// `pod` must start the segment or follow a non-alphanumeric byte (so `kubepods` is not a
/// match), and the UID must end the segment or be followed by a non-alphanumeric byte.
fn find_pod_uid(segment: &str) -> Option<(String, usize)> {
    let bytes = segment.as_bytes();
    segment.match_indices("pod").find_map(|(at, _)| {
        let starts_token = at
            .checked_sub(1)
            .and_then(|before| bytes.get(before))
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        if !starts_token {
            return None;
        }
        let start = at + "pod".len();
        let (uid, len) = parse_pod_uid(segment.get(start..)?)?;
        Some((uid, start + len))
    })
}

/// A pod UID at the start of `text`: `8-4-4-4-12` hex digits separated by `-` (cgroupfs driver)
/// or `_` (systemd driver), or 32 hex digits (a static pod's UID, the hash of its manifest).
/// Returns the UID with dashes and its length in `text`.
fn parse_pod_uid(text: &str) -> Option<(String, usize)> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let bytes = text.as_bytes();
    let ends_token = |len: usize| bytes.get(len).is_none_or(|b| !b.is_ascii_alphanumeric());

    if let Some(&sep @ (b'-' | b'_')) = bytes.get(GROUPS[0]) {
        let mut at = 0;
        for (i, group) in GROUPS.iter().enumerate() {
            if i > 0 {
                if bytes.get(at) != Some(&sep) {
                    return None;
                }
                at += 1;
            }
            if !bytes.get(at..at + group)?.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            at += group;
        }
        return ends_token(at).then(|| (text.get(..at).unwrap_or_default().replace('_', "-"), at));
    }

    const COMPACT: usize = 32;
    let compact = bytes.get(..COMPACT)?;
    (compact.iter().all(u8::is_ascii_hexdigit) && ends_token(COMPACT))
        .then(|| (text.get(..COMPACT).unwrap_or_default().to_owned(), COMPACT))
}

/// The container ID in a piece of a segment: a token of exactly 64 hex digits, tokens being
/// separated by any non-alphanumeric byte (`docker-<id>.scope`, `cri-containerd-<id>.scope`,
/// `crio-<id>.scope`, `:cri-containerd:<id>`, `<id>`). Two different IDs in one piece are
/// refused as ambiguous.
fn container_token(piece: &str, line: usize) -> Result<ContainerToken<'_>, CgroupError> {
    let mut found: Option<&str> = None;
    let mut conmon = false;
    for token in piece.split(|c: char| !c.is_ascii_alphanumeric()) {
        if token == "conmon" {
            conmon = true;
        } else if is_container_id(token) {
            match found {
                Some(first) if first != token => {
                    return Err(CgroupError::AmbiguousContainerId {
                        line,
                        first: first.to_owned(),
                        second: token.to_owned(),
                    });
                }
                _ => found = Some(token),
            }
        }
    }
    Ok(match found {
        None => ContainerToken::None,
        Some(_) if conmon => ContainerToken::Conmon,
        Some(id) => ContainerToken::Id(id),
    })
}

/// 64 hex digits.
fn is_container_id(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_uid_forms() {
        let dashed = "2c48913c-b29f-11e7-9350-020968147796";
        assert_eq!(
            find_pod_uid("pod2c48913c-b29f-11e7-9350-020968147796"),
            Some((dashed.to_owned(), 39))
        );
        assert_eq!(
            find_pod_uid("kubepods-burstable-pod2c48913c_b29f_11e7_9350_020968147796.slice"),
            Some((dashed.to_owned(), 58))
        );
        assert_eq!(
            find_pod_uid("pod2732ca68f6358eba7703fb6f82a25c94"),
            Some(("2732ca68f6358eba7703fb6f82a25c94".to_owned(), 35))
        );
        // Not a token of its own, mixed separators, too short, trailing garbage.
        assert_eq!(
            find_pod_uid("xpod2c48913c-b29f-11e7-9350-020968147796"),
            None
        );
        assert_eq!(
            find_pod_uid("pod2c48913c-b29f_11e7-9350-020968147796"),
            None
        );
        assert_eq!(find_pod_uid("pod2c48913c-b29f-11e7-9350-02096814779"), None);
        assert_eq!(
            find_pod_uid("pod2c48913c-b29f-11e7-9350-020968147796a"),
            None
        );
        assert_eq!(find_pod_uid("pod2732ca68f6358eba7703fb6f82a25c94f"), None);
        assert_eq!(find_pod_uid("kubepods"), None);
        assert_eq!(find_pod_uid("pod"), None);
        assert_eq!(find_pod_uid("podé"), None);
    }

    #[test]
    fn container_tokens() {
        let id = "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961";
        for piece in [
            id.to_owned(),
            format!("docker-{id}.scope"),
            format!("cri-containerd-{id}.scope"),
            format!("crio-{id}.scope"),
            format!(".slice:cri-containerd:{id}"),
        ] {
            assert!(
                matches!(container_token(&piece, 1), Ok(ContainerToken::Id(found)) if found == id),
                "{piece}"
            );
        }
        assert!(matches!(
            container_token(&format!("crio-conmon-{id}.scope"), 1),
            Ok(ContainerToken::Conmon)
        ));
        assert!(matches!(
            container_token("conmon", 1),
            Ok(ContainerToken::None)
        ));
        assert!(matches!(
            container_token(&id[1..], 1),
            Ok(ContainerToken::None)
        ));
        assert!(matches!(
            container_token(&format!("{id}0"), 1),
            Ok(ContainerToken::None)
        ));
        assert!(matches!(
            container_token(&format!("{id}-{id}"), 1),
            Ok(ContainerToken::Id(_))
        ));
        let other = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert!(matches!(
            container_token(&format!("{id}-{other}"), 7),
            Err(CgroupError::AmbiguousContainerId { line: 7, .. })
        ));
    }
}
