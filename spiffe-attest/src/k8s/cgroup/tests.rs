//! Table tests: every cgroup form the parser knows, and the ones it refuses.

use super::*;

const UID: &str = "2c48913c-b29f-11e7-9350-020968147796";
const UID_SYSTEMD: &str = "2c48913c_b29f_11e7_9350_020968147796";
const OTHER_UID: &str = "a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80";
const STATIC_UID: &str = "2732ca68f6358eba7703fb6f82a25c94";
const CID: &str = "9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961";
const OTHER_CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const NODE_CID: &str = "93529524695bb00d91c1f6dba692ea8d3550c3b94fb2463af7bc9ec82f992d26";

const V1_CONTROLLERS: [&str; 11] = [
    "11:hugetlb",
    "10:devices",
    "9:pids",
    "8:perf_event",
    "7:net_cls,net_prio",
    "6:cpuset",
    "5:memory",
    "4:cpu,cpuacct",
    "3:freezer",
    "2:blkio",
    "1:name=systemd",
];

/// A cgroup v1 file with every controller at `path`.
fn v1(path: &str) -> String {
    V1_CONTROLLERS
        .iter()
        .map(|c| format!("{c}:{path}\n"))
        .collect()
}

/// A cgroup v2 file.
fn v2(path: &str) -> String {
    format!("0::{path}\n")
}

enum Want {
    Found(Option<&'static str>, &'static str),
    NotInPod,
    Error(fn(&CgroupError) -> bool),
}

