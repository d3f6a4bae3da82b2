//! Properties of the cgroup parser: it never panics, and it finds a pod and container written in
//! any of the known forms, whatever surrounds them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use spiffe_attest::k8s::cgroup::parse_cgroup_file;

/// A pod UID in 8-4-4-4-12 form.
fn pod_uid() -> impl Strategy<Value = String> {
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
}

/// A container ID.
fn container_id() -> impl Strategy<Value = String> {
    "[0-9a-f]{64}"
}

/// The cgroup path of a container in a pod, in one of the known driver/runtime forms.
fn container_path(uid: &str, id: &str, form: usize, qos: usize) -> String {
    let escaped = uid.replace('-', "_");
    let qos_dir = ["", "besteffort/", "burstable/"][qos];
    let qos_slice = [
        "",
        "kubepods-besteffort.slice/",
        "kubepods-burstable.slice/",
    ][qos];
    let qos_prefix = ["kubepods-", "kubepods-besteffort-", "kubepods-burstable-"][qos];
    match form {
        0 => format!("/kubepods/{qos_dir}pod{uid}/{id}"),
        1 => format!(
            "/kubepods.slice/{qos_slice}{qos_prefix}pod{escaped}.slice/cri-containerd-{id}.scope"
        ),
        2 => format!("/kubepods.slice/{qos_slice}{qos_prefix}pod{escaped}.slice/docker-{id}.scope"),
        3 => format!("/kubepods.slice/{qos_slice}{qos_prefix}pod{escaped}.slice/crio-{id}.scope"),
        4 => format!(
            "/system.slice/containerd.service/{qos_prefix}pod{escaped}.slice:cri-containerd:{id}"
        ),
        _ => format!("/../../{qos_dir}pod{uid}/{id}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_panics_on_arbitrary_text(input in any::<String>()) {
        let _ = parse_cgroup_file(&input);
    }

    #[test]
    fn never_panics_on_cgroup_like_text(
        input in "([0-9]{0,2}:[a-z_,=]{0,12}:(/[a-z0-9_.:-]{0,12}(pod)?[0-9a-f_-]{0,70}){0,6}\n){0,6}"
    ) {
        let _ = parse_cgroup_file(&input);
    }

    #[test]
    fn finds_pod_and_container_in_every_form(
        uid in pod_uid(),
        id in container_id(),
        form in 0usize..6,
        qos in 0usize..3,
        v1 in any::<bool>(),
        below in proptest::option::of("[a-z]{1,10}"),
    ) {
        let mut path = container_path(&uid, &id, form, qos);
        if let Some(below) = below {
            // A sub-cgroup the container made for itself changes nothing.
            path = format!("{path}/{below}");
        }
        let contents = if v1 {
            format!("12:pids:{path}\n3:rdma:/\n1:name=systemd:{path}\n0::/system.slice/containerd.service\n")
        } else {
            format!("0::{path}\n")
        };
        let found = parse_cgroup_file(&contents).unwrap().unwrap();
        prop_assert_eq!(found.pod_uid.as_deref(), Some(uid.as_str()));
        prop_assert_eq!(found.container_id, id);
    }

    #[test]
    fn paths_without_a_container_id_are_not_in_a_pod(
        segments in proptest::collection::vec("[a-z0-9_.-]{0,40}", 0..6),
    ) {
        // Nothing here can hold 64 hex digits between separators... unless generated; skip those.
        let path = format!("/{}", segments.join("/"));
        let has_id = path
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()));
        prop_assume!(!has_id);
        prop_assert_eq!(parse_cgroup_file(&format!("0::{path}\n")).unwrap(), None);
    }
}
