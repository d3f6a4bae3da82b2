//! The ClusterSPIFFEID controller as a library: Kubernetes resources in, registration entries
//! and federation relationships out.
//!
//! - [`crd`]: the `ClusterSPIFFEID`, `ClusterStaticEntry` and `ClusterFederatedTrustDomain`
//!   resources (`spire.spiffe.io/v1alpha1`, cluster-scoped, SPIRE's field names) and their
//!   `CustomResourceDefinition`s, generated from the Rust types.
//! - [`template`]: the Go-template subset that renders `spiffeIDTemplate`,
//!   `dnsNameTemplates` and `workloadSelectorTemplates`; [`data`]: what templates see.
//! - [`labels`]: label selectors (`matchLabels`, `matchExpressions`) and `matchNames`.
//! - [`render`] and [`plan`]: from a snapshot of the cluster to the entries it should have
//!   (pure functions, also behind the `render` subcommand); [`diff`]: what to change on the
//!   server; [`entry`]: the desired entry and its deterministic ID; [`ttl`]: TTL fields;
//!   [`services`]: the service DNS names of `autoPopulateDNSNames`.
//! - [`registry`]: the server's entry API (SPIRE's `spire.api.server.entry.v1`), behind the
//!   [`registry::EntryStore`] trait.
//! - [`controller`]: the level-triggered loop: watches, reconcile, status and events.
//! - [`federation`]: `ClusterFederatedTrustDomain` resources to federation relationships
//!   (validation, plan, difference); [`federation_controller`]: their loop, writing through
//!   the server's TrustDomain API ([`registry::RelationshipStore`]).
//! - [`offline`]: reading Kubernetes YAML into a snapshot, for `render` without a cluster.
#![forbid(unsafe_code)]

pub mod config;
pub mod controller;
pub mod crd;
pub mod data;
pub mod diff;
pub mod entry;
pub mod federation;
pub mod federation_controller;
pub mod labels;
pub mod offline;
pub mod plan;
pub mod registry;
pub mod render;
pub mod services;
mod status;
pub mod template;
pub mod ttl;

pub use config::ControllerConfig;
pub use controller::{Controller, ControllerError, ReconcileReport};
pub use crd::{ClusterFederatedTrustDomain, ClusterSPIFFEID, ClusterStaticEntry};
pub use federation_controller::{FederationController, FederationReport};
