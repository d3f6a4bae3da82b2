//! The manifests under `deploy/`: every document parses as the Kubernetes type it claims to be
//! and serializes back to exactly what is written (so a misspelt or misplaced field, which
//! k8s-openapi would silently drop, fails here); the checked-in CRDs are the ones generated
//! from the Rust types; and the pieces that must agree across files (cluster name, token
//! audience and path, service accounts, sockets, RBAC) do.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PodSpec, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use spiffe_controller::crd::{ClusterSPIFFEID, ClusterStaticEntry, crds_yaml};

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// A document and the file it came from.
struct Doc {
    file: String,
    value: Value,
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(yaml_files(&p));
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn documents() -> Vec<Doc> {
    let mut docs = Vec::new();
    for path in yaml_files(&deploy_dir()) {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path
            .strip_prefix(deploy_dir())
            .unwrap()
            .display()
            .to_string();
        for d in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(d).unwrap_or_else(|e| panic!("{file}: {e}"));
            if !value.is_null() {
                docs.push(Doc {
                    file: file.clone(),
                    value,
                });
            }
        }
    }
    docs
}

/// Parses `v` as `K` and checks that serializing it gives `v` back.
fn round_trip<K: DeserializeOwned + serde::Serialize>(file: &str, v: &Value) -> K {
    let typed: K = serde_json::from_value(v.clone()).unwrap_or_else(|e| {
        panic!(
            "{file}: {} {}: {e}",
            v["kind"],
            v.pointer("/metadata/name").unwrap_or(&Value::Null)
        )
    });
    let back = serde_json::to_value(&typed).unwrap();
    if let Some(at) = first_difference(v, &back, String::new()) {
        panic!(
            "{file}: {} {} does not survive a round trip through its type, at {at} \
             (a field the type does not know, or one it writes differently)",
            v["kind"], v["metadata"]["name"]
        );
    }
    typed
}

/// The JSON pointer of the first place where `a` and `b` differ.
fn first_difference(a: &Value, b: &Value, at: String) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.keys()
                .chain(y.keys())
                .find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => first_difference(p, q, format!("{at}/{k}")),
                    (Some(_), None) => Some(format!("{at}/{k} (dropped)")),
                    _ => Some(format!("{at}/{k} (added)")),
                })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}/{i}"))),
        _ => (a != b).then(|| format!("{at}: {a} vs {b}")),
    }
}

/// Every object of the deploy directory, typed.
#[derive(Default)]
struct Objects {
    namespaces: BTreeMap<String, Namespace>,
    service_accounts: BTreeMap<String, ServiceAccount>,
    cluster_roles: BTreeMap<String, ClusterRole>,
    bindings: BTreeMap<String, ClusterRoleBinding>,
    config_maps: BTreeMap<String, ConfigMap>,
    services: BTreeMap<String, Service>,
    stateful_sets: BTreeMap<String, StatefulSet>,
    daemon_sets: BTreeMap<String, DaemonSet>,
    deployments: BTreeMap<String, Deployment>,
    crds: BTreeMap<String, CustomResourceDefinition>,
    cluster_spiffe_ids: BTreeMap<String, ClusterSPIFFEID>,
    static_entries: BTreeMap<String, ClusterStaticEntry>,
}

fn key(v: &Value) -> String {
    match v.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) => format!("{ns}/{}", v["metadata"]["name"].as_str().unwrap()),
        None => v["metadata"]["name"].as_str().unwrap().to_owned(),
    }
}

fn objects() -> Objects {
    let mut o = Objects::default();
    let docs = documents();
    assert!(docs.len() >= 20, "only {} documents", docs.len());
    for Doc { file, value: v } in &docs {
        let api_version = v["apiVersion"].as_str().unwrap_or_default();
        let kind = v["kind"].as_str().unwrap_or_default();
        let k = key(v);
        let fresh = match (api_version, kind) {
            ("v1", "Namespace") => o.namespaces.insert(k, round_trip(file, v)).is_none(),
            ("v1", "ServiceAccount") => o.service_accounts.insert(k, round_trip(file, v)).is_none(),
            ("v1", "ConfigMap") => o.config_maps.insert(k, round_trip(file, v)).is_none(),
            ("v1", "Service") => o.services.insert(k, round_trip(file, v)).is_none(),
            ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
                o.cluster_roles.insert(k, round_trip(file, v)).is_none()
            }
            ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
                o.bindings.insert(k, round_trip(file, v)).is_none()
            }
            ("apps/v1", "StatefulSet") => o.stateful_sets.insert(k, round_trip(file, v)).is_none(),
            ("apps/v1", "DaemonSet") => o.daemon_sets.insert(k, round_trip(file, v)).is_none(),
            ("apps/v1", "Deployment") => o.deployments.insert(k, round_trip(file, v)).is_none(),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
                o.crds.insert(k, round_trip(file, v)).is_none()
            }
            ("spire.spiffe.io/v1alpha1", "ClusterSPIFFEID") => o
                .cluster_spiffe_ids
                .insert(k, round_trip(file, v))
                .is_none(),
            ("spire.spiffe.io/v1alpha1", "ClusterStaticEntry") => {
                o.static_entries.insert(k, round_trip(file, v)).is_none()
            }
            _ => panic!("{file}: {api_version} {kind} is not a type this test knows"),
        };
        assert!(fresh, "{file}: {kind} {} is defined twice", key(v));
    }
    o
}