fn cases() -> Vec<(&'static str, String, Want)> {
    use Want::*;
    vec![
        // cgroupfs driver
        (
            "v1 cgroupfs besteffort",
            v1(&format!("/kubepods/besteffort/pod{UID}/{CID}")),
            Found(Some(UID), CID),
        ),
        (
            "v1 cgroupfs burstable",
            v1(&format!("/kubepods/burstable/pod{UID}/{CID}")),
            Found(Some(UID), CID),
        ),
        (
            "v1 cgroupfs guaranteed (no QoS level)",
            v1(&format!("/kubepods/pod{UID}/{CID}")),
            Found(Some(UID), CID),
        ),
        (
            "v2 cgroupfs besteffort",
            v2(&format!("/kubepods/besteffort/pod{UID}/{CID}")),
            Found(Some(UID), CID),
        ),
        (
            "v2 cgroupfs guaranteed",
            v2(&format!("/kubepods/pod{UID}/{CID}")),
            Found(Some(UID), CID),
        ),
        // systemd driver
        (
            "v1 systemd docker burstable, escaped uid",
            v1(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_SYSTEMD}.slice/docker-{CID}.scope"
            )),
            Found(Some(UID), CID),
        ),
        (
            "v1 systemd docker burstable, uid with dashes",
            v1(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID}.slice/docker-{CID}.scope"
            )),
            Found(Some(UID), CID),
        ),
        (
            "v2 systemd containerd besteffort",
            v2(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice/cri-containerd-{CID}.scope"
            )),
            Found(Some(UID), CID),
        ),
        (
            "v2 systemd containerd guaranteed",
            v2(&format!(
                "/kubepods.slice/kubepods-pod{UID_SYSTEMD}.slice/cri-containerd-{CID}.scope"
            )),
            Found(Some(UID), CID),
        ),
        (
            "v2 systemd docker burstable",
            v2(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_SYSTEMD}.slice/docker-{CID}.scope"
            )),
            Found(Some(UID), CID),
        ),
        (
            "v1 systemd cri-o with rdma at root and crio.service on the unified line",
            format!(
                "{}3:rdma:/\n0::/system.slice/crio.service\n",
                v1(&format!(
                    "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice/crio-{CID}.scope"
                ))
            ),
            Found(Some(UID), CID),
        ),
        (
            "v2 systemd cri-o",
            v2(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_SYSTEMD}.slice/crio-{CID}.scope"
            )),
            Found(Some(UID), CID),
        ),
        (
            "v2 systemd cri-o, crun's container sub-cgroup",
            v2(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_SYSTEMD}.slice/crio-{CID}.scope/container"
            )),
            Found(Some(UID), CID),
        ),
        (
            "cri-o container monitor is not the workload",
            v2(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice/crio-conmon-{CID}.scope"
            )),
            NotInPod,
        ),
        (
            "v1 containerd with systemd driver: pod and container in one segment",
            format!(
                "1:name=systemd:/system.slice/containerd.service/kubepods-burstable-pod{UID_SYSTEMD}.slice:cri-containerd:{CID}\n"
            ),
            Found(Some(UID), CID),
        ),
        (
            "cri-containerd colon form at the top",
            v2(&format!(
                "/kubepods-besteffort-pod{UID_SYSTEMD}.slice:cri-containerd:{CID}"
            )),
            Found(Some(UID), CID),
        ),
        // nested and namespaced views
        (
            "kind: pod inside a docker node container, node's own unified line ignored",
            format!(
                "{}0::/docker/{NODE_CID}/system.slice/containerd.service\n",
                v1(&format!(
                    "/docker/{NODE_CID}/kubepods/besteffort/pod{OTHER_UID}/{CID}"
                ))
            ),
            Found(Some(OTHER_UID), CID),
        ),
        (
            "kind, pod-less line first",
            format!(
                "0::/docker/{NODE_CID}/system.slice/containerd.service\n{}",
                v1(&format!(
                    "/docker/{NODE_CID}/kubepods/besteffort/pod{OTHER_UID}/{CID}"
                ))
            ),
            Found(Some(OTHER_UID), CID),
        ),
        (
            "docker desktop",
            v1(&format!("/kubepods/kubepods/besteffort/pod{UID}/{CID}")),
            Found(Some(UID), CID),
        ),
        (
            "another pod seen from the agent's cgroup namespace",
            v2(&format!("/../../../burstable/pod{UID}/{CID}")),
            Found(Some(UID), CID),
        ),
        (
            "a container of the agent's own pod, through its cgroup namespace",
            v2(&format!("/../{CID}")),
            Found(None, CID),
        ),
        (
            "cri-o under KubeEdge: no pod in the path",
            v2(&format!("/../crio-{CID}.scope")),
            Found(None, CID),
        ),
        (
            "static pod: uid is a 32-hex manifest hash",
            v1(&format!("/kubepods/burstable/pod{STATIC_UID}/{CID}")),
            Found(Some(STATIC_UID), CID),
        ),
        (
            "plain docker container outside Kubernetes: container only",
            v2(&format!("/system.slice/docker-{CID}.scope")),
            Found(None, CID),
        ),
        (
            "sub-cgroups made inside the container do not count",
            v2(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice/cri-containerd-{CID}.scope/pod{OTHER_UID}/{OTHER_CID}"
            )),
            Found(Some(UID), CID),
        ),
        (
            "cgroupfs sub-cgroups below the container do not count",
            v2(&format!("/kubepods/besteffort/pod{UID}/{CID}/sub/{OTHER_CID}")),
            Found(Some(UID), CID),
        ),
        (
            "mixed separators in the uid: not a pod uid",
            v2(&format!(
                "/kubepods/pod2c48913c-b29f_11e7-9350-020968147796/{CID}"
            )),
            Found(None, CID),
        ),
        (
            "trailing blank lines",
            format!("{}\n\n", v2(&format!("/kubepods/pod{UID}/{CID}"))),
            Found(Some(UID), CID),
        ),
        // not in a pod
        (
            "systemd user session",
            "11:hugetlb:/\n10:devices:/user.slice\n9:pids:/user.slice/user-1000.slice\n1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n".to_owned(),
            NotInPod,
        ),
        (
            "a 32-hex cgroup is not a container",
            "4:memory:/process_api/d68715f86757b55f41c496879a41494d\n0::/\n".to_owned(),
            NotInPod,
        ),
        ("v2 root", v2("/"), NotInPod),
        ("v2 init.scope", v2("/init.scope"), NotInPod),
        ("empty file", String::new(), NotInPod),
        (
            "pod slice without a container",
            v2(&format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{UID_SYSTEMD}.slice"
            )),
            NotInPod,
        ),
        (
            "pod without a container segment",
            v2(&format!("/kubepods/pod{OTHER_UID}")),
            NotInPod,
        ),
        (
            "pod segment followed by a non-container",
            v2(&format!("/kubepods/pod{OTHER_UID}/other/{CID}")),
            NotInPod,
        ),
        (
            "static pod uid without container",
            v2(&format!("/kubepods/pod{STATIC_UID}")),
            NotInPod,
        ),
        (
            "63 hex digits are not a container id",
            v2(&format!("/kubepods/pod{UID}/{}", &CID[1..])),
            NotInPod,
        ),
        (
            "65 hex digits are not a container id",
            v2(&format!("/kubepods/pod{UID}/{CID}0")),
            NotInPod,
        ),
        // conflicts
        (
            "two pods",
            format!(
                "2:cpu:/kubepods/pod{UID}/{CID}\n1:memory:/kubepods/pod{OTHER_UID}/{CID}\n"
            ),
            Error(|e| {
                matches!(e, CgroupError::ConflictingPodUids { first, second }
                    if first == UID && second == OTHER_UID)
            }),
        ),
        (
            "two containers in one pod",
            format!(
                "2:cpu:/kubepods/pod{UID}/{CID}\n1:memory:/kubepods/pod{UID}/{OTHER_CID}\n"
            ),
            Error(|e| {
                matches!(e, CgroupError::ConflictingContainerIds { first, second }
                    if first == CID && second == OTHER_CID)
            }),
        ),
        (
            "two pod-less containers",
            format!("2:cpu:/docker/{CID}\n0::/docker/{OTHER_CID}\n"),
            Error(|e| matches!(e, CgroupError::ConflictingContainerIds { .. })),
        ),
        (
            "two container ids in one segment",
            v2(&format!("/kubepods/pod{UID}/{CID}-{OTHER_CID}")),
            Error(|e| matches!(e, CgroupError::AmbiguousContainerId { line: 1, .. })),
        ),
        // malformed
        (
            "missing cgroup path",
            "11:hugetlb\n".to_owned(),
            Error(|e| matches!(e, CgroupError::MissingField { line: 1 })),
        ),
        (
            "malformed third line",
            "2:cpu:/\n1:memory:/\ngarbage\n".to_owned(),
            Error(|e| matches!(e, CgroupError::MissingField { line: 3 })),
        ),
        (
            "hierarchy id not a number",
            "x:cpu:/\n".to_owned(),
            Error(|e| matches!(e, CgroupError::BadHierarchyId { line: 1, id } if id == "x")),
        ),
        (
            "empty hierarchy id",
            ":cpu:/\n".to_owned(),
            Error(|e| matches!(e, CgroupError::BadHierarchyId { line: 1, .. })),
        ),
        (
            "relative cgroup path",
            format!("0::kubepods/pod{UID}/{CID}\n"),
            Error(|e| matches!(e, CgroupError::RelativePath { line: 1 })),
        ),
    ]
}

