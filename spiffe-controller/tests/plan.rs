//! The plan on the fixture cluster, offline: selection by matchLabels, matchExpressions and
//! matchNames, the ignored namespaces, the rendered fields, fallbacks and masking, the service
//! DNS names of `autoPopulateDNSNames`, and failures that are reported rather than panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use k8s_openapi::api::discovery::v1::EndpointConditions;
use spiffe_controller::offline::read_documents;
use spiffe_controller::plan::{ClusterSnapshot, Declared, ResourceRef, plan};

fn snapshot(extra: &str) -> ClusterSnapshot {
    let cluster = [
        fixture("cluster/namespaces.yaml"),
        fixture("cluster/nodes.yaml"),
        fixture("cluster/pods.yaml"),
    ];
    let mut inputs: Vec<(&str, &str)> = cluster.iter().map(|t| ("cluster", t.as_str())).collect();
    inputs.push(("extra", extra));
    let input = read_documents(inputs).unwrap();
    assert!(input.notes.is_empty(), "{:?}", input.notes);
    input.snapshot
}

fn ids(p: &spiffe_controller::plan::Plan) -> Vec<String> {
    let mut v: Vec<String> = p
        .entries
        .values()
        .map(|d| d.entry.spiffe_id.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn seed_resource_selects_only_the_prod_pod() {
    let snap = snapshot(&fixture("resources/payment-service-spiffe-id.yaml"));
    let p = plan(&config(), &snap);
    assert_eq!(ids(&p), ["spiffe://mycompany.com/ns/prod/sa/payment-sa"]);
    let d = p.entries.values().next().unwrap();
    assert_eq!(
        d.entry.parent_id.to_string(),
        format!("spiffe://{TD}/spire/agent/k8s_psat/{CLUSTER}/{NODE_1_UID}")
    );
    assert_eq!(
        d.entry
            .selectors
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        [format!("k8s:pod-uid:{PAYMENT_POD_UID}")]
    );
    assert!(d.entry.id.starts_with("spiffe-controller."));
    let s = &p.spiffe_id_stats["payment-service-identity"];
    assert_eq!(
        (s.namespaces_selected, s.pods_selected, s.entries_to_set),
        (1, 1, 1)
    );
}

#[test]
fn expressions_ignored_namespaces_and_rendered_fields() {
    let snap = snapshot(
        r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: everything-labelled
spec:
  spiffeIDTemplate: "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
  dnsNameTemplates:
  - "{{ index .PodMeta.Labels \"app\" }}.{{ .PodMeta.Namespace }}.svc.{{ .ClusterDomain }}"
  workloadSelectorTemplates:
  - "k8s:ns:{{ .PodMeta.Namespace }}"
  ttl: 30m
  jwtTtl: 5m
  federatesWith: [partner.example]
  hint: external
  podSelector:
    matchExpressions:
    - key: app
      operator: In
      values: [payment-service, user-service]
  namespaceSelector:
    matchExpressions:
    - key: env
      operator: Exists
"#,
    );
    let p = plan(&config(), &snap);
    // coredns in kube-system carries app: payment-service but has no env label; staging does.
    assert_eq!(
        ids(&p),
        [
            "spiffe://mycompany.com/ns/prod/sa/payment-sa",
            "spiffe://mycompany.com/ns/prod/sa/user-sa",
            "spiffe://mycompany.com/ns/staging/sa/payment-sa",
        ]
    );
    let canary = p
        .entries
        .values()
        .find(|d| d.entry.spiffe_id.to_string().contains("staging"))
        .unwrap();
    assert_eq!(
        canary.entry.dns_names,
        ["payment-service.staging.svc.cluster.local"]
    );
    assert_eq!(canary.entry.x509_svid_ttl, 1800);
    assert_eq!(canary.entry.jwt_svid_ttl, 300);
    assert_eq!(canary.entry.hint, "external");
    assert_eq!(canary.entry.federates_with[0].name(), "partner.example");
    let sel: Vec<String> = canary
        .entry
        .selectors
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(sel.contains(&"k8s:ns:staging".to_owned()), "{sel:?}");
    assert_eq!(
        canary.pod.as_ref().unwrap().name,
        "payment-service-canary",
        "pod recorded"
    );

    // A selector that takes every namespace: kube-system and spire are ignored by default.
    let all = snapshot(
        r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: all
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/pod/{{ .Pod.Namespace }}/{{ .Pod.Name }}"
"#,
    );
    let mut c = config();
    c.ignored_namespaces =
        spiffe_controller::config::IgnoredNamespaces::new(&["kube-system", "kube-public", "spire"])
            .unwrap();
    let p = plan(&c, &all);
    assert_eq!(p.entries.len(), 3, "{:?}", ids(&p));
    assert!(ids(&p).iter().all(|i| !i.contains("kube-system")));
    let s = &p.spiffe_id_stats["all"];
    assert_eq!(s.namespaces_selected, 4);
    assert_eq!(s.namespaces_ignored, 2);
}

#[test]
fn fallback_masking_and_failures() {
    let snap = snapshot(
        r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: a-specific
  creationTimestamp: "2024-01-01T00:00:00Z"
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{ .Pod.Namespace }}/sa/{{ .Pod.ServiceAccount }}"
  podSelector: {matchLabels: {app: payment-service}}
---
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: b-duplicate
  creationTimestamp: "2024-06-01T00:00:00Z"
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{ .Pod.Namespace }}/sa/{{ .Pod.ServiceAccount }}"
  podSelector: {matchLabels: {app: payment-service}}
---
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: c-fallback
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/default/{{ .Pod.Name }}"
  fallback: true
---
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: d-foreign
spec:
  spiffeIDTemplate: "spiffe://other.org/{{ .Pod.Name }}"
  podSelector: {matchLabels: {app: user-service}}
---
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: e-bad-selector
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/x"
  podSelector:
    matchExpressions: [{key: app, operator: Near}]
"#,
    );
    let p = plan(&config(), &snap);
    // payment pods (prod, staging): a-specific wins over the identical b-duplicate;
    // user-service only gets the fallback.
    assert_eq!(
        ids(&p),
        [
            "spiffe://mycompany.com/default/user-service-5c4b3a291-m8n7p",
            "spiffe://mycompany.com/ns/prod/sa/payment-sa",
            "spiffe://mycompany.com/ns/staging/sa/payment-sa",
        ]
    );
    assert_eq!(p.spiffe_id_stats["a-specific"].entries_to_set, 2);
    assert_eq!(p.spiffe_id_stats["b-duplicate"].entries_masked, 2);
    assert_eq!(p.spiffe_id_stats["b-duplicate"].entries_to_set, 0);
    assert_eq!(p.spiffe_id_stats["c-fallback"].entries_to_set, 1);
    assert_eq!(p.spiffe_id_stats["d-foreign"].pod_entry_render_failures, 1);
    let foreign = p
        .failures
        .iter()
        .find(|f| f.resource == ResourceRef::ClusterSPIFFEID("d-foreign".into()))
        .unwrap();
    assert!(
        foreign.to_string().contains("not in trust domain"),
        "{foreign}"
    );
    let bad = p
        .failures
        .iter()
        .find(|f| f.resource == ResourceRef::ClusterSPIFFEID("e-bad-selector".into()))
        .unwrap();
    assert!(bad.to_string().contains("podSelector"), "{bad}");
}

