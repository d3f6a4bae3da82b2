//! The data a template sees: strings, numbers, booleans, string maps (labels, annotations) and
//! structs with Go's field names (`.PodMeta.Name`).

use std::collections::BTreeMap;
use std::fmt::{self, Write};

/// A value in template data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A `map[string]string`, such as labels (empty for a nil map).
    Map(BTreeMap<String, String>),
    /// A struct with named fields.
    Struct(Struct),
    /// A nil pointer (prints `<nil>`).
    Nil,
    /// The result of a missing map key reached with field syntax (prints `<no value>`, as Go's
    /// default `missingkey` option does).
    Missing,
}

/// A struct value: a Go type name (for messages) and its fields in declaration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Struct {
    type_name: &'static str,
    fields: Vec<(&'static str, Value)>,
}

impl Struct {
    /// An empty struct of the named type.
    pub fn new(type_name: &'static str) -> Self {
        Struct {
            type_name,
            fields: Vec::new(),
        }
    }

    /// Adds a field (builder style).
    #[must_use]
    pub fn field(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The Go type name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The field names, in order.
    pub fn field_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|(n, _)| *n)
    }
}

impl Value {
    /// The Go type name of the value, for messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::Str(_) => "string".into(),
            Value::Int(_) => "int".into(),
            Value::Bool(_) => "bool".into(),
            Value::Map(_) => "map[string]string".into(),
            Value::Struct(s) => s.type_name.to_owned(),
            Value::Nil => "nil".into(),
            Value::Missing => "<no value>".into(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<Option<String>> for Value {
    fn from(s: Option<String>) -> Self {
        Value::Str(s.unwrap_or_default())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<BTreeMap<String, String>> for Value {
    fn from(m: BTreeMap<String, String>) -> Self {
        Value::Map(m)
    }
}

impl From<Struct> for Value {
    fn from(s: Struct) -> Self {
        Value::Struct(s)
    }
}

/// Go's `%v` rendering: maps as `map[k:v k2:v2]` (sorted keys), structs as `{v1 v2}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_char(']')
            }
            Value::Struct(s) => {
                f.write_char('{')?;
                for (i, (_, v)) in s.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char('}')
            }
            Value::Nil => f.write_str("<nil>"),
            Value::Missing => f.write_str("<no value>"),
        }
    }
}
