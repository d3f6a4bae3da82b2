//! The kubelet's `/pods` answer (a `v1.PodList`), reduced to what the selectors need and
//! indexed by pod UID and container ID.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer};
use tokio::time::Instant;

use crate::k8s::cgroup::PodContainer;
use crate::k8s::error::K8sError;

/// `null` (which Go's encoder writes for a nil slice or map) read as the default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The document: `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[...]}`. `items`
/// must be there (an answer without it is not a pod list, and taking it as an empty one would
/// hide a broken kubelet or proxy); `null` reads as no pods.
#[derive(Debug, Deserialize)]
struct PodListDoc {
    #[serde(deserialize_with = "nullable")]
    items: Vec<Pod>,
}

/// A pod, as far as the selectors go.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Pod {
    #[serde(deserialize_with = "nullable")]
    pub(crate) metadata: ObjectMeta,
    #[serde(deserialize_with = "nullable")]
    pub(crate) spec: PodSpec,
    #[serde(deserialize_with = "nullable")]
    pub(crate) status: PodStatus,
}

/// `metadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ObjectMeta {
    #[serde(deserialize_with = "nullable")]
    pub(crate) name: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) namespace: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) uid: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "nullable")]
    pub(crate) owner_references: Vec<OwnerReference>,
}

/// `metadata.ownerReferences[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct OwnerReference {
    #[serde(deserialize_with = "nullable")]
    pub(crate) kind: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) name: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) uid: String,
}

/// `spec`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodSpec {
    #[serde(deserialize_with = "nullable")]
    pub(crate) service_account_name: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) node_name: String,
}

/// `status`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PodStatus {
    #[serde(deserialize_with = "nullable")]
    pub(crate) container_statuses: Vec<ContainerStatus>,
    #[serde(deserialize_with = "nullable")]
    pub(crate) init_container_statuses: Vec<ContainerStatus>,
    /// Containers added to a running pod (`kubectl debug`). SPIRE v1.13 does not look at them,
    /// so a process in one never attests there; here it is found and gets the pod's selectors
    /// and its own `container-name`/`container-image` (an entry can tell it apart by those).
    /// The pod-level image selectors stay SPIRE's (containers and init containers only).
    #[serde(deserialize_with = "nullable")]
    pub(crate) ephemeral_container_statuses: Vec<ContainerStatus>,
}

impl PodStatus {
    /// Every container's status: containers, then init containers (SPIRE's order), then
    /// ephemeral containers.
    pub(crate) fn all_containers(&self) -> impl Iterator<Item = &ContainerStatus> {
        self.container_statuses
            .iter()
            .chain(&self.init_container_statuses)
            .chain(&self.ephemeral_container_statuses)
    }
}

/// `status.containerStatuses[]`, `status.initContainerStatuses[]` and
/// `status.ephemeralContainerStatuses[]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ContainerStatus {
    #[serde(deserialize_with = "nullable")]
    pub(crate) name: String,
    #[serde(deserialize_with = "nullable")]
    pub(crate) image: String,
    #[serde(rename = "imageID", deserialize_with = "nullable")]
    pub(crate) image_id: String,
    /// `<runtime>://<id>`; empty until the container was created.
    #[serde(rename = "containerID", deserialize_with = "nullable")]
    pub(crate) container_id: String,
}

impl ContainerStatus {
    /// The ID after `<runtime>://` (SPIRE compares the URL's host part).
    fn bare_id(&self) -> Option<&str> {
        match self.container_id.split_once("://") {
            Some((_, id)) if !id.is_empty() => Some(id),
            _ => None,
        }
    }
}

impl Pod {
    /// The status of the container `id` (containers first, then init containers, as in SPIRE,
    /// then ephemeral containers).
    pub(crate) fn container(&self, id: &str) -> Option<&ContainerStatus> {
        self.status
            .all_containers()
            .find(|c| c.bare_id() == Some(id))
    }
}

/// One answer of the kubelet, indexed.
#[derive(Debug)]
pub(crate) struct PodList {
    /// Increases by one with every pod list fetched.
    pub(crate) version: u64,
    /// When the request for it was started.
    pub(crate) fetched_at: Instant,
    pods: Vec<Pod>,
    by_uid: HashMap<String, usize>,
    /// Container ID -> the pods holding it (more than one only in a broken pod list).
    by_container: HashMap<String, Vec<usize>>,
}

/// Where a workload's container is in a pod list.
#[derive(Debug)]
pub(crate) enum Lookup<'a> {
    /// In this pod; the container's status is `None` only when the pod is known from the cgroup
    /// file, the container is not in its status yet, and `pod_only` was asked for.
    Found(&'a Pod, Option<&'a ContainerStatus>),
    /// Not (yet) in this list.
    Missing,
}

