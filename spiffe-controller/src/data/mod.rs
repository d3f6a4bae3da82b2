//! What templates see: SCM's `templateData` (pkg/spireentry/entries.go), with Go's field names
//! and Go's values, plus one short form of ours:
//!
//! | field | Go type | content |
//! |---|---|---|
//! | `.TrustDomain`, `.ClusterName`, `.ClusterDomain` | `string` | the controller's settings |
//! | `.PodMeta` | `*v1.ObjectMeta` | the pod's metadata, in full |
//! | `.PodSpec` | `*v1.PodSpec` | the pod's spec, in full |
//! | `.NodeMeta` | `*v1.ObjectMeta` | the metadata of the pod's node |
//! | `.NodeSpec` | `*v1.NodeSpec` | the node's spec |
//! | `.Pod` | (ours) | `Name`, `Namespace`, `UID`, `ServiceAccount` (defaulted), `NodeName`, `Labels`, `Annotations` |
//!
//! "In full" means every field of the Go struct of k8s.io/api, by its Go name
//! (`.PodSpec.RestartPolicy`, `.PodSpec.DNSPolicy`, `.PodSpec.HostPID`,
//! `.PodSpec.Containers` with `Name`, `Image`, `Ports`, ...; `.PodMeta.OwnerReferences`,
//! `.PodMeta.CreationTimestamp`, ...), converted from the Kubernetes object by a table of the Go
//! types generated from k8s.io/api (`go_types.rs`, `spiffe-interop template-schema`). A field
//! the object leaves out has Go's zero value: `""`, `0`, `false`, a nil slice (`[]`), a nil map
//! (`map[]`), a nil pointer (`<nil>`), a zero struct. The parent ID template sees the
//! node only: `.PodMeta`, `.PodSpec` and `.Pod` are nil pointers there, as in SCM (a nil
//! pointer to a Kubernetes struct prints `nil`, its generated `String` method's text; to a
//! number or string `<nil>`).
//!
//! Times (`metav1.Time`, a struct) print as Go's `time.Time` does, in UTC
//! (`2024-05-01 12:00:00 +0000 UTC`: SCM's container zone); an `IntOrString` printed by an
//! action prints its value (`8080`, `http`), by `print` or `printf` its fields, as in Go.
//! Printed differently from Go, where Go's text is not data: resource quantities print as
//! written (`500m`), where Go prints the internal struct of a `Quantity` held in a map, and a
//! resource list (`map[ResourceName]Quantity`) takes string keys (Go's does not:
//! `.Limits.cpu` and `index .Limits "cpu"` fail there); `FieldsV1.Raw` holds the bytes of the
//! managed fields' JSON as re-encoded here (compact, keys sorted). Labels and annotations are maps:
//! `{{ index .PodMeta.Labels "app" }}` (`""` when absent) or `{{ .PodMeta.Labels.app }}`
//! (`<no value>` when absent).

mod go_types;
mod schema;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use serde_json::{Map as JsonMap, Value as Json};

use crate::template::{Data, Struct, Value};
use go_types::{
    NIL_FIELDS_V1, NIL_INT_OR_STRING, NIL_QUANTITY, NIL_TIME, NODE_SPEC, OBJECT_META, POD_SPEC,
    STRUCTS,
};
use schema::Kind;

/// The controller settings templates see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// The trust domain's name.
    pub trust_domain: String,
    /// The cluster's name (as the agents' `k8s_psat` attestor knows it).
    pub cluster_name: String,
    /// The cluster's DNS domain (`cluster.local`).
    pub cluster_domain: String,
}

/// What Go's zero `time.Time` prints.
const ZERO_TIME: &str = "0001-01-01 00:00:00 +0000 UTC";

