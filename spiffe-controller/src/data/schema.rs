//! The shape of the table in `go_types.rs`: Go struct types, their fields and the kinds of
//! their values.

/// A Go value's kind, as far as converting Kubernetes JSON needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A string or a named string type.
    String,
    /// A boolean.
    Bool,
    /// A signed integer.
    Int,
    /// `metav1.Time`: an RFC 3339 string in JSON, printed as Go's `time.Time` prints.
    Time,
    /// `resource.Quantity`: a string in JSON.
    Quantity,
    /// `intstr.IntOrString`: a number or a string in JSON.
    IntOrString,
    /// `metav1.FieldsV1`: any JSON object, kept as its bytes.
    FieldsV1,
    /// A pointer.
    Ptr(&'static Kind),
    /// A slice.
    Slice(&'static Kind),
    /// A map with string keys.
    Map(&'static Kind),
    /// A struct: an index into `STRUCTS`.
    Struct(usize),
}

/// A struct field.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    /// Its Go name.
    pub(super) name: &'static str,
    /// Its JSON name; empty for an embedded struct whose fields sit in the parent's JSON
    /// object, or for a field JSON never carries.
    pub(super) json: &'static str,
    /// Its kind.
    pub(super) kind: Kind,
    /// Whether it is an embedded struct (its fields are promoted).
    pub(super) embedded: bool,
}

impl Field {
    /// A named field.
    pub(super) const fn new(name: &'static str, json: &'static str, kind: Kind) -> Self {
        Field {
            name,
            json,
            kind,
            embedded: false,
        }
    }

    /// An embedded struct.
    pub(super) const fn embedded(name: &'static str, json: &'static str, kind: Kind) -> Self {
        Field {
            name,
            json,
            kind,
            embedded: true,
        }
    }
}

/// A Go struct type.
#[derive(Debug, Clone, Copy)]
pub(super) struct GoStruct {
    /// Its Go name (`v1.PodSpec`).
    pub(super) name: &'static str,
    /// What a nil pointer to it prints (the Kubernetes types' `String` method says `nil`).
    pub(super) nil_text: &'static str,
    /// Its exported fields, in declaration order.
    pub(super) fields: &'static [Field],
}
