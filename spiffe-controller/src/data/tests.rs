use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::json;

use super::*;
use crate::template::Template;

fn info() -> ClusterInfo {
    ClusterInfo {
        trust_domain: "example.org".into(),
        cluster_name: "demo".into(),
        cluster_domain: "cluster.local".into(),
    }
}

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {
            "name": "web-0", "namespace": "prod", "uid": "uid-1",
            "labels": {"app": "web"},
            "creationTimestamp": "2024-05-01T12:00:00Z",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "u", "controller": true}]
        },
        "spec": {
            "serviceAccountName": "web-sa",
            "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst",
            "priority": 0,
            "containers": [{
                "name": "app", "image": "nginx",
                "ports": [{"containerPort": 80}],
                "livenessProbe": {"httpGet": {"port": "http"}}
            }],
            "volumes": [{"name": "cfg", "configMap": {"name": "web-config"}}]
        }
    }))
    .unwrap()
}

fn node() -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": "n1", "uid": "node-uid"},
        "spec": {"podCIDR": "10.0.0.0/24"}
    }))
    .unwrap()
}

fn render(src: &str, data: &Data) -> String {
    match Template::parse(src).map(|t| t.render(data)) {
        Ok(Ok(s)) => s,
        other => panic!("{src:?}: {other:?}"),
    }
}

#[test]
fn pod_and_node_fields_have_go_names_and_values() {
    let data = pod_data(&info(), &pod(), &node());
    let cases = [
        (
            "{{ .TrustDomain }}/{{ .ClusterName }}/{{ .ClusterDomain }}",
            "example.org/demo/cluster.local",
        ),
        (
            "{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }} {{ .PodMeta.UID }}",
            "web-0.prod uid-1",
        ),
        (
            "{{ .PodSpec.RestartPolicy }} {{ .PodSpec.DNSPolicy }} {{ .PodSpec.HostPID }}",
            "Always ClusterFirst false",
        ),
        (
            "{{ .PodSpec.Priority }} {{ if .PodSpec.Priority }}set{{ end }}",
            "0 set",
        ),
        (
            "{{ .PodSpec.TerminationGracePeriodSeconds }} {{ .PodSpec.SecurityContext }}",
            "<nil> nil",
        ),
        (
            "{{ .PodSpec.InitContainers }} {{ .PodSpec.NodeSelector }}",
            "[] map[]",
        ),
        (
            "{{ range .PodSpec.Containers }}{{ .Name }}={{ .Image }}:{{ (index .Ports 0).ContainerPort }}{{ end }}",
            "app=nginx:80",
        ),
        (
            "{{ (index .PodSpec.Containers 0).LivenessProbe.HTTPGet.Port }}",
            "http",
        ),
        (
            "{{ (index .PodSpec.Volumes 0).ConfigMap.Name }}",
            "web-config",
        ),
        (
            "{{ (index .PodMeta.OwnerReferences 0).Kind }} {{ (index .PodMeta.OwnerReferences 0).Controller }}",
            "StatefulSet true",
        ),
        (
            "{{ .PodMeta.CreationTimestamp }}",
            "2024-05-01 12:00:00 +0000 UTC",
        ),
        ("{{ .PodMeta.DeletionTimestamp }}", "<nil>"),
        (
            "{{ .NodeMeta.UID }} {{ .NodeSpec.PodCIDR }} {{ .NodeSpec.Unschedulable }}",
            "node-uid 10.0.0.0/24 false",
        ),
        (
            "{{ .Pod.Name }} {{ .Pod.ServiceAccount }} {{ .Pod.Labels.app }}",
            "web-0 web-sa web",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(render(src, &data), want, "{src:?}");
    }
}

#[test]
fn unknown_fields_are_errors_as_in_go() {
    let data = pod_data(&info(), &pod(), &node());
    for src in [
        "{{ .PodSpec.Nope }}",
        "{{ .PodMeta.Labelz }}",
        "{{ .Nope }}",
    ] {
        let t = Template::parse(src).unwrap();
        assert!(t.render(&data).is_err(), "{src:?}");
    }
}

#[test]
fn node_data_has_nil_pod_fields() {
    let data = node_data(&info(), &node());
    // Go prints a nil *v1.ObjectMeta with its generated String method: "nil".
    assert_eq!(
        render(
            "{{ .PodMeta }} {{ .PodSpec }} {{ .Pod }} {{ .NodeMeta.Name }}",
            &data
        ),
        "nil nil <nil> n1"
    );
    let t = Template::parse("{{ .PodMeta.Name }}").unwrap();
    assert!(t.render(&data).is_err());
}

#[test]
fn a_pod_without_spec_sees_a_zero_spec() {
    let bare: Pod = serde_json::from_value(json!({"metadata": {"name": "x"}})).unwrap();
    let data = pod_data(&info(), &bare, &node());
    assert_eq!(
        render(
            "[{{ .PodSpec.ServiceAccountName }}] {{ .PodSpec.Containers }} {{ .Pod.ServiceAccount }}",
            &data
        ),
        "[] [] default"
    );
}
