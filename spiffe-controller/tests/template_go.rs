//! Differential test of the controller's templates against Go's `text/template`, run as
//! spire-controller-manager runs it: the `spiffe-interop template` helper (interop/go/template.go)
//! builds SCM's `templateData` from the same pod and node JSON and renders with Go. A generated
//! corpus (every construct and builtin, printf verbs, missing and extra arguments, nil, missing
//! keys, escaping, errors, and field access over the whole pod and node) is rendered on both
//! sides for each fixture; the answers must agree: both fail, or both succeed with the same
//! bytes.
//!
//! Go's output that is not UTF-8 (`slice` cutting a character) must be refused on our side: a
//! rendered SPIFFE ID, DNS name or selector is text. Where `gotmpl` itself differs from Go
//! beyond our reach, the template is listed in `GOTMPL_BUGS` with the reason; any other
//! difference, or a listed one that went away, fails the test.
//!
//! The helper is `target/peers/bin/spiffe-interop` (built by `scripts/peers`), or the one in
//! `$SPIFFE_PEERS_BIN`; without it the test says SKIP and why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Value as Json, json};
use spiffe_controller::data::{ClusterInfo, node_data, pod_data};
use spiffe_controller::template::{Data, Template};

const NAME: &str = "spiffeIDTemplate";

fn helper() -> Result<PathBuf, String> {
    let dir = std::env::var_os("SPIFFE_PEERS_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/peers/bin"),
        PathBuf::from,
    );
    let bin = dir.join("spiffe-interop");
    if bin.exists() {
        return Ok(bin);
    }
    if Command::new("go").arg("version").output().is_err() {
        return Err("Go is not installed, so scripts/peers cannot build spiffe-interop".into());
    }
    Err(format!(
        "run scripts/peers first ({} missing)",
        bin.display()
    ))
}

/// Go's renderer, one question a line.
struct Go {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

#[derive(Debug, Clone, PartialEq)]
enum Answer {
    Ok(String),
    /// Go's output was not UTF-8.
    NotText,
    Err(String),
}

impl Go {
    fn start(bin: &Path) -> Go {
        let mut child = Command::new(bin)
            .arg("template")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Go {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, template: &str, fixture: &Fixture) -> Answer {
        let q = json!({
            "name": NAME,
            "template": template,
            "pod": fixture.pod,
            "node": fixture.node,
            "trustDomain": INFO.0,
            "clusterName": INFO.1,
            "clusterDomain": INFO.2,
        });
        writeln!(self.stdin, "{q}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let a: Json = serde_json::from_str(&line).unwrap();
        let stage = a["stage"].as_str().unwrap_or_default();
        assert!(
            stage != "question" && stage != "panic",
            "the helper could not answer {template:?}: {a}"
        );
        if a["ok"] == json!(true) {
            if a["utf8"] == json!(true) {
                Answer::Ok(a["output"].as_str().unwrap().to_owned())
            } else {
                Answer::NotText
            }
        } else {
            Answer::Err(a["error"].as_str().unwrap_or_default().to_owned())
        }
    }
}

impl Drop for Go {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const INFO: (&str, &str, &str) = ("example.org", "demo-cluster", "cluster.local");

fn info() -> ClusterInfo {
    ClusterInfo {
        trust_domain: INFO.0.into(),
        cluster_name: INFO.1.into(),
        cluster_domain: INFO.2.into(),
    }
}

struct Fixture {
    name: &'static str,
    pod: Json,
    node: Json,
}

impl Fixture {
    fn data(&self) -> Data {
        let node: Node = serde_json::from_value(self.node.clone()).unwrap();
        if self.pod.is_null() {
            node_data(&info(), &node)
        } else {
            let pod: Pod = serde_json::from_value(self.pod.clone()).unwrap();
            pod_data(&info(), &pod, &node)
        }
    }
}

fn managed_fields() -> Json {
    json!([{
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
        "manager": "kube-controller-manager",
        "operation": "Update",
        "time": "2024-05-01T12:00:00Z"
    }])
}

/// A Deployment's pod: init container, two containers with ports, probes, resources and
/// security contexts, owner reference, tolerations, volumes, a pointer to 0 and one to false.
fn deployment_pod() -> Json {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "payment-7d9f8b6c5-x2k4q",
            "generateName": "payment-7d9f8b6c5-",
            "namespace": "prod",
            "uid": "6a1c4f3e-1b2d-4c5e-9f80-1234567890ab",
            "resourceVersion": "123456",
            "generation": 2,
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "labels": {
                "app": "payment",
                "pod-template-hash": "7d9f8b6c5",
                "tier": "",
                "app.kubernetes.io/name": "payment-service"
            },
            "annotations": {
                "note": "<b>\"quoted\" & 'single'</b>",
                "url": "https://x.example/a b?c=d&e=é",
                "empty": ""
            },
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "payment-7d9f8b6c5",
                "uid": "0b6f2a1e-aaaa-bbbb-cccc-ddddeeeeffff",
                "controller": true,
                "blockOwnerDeletion": true
            }],
            "finalizers": ["example.com/guard"],
            "managedFields": managed_fields()
        },
        "spec": {
            "serviceAccountName": "payment-sa",
            "serviceAccount": "payment-sa",
            "nodeName": "node-1",
            "hostname": "payment-0",
            "subdomain": "payments",
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "priorityClassName": "high",
            "priority": 0,
            "terminationGracePeriodSeconds": 30,
            "enableServiceLinks": false,
            "nodeSelector": {"kubernetes.io/os": "linux", "pool": "blue"},
            "securityContext": {"runAsUser": 1000, "runAsNonRoot": true, "fsGroup": 2000},
            "initContainers": [{
                "name": "init-db",
                "image": "busybox:1.36",
                "command": ["sh", "-c", "until nslookup db; do sleep 1; done"]
            }],
            "containers": [
                {
                    "name": "app",
                    "image": "registry.example/payment:1.4.2",
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["--port=8080", "--log-level=info"],
                    "workingDir": "/srv",
                    "ports": [
                        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                        {"name": "metrics", "containerPort": 9090, "protocol": "TCP"}
                    ],
                    "env": [
                        {"name": "MODE", "value": "prod"},
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
                    ],
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                        "requests": {"cpu": "100m", "memory": "128Mi"}
                    },
                    "livenessProbe": {
                        "httpGet": {"path": "/healthz", "port": 8080},
                        "periodSeconds": 10
                    },
                    "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}},
                    "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true}
                },
                {
                    "name": "sidecar",
                    "image": "envoyproxy/envoy:v1.30.0",
                    "ports": [{"containerPort": 15001}]
                }
            ],
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "dedicated", "operator": "Equal", "value": "payments", "effect": "NoSchedule"}
            ],
            "volumes": [
                {"name": "config", "configMap": {"name": "payment-config", "defaultMode": 420}},
                {"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}
            ]
        }
    })
}