/// A selector the API server would refuse (a key with a space, a value with a space) selects
/// nothing, and the resource is reported with the rule broken: before, such a selector matched
/// every pod.
#[test]
fn selectors_with_invalid_keys_or_values_render_nothing() {
    let snap = snapshot(
        r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: bad-key
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{ .Pod.Namespace }}/sa/{{ .Pod.ServiceAccount }}"
  podSelector:
    matchExpressions: [{key: "bad key", operator: DoesNotExist}]
---
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: bad-value
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{ .Pod.Namespace }}/sa/{{ .Pod.ServiceAccount }}"
  namespaceSelector:
    matchExpressions: [{key: env, operator: NotIn, values: ["has space"]}]
"#,
    );
    let p = plan(&config(), &snap);
    assert!(ids(&p).is_empty(), "{:?}", ids(&p));
    for (name, rule) in [
        ("bad-key", "label key \"bad key\""),
        ("bad-value", "\"has space\""),
    ] {
        let failure = p
            .failures
            .iter()
            .find(|f| f.resource == ResourceRef::ClusterSPIFFEID(name.into()))
            .unwrap_or_else(|| panic!("{name} is not reported"));
        assert!(failure.to_string().contains(rule), "{name}: {failure}");
    }
}

/// The entry the plan gives the pod named `pod`.
fn entry_of<'a>(p: &'a spiffe_controller::plan::Plan, pod: &str) -> &'a Declared {
    p.entries
        .values()
        .find(|d| d.pod.as_ref().is_some_and(|r| r.name == pod))
        .unwrap_or_else(|| panic!("no entry for pod {pod}"))
}

