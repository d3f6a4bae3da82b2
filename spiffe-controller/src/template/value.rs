//! Template data: Go values with their Go shape (structs with declared fields, pointers that can
//! be nil, string-keyed maps, slices), their encoding as `gotmpl` values, and Go's `%v` text.
//!
//! `gotmpl` values are untyped (a struct would be a map, a nil pointer a missing value), while
//! Go's templates behave by type: a struct has no field it does not declare, a nil pointer
//! prints `<nil>` and refuses field access, a non-nil pointer to `0` is true. The encoding keeps
//! those types visible to this module's functions (see `funcs.rs`):
//!
//! - a struct is a map of its fields plus one entry under the key `""` (never a Go identifier)
//!   holding its type: `[marker, type name, field names in order, printed text or nil]`;
//! - a non-nil pointer is the list `[marker, pointee]`, which is true as Go's pointer is;
//! - a nil pointer is a shared empty map, one per printed text, told apart by identity: false,
//!   as in Go;
//! - a Go map is a plain map (no entry is added, so an empty map stays false), a slice a list;
//!   a nil map and a nil slice are one shared empty map and list each, told apart by identity
//!   (`eq` compares nil ones).
//!
//! The marker is a function value: Kubernetes data never holds one and templates cannot make
//! one, so nothing else looks like a struct or a pointer.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex};

use gotmpl::Value as Raw;

/// A Go value, as a template sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string, also of a named string type (`v1.RestartPolicy`).
    String(String),
    /// A signed integer (Go's `int`, `int32`, `int64`).
    Int(i64),
    /// An unsigned integer (a byte of a `[]byte`).
    Uint(u64),
    /// A boolean.
    Bool(bool),
    /// A slice (prints `[a b]`).
    Slice(Vec<Value>),
    /// A nil slice: like an empty one (prints `[]`), but `eq` to another nil slice.
    NilSlice,
    /// A map with string keys and string values (labels, annotations, resource lists; prints
    /// `map[k:v]`). A missing key is `<no value>` by field syntax (`.Labels.app`, Go's default
    /// `missingkey`) and `""` by `index`.
    Map(BTreeMap<String, String>),
    /// A nil map: like an empty one (prints `map[]`), but `eq` to another nil map.
    NilMap,
    /// A struct.
    Struct(Struct),
    /// A pointer; `None` is nil and prints `<nil>`.
    Pointer(Option<Box<Value>>),
    /// A nil pointer to a type whose `String` method prints this text for nil (the Kubernetes
    /// API types' generated `String` prints `nil`).
    NilStringer(&'static str),
}

/// A struct value: its Go type name, its fields in declaration order, the fields of its
/// embedded structs (reachable by name, as Go promotes them) and, for types with a `String`
/// method, the text it prints as.
#[derive(Debug, Clone, PartialEq)]
pub struct Struct {
    type_name: &'static str,
    fields: Vec<(&'static str, Value)>,
    promoted: Vec<(&'static str, Value)>,
    text: Option<(String, Receiver)>,
}

/// Whose method Go's `String` is, which decides where it prints the struct.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    /// `func (T) String()`: everywhere.
    Value,
    /// `func (*T) String()`: where the struct is addressable, which for our data is an action
    /// printing it; `print`, `printf`, `html`, ... get a copy and print its fields.
    Pointer,
}

impl Struct {
    /// An empty struct of the named Go type (`v1.PodSpec`).
    pub fn new(type_name: &'static str) -> Self {
        Struct {
            type_name,
            fields: Vec::new(),
            promoted: Vec::new(),
            text: None,
        }
    }

    /// Adds a declared field (builder style).
    #[must_use]
    pub fn field(mut self, name: &'static str, value: impl Into<Value>) -> Self {
        self.fields.push((name, value.into()));
        self
    }

    /// Adds an embedded struct: a field named after its type whose own fields (declared and
    /// promoted) are reachable from this struct too, unless this struct declares the name or
    /// an earlier embedded struct promoted it.
    #[must_use]
    pub fn embed(mut self, name: &'static str, inner: Struct) -> Self {
        for (n, v) in inner.fields.iter().chain(&inner.promoted) {
            if self.get(n).is_none() {
                self.promoted.push((n, v.clone()));
            }
        }
        self.fields.push((name, Value::Struct(inner)));
        self
    }