/// A bare pod: no labels, annotations or owner, the deprecated service account field only,
/// host namespaces, nil pointers everywhere.
fn bare_pod() -> Json {
    json!({
        "metadata": {"name": "bare", "namespace": "default", "uid": "uid-bare"},
        "spec": {
            "serviceAccount": "legacy-sa",
            "hostNetwork": true,
            "hostPID": true,
            "containers": [{"name": "only", "image": "alpine"}]
        }
    })
}

/// A terminating StatefulSet pod: deletion timestamp, empty labels, a runtime class,
/// ephemeral container, overhead, no service account token.
fn terminating_pod() -> Json {
    json!({
        "metadata": {
            "name": "db-0",
            "namespace": "data",
            "uid": "uid-db-0",
            "labels": {},
            "annotations": {"kubectl.kubernetes.io/default-container": "db"},
            "deletionTimestamp": "2024-06-02T08:30:15Z",
            "deletionGracePeriodSeconds": 0,
            "creationTimestamp": "2024-06-01T00:00:00Z",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": "uid-sts"}]
        },
        "spec": {
            "serviceAccountName": "db",
            "automountServiceAccountToken": false,
            "runtimeClassName": "gvisor",
            "activeDeadlineSeconds": 600,
            "shareProcessNamespace": true,
            "restartPolicy": "OnFailure",
            "dnsPolicy": "None",
            "dnsConfig": {"nameservers": ["10.0.0.10"], "searches": ["data.svc.cluster.local"]},
            "hostIPC": false,
            "containers": [{
                "name": "db",
                "image": "postgres:16",
                "ports": [{"name": "pg", "containerPort": 5432}],
                "livenessProbe": {"tcpSocket": {"port": "pg"}}
            }],
            "ephemeralContainers": [{"name": "debug", "image": "busybox", "targetContainerName": "db"}],
            "overhead": {"cpu": "250m"},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]
        }
    })
}

fn node_1() -> Json {
    json!({
        "metadata": {
            "name": "node-1",
            "uid": "node-uid-1",
            "labels": {"kubernetes.io/hostname": "node-1", "topology.kubernetes.io/zone": "eu-1a"},
            "creationTimestamp": "2024-01-01T00:00:00Z"
        },
        "spec": {
            "podCIDR": "10.244.1.0/24",
            "podCIDRs": ["10.244.1.0/24", "fd00:1::/64"],
            "providerID": "aws:///eu-1a/i-0123456789",
            "taints": [
                {"key": "dedicated", "value": "payments", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute", "timeAdded": "2024-05-01T12:00:00Z"}
            ]
        }
    })
}

fn node_2() -> Json {
    json!({"metadata": {"name": "node-2", "uid": "node-uid-2"}, "spec": {"unschedulable": true}})
}

fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            name: "deployment pod on node-1",
            pod: deployment_pod(),
            node: node_1(),
        },
        Fixture {
            name: "bare pod on node-2",
            pod: bare_pod(),
            node: node_2(),
        },
        Fixture {
            name: "terminating pod on node-1",
            pod: terminating_pod(),
            node: node_1(),
        },
        Fixture {
            name: "node-2 only (parent ID data)",
            pod: Json::Null,
            node: node_2(),
        },
    ]
}

/// What a value is, for which uses can be compared: `printf` names the Go types of values a
/// verb does not fit (`%!d(v1.RestartPolicy=Always)`), which our data does not carry, so each
/// kind gets the verbs that fit it.
#[derive(Clone, Copy, PartialEq)]
enum Class {
    /// A string or named string type.
    Str,
    /// An integer.
    Int,
    /// A boolean.
    Bool,
    /// A map or slice of strings.
    Composite,
    /// A pointer to a scalar or a time: printed alike by an action (Go prints the pointee),
    /// not by `print` or `printf` (Go prints an address).
    Pointer,
    /// A time (a struct with a `String` method).
    Time,
    /// A `[]byte`: `%x` and `%s` print it as one string in Go.
    Bytes,
    /// A struct, a pointer to one, a slice of them, or an error: Go prints generated `String`
    /// methods or addresses, so these are used but never printed.
    Opaque,
}

use Class::*;

const SCALAR: &[Class] = &[Str, Int, Bool];
const TEXT: &[Class] = &[Str, Int, Bool, Composite];
const ALL: &[Class] = &[Str, Int, Bool, Composite, Pointer, Time, Bytes, Opaque];