fn pod_spec_of<'a>(spec: Option<&'a PodSpec>, what: &str) -> &'a PodSpec {
    spec.unwrap_or_else(|| panic!("{what} has no pod spec"))
}

/// The TOML text of a ConfigMap key, parsed.
fn config_file(o: &Objects, cm: &str, key: &str) -> toml::Table {
    let text = o.config_maps[cm].data.as_ref().unwrap()[key].clone();
    text.parse::<toml::Table>()
        .unwrap_or_else(|e| panic!("{cm} {key}: {e}"))
}

fn toml_at<'a>(t: &'a toml::Table, path: &[&str]) -> &'a toml::Value {
    let mut cur: Option<&toml::Value> = None;
    let mut table = t;
    for (i, p) in path.iter().enumerate() {
        let v = table
            .get(*p)
            .unwrap_or_else(|| panic!("no {} in the config file", path[..=i].join(".")));
        cur = Some(v);
        if let Some(next) = v.as_table() {
            table = next;
        }
    }
    cur.unwrap()
}

fn rule_allows(role: &ClusterRole, group: &str, resource: &str, verb: &str) -> bool {
    role.rules.iter().flatten().any(|r| {
        r.api_groups.iter().flatten().any(|g| g == group)
            && r.resources.iter().flatten().any(|x| x == resource)
            && r.verbs.iter().any(|v| v == verb)
    })
}

#[test]
fn every_manifest_round_trips_through_its_kubernetes_type() {
    let o = objects();
    assert!(o.namespaces.contains_key("spire"));
    assert!(o.stateful_sets.contains_key("spire/spire-server"));
    assert!(o.daemon_sets.contains_key("spire/spire-agent"));
    assert!(o.deployments.contains_key("spire/spiffe-controller"));
    assert!(o.services.contains_key("spire/spire-server"));
    assert_eq!(o.crds.len(), 3);
    assert!(
        o.cluster_spiffe_ids
            .contains_key("payment-service-identity")
    );
}

#[test]
fn checked_in_crds_are_the_generated_ones() {
    let on_disk = std::fs::read_to_string(deploy_dir().join("crds.yaml")).unwrap();
    let generated = crds_yaml().unwrap();
    assert!(
        on_disk == generated,
        "deploy/crds.yaml is stale; regenerate it with \
         `cargo run --all-features -p spiffe-controller-bin -- crd > deploy/crds.yaml`"
    );
    let o = objects();
    for name in [
        "clusterspiffeids.spire.spiffe.io",
        "clusterstaticentries.spire.spiffe.io",
        "clusterfederatedtrustdomains.spire.spiffe.io",
    ] {
        let crd = &o.crds[name];
        assert_eq!(crd.spec.group, "spire.spiffe.io");
        assert_eq!(crd.spec.scope, "Cluster");
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, "v1alpha1");
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
    }
}

#[test]
fn the_seed_cluster_spiffe_id_is_the_example() {
    let o = objects();
    let c = &o.cluster_spiffe_ids["payment-service-identity"];
    assert_eq!(
        c.spec.spiffe_id_template,
        "spiffe://mycompany.com/ns/{{ .Pod.Namespace }}/sa/{{ .Pod.ServiceAccount }}"
    );
    assert_eq!(
        c.spec
            .pod_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["app"],
        "payment-service"
    );
    assert_eq!(
        c.spec.namespace_selector.as_ref().unwrap().match_names,
        ["prod"]
    );
    // The example workload is what it selects.
    let d = &o.deployments["prod/payment-service"];
    let t = &d.spec.as_ref().unwrap().template;
    assert_eq!(
        t.metadata.as_ref().unwrap().labels.as_ref().unwrap()["app"],
        "payment-service"
    );
    let spec = pod_spec_of(t.spec.as_ref(), "payment-service");
    assert_eq!(spec.service_account_name.as_deref(), Some("payment-sa"));
}