    /// Sets the text the struct prints as: the result of its Go `String` method on the value
    /// (`metav1.Time`). Two structs of one type with different texts are not `eq`.
    #[must_use]
    pub fn printed_as(mut self, text: impl Into<String>) -> Self {
        self.text = Some((text.into(), Receiver::Value));
        self
    }

    /// Sets the text an action prints the struct as, from a Go `String` method on the pointer
    /// (`intstr.IntOrString`): `print`, `printf`, `html`, `js` and `urlquery` get a copy of the
    /// struct, which has no such method, and print its fields.
    #[must_use]
    pub fn printed_by_actions_as(mut self, text: impl Into<String>) -> Self {
        self.text = Some((text.into(), Receiver::Pointer));
        self
    }

    /// The Go type name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The field (declared or promoted) called `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .chain(&self.promoted)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
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

/// Template data, encoded once for any number of renders.
#[derive(Debug, Clone)]
pub struct Data(pub(super) Raw);

impl From<&Value> for Data {
    fn from(v: &Value) -> Self {
        Data(encode(v))
    }
}

impl From<Value> for Data {
    fn from(v: Value) -> Self {
        Data(encode(&v))
    }
}

type RawMap = BTreeMap<Arc<str>, Raw>;

/// The marker that starts a struct's type entry and a pointer's list.
static MARKER: LazyLock<Raw> = LazyLock::new(|| Raw::Function(Arc::new(|_| Ok(Raw::Nil))));

/// A nil pointer's printed text and its shared value.
type NilPointers = Vec<(&'static str, Arc<RawMap>)>;

/// The nil pointers, one per printed text (`<nil>` first), recognised by identity.
static NIL_POINTERS: LazyLock<Mutex<NilPointers>> =
    LazyLock::new(|| Mutex::new(vec![("<nil>", Arc::new(BTreeMap::new()))]));

/// The one nil map, recognised by identity.
static NIL_MAP: LazyLock<Arc<RawMap>> = LazyLock::new(|| Arc::new(BTreeMap::new()));

/// The one nil slice, recognised by identity (its own allocation: `Arc::new` always makes one).
static NIL_SLICE: LazyLock<Arc<[Raw]>> = LazyLock::new(|| Arc::new([]));

/// The key of a struct's type entry.
const TYPE_KEY: &str = "";

fn nil_pointers() -> std::sync::MutexGuard<'static, NilPointers> {
    NIL_POINTERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn nil_pointer(text: &'static str) -> Raw {
    let mut all = nil_pointers();
    if let Some((_, m)) = all.iter().find(|(t, _)| *t == text) {
        return Raw::Map(Arc::clone(m));
    }
    let m = Arc::new(BTreeMap::new());
    all.push((text, Arc::clone(&m)));
    Raw::Map(m)
}

fn nil_pointer_text(m: &Arc<RawMap>) -> Option<&'static str> {
    nil_pointers()
        .iter()
        .find(|(_, n)| Arc::ptr_eq(n, m))
        .map(|(t, _)| *t)
}

fn encode(v: &Value) -> Raw {
    match v {
        Value::String(s) => Raw::String(Arc::from(s.as_str())),
        Value::Int(i) => Raw::Int(*i),
        Value::Uint(u) => Raw::Uint(*u),
        Value::Bool(b) => Raw::Bool(*b),
        Value::Slice(items) => Raw::List(items.iter().map(encode).collect()),
        Value::NilSlice => Raw::List(Arc::clone(&NIL_SLICE)),
        Value::Map(m) => Raw::Map(Arc::new(
            m.iter()
                .map(|(k, v)| (Arc::from(k.as_str()), Raw::String(Arc::from(v.as_str()))))
                .collect(),
        )),
        Value::NilMap => Raw::Map(Arc::clone(&NIL_MAP)),
        Value::Struct(s) => {
            let mut map: RawMap = BTreeMap::new();
            for (name, value) in s.fields.iter().chain(&s.promoted) {
                map.entry(Arc::from(*name)).or_insert_with(|| encode(value));
            }
            let order: Vec<Raw> = s
                .fields
                .iter()
                .map(|(n, _)| Raw::String(Arc::from(*n)))
                .collect();
            let (text, everywhere) = match &s.text {
                Some((t, receiver)) => (
                    Raw::String(Arc::from(t.as_str())),
                    *receiver == Receiver::Value,
                ),
                None => (Raw::Nil, false),
            };
            map.insert(
                Arc::from(TYPE_KEY),
                Raw::List(Arc::from(vec![
                    MARKER.clone(),
                    Raw::String(Arc::from(s.type_name)),
                    Raw::List(order.into()),
                    text,
                    Raw::Bool(everywhere),
                ])),
            );
            Raw::Map(Arc::new(map))
        }
        Value::Pointer(None) => nil_pointer("<nil>"),
        Value::NilStringer(text) => nil_pointer(text),
        Value::Pointer(Some(inner)) => Raw::List(Arc::from(vec![MARKER.clone(), encode(inner)])),
    }
}

/// A struct seen through its encoding.
#[derive(Debug, Clone, Copy)]
pub(super) struct StructView<'a> {
    pub(super) type_name: &'a str,
    /// The text of its `String` method.
    pub(super) text: Option<&'a str>,
    /// Whether that method is on the value (used everywhere) or on the pointer (by actions).
    pub(super) text_everywhere: bool,
    order: &'a [Raw],
    fields: &'a RawMap,
}

impl<'a> StructView<'a> {
    /// The field (declared or promoted) called `name`.
    pub(super) fn get(&self, name: &str) -> Option<&'a Raw> {
        if name == TYPE_KEY {
            return None;
        }
        self.fields.get(name)
    }