/// Values of the data, by class; some are errors (unknown fields, fields of nil pointers).
const EXPRESSIONS: &[(&str, Class)] = &[
    (".TrustDomain", Str),
    (".ClusterName", Str),
    (".ClusterDomain", Str),
    (".PodMeta.Name", Str),
    (".PodMeta.GenerateName", Str),
    (".PodMeta.Namespace", Str),
    (".PodMeta.UID", Str),
    (".PodMeta.ResourceVersion", Str),
    (".PodMeta.Generation", Int),
    (".PodMeta.Labels", Composite),
    (".PodMeta.Annotations", Composite),
    (".PodMeta.Labels.app", Str),
    (".PodMeta.Labels.tier", Str),
    (".PodMeta.Labels.missing", Str),
    (".PodMeta.Labels.missing.deeper", Str),
    ("(index .PodMeta.Labels \"app.kubernetes.io/name\")", Str),
    ("(index .PodMeta.Annotations \"note\")", Str),
    ("(index .PodMeta.Annotations \"url\")", Str),
    (".PodMeta.Finalizers", Composite),
    (".PodMeta.CreationTimestamp", Time),
    (".PodMeta.CreationTimestamp.Time", Time),
    (".PodMeta.DeletionTimestamp", Pointer),
    (".PodMeta.DeletionGracePeriodSeconds", Pointer),
    (".PodMeta.OwnerReferences", Opaque),
    ("(index .PodMeta.OwnerReferences 0).Kind", Str),
    ("(index .PodMeta.OwnerReferences 0).Name", Str),
    ("(index .PodMeta.OwnerReferences 0).Controller", Pointer),
    ("(index .PodMeta.ManagedFields 0).Manager", Str),
    ("(index .PodMeta.ManagedFields 0).FieldsV1.Raw", Bytes),
    (".PodSpec.ServiceAccountName", Str),
    (".PodSpec.DeprecatedServiceAccount", Str),
    (".PodSpec.NodeName", Str),
    (".PodSpec.Hostname", Str),
    (".PodSpec.Subdomain", Str),
    (".PodSpec.RestartPolicy", Str),
    (".PodSpec.DNSPolicy", Str),
    (".PodSpec.SchedulerName", Str),
    (".PodSpec.PriorityClassName", Str),
    (".PodSpec.HostNetwork", Bool),
    (".PodSpec.HostPID", Bool),
    (".PodSpec.HostIPC", Bool),
    (".PodSpec.NodeSelector", Composite),
    (".PodSpec.Priority", Pointer),
    (".PodSpec.TerminationGracePeriodSeconds", Pointer),
    (".PodSpec.ActiveDeadlineSeconds", Pointer),
    (".PodSpec.AutomountServiceAccountToken", Pointer),
    (".PodSpec.EnableServiceLinks", Pointer),
    (".PodSpec.ShareProcessNamespace", Pointer),
    (".PodSpec.RuntimeClassName", Pointer),
    (".PodSpec.SecurityContext", Opaque),
    (".PodSpec.SecurityContext.RunAsUser", Pointer),
    (".PodSpec.SecurityContext.RunAsNonRoot", Pointer),
    (".PodSpec.SecurityContext.RunAsGroup", Pointer),
    (".PodSpec.DNSConfig", Opaque),
    (".PodSpec.DNSConfig.Nameservers", Composite),
    (".PodSpec.Containers", Opaque),
    (".PodSpec.InitContainers", Opaque),
    (".PodSpec.EphemeralContainers", Opaque),
    (".PodSpec.Volumes", Opaque),
    (".PodSpec.Tolerations", Opaque),
    (".PodSpec.Affinity", Opaque),
    ("(index .PodSpec.Containers 0)", Opaque),
    ("(index .PodSpec.Containers 0).Name", Str),
    ("(index .PodSpec.Containers 0).Image", Str),
    ("(index .PodSpec.Containers 0).ImagePullPolicy", Str),
    ("(index .PodSpec.Containers 0).Args", Composite),
    ("(index .PodSpec.Containers 0).Command", Composite),
    ("(index .PodSpec.Containers 0).WorkingDir", Str),
    ("(index .PodSpec.Containers 0).Ports", Opaque),
    (
        "(index (index .PodSpec.Containers 0).Ports 0).ContainerPort",
        Int,
    ),
    (
        "(index (index .PodSpec.Containers 0).Ports 0).Protocol",
        Str,
    ),
    ("(index (index .PodSpec.Containers 0).Env 0).Value", Str),
    ("(index .PodSpec.Containers 0).SecurityContext", Opaque),
    (
        "(index .PodSpec.Containers 0).LivenessProbe.HTTPGet.Port",
        Opaque,
    ),
    (
        "(index .PodSpec.Containers 0).LivenessProbe.HTTPGet.Port.IntVal",
        Int,
    ),
    (
        "(index .PodSpec.Containers 0).LivenessProbe.PeriodSeconds",
        Int,
    ),
    ("(index .PodSpec.Containers 0).Resources", Opaque),
    ("(index .PodSpec.Volumes 0).ConfigMap.Name", Str),
    (
        "(index .PodSpec.Volumes 0).VolumeSource.ConfigMap.LocalObjectReference.Name",
        Str,
    ),
    ("(index .PodSpec.Volumes 0).ConfigMap.DefaultMode", Pointer),
    ("(index .PodSpec.Tolerations 0).TolerationSeconds", Pointer),
    (".NodeMeta.Name", Str),
    (".NodeMeta.UID", Str),
    (".NodeMeta.Labels", Composite),
    (".NodeMeta.CreationTimestamp", Time),
    (".NodeSpec.PodCIDR", Str),
    (".NodeSpec.PodCIDRs", Composite),
    (".NodeSpec.ProviderID", Str),
    (".NodeSpec.Unschedulable", Bool),
    (".NodeSpec.Taints", Opaque),
    ("(index .NodeSpec.Taints 0).Effect", Str),
    ("(index .NodeSpec.Taints 1).TimeAdded", Pointer),
    (".NodeSpec.ConfigSource", Opaque),
    (".PodMeta", Opaque),
    (".PodSpec", Opaque),
    (".NodeMeta", Opaque),
    (".NodeSpec", Opaque),
    (".Nope", Opaque),
    (".PodSpec.Nope", Opaque),
    (".PodMeta.Name.Nope", Opaque),
    (".PodSpec.Priority.Nope", Opaque),
    (".PodSpec.SecurityContext.Nope", Opaque),
    (".PodSpec.Containers.Name", Opaque),
    (".PodMeta.Labels.app.x", Opaque),
];

