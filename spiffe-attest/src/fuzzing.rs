//! Entry points for the `cargo fuzz` targets in `fuzz/` (feature `fuzzing`; not part of the
//! supported API).

use tokio::time::Instant;

use crate::k8s::cgroup::{PodContainer, parse_cgroup_file};
use crate::k8s::pods::{Lookup, PodList};
use crate::k8s::selectors::Selectors;

/// A kubelet pod list as the attestor reads it: parsed and indexed, every pod's and
/// container's selectors built, and lookups by container ID (the first 64 bytes of `data`
/// hex-encoded) and by each pod's UID run.
pub fn kubelet_pods(data: &[u8]) {
    let Ok(list) = PodList::parse(data, 1, Instant::now()) else {
        return;
    };
    let container_id = hex::encode(data.get(..32).unwrap_or(data));
    let mut wanted = vec![PodContainer {
        pod_uid: None,
        container_id,
    }];
    for pod in list.pods() {
        let mut selectors = Selectors::default();
        let _ = selectors.pod(pod);
        for c in pod.status.all_containers() {
            let _ = selectors.container(c);
        }
        let _ = selectors.into_vec();
        wanted.push(PodContainer {
            pod_uid: Some(pod.metadata.uid.clone()),
            container_id: String::new(),
        });
    }
    for w in &wanted {
        for pod_only in [false, true] {
            if let Ok(Lookup::Found(pod, status)) = list.find(1, w, pod_only) {
                let mut selectors = Selectors::default();
                let _ = selectors.pod(pod);
                if let Some(c) = status {
                    let _ = selectors.container(c);
                }
            }
        }
    }
}

/// `/proc/<pid>/cgroup` content, as the attestor reads it.
pub fn cgroup_file(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_cgroup_file(text);
    }
}