impl PodList {
    /// Parses and indexes the kubelet's answer. Pods without a UID are skipped (as in SPIRE).
    pub(crate) fn parse(bytes: &[u8], version: u64, fetched_at: Instant) -> Result<Self, K8sError> {
        // serde would also read a struct from an array; a PodList is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(K8sError::NotAnObject);
        }
        let doc: PodListDoc = serde_json::from_slice(bytes).map_err(K8sError::Parse)?;
        let pods: Vec<Pod> = doc
            .items
            .into_iter()
            .filter(|p| !p.metadata.uid.is_empty())
            .collect();
        let mut by_uid = HashMap::with_capacity(pods.len());
        let mut by_container: HashMap<String, Vec<usize>> = HashMap::new();
        for (index, pod) in pods.iter().enumerate() {
            by_uid.insert(pod.metadata.uid.clone(), index);
            for c in pod.status.all_containers() {
                if let Some(id) = c.bare_id() {
                    let holders = by_container.entry(id.to_owned()).or_default();
                    if !holders.contains(&index) {
                        holders.push(index);
                    }
                }
            }
        }
        Ok(PodList {
            version,
            fetched_at,
            pods,
            by_uid,
            by_container,
        })
    }

    /// The pods, in the kubelet's order.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn pods(&self) -> &[Pod] {
        &self.pods
    }

    /// How many pods the list holds.
    pub(crate) fn len(&self) -> usize {
        self.pods.len()
    }

    /// Finds the workload's pod and container. With the pod UID known (from the cgroup file),
    /// only that pod is searched; otherwise every pod, and two holders of the container are an
    /// error. `pod_only`: a known pod without the container in its status still counts.
    pub(crate) fn find(
        &self,
        pid: i32,
        wanted: &PodContainer,
        pod_only: bool,
    ) -> Result<Lookup<'_>, K8sError> {
        let container_id = wanted.container_id.as_str();
        if let Some(uid) = &wanted.pod_uid {
            let Some(pod) = self.by_uid.get(uid).and_then(|i| self.pods.get(*i)) else {
                return Ok(Lookup::Missing);
            };
            return Ok(match pod.container(container_id) {
                Some(status) => Lookup::Found(pod, Some(status)),
                None if pod_only => Lookup::Found(pod, None),
                None => Lookup::Missing,
            });
        }
        let holders = self
            .by_container
            .get(container_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        match holders {
            [] => Ok(Lookup::Missing),
            [one] => {
                let pod = self.pods.get(*one);
                Ok(
                    match pod.and_then(|p| p.container(container_id).map(|c| (p, c))) {
                        Some((pod, status)) => Lookup::Found(pod, Some(status)),
                        None => Lookup::Missing,
                    },
                )
            }
            [first, second, ..] => {
                let uid = |i: &usize| {
                    self.pods
                        .get(*i)
                        .map(|p| p.metadata.uid.clone())
                        .unwrap_or_default()
                };
                Err(K8sError::DuplicateContainer {
                    pid,
                    container_id: container_id.to_owned(),
                    first: uid(first),
                    second: uid(second),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const ID_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn list(json: &str) -> PodList {
        PodList::parse(json.as_bytes(), 1, Instant::now()).unwrap()
    }

    fn wanted(pod: Option<&str>, container: &str) -> PodContainer {
        PodContainer {
            pod_uid: pod.map(str::to_owned),
            container_id: container.to_owned(),
        }
    }

    fn pod(uid: &str, container: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"p-{uid}","namespace":"ns","uid":"{uid}","labels":null}},
                "spec":{{"serviceAccountName":"sa","nodeName":"n"}},
                "status":{{"containerStatuses":[{{"name":"c","image":"i","imageID":"","containerID":"{container}"}}]}}}}"#
        )
    }

    #[test]
    fn null_items_and_fields() {
        assert_eq!(list(r#"{"kind":"PodList","items":null}"#).len(), 0);
        // No `items` at all is not a pod list.
        assert!(PodList::parse(br#"{"kind":"PodList"}"#, 1, Instant::now()).is_err());
        let l = list(
            r#"{"items":[{"metadata":{"uid":"u","labels":null,"ownerReferences":null},"spec":null,"status":{"containerStatuses":null}}]}"#,
        );
        assert_eq!(l.len(), 1);
        // Pods without a UID are skipped.
        assert_eq!(list(r#"{"items":[{"metadata":{"name":"x"}}]}"#).len(), 0);
        assert!(PodList::parse(b"[]", 1, Instant::now()).is_err());
    }

    #[test]
    fn finds_by_pod_uid_or_container() {
        let json = format!(
            r#"{{"items":[{},{}]}}"#,
            pod("u1", &format!("containerd://{ID_A}")),
            pod("u2", "")
        );
        let l = list(&json);
        let found = |w: &PodContainer, pod_only| match l.find(1, w, pod_only).unwrap() {
            Lookup::Found(p, c) => Some((p.metadata.uid.clone(), c.map(|c| c.name.clone()))),
            Lookup::Missing => None,
        };
        let some = |uid: &str, c: Option<&str>| Some((uid.to_owned(), c.map(str::to_owned)));
        assert_eq!(
            found(&wanted(Some("u1"), ID_A), false),
            some("u1", Some("c"))
        );
        assert_eq!(found(&wanted(None, ID_A), false), some("u1", Some("c")));
        // The container is in u1, not in u2: a pod UID from the cgroup file is binding.
        assert_eq!(found(&wanted(Some("u2"), ID_A), false), None);
        assert_eq!(found(&wanted(Some("u2"), ID_A), true), some("u2", None));
        assert_eq!(found(&wanted(None, ID_B), false), None);
        assert_eq!(found(&wanted(Some("u3"), ID_A), true), None);
    }

    #[test]
    fn duplicate_container_is_an_error() {
        let c = format!("cri-o://{ID_A}");
        let json = format!(r#"{{"items":[{},{}]}}"#, pod("u1", &c), pod("u2", &c));
        let l = list(&json);
        assert!(matches!(
            l.find(7, &wanted(None, ID_A), false),
            Err(K8sError::DuplicateContainer { pid: 7, .. })
        ));
        // With the pod known, there is no ambiguity.
        assert!(matches!(
            l.find(7, &wanted(Some("u2"), ID_A), false),
            Ok(Lookup::Found(..))
        ));
    }
}
