//! Kubernetes workload attestation.
//!
//! For now: [`cgroup`], which finds the pod UID and container ID of a process from its
//! `/proc/<pid>/cgroup` file. The kubelet client that turns them into `k8s:` selectors comes
//! with its own issue.

pub mod cgroup;