/// A Kubernetes time (`2024-05-01T12:00:00Z`) as Go's `time.Time` prints it in UTC.
fn go_time(rfc3339: &str) -> String {
    let b = rfc3339.as_bytes();
    if b.len() == 20
        && b.get(10) == Some(&b'T')
        && b.get(19) == Some(&b'Z')
        && let (Some(date), Some(clock)) = (rfc3339.get(..10), rfc3339.get(11..19))
    {
        return format!("{date} {clock} +0000 UTC");
    }
    rfc3339.to_owned()
}

fn json_str(v: Option<&Json>) -> Option<&str> {
    v.and_then(Json::as_str)
}

/// Go's value of `kind` decoded from `json` (absent or `null`: the zero value).
fn convert(kind: Kind, json: Option<&Json>) -> Value {
    let json = json.filter(|j| !j.is_null());
    match kind {
        Kind::String => Value::String(json_str(json).unwrap_or_default().to_owned()),
        Kind::Bool => Value::Bool(json.and_then(Json::as_bool).unwrap_or(false)),
        Kind::Int => Value::Int(json.and_then(Json::as_i64).unwrap_or(0)),
        Kind::Time => {
            let text = json_str(json).map_or_else(|| ZERO_TIME.to_owned(), go_time);
            Value::Struct(
                Struct::new("v1.Time")
                    .field("Time", Struct::new("time.Time").printed_as(text.clone()))
                    .printed_as(text),
            )
        }
        Kind::Quantity => Value::String(json_str(json).unwrap_or("0").to_owned()),
        Kind::IntOrString => int_or_string(json),
        Kind::FieldsV1 => {
            let raw = json.map(Json::to_string).unwrap_or_default();
            Value::Struct(Struct::new("v1.FieldsV1").field(
                "Raw",
                Value::Slice(raw.bytes().map(|b| Value::Uint(u64::from(b))).collect()),
            ))
        }
        Kind::Ptr(inner) => match json {
            Some(j) => Value::Pointer(Some(Box::new(convert(*inner, Some(j))))),
            None => nil_pointer_to(*inner),
        },
        Kind::Slice(inner) => match json.and_then(Json::as_array) {
            Some(items) => Value::Slice(items.iter().map(|j| convert(*inner, Some(j))).collect()),
            None => Value::NilSlice,
        },
        Kind::Map(_) => match json.and_then(Json::as_object) {
            Some(m) => Value::Map(
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect(),
            ),
            None => Value::NilMap,
        },
        Kind::Struct(index) => Value::Struct(structure(index, json.and_then(Json::as_object))),
    }
}

/// `intstr.IntOrString`: `Type` 0 with `IntVal`, or 1 with `StrVal`; prints its value.
fn int_or_string(json: Option<&Json>) -> Value {
    let (kind, int, text) = match json {
        Some(Json::String(s)) => (1, 0, s.clone()),
        Some(j) => {
            let i = j.as_i64().unwrap_or(0);
            (0, i, i.to_string())
        }
        None => (0, 0, "0".to_owned()),
    };
    let str_val = if kind == 1 {
        text.clone()
    } else {
        String::new()
    };
    Value::Struct(
        Struct::new("intstr.IntOrString")
            .field("Type", Value::Int(kind))
            .field("IntVal", Value::Int(int))
            .field("StrVal", Value::String(str_val))
            .printed_by_actions_as(text),
    )
}

/// A nil pointer to a value of `kind`, printing as Go prints it.
fn nil_pointer_to(kind: Kind) -> Value {
    let text = match kind {
        Kind::Struct(index) => STRUCTS.get(index).map_or("<nil>", |t| t.nil_text),
        Kind::Time => NIL_TIME,
        Kind::Quantity => NIL_QUANTITY,
        Kind::IntOrString => NIL_INT_OR_STRING,
        Kind::FieldsV1 => NIL_FIELDS_V1,
        Kind::String | Kind::Bool | Kind::Int | Kind::Ptr(_) | Kind::Slice(_) | Kind::Map(_) => {
            "<nil>"
        }
    };
    if text == "<nil>" {
        Value::Pointer(None)
    } else {
        Value::NilStringer(text)
    }
}