#[test]
fn server_agent_and_controller_agree() {
    let o = objects();
    let server = config_file(&o, "spire/spire-server", "server.conf");
    let agent = config_file(&o, "spire/spire-agent", "agent.conf");

    // Trust domain everywhere.
    let td = toml_at(&server, &["server", "trust_domain"])
        .as_str()
        .unwrap();
    assert_eq!(
        toml_at(&agent, &["agent", "trust_domain"]).as_str(),
        Some(td)
    );
    let controller = &o.deployments["spire/spiffe-controller"];
    let cspec = pod_spec_of(
        controller.spec.as_ref().unwrap().template.spec.as_ref(),
        "controller",
    );
    let args = cspec.containers[0].args.clone().unwrap();
    let flag = |name: &str| {
        let i = args
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("controller has no {name}"));
        args[i + 1].clone()
    };
    assert_eq!(flag("-trustDomain"), td);

    // The cluster name: the agent's, a key of the server's clusters, the controller's.
    let cluster = toml_at(
        &agent,
        &[
            "plugins",
            "NodeAttestor",
            "k8s_psat",
            "plugin_data",
            "cluster",
        ],
    )
    .as_str()
    .unwrap()
    .to_owned();
    let psat = toml_at(
        &server,
        &[
            "plugins",
            "NodeAttestor",
            "k8s_psat",
            "plugin_data",
            "clusters",
            &cluster,
        ],
    );
    assert_eq!(flag("-clusterName"), cluster);
    let allow: Vec<&str> = psat["service_account_allow_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(allow, ["spire:spire-agent"]);
    let audience: Vec<&str> = psat["audience"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();

    // The agent DaemonSet: hostPID, the socket directory, the projected token, the node name.
    let ds = &o.daemon_sets["spire/spire-agent"];
    let aspec = pod_spec_of(ds.spec.as_ref().unwrap().template.spec.as_ref(), "agent");
    assert_eq!(aspec.host_pid, Some(true));
    assert_eq!(aspec.service_account_name.as_deref(), Some("spire-agent"));
    assert!(o.service_accounts.contains_key("spire/spire-agent"));
    let volumes = aspec.volumes.as_ref().unwrap();
    let sockets = volumes
        .iter()
        .find_map(|v| {
            v.host_path
                .as_ref()
                .filter(|h| h.path == "/run/spire/sockets")
        })
        .expect("hostPath /run/spire/sockets");
    assert_eq!(sockets.type_.as_deref(), Some("DirectoryOrCreate"));
    let token_volume = volumes
        .iter()
        .find(|v| v.projected.is_some())
        .expect("projected token volume");
    let sat = token_volume
        .projected
        .as_ref()
        .unwrap()
        .sources
        .as_ref()
        .unwrap()[0]
        .service_account_token
        .clone()
        .expect("serviceAccountToken source");
    assert_eq!(audience, [sat.audience.as_deref().unwrap()]);
    let container = &aspec.containers[0];
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == token_volume.name)
        .unwrap();
    let token_path = format!("{}/{}", mount.mount_path, sat.path);
    assert_eq!(token_path, "/var/run/secrets/tokens/spire-agent");
    assert_eq!(
        toml_at(
            &agent,
            &[
                "plugins",
                "NodeAttestor",
                "k8s_psat",
                "plugin_data",
                "token_path"
            ]
        )
        .as_str(),
        Some(token_path.as_str())
    );
    let node_env = toml_at(
        &agent,
        &[
            "plugins",
            "WorkloadAttestor",
            "k8s",
            "plugin_data",
            "node_name_env",
        ],
    )
    .as_str()
    .unwrap();
    let env = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == node_env)
        .expect("node name variable");
    assert_eq!(
        env.value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .map(|f| f.field_path.as_str()),
        Some("spec.nodeName")
    );
    let agent_socket = toml_at(&agent, &["agent", "socket_path"]).as_str().unwrap();
    assert!(agent_socket.starts_with("/run/spire/sockets/"));

    // The agent reaches the server's Service.
    let svc = &o.services["spire/spire-server"];
    let port = toml_at(&agent, &["agent", "server_port"])
        .as_integer()
        .unwrap();
    assert_eq!(
        toml_at(&agent, &["agent", "server_address"]).as_str(),
        Some("spire-server.spire.svc")
    );
    assert!(
        svc.spec
            .as_ref()
            .unwrap()
            .ports
            .iter()
            .flatten()
            .any(|p| i64::from(p.port) == port)
    );
    assert_eq!(
        toml_at(&server, &["server", "bind_port"]).as_integer(),
        Some(port)
    );

    // The server: a PVC for its data, the admin socket shared with the controller.
    let sts = &o.stateful_sets["spire/spire-server"];
    let sts_spec = sts.spec.as_ref().unwrap();
    let claims = sts_spec.volume_claim_templates.as_ref().unwrap();
    let data_dir = toml_at(&server, &["server", "data_dir"]).as_str().unwrap();
    let sspec = pod_spec_of(sts_spec.template.spec.as_ref(), "server");
    let smounts = sspec.containers[0].volume_mounts.clone().unwrap();
    let data_mount = smounts.iter().find(|m| m.mount_path == data_dir).unwrap();
    assert_eq!(
        claims[0].metadata.name.as_deref(),
        Some(data_mount.name.as_str())
    );
    let admin_socket = toml_at(&server, &["server", "socket_path"])
        .as_str()
        .unwrap();
    assert_eq!(flag("-serverSocketPath"), admin_socket);
    let admin_dir = Path::new(admin_socket).parent().unwrap().to_str().unwrap();
    let host_dir = |spec: &PodSpec, mounts: &[k8s_openapi::api::core::v1::VolumeMount]| {
        let m = mounts.iter().find(|m| m.mount_path == admin_dir).unwrap();
        spec.volumes
            .iter()
            .flatten()
            .find(|v| v.name == m.name)
            .and_then(|v| v.host_path.as_ref())
            .map(|h| h.path.clone())
            .unwrap()
    };
    assert_eq!(
        host_dir(sspec, &smounts),
        host_dir(cspec, cspec.containers[0].volume_mounts.as_ref().unwrap())
    );
    let affinity = cspec
        .affinity
        .as_ref()
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|a| {
            a.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .expect("the controller runs next to the server");
    assert_eq!(
        affinity[0]
            .label_selector
            .as_ref()
            .unwrap()
            .match_labels
            .as_ref()
            .unwrap()["app"],
        "spire-server"
    );
}