const PAYMENT_POD: &str = "payment-service-7d9f8b6c5-x2k4q";
const USER_POD: &str = "user-service-5c4b3a291-m8n7p";

const AUTO_DNS: &str = r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: payments-with-service-names
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
  podSelector: {matchLabels: {app: payment-service}}
  namespaceSelector: {matchNames: [prod]}
  dnsNameTemplates:
  - "{{ .PodMeta.Name }}.pods.example"
  - "payment-service.prod.svc"
  autoPopulateDNSNames: true
---
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: users-without
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}"
  podSelector: {matchLabels: {app: user-service}}
"#;

#[test]
fn auto_populated_dns_names_follow_the_endpoint_slices() {
    let services = fixture("network/services.yaml");
    let mut snap = snapshot(&format!("{services}\n---\n{AUTO_DNS}"));
    let p = plan(&config(), &snap);
    assert!(p.failures.is_empty(), "{:?}", p.failures);
    // The templates' names first, then every service's names sorted together, each once
    // (`payment-service.prod.svc` was already there).
    assert_eq!(
        entry_of(&p, PAYMENT_POD).entry.dns_names,
        [
            "payment-service-7d9f8b6c5-x2k4q.pods.example",
            "payment-service.prod.svc",
            "payment-service",
            "payment-service.prod",
            "payment-service.prod.svc.cluster.local",
            "payments-peers",
            "payments-peers.prod",
            "payments-peers.prod.svc",
            "payments-peers.prod.svc.cluster.local",
        ]
    );
    // user-service selects that pod, but its ClusterSPIFFEID does not ask for the names.
    assert!(entry_of(&p, USER_POD).entry.dns_names.is_empty());

    // Without a cluster domain there is no fourth name.
    let mut c = config();
    c.cluster_domain = String::new();
    let p = plan(&c, &snap);
    assert_eq!(
        &entry_of(&p, PAYMENT_POD).entry.dns_names[2..],
        [
            "payment-service",
            "payment-service.prod",
            "payments-peers",
            "payments-peers.prod",
            "payments-peers.prod.svc",
        ]
    );

    // The pod starts terminating: its endpoint stays in the slice, marked so, and the names
    // stay. The headless service is deleted: its slice, not yet collected, gives nothing.
    for s in &mut snap.endpoint_slices {
        for e in &mut std::sync::Arc::make_mut(s).endpoints {
            e.conditions = Some(EndpointConditions {
                ready: Some(false),
                serving: Some(true),
                terminating: Some(true),
            });
        }
    }
    snap.services
        .retain(|s| s.metadata.name.as_deref() != Some("payments-peers"));
    let p = plan(&config(), &snap);
    assert_eq!(
        &entry_of(&p, PAYMENT_POD).entry.dns_names[2..],
        [
            "payment-service",
            "payment-service.prod",
            "payment-service.prod.svc.cluster.local",
        ]
    );

    // The pod leaves the service's endpoints: the names go.
    snap.endpoint_slices
        .retain(|s| s.metadata.name.as_deref() != Some("payment-service-x7k2p"));
    let p = plan(&config(), &snap);
    assert_eq!(
        entry_of(&p, PAYMENT_POD).entry.dns_names,
        [
            "payment-service-7d9f8b6c5-x2k4q.pods.example",
            "payment-service.prod.svc"
        ]
    );
}