    /// The declared fields, in order.
    pub(super) fn declared(&self) -> impl Iterator<Item = &'a Raw> + 'a {
        let fields = self.fields;
        self.order
            .iter()
            .filter_map(|n| n.as_str())
            .filter_map(move |n| fields.get(n))
    }
}

/// What an encoded value is, in Go's terms.
#[derive(Debug, Clone, Copy)]
pub(super) enum View<'a> {
    /// Go's invalid value: a missing map key, an untyped nil.
    Invalid,
    /// A nil pointer, and what it prints.
    NilPointer(&'static str),
    /// A non-nil pointer to this value.
    Pointer(&'a Raw),
    /// A struct.
    Struct(StructView<'a>),
    /// A map.
    Map(&'a RawMap),
    /// A slice.
    Slice(&'a [Raw]),
    /// A string.
    String(&'a str),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// A float (only from template literals).
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A function value (only this module's markers).
    Function,
}

/// Whether the value is a nil map or a nil slice.
pub(super) fn is_nil_collection(v: &Raw) -> bool {
    match v {
        Raw::List(items) => Arc::ptr_eq(items, &NIL_SLICE),
        Raw::Map(m) => Arc::ptr_eq(m, &NIL_MAP),
        _ => false,
    }
}

/// The Go view of an encoded value.
pub(super) fn view(v: &Raw) -> View<'_> {
    match v {
        Raw::Nil => View::Invalid,
        Raw::Bool(b) => View::Bool(*b),
        Raw::Int(i) => View::Int(*i),
        Raw::Uint(u) => View::Uint(*u),
        Raw::Float(f) => View::Float(*f),
        Raw::String(s) => View::String(s),
        Raw::Function(_) => View::Function,
        Raw::List(items) => match &items[..] {
            [Raw::Function(_), pointee] => View::Pointer(pointee),
            _ => View::Slice(items),
        },
        Raw::Map(m) => {
            if m.is_empty()
                && let Some(text) = nil_pointer_text(m)
            {
                return View::NilPointer(text);
            }
            match m.get(TYPE_KEY) {
                Some(Raw::List(tag)) => match &tag[..] {
                    [
                        Raw::Function(_),
                        Raw::String(name),
                        Raw::List(order),
                        text,
                        Raw::Bool(everywhere),
                    ] => View::Struct(StructView {
                        type_name: name,
                        text: text.as_str(),
                        text_everywhere: *everywhere,
                        order,
                        fields: m,
                    }),
                    _ => View::Map(m),
                },
                _ => View::Map(m),
            }
        }
    }
}

/// Go's type name of a value, for messages.
pub(super) fn type_name(v: &Raw) -> String {
    match view(v) {
        View::Invalid => "<nil>".to_owned(),
        View::NilPointer(_) => "nil pointer".to_owned(),
        View::Pointer(p) => format!("*{}", type_name(p)),
        View::Struct(s) => s.type_name.to_owned(),
        View::Map(_) => "map[string]string".to_owned(),
        View::Slice(_) => "slice".to_owned(),
        View::String(_) => "string".to_owned(),
        View::Int(_) => "int".to_owned(),
        View::Uint(_) => "uint".to_owned(),
        View::Float(_) => "float64".to_owned(),
        View::Bool(_) => "bool".to_owned(),
        View::Function => "func".to_owned(),
    }
}

/// The value as `gotmpl`'s `printf` should see it: a pointer is its pointee, a nil pointer nil,
/// a struct its text (Go's `%v`, or its `String` method's).
pub(super) fn plain(v: &Raw) -> Raw {
    match view(v) {
        View::Invalid => Raw::Nil,
        View::NilPointer("<nil>") => Raw::Nil,
        View::NilPointer(text) => Raw::String(Arc::from(text)),
        View::Pointer(p) => plain(p),
        View::Struct(_) => Raw::String(Arc::from(text_v(v, Printer::Fmt).as_str())),
        View::Slice(items) => {
            if items.iter().all(is_plain) {
                v.clone()
            } else {
                Raw::List(items.iter().map(plain).collect())
            }
        }
        View::Map(_)
        | View::String(_)
        | View::Int(_)
        | View::Uint(_)
        | View::Float(_)
        | View::Bool(_)
        | View::Function => v.clone(),
    }
}

fn is_plain(v: &Raw) -> bool {
    match view(v) {
        View::Slice(items) => items.iter().all(is_plain),
        View::Invalid
        | View::Map(_)
        | View::String(_)
        | View::Int(_)
        | View::Uint(_)
        | View::Float(_)
        | View::Bool(_)
        | View::Function => true,
        View::NilPointer(_) | View::Pointer(_) | View::Struct(_) => false,
    }
}

/// Where a value is printed, which decides whether a pointer-receiver `String` applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Printer {
    /// An action (`{{ .X }}`): Go's `printableValue` on an addressable value.
    Action,
    /// `fmt` on a copy: `print`, `printf`, `html`, ...
    Fmt,
}

/// Go's `%v` of the value (`fmt.Sprint` of one operand); pointers print their pointee.
pub(super) fn text_v(v: &Raw, printer: Printer) -> String {
    let mut out = String::new();
    write_v(&mut out, v, 0, printer);
    out
}

fn write_v(out: &mut String, v: &Raw, depth: usize, printer: Printer) {
    match view(v) {
        View::Invalid => out.push_str("<nil>"),
        View::NilPointer(text) => out.push_str(if depth == 0 { text } else { "<nil>" }),
        View::Pointer(p) => {
            if depth > 0 && matches!(view(p), View::Struct(s) if !s.text_everywhere) {
                out.push('&');
            }
            write_v(out, p, depth, printer);
        }
        View::Struct(s) => {
            if let Some(t) = s.text
                && (s.text_everywhere || (printer == Printer::Action && depth == 0))
            {
                out.push_str(t);
                return;
            }
            out.push('{');
            for (i, f) in s.declared().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, f, depth + 1, Printer::Fmt);
            }
            out.push('}');
        }
        View::Slice(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, item, depth + 1, Printer::Fmt);
            }
            out.push(']');
        }
        View::Map(m) => {
            out.push_str("map[");
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_v(out, item, depth + 1, Printer::Fmt);
            }
            out.push(']');
        }
        View::String(s) => out.push_str(s),
        View::Int(i) => {
            let _ = write!(out, "{i}");
        }
        View::Uint(u) => {
            let _ = write!(out, "{u}");
        }
        View::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        View::Float(f) => out.push_str(&go_float(f)),
        View::Function => out.push_str("<func>"),
    }
}

/// Go's `fmt.Sprint` of operands: a space between two operands when neither is a string.
pub(super) fn sprint(args: &[Raw]) -> String {
    let mut out = String::new();
    let mut previous_is_string = true;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(view(a), View::String(_));
        if i > 0 && !is_string && !previous_is_string {
            out.push(' ');
        }
        write_v(&mut out, a, 0, Printer::Fmt);
        previous_is_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`: operands always separated by a space, then a newline.
pub(super) fn sprintln(args: &[Raw]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, a, 0, Printer::Fmt);
    }
    out.push('\n');
    out
}

/// Go's `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`, the shortest digits that
/// read back, in `%e` form when the exponent is below -4 or at least 6.
pub(super) fn go_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest round-trip digits: `-1.2345e-3`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let mut out = format!("{sign}{first}");
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
        return out;
    }
    let n = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let point = exp + 1; // digits before the decimal point
    let mut out = String::from(sign);
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point >= n {
        out.push_str(&digits);
        for _ in 0..(point - n) {
            out.push('0');
        }
    } else {
        let (int, frac) = digits.split_at(usize::try_from(point).unwrap_or(0));
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
    out
}