/// The ways a value is used; `@` stands for it.
const USES: &[(&str, &[Class])] = &[
    (
        "{{ @ }}",
        &[Str, Int, Bool, Composite, Pointer, Time, Bytes],
    ),
    ("<{{- @ -}}>", &[Str, Pointer]),
    ("{{ if @ }}yes{{ else }}no{{ end }}", ALL),
    (
        "{{ with @ }}[{{ . }}]{{ else }}none{{ end }}",
        &[Str, Int, Bool, Composite, Pointer, Time],
    ),
    ("{{ with @ }}set{{ else }}none{{ end }}", ALL),
    ("{{ len @ }}", ALL),
    ("{{ not @ }}", ALL),
    ("{{ and @ \"x\" }}", ALL),
    (
        "{{ or @ \"y\" }}",
        &[Str, Int, Bool, Composite, Pointer, Time],
    ),
    ("{{ or @ @ | not }}", ALL),
    ("{{ @ | and true }}", &[Str, Int, Bool, Composite, Pointer]),
    ("{{ @ | or false }}", &[Str, Int, Bool, Composite, Pointer]),
    ("{{ @ | and false }}", ALL),
    ("{{ eq @ \"payment\" }}", ALL),
    ("{{ eq @ 0 }}", ALL),
    ("{{ eq @ true false }}", ALL),
    ("{{ eq @ @ }}", ALL),
    ("{{ eq @ .PodMeta.Labels.missing }}", ALL),
    ("{{ ne @ \"\" }}", ALL),
    ("{{ lt @ 10 }}", ALL),
    ("{{ ge @ \"m\" }}", ALL),
    (
        "{{ index @ 0 }}",
        &[Str, Int, Bool, Composite, Pointer, Time, Bytes],
    ),
    ("{{ with index @ 0 }}found{{ end }}", ALL),
    ("{{ index @ 1 }}", TEXT),
    (
        "{{ index @ \"app\" }}",
        &[Str, Int, Bool, Composite, Pointer, Time, Bytes],
    ),
    ("{{ with index @ \"app\" }}found{{ end }}", ALL),
    ("{{ index @ }}", TEXT),
    (
        "{{ slice @ 1 }}",
        &[Str, Int, Bool, Composite, Pointer, Time, Bytes],
    ),
    ("{{ len (slice @ 1) }}", ALL),
    ("{{ slice @ 0 2 }}", TEXT),
    ("{{ range @ }}x{{ else }}empty{{ end }}", ALL),
    (
        "{{ range $i, $v := @ }}{{ $i }}={{ $v }};{{ else }}empty{{ end }}",
        &[Str, Int, Bool, Composite, Bytes],
    ),
    ("{{ range $k, $v := @ }}{{ $k }},{{ end }}", ALL),
    (
        "{{ range $v := @ }}{{ $v }} {{ end }}",
        &[Str, Int, Bool, Composite],
    ),
    (
        "{{ printf \"%v|%s|%q|%x|%5s|%-6s|%.3s\" @ @ @ @ @ @ @ }}",
        &[Str],
    ),
    (
        "{{ printf \"%v|%d|%x|%X|%5d|%-4d|%05d|%o|%b\" @ @ @ @ @ @ @ @ @ }}",
        &[Int],
    ),
    ("{{ printf \"%v|%t|%6t|\" @ @ @ }}", &[Bool]),
    ("{{ printf \"%v|%v\" @ @ }}", &[Composite, Bytes]),
    ("{{ printf \"%v|%s|%q\" @ @ @ }}", &[Time]),
    (
        "{{ @ | printf \"<%v>\" }}",
        &[Str, Int, Bool, Composite, Time],
    ),
    ("{{ print @ }}", &[Str, Int, Bool, Composite, Time, Bytes]),
    ("{{ print @ 7 @ }}", TEXT),
    ("{{ print 1 @ \"s\" @ }}", TEXT),
    ("{{ println @ }}", TEXT),
    ("{{ println @ @ 1 }}", TEXT),
    ("{{ html @ }}", &[Str, Int, Bool, Composite, Pointer, Time]),
    ("{{ js @ }}", &[Str, Int, Bool, Composite, Pointer, Time]),
    (
        "{{ urlquery @ }}",
        &[Str, Int, Bool, Composite, Pointer, Time],
    ),
    ("{{ urlquery @ \"&\" @ }}", SCALAR),
    (
        "{{ @ | urlquery }}",
        &[Str, Int, Bool, Composite, Pointer, Time],
    ),
    (
        "{{ $x := @ }}{{ $x }}",
        &[Str, Int, Bool, Composite, Pointer, Time],
    ),
    ("{{ $x := @ }}{{ if $x }}t{{ end }}", ALL),
    (
        "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" @ }}",
        &[Str, Int, Bool, Composite, Pointer, Time],
    ),
];