/// The Go struct `STRUCTS[index]` decoded from its JSON object (absent: the zero struct).
fn structure(index: usize, json: Option<&JsonMap<String, Json>>) -> Struct {
    // The generated table's indexes are its own; one out of range would be an empty struct.
    let Some(t) = STRUCTS.get(index) else {
        return Struct::new("?");
    };
    let mut s = Struct::new(t.name);
    for f in t.fields {
        let own = if f.json.is_empty() {
            None
        } else {
            json.and_then(|o| o.get(f.json))
        };
        if f.embedded
            && let Kind::Struct(inner) = f.kind
        {
            let object = if f.json.is_empty() {
                json
            } else {
                own.and_then(Json::as_object)
            };
            s = s.embed(f.name, structure(inner, object));
            continue;
        }
        s = s.field(f.name, convert(f.kind, own));
    }
    s
}

/// A Kubernetes object part (metadata, spec) as JSON; `None` when it does not serialize.
fn to_json<T: serde::Serialize>(part: &T) -> Option<Json> {
    serde_json::to_value(part).ok()
}

fn go_struct(index: usize, json: Option<&Json>) -> Value {
    Value::Struct(structure(index, json.and_then(Json::as_object)))
}

fn pointer_to(v: Value) -> Value {
    Value::Pointer(Some(Box::new(v)))
}

/// SCM's `templateData` (field order as in Go) and our `.Pod`.
fn template_data(
    info: &ClusterInfo,
    pod_meta: Value,
    pod_spec: Value,
    node: &Node,
    pod: Value,
) -> Data {
    Data::from(Value::Struct(
        Struct::new("spireentry.templateData")
            .field("TrustDomain", info.trust_domain.as_str())
            .field("ClusterName", info.cluster_name.as_str())
            .field("ClusterDomain", info.cluster_domain.as_str())
            .field("PodMeta", pod_meta)
            .field("PodSpec", pod_spec)
            .field(
                "NodeMeta",
                pointer_to(go_struct(OBJECT_META, to_json(&node.metadata).as_ref())),
            )
            .field(
                "NodeSpec",
                pointer_to(go_struct(
                    NODE_SPEC,
                    node.spec.as_ref().and_then(to_json).as_ref(),
                )),
            )
            .field("Pod", pod),
    ))
}

/// The data for a node-only template (the parent ID template): the pod fields are nil.
pub fn node_data(info: &ClusterInfo, node: &Node) -> Data {
    template_data(
        info,
        nil_pointer_to(Kind::Struct(OBJECT_META)),
        nil_pointer_to(Kind::Struct(POD_SPEC)),
        node,
        Value::Pointer(None),
    )
}

/// The data for a pod's templates.
pub fn pod_data(info: &ClusterInfo, pod: &Pod, node: &Node) -> Data {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let labels: BTreeMap<String, String> = m.labels.clone().unwrap_or_default();
    let short = Struct::new("spiffecontroller.Pod")
        .field("Name", m.name.clone().unwrap_or_default())
        .field("Namespace", m.namespace.clone().unwrap_or_default())
        .field("UID", m.uid.clone().unwrap_or_default())
        .field("ServiceAccount", service_account(pod))
        .field(
            "NodeName",
            spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        )
        .field("Labels", labels)
        .field("Annotations", m.annotations.clone().unwrap_or_default());
    template_data(
        info,
        pointer_to(go_struct(OBJECT_META, to_json(m).as_ref())),
        pointer_to(go_struct(POD_SPEC, spec.and_then(to_json).as_ref())),
        node,
        pointer_to(Value::Struct(short)),
    )
}

/// The pod's service account: `serviceAccountName`, else the deprecated `serviceAccount`,
/// else `default` (what the API server fills in).
pub fn service_account(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| {
            s.service_account_name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| s.service_account.clone().filter(|n| !n.is_empty()))
        })
        .unwrap_or_else(|| "default".to_owned())
}

#[cfg(test)]
mod tests;
