//! The `k8s` selectors of a pod and container, exactly as SPIRE's k8s workload attestor forms
//! them (`getSelectorValuesFromPodInfo`, `getSelectorValuesFromWorkloadContainerStatus`).

use std::collections::BTreeSet;

use spiffe_core::Selector;

use crate::error::AttestError;
use crate::k8s::K8S;
use crate::k8s::pods::{ContainerStatus, Pod};

/// Selectors of type `k8s`.
#[derive(Default)]
pub(crate) struct Selectors(Vec<Selector>);

impl Selectors {
    fn push(&mut self, value: String) -> Result<(), AttestError> {
        let selector = Selector::new(K8S, value).map_err(|source| AttestError::Selector {
            attestor: K8S.to_owned(),
            source,
        })?;
        self.0.push(selector);
        Ok(())
    }

    /// The selectors.
    pub(crate) fn into_vec(self) -> Vec<Selector> {
        self.0
    }

    /// The pod's selectors: `sa`, `ns`, `node-name`, `pod-uid`, `pod-name`, `pod-image-count`,
    /// `pod-init-image-count`, `pod-image` and `pod-init-image` (each container's `image` and
    /// `imageID`), `pod-label:<k>:<v>`, `pod-owner:<Kind>:<name>`, `pod-owner-uid:<Kind>:<uid>`.
    pub(crate) fn pod(&mut self, pod: &Pod) -> Result<(), AttestError> {
        let (meta, spec, status) = (&pod.metadata, &pod.spec, &pod.status);
        self.push(format!("sa:{}", spec.service_account_name))?;
        self.push(format!("ns:{}", meta.namespace))?;
        self.push(format!("node-name:{}", spec.node_name))?;
        self.push(format!("pod-uid:{}", meta.uid))?;
        self.push(format!("pod-name:{}", meta.name))?;
        self.push(format!(
            "pod-image-count:{}",
            status.container_statuses.len()
        ))?;
        self.push(format!(
            "pod-init-image-count:{}",
            status.init_container_statuses.len()
        ))?;
        for image in images(&status.container_statuses) {
            self.push(format!("pod-image:{image}"))?;
        }
        for image in images(&status.init_container_statuses) {
            self.push(format!("pod-init-image:{image}"))?;
        }
        for (key, value) in &meta.labels {
            self.push(format!("pod-label:{key}:{value}"))?;
        }
        for owner in &meta.owner_references {
            self.push(format!("pod-owner:{}:{}", owner.kind, owner.name))?;
            self.push(format!("pod-owner-uid:{}:{}", owner.kind, owner.uid))?;
        }
        Ok(())
    }

    /// The workload container's selectors: `container-name`, and `container-image` for its
    /// `image` and its `imageID`.
    pub(crate) fn container(&mut self, container: &ContainerStatus) -> Result<(), AttestError> {
        self.push(format!("container-name:{}", container.name))?;
        for image in images(std::slice::from_ref(container)) {
            self.push(format!("container-image:{image}"))?;
        }
        Ok(())
    }
}

/// Every `image` and `imageID` of the containers, once each (SPIRE emits both so an entry may
/// name a tag or a digest; an empty one, before the image is pulled, is emitted as SPIRE does).
fn images(containers: &[ContainerStatus]) -> BTreeSet<&str> {
    containers
        .iter()
        .flat_map(|c| [c.image_id.as_str(), c.image.as_str()])
        .collect()
}