#[test]
fn rbac_grants_what_each_component_needs() {
    let o = objects();
    for (name, sa) in [
        ("spire-server", "spire-server"),
        ("spire-agent", "spire-agent"),
        ("spiffe-controller", "spiffe-controller"),
    ] {
        let b = &o.bindings[name];
        assert_eq!(b.role_ref.name, name);
        let s = &b.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (s.name.as_str(), s.namespace.as_deref()),
            (sa, Some("spire"))
        );
        assert!(o.service_accounts.contains_key(&format!("spire/{sa}")));
    }
    let server = &o.cluster_roles["spire-server"];
    assert!(rule_allows(
        server,
        "authentication.k8s.io",
        "tokenreviews",
        "create"
    ));
    for r in ["pods", "nodes"] {
        assert!(rule_allows(server, "", r, "get"), "server: {r}");
    }
    let c = &o.cluster_roles["spiffe-controller"];
    for (group, r) in [
        ("", "pods"),
        ("", "nodes"),
        ("", "namespaces"),
        ("", "services"),
        ("discovery.k8s.io", "endpointslices"),
    ] {
        for verb in ["get", "list", "watch"] {
            assert!(rule_allows(c, group, r, verb), "controller: {verb} {r}");
        }
    }
    for r in ["clusterspiffeids", "clusterstaticentries"] {
        for verb in ["get", "list", "watch"] {
            assert!(rule_allows(c, "spire.spiffe.io", r, verb), "{verb} {r}");
        }
        assert!(rule_allows(
            c,
            "spire.spiffe.io",
            &format!("{r}/status"),
            "patch"
        ));
    }
    for verb in ["get", "list", "watch"] {
        assert!(
            rule_allows(c, "spire.spiffe.io", "clusterfederatedtrustdomains", verb),
            "{verb} clusterfederatedtrustdomains"
        );
    }
    assert!(rule_allows(c, "events.k8s.io", "events", "create"));
    assert!(!rule_allows(c, "", "secrets", "get"));
}