/// Templates that exercise the language itself (and SCM's common shapes).
const LANGUAGE: &[&str] = &[
    // text, actions, trim markers, comments
    "",
    "plain text",
    "\t\t",
    " {{/* only a comment */}} ",
    "{{ define \"x\" }}y{{ end }}  \n",
    "a {{- \"b\" -}} c",
    "a  {{- 1 }}  b",
    "{{ 1 -}}\n\n  b",
    "{{-1}}",
    "{{- 1}}",
    "{{/* comment */}}x",
    "a {{- /* trimmed */ -}} b",
    "{{/* unclosed }}",
    "{{/* a */ 1 }}",
    "x{{\"\\n\"}}y",
    "{{ \"}}\" }}",
    "}}",
    "{{",
    "{{ }}",
    "{{ 1 2 }}",
    // literals
    "{{ \"a\\tb\\u00e9\\x41\\101\" }}",
    "{{ `raw\\n` }}",
    "{{ \"bad \\q escape\" }}",
    "{{ \"\\xc3\\xa9\" }} {{ \"\\u00e9\\U0001F600\\101\\x41\" }}",
    "{{ \"\\'\" }}",
    "{{ \"\\ud800\" }}",
    "{{ \"\\400\" }}",
    "{{ \"\\xff\" }}",
    "{{ \"\\x4\" }}",
    "{{ \"a\nb\" }}",
    "{{ `a\nb` }}",
    "{{ 'ab' }}",
    "{{ '' }}",
    "{{ '\\\"' }} {{ '\\'' }}",
    "{{ '\\x41' }} {{ '\\377' }} {{ '\\u00e9' }} {{ '\\ud800' }}",
    "{{ \"unterminated }}",
    "{{ 42 }}{{ -7 }}{{ +3 }}",
    "{{ 0x10 }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }}",
    "{{ 1.0 }} {{ 1.5 }} {{ -1.5e-3 }} {{ .5 }} {{ 1e6 }} {{ 1e21 }} {{ 1e100 }}",
    "{{ 0x1p4 }}",
    "{{ 'a' }} {{ '\\n' }} {{ 'é' }}",
    "{{ 99999999999999999999 }}",
    "{{ true }} {{ false }}",
    "{{ 9223372036854775807 }} {{ -9223372036854775807 }}",
    "{{ nil }}",
    "{{ (nil) }}",
    "{{ nil | print }}",
    "{{ print nil }}",
    "{{ nil.X }}",
    "{{ \"a\".X }}",
    "{{ .PodMeta.Name nil }}",
    // printf
    "{{ printf \"%s\" }}",
    "{{ printf \"%s %s\" \"a\" }}",
    "{{ printf \"%d\" \"a\" }}",
    "{{ printf \"x\" \"extra\" }}",
    "{{ printf \"%d %s\" 1 \"a\" 3 }}",
    "{{ printf \"%v\" nil }}",
    "{{ printf \"%s\" nil }}",
    "{{ printf \"%d\" nil }}",
    "{{ printf \"%%\" }}",
    "{{ printf \"%5s|%-5s|\" \"ab\" \"cd\" }}",
    "{{ printf \"%05d\" 42 }}",
    "{{ printf \"%x %X %o %b\" 255 255 8 5 }}",
    "{{ printf \"%q\" \"a\\\"b\" }}",
    "{{ printf \"%t %t\" true 1 }}",
    "{{ printf \"%v\" 1.5 }}",
    "{{ printf \"%.2f\" 3.14159 }}",
    "{{ printf \"%e\" 1234.5 }}",
    "{{ printf \"%g\" 1e21 }}",
    "{{ printf \"%c %U\" 65 65 }}",
    "{{ printf \"%8.3f|\" 3.14159 }}",
    "{{ printf \"%+d % d\" 5 5 }}",
    "{{ printf \"%#x %#o\" 255 8 }}",
    "{{ printf \"%s\" 1 }}",
    "{{ printf \"%*d|\" 5 3 }}",
    "{{ printf \"%[2]s %[1]s\" \"a\" \"b\" }}",
    "{{ printf \"%!\" }}",
    "{{ printf \"%z\" 1 }}",
    "{{ printf 1 }}",
    "{{ printf }}",
    "{{ printf \"%x|%q\" \"é\" \"\\x00\" }}",
    "{{ printf \"%v\" \"a\" | printf \"%q\" }}",
    "{{ printf \"%v %c\" 'a' 'é' }}",
    "{{ printf \"%6.2s|%-8q|\" \"abcdef\" \"x\" }}",
    "{{ printf \"%x %08.3f\" -255 -3.5 }}",
    "{{ printf \"%v %v\" 1 }}",
    "{{ 3 | printf \"%d-%d\" 1 2 }}",
    "{{ \"x\" | printf \"%s-%s\" \"y\" }}",
    // print, println
    "{{ print }}",
    "{{ print \"a\" \"b\" }}",
    "{{ print 1 2 }}",
    "{{ print \"a\" 1 2 \"b\" }}",
    "{{ print nil nil }}",
    "{{ println }}",
    "{{ println \"a\" 1 }}",
    "{{ print true false }}",
    "{{ print 1.5 2 }}",
    "{{ print 1e6 }}",
    // escaping
    "{{ html \"<a href=\\\"x\\\">'&'</a>\" }}",
    "{{ js \"it's \\\"q\\\" <b> & \\\\ \\n é \\u2028 =\" }}",
    "{{ urlquery \"a b&c=d/é?~-_.\" }}",
    "{{ html 1 2 }}",
    "{{ js nil }}",
    "{{ urlquery }}",
    "{{ \"<x>\" | html }}",
    "{{ html \"\\x00\" }}",
    "{{ js \"\\x00\\x1f\" }}",
    // comparisons and logic
    "{{ eq 1 1 }} {{ eq 1 2 3 1 }} {{ eq \"a\" \"a\" }} {{ eq 1.5 1.5 }} {{ eq true true }}",
    "{{ eq 1 \"1\" }}",
    "{{ eq 1 1.0 }}",
    "{{ eq nil nil }}",
    "{{ eq 1 }}",
    "{{ eq }}",
    "{{ ne 1 2 }} {{ ne \"a\" \"a\" }}",
    "{{ ne 1 2 3 }}",
    "{{ lt 1 2 }} {{ lt \"a\" \"b\" }} {{ lt 1.5 2.5 }} {{ le 2 2 }} {{ gt 3 2 }} {{ ge 2 3 }} {{ lt -1 0 }}",
    "{{ lt true false }}",
    "{{ lt 1 2.0 }}",
    "{{ lt 1 }}",
    "{{ eq (len \"abc\") 3 }}",
    "{{ and 1 0 }} {{ and 1 2 }} {{ or 0 \"\" }} {{ or 0 \"x\" }}",
    "{{ and }}",
    "{{ not 0 }} {{ not \"\" }} {{ not 1 }}",
    "{{ not nil }}",
    "{{ not 1 2 }}",
    "{{ and nil 1 }}",
    "{{ or 1 nil }}",
    "{{ and 0 nil }}",
    "{{ 1 | and 2 }} {{ 0 | or 0 }} {{ \"\" | or \"d\" }} {{ true | and }}",
    "{{ and 1 (print \"x\") }}",
    "{{ .PodMeta.Labels.missing | and false }}",
    "{{ .PodMeta.Labels.missing | and true }}",
    "{{ .PodMeta.Labels.missing | or true }}",
    "{{ .PodMeta.Labels.missing | or false }}",
    "{{ .PodMeta.Labels.missing | and }}",
    "{{ and .PodMeta.Labels.missing 1 }}",
    "{{ or .PodMeta.Labels.missing 1 }}",
    "{{ not .PodMeta.Labels.missing }}",
    "{{ eq .PodMeta.Labels.missing \"x\" }}",
    "{{ print .PodMeta.Labels.missing }}",
    "{{ printf \"%s\" .PodMeta.Labels.missing }}",
    "{{ html .PodMeta.Labels.missing }}",
    "{{ len .PodMeta.Labels.missing }}",
    "{{ index .PodMeta.Labels.missing 0 }}",
    "{{ range .PodMeta.Labels.missing }}x{{ else }}none{{ end }}",
    // len, index, slice
    "{{ len \"héllo\" }}",
    "{{ len 3 }}",
    "{{ len nil }}",
    "{{ index \"abc\" 1 }}",
    "{{ index \"abc\" 3 }}",
    "{{ index \"abc\" 5 }}",
    "{{ index \"abc\" -1 }}",
    "{{ index \"abc\" \"x\" }}",
    "{{ index 1 }}",
    "{{ index 1 0 }}",
    "{{ index nil 0 }}",
    "{{ index .PodMeta.Labels 1 }}",
    "{{ index .PodMeta.Labels \"app\" \"x\" }}",
    "{{ index .PodSpec.Containers 0 \"x\" }}",
    "{{ index .PodSpec.Containers 99 }}",
    "{{ index .PodSpec.Containers -1 }}",
    "{{ index .PodSpec.Containers \"0\" }}",
    "{{ slice \"abcdef\" 1 3 }} {{ slice \"abc\" }} {{ slice \"abc\" 3 }}",
    "{{ slice \"abc\" 2 1 }}",
    "{{ slice \"abc\" 1 2 3 }}",
    "{{ slice \"abc\" 0 9 }}",
    "{{ slice 1 }}",
    "{{ slice \"héllo\" 0 2 }}",
    "{{ slice \"héllo\" 0 3 }}",
    "{{ slice nil }}",
    "{{ range slice .PodSpec.Containers 1 }}{{ .Name }}{{ end }}",
    "{{ range slice .PodSpec.Containers 0 1 1 }}{{ .Name }}{{ end }}",
    "{{ range slice .PodSpec.Containers 0 1 0 }}{{ .Name }}{{ end }}",
    // variables
    "{{ $x := 1 }}{{ $x }}",
    "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
    "{{ $x = 1 }}",
    "{{ $x }}",
    "{{ $x := $x }}",
    "{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}",
    "{{ if false }}{{ $y := 1 }}{{ else }}{{ $y }}{{ end }}",
    "{{ if true }}{{ $y := 1 }}{{ else }}{{ $y }}{{ end }}",
    "{{ $x := 1 }}{{ range 2 }}{{ $x = . }}{{ end }}{{ $x }}",
    "{{ $x := 1 }}{{ with 5 }}{{ $x := 2 }}{{ end }}{{ $x }}",
    "{{ $x, $y := 1 }}",
    "{{ $x := }}",
    "{{ $.TrustDomain }}{{ with .PodMeta }}{{ $.ClusterName }}{{ end }}",
    // range
    "{{ range 3 }}{{ . }}{{ end }}",
    "{{ range $i := 3 }}{{ $i }}{{ end }}",
    "{{ range $i, $v := 3 }}{{ end }}",
    "{{ range -1 }}x{{ else }}none{{ end }}",
    "{{ range 0 }}x{{ else }}none{{ end }}",
    "{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
    "{{ range 5 }}{{ if eq . 1 3 }}{{ continue }}{{ end }}{{ . }}{{ end }}",
    "{{ range 2 }}{{ range 3 }}{{ if eq . 1 }}{{ break }}{{ end }}{{ . }}{{ end }};{{ end }}",
    "{{ break }}",
    "{{ if true }}{{ continue }}{{ end }}",
    "{{ range 2 }}{{ else }}{{ break }}{{ end }}",
    "{{ range $i, $v := \"abc\" }}{{ end }}",
    "{{ range 1.5 }}{{ end }}",
    "{{ range true }}{{ end }}",
    "{{ range nil }}{{ end }}",
    "{{ range }}{{ end }}",
    "{{ range $x, $y, $z := . }}{{ end }}",
    "{{ range $i, $c := .PodSpec.Containers }}{{ $i }}:{{ $c.Name }} {{ end }}",
    // if, with
    "{{ if 1 }}a{{ else if 0 }}b{{ else }}c{{ end }}",
    "{{ if 0 }}a{{ else if 1 }}b{{ else }}c{{ end }}",
    "{{ if 0 }}a{{ else if 0 }}b{{ end }}",
    "{{ with \"x\" }}{{ . }}{{ end }}",
    "{{ with \"\" }}x{{ else }}y{{ end }}",
    "{{ with \"\" }}x{{ else with \"z\" }}{{ . }}{{ end }}",
    "{{ with $v := \"q\" }}{{ $v }}{{ . }}{{ end }}",
    "{{ if }}{{ end }}",
    "{{ if 1 }}",
    "{{ end }}",
    "{{ else }}",
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
    "{{ with }}{{ end }}",
    "{{ if nil }}x{{ end }}",
    // define, template, block
    "{{ define \"a\" }}A{{ . }}{{ end }}{{ template \"a\" \"x\" }}",
    "{{ template \"nope\" }}",
    "{{ block \"b\" \"y\" }}[{{ . }}]{{ end }}",
    "{{ define \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}",
    "{{ template \"spiffeIDTemplate\" }}",
    "{{ define \"spiffeIDTemplate\" }}override{{ end }}",
    "x{{ define \"spiffeIDTemplate\" }}override{{ end }}",
    "{{ define \"a\" }}{{ end }}{{ define \"a\" }}b{{ end }}{{ template \"a\" }}",
    "{{ template \"a\" }}{{ define \"a\" }}{{ $x }}{{ end }}",
    "{{ define \"a\" }}{{ break }}{{ end }}",
    "{{ define \"a\" }}{{ $.ClusterName }}{{ end }}{{ template \"a\" . }}",
    "{{ define \"a\" }}{{ .Name }}{{ end }}{{ template \"a\" .PodMeta }}",
    // functions and pipelines
    "{{ foo }}",
    "{{ __field . \"TrustDomain\" }}",
    "{{ . | 1 }}",
    "{{ .PodMeta | .Name }}",
    "{{ | \"a\" }}",
    "{{ ( }}",
    "{{ ) }}",
    "{{ .PodMeta.Name. }}",
    "{{ call }}",
    "{{ call \"x\" }}",
    "{{ call nil }}",
    "{{ 1 | printf \"%d\" | len }}",
    "{{ \"a\" | len | eq 1 }}",
    "{{ \"abc\" | len | printf \"%03d\" }}",
    "{{ \"a\" | print \"b\" }}",
    "{{ .PodMeta.Name | len }}",
    "{{ .PodMeta.Name | printf \"%s\" | html }}",
    "{{ (len .PodMeta.Name) }}",
    "{{ index.X }}",
    "{{ index$.PodMeta.Labels \"app\" }}",
    "{{ .PodMeta.Name$ }} {{ true! }}",
    "{{ .PodMeta.Name}}{{(len .PodMeta.Name)}}{{ $.PodMeta.Name|len }}{{ len .PodMeta.Name -}} x",
    "{{ .PodMeta.Name-}}",
    "{{ len(.PodMeta.Name) }}",
    "{{ print .PodMeta.Name\"x\" }}",
    "{{ print .PodMeta.(print 1) }}",
    "{{ print 1\"x\" }} {{ print (1)(2) }}",
    "{{ print $.PodMeta.Name,1 }}",
    "{{ print 1.2.3 }}",
    "{{ print\t.PodMeta.Name\n1\r2 }}",
    "{{ len.X 1 }}",
    "{{ (printf \"%s\" \"a\").X }}",
    // SCM's shapes
    "spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}",
    "spiffe://{{ .TrustDomain }}/k8s/{{ .ClusterName }}/ns/{{ .PodMeta.Namespace }}/pod/{{ .PodMeta.Name }}",
    "spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}",
    "{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc.{{ .ClusterDomain }}",
    "k8s:pod-label:app:{{ index .PodMeta.Labels \"app\" }}",
    "k8s:ns:{{ .PodMeta.Namespace }}",
    "spiffe://{{ .TrustDomain }}/{{ with .PodMeta.OwnerReferences }}{{ (index . 0).Kind }}/{{ (index . 0).Name }}{{ else }}pod/{{ .PodMeta.Name }}{{ end }}",
    "spiffe://{{ .TrustDomain }}/app/{{ or .PodMeta.Labels.app \"none\" }}",
    "spiffe://{{ .TrustDomain }}/app/{{ or (index .PodMeta.Labels \"app\") \"none\" }}",
    "{{ if eq .PodSpec.ServiceAccountName \"default\" }}default{{ else }}{{ .PodSpec.ServiceAccountName }}{{ end }}",
    "{{ range .PodSpec.Containers }}{{ .Name }}={{ .Image }};{{ end }}",
    "{{ range $i, $c := .PodSpec.InitContainers }}{{ $i }}:{{ $c.Name }}{{ else }}no-init{{ end }}",
    "{{ range .PodSpec.Containers }}{{ range .Ports }}{{ .ContainerPort }}/{{ .Protocol }} {{ end }}{{ end }}",
    "{{ range $k, $v := .PodMeta.Labels }}{{ $k }}={{ $v }},{{ end }}",
    "{{ range .PodSpec.Tolerations }}{{ .Key }}{{ with .TolerationSeconds }}:{{ . }}{{ end }};{{ end }}",
    "{{ range .PodMeta.OwnerReferences }}{{ .Kind }}/{{ .Name }}{{ if .Controller }}(controller){{ end }}{{ end }}",
    "{{ range .NodeSpec.Taints }}{{ .Key }}={{ .Value }}:{{ .Effect }}{{ with .TimeAdded }}@{{ . }}{{ end }} {{ end }}",
    "{{ with .PodSpec.SecurityContext }}{{ .RunAsUser }}/{{ .RunAsNonRoot }}/{{ .FSGroup }}/{{ .RunAsGroup }}{{ end }}",
    "{{ range .PodSpec.Volumes }}{{ .Name }}:{{ if .ConfigMap }}cm={{ .ConfigMap.Name }}{{ else if .EmptyDir }}empty{{ with .EmptyDir.SizeLimit }}({{ . }}){{ end }}{{ else }}other{{ end }} {{ end }}",
    "{{ range .PodSpec.Containers }}{{ with .LivenessProbe }}{{ with .HTTPGet }}{{ .Path }}@{{ .Port }}{{ end }}{{ with .TCPSocket }}tcp@{{ .Port }}{{ end }}{{ end }};{{ end }}",
    "{{ range .PodSpec.Containers }}{{ with .ReadinessProbe }}{{ .HTTPGet.Port }}/{{ .HTTPGet.Port.StrVal }}/{{ .HTTPGet.Port.Type }}{{ end }}{{ end }}",
    "{{ range .PodSpec.Containers }}{{ range .Env }}{{ .Name }}={{ .Value }}{{ with .ValueFrom }}<{{ .FieldRef.FieldPath }}>{{ end }} {{ end }}{{ end }}",
    "{{ range .PodSpec.Containers }}{{ len .Resources.Limits }}{{ range $k, $v := .Resources.Requests }}{{ $k }} {{ end }}{{ end }}",
    "{{ range .PodSpec.EphemeralContainers }}{{ .Name }}>{{ .TargetContainerName }}/{{ .EphemeralContainerCommon.Image }}{{ end }}",
    "{{ with .PodSpec.DNSConfig }}{{ range .Nameservers }}{{ . }} {{ end }}{{ .Searches }}{{ end }}",
    "{{ range .PodMeta.ManagedFields }}{{ .Manager }}/{{ .Operation }}/{{ .Time }}/{{ len .FieldsV1.Raw }}{{ end }}",
    "{{ .PodMeta.CreationTimestamp }}|{{ .PodMeta.DeletionTimestamp }}|{{ .NodeMeta.CreationTimestamp }}",
    "{{ if .PodMeta.DeletionTimestamp }}terminating{{ else }}running{{ end }}",
    "{{ if .PodSpec.AutomountServiceAccountToken }}mount{{ else }}no-mount{{ end }}",
    "{{ if .PodSpec.EnableServiceLinks }}links{{ else }}no-links{{ end }}",
    "{{ if and .PodSpec.HostNetwork .PodSpec.HostPID }}host{{ end }}",
    "{{ if or .PodSpec.HostNetwork (eq .PodSpec.DNSPolicy \"None\") }}special{{ end }}",
    "{{ if eq .PodSpec.RestartPolicy \"Always\" \"OnFailure\" }}restarts{{ end }}",
    "{{ len .PodSpec.Containers }}+{{ len .PodSpec.InitContainers }}",
    "{{ if gt (len .PodSpec.Containers) 1 }}multi{{ else }}single{{ end }}",
    "{{ (index .PodSpec.Containers 0).Name | printf \"%s-%s\" .PodMeta.Namespace }}",
    "{{ $sa := .PodSpec.ServiceAccountName }}{{ if not $sa }}{{ $sa = .PodSpec.DeprecatedServiceAccount }}{{ end }}{{ $sa }}",
    "{{ .PodSpec.NodeName }}/{{ .NodeMeta.Name }}/{{ eq .PodSpec.NodeName .NodeMeta.Name }}",
    "{{ index .NodeMeta.Labels \"topology.kubernetes.io/zone\" }}",
    "{{ with index .NodeMeta.Labels \"topology.kubernetes.io/zone\" }}zone/{{ . }}{{ else }}no-zone{{ end }}",
    "{{ .NodeSpec.Unschedulable }}{{ if .NodeSpec.Unschedulable }} cordoned{{ end }}",
    "{{ range (index .PodSpec.Volumes 2).Projected.Sources }}{{ .ServiceAccountToken.Path }}/{{ .ServiceAccountToken.ExpirationSeconds }}{{ end }}",
];