#[test]
fn every_form() {
    let mut failures = Vec::new();
    for (name, contents, want) in cases() {
        let got = parse_cgroup_file(&contents);
        let ok = match (&want, &got) {
            (Want::Found(pod, id), Ok(Some(found))) => {
                found.pod_uid.as_deref() == *pod && found.container_id == *id
            }
            (Want::NotInPod, Ok(None)) => true,
            (Want::Error(check), Err(e)) => check(e),
            _ => false,
        };
        if !ok {
            failures.push(format!("{name}: got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn for_pid_reads_the_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("123");
    std::fs::create_dir(&dir).unwrap();
    let mut contents = v2(&format!("/kubepods/besteffort/pod{UID}/{CID}")).into_bytes();
    // A non-UTF-8 sub-cgroup name below the container does not get in the way.
    contents.splice(contents.len() - 1..contents.len() - 1, *b"/\xff\xfe");
    std::fs::write(dir.join("cgroup"), &contents).unwrap();
    let found = for_pid(root.path(), 123).unwrap().unwrap();
    assert_eq!(found.pod_uid.as_deref(), Some(UID));
    assert_eq!(found.container_id, CID);

    assert!(matches!(
        for_pid(root.path(), 124),
        Err(CgroupError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound
    ));

    let big = root.path().join("125");
    std::fs::create_dir(&big).unwrap();
    let huge = "0::/\n".repeat(usize::try_from(MAX_CGROUP_FILE_LEN).unwrap() / 5 + 1);
    std::fs::write(big.join("cgroup"), huge).unwrap();
    assert!(matches!(
        for_pid(root.path(), 125),
        Err(CgroupError::TooLarge { .. })
    ));
}

#[test]
fn the_real_file_of_this_process_parses() {
    // Whatever container this test runs in (or none), the kernel's file must be understood.
    let found = for_pid(
        Path::new("/proc"),
        i32::try_from(std::process::id()).unwrap(),
    );
    assert!(found.is_ok(), "{found:?}");
}