#[test]
fn render_assumes_the_endpoint_slice_of_a_service_manifest() {
    let cluster = [
        fixture("cluster/namespaces.yaml"),
        fixture("cluster/nodes.yaml"),
        fixture("cluster/pods.yaml"),
    ];
    let service = r#"
apiVersion: v1
kind: Service
metadata:
  name: payment-service
  namespace: prod
spec:
  selector: {app: payment-service}
  ports: [{port: 443, targetPort: 8443}]
---
apiVersion: v1
kind: Service
metadata:
  name: no-selector
  namespace: prod
spec:
  ports: [{port: 80}]
"#;
    let mut inputs: Vec<(&str, &str)> = cluster.iter().map(|t| ("cluster", t.as_str())).collect();
    inputs.push(("service.yaml", service));
    inputs.push(("ids.yaml", AUTO_DNS));
    let input = read_documents(inputs).unwrap();
    assert_eq!(
        input.notes,
        [
            "service prod/payment-service has no EndpointSlice document; assuming one with the 1 pod(s) its selector matches"
        ]
    );
    let p = plan(&config(), &input.snapshot);
    assert_eq!(
        &entry_of(&p, PAYMENT_POD).entry.dns_names[2..],
        [
            "payment-service",
            "payment-service.prod",
            "payment-service.prod.svc.cluster.local",
        ]
    );
}

/// Two or more resources declaring the same entry: the oldest wins; at the same age one not
/// being deleted, then the one whose deletion was asked for last; then the lowest UID.
#[test]
fn masking_prefers_the_oldest_then_the_least_deleted() {
    let doc = |name: &str, uid: &str, created: &str, deleting: Option<&str>| {
        let deletion = deleting
            .map(|t| format!("\n  deletionTimestamp: \"{t}\"\n  finalizers: [example.com/hold]"))
            .unwrap_or_default();
        format!(
            r#"
apiVersion: spire.spiffe.io/v1alpha1
kind: ClusterSPIFFEID
metadata:
  name: {name}
  uid: {uid}
  creationTimestamp: "{created}"{deletion}
spec:
  spiffeIDTemplate: "spiffe://mycompany.com/ns/{{{{ .PodMeta.Namespace }}}}/sa/{{{{ .PodSpec.ServiceAccountName }}}}"
  podSelector: {{matchLabels: {{app: user-service}}}}
"#
        )
    };
    let winner = |docs: &[String]| {
        let p = plan(&config(), &snapshot(&docs.join("---\n")));
        assert_eq!(p.entries.len(), 1);
        let masked: i64 = p.spiffe_id_stats.values().map(|s| s.entries_masked).sum();
        assert_eq!(masked as usize, docs.len() - 1);
        p.entries.values().next().unwrap().by.to_string()
    };
    let t = "2025-01-01T00:00:00Z";
    assert_eq!(
        winner(&[
            doc("young", "a", "2025-06-01T00:00:00Z", None),
            doc("old", "z", t, None),
        ]),
        "ClusterSPIFFEID/old"
    );
    assert_eq!(
        winner(&[
            doc("leaving", "a", t, Some("2025-07-01T10:00:00Z")),
            doc("staying", "z", t, None),
        ]),
        "ClusterSPIFFEID/staying"
    );
    assert_eq!(
        winner(&[
            doc("left-first", "a", t, Some("2025-07-01T10:00:00Z")),
            doc("left-last", "z", t, Some("2025-07-01T11:00:00Z")),
        ]),
        "ClusterSPIFFEID/left-last"
    );
    assert_eq!(
        winner(&[doc("b-name", "a", t, None), doc("a-name", "z", t, None)]),
        "ClusterSPIFFEID/b-name",
        "the lower UID, not the name"
    );
}