/// Where `gotmpl` 0.6.1 differs from Go and this crate cannot step in (its lexer and `printf`
/// are its own): each template here must differ from Go, with the reason.
const GOTMPL_BUGS: &[(&str, &str)] = &[
    (
        "{{ printf \"%s|%q|%x|%d\" .PodSpec.NodeSelector .PodSpec.NodeSelector .PodSpec.NodeSelector .PodSpec.NodeSelector }}",
        "printf applies a verb other than %v to a map's or slice's elements in Go \
         (map[k:v], [\"a\" \"b\"]); gotmpl prints %!s(map=...)",
    ),
    (
        "{{ printf \"%q|%x\" .PodMeta.Finalizers .PodMeta.Finalizers }}",
        "the same for a slice: Go [\"a\"] and [6162], gotmpl %!q(list=...) (also for [])",
    ),
    (
        "{{ printf \"%5v|\" .PodMeta.Labels }}",
        "a width pads each element of a map or slice in Go, the whole text in gotmpl",
    ),
    (
        "{{ printf \"%q\" 2 }}",
        "%q of a non-printable rune is '\\x02' in Go, Rust's escape '\\u{2}' in gotmpl",
    ),
    (
        "{{ printf \"%T\" 1 }}",
        "gotmpl has no %T (prints %!T(int=1))",
    ),
    (
        "{{ printf \"%#v\" \"s\" }}",
        "gotmpl ignores # with %v (Go prints \"s\")",
    ),
    (
        "{{ printf \"%\" }}",
        "a lone % is %!(NOVERB) in Go, % in gotmpl",
    ),
    (
        "{{ printf \"%v\" 1e6 }}",
        "gotmpl's %v of a float is Rust's Display (1000000), Go's is %g (1e+06); an action and \
         print are this crate's and print 1e+06",
    ),
    (
        "{{ /* spaced comment */ }}",
        "Go takes a comment only right after {{ (or {{- ); gotmpl's lexer takes it anywhere",
    ),
    (
        "{{ 1i }}",
        "gotmpl has no complex numbers (Go prints (0+1i))",
    ),
    (
        "{{ -9223372036854775808 }}",
        "gotmpl refuses the smallest int64 literal (overflows while negating)",
    ),
    (
        "{{ \"a\" | }}",
        "Go accepts an empty last pipeline stage; gotmpl's parser refuses it",
    ),
];

fn corpus() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (use_, classes) in USES {
        for (e, class) in EXPRESSIONS {
            if classes.contains(class) {
                out.push(use_.replace('@', e));
            }
        }
    }
    out.extend(LANGUAGE.iter().map(|s| (*s).to_owned()));
    out.extend(GOTMPL_BUGS.iter().map(|(t, _)| (*t).to_owned()));
    out
}

fn ours(template: &str, data: &Data) -> Answer {
    match Template::parse_named(NAME, template).map(|t| t.render(data)) {
        Ok(Ok(s)) => Answer::Ok(s),
        Ok(Err(e)) => Answer::Err(format!("exec: {e}")),
        Err(e) => Answer::Err(format!("parse: {e}")),
    }
}

fn agrees(ours: &Answer, go: &Answer) -> bool {
    match (ours, go) {
        (Answer::Ok(a), Answer::Ok(b)) => a == b,
        (Answer::Err(_), Answer::Err(_) | Answer::NotText) => true,
        _ => false,
    }
}

#[test]
fn templates_render_as_go_renders_them() {
    let bin = match helper() {
        Ok(b) => b,
        Err(why) => {
            eprintln!("SKIP templates_render_as_go_renders_them: {why}");
            return;
        }
    };
    let mut go = Go::start(&bin);
    let corpus = corpus();
    let mut compared = 0;
    let mut failures = 0;
    let mut differences: Vec<String> = Vec::new();
    let mut expected_seen = vec![false; GOTMPL_BUGS.len()];
    for fixture in fixtures() {
        let data = fixture.data();
        for t in &corpus {
            let go_answer = go.ask(t, &fixture);
            let our_answer = ours(t, &data);
            compared += 1;
            if matches!(go_answer, Answer::Err(_)) {
                failures += 1;
            }
            if agrees(&our_answer, &go_answer) {
                continue;
            }
            if let Some(i) = GOTMPL_BUGS.iter().position(|(b, _)| b == t) {
                expected_seen[i] = true;
            } else {
                differences.push(format!(
                    "[{}] {t:?}\n    go:   {go_answer:?}\n    ours: {our_answer:?}",
                    fixture.name
                ));
            }
        }
    }
    for (seen, (t, reason)) in expected_seen.iter().zip(GOTMPL_BUGS) {
        assert!(
            seen,
            "the expected difference {t:?} ({reason}) is gone: remove it from GOTMPL_BUGS"
        );
    }
    eprintln!(
        "{} templates x {} fixtures: {compared} renders compared ({failures} fail in Go); \
         {} gotmpl bugs differ as GOTMPL_BUGS lists, {} other differences",
        corpus.len(),
        fixtures().len(),
        GOTMPL_BUGS.len(),
        differences.len()
    );
    assert!(
        differences.is_empty(),
        "{} differences from Go:\n{}",
        differences.len(),
        differences.join("\n")
    );
}
