//! The functions that give `gotmpl` Go's typed behaviour over our encoded data (see
//! `value.rs`): field access, an action's printing, `range`'s operand, and Go's builtins whose
//! result depends on types or on `fmt` (`index`, `slice`, `len`, `not`, `eq`, `ne`, `lt`, `le`,
//! `gt`, `ge`, `print`, `println`, `html`, `js`, `urlquery`). Each follows Go's `text/template`
//! (exec.go, funcs.go); `printf`, `and`, `or` and `call` stay `gotmpl`'s.
//!
//! The template rewrite (`rewrite.rs`) calls the helpers, whose names start with `__` (no Go
//! template can name them: the parse check refuses functions Go does not define). A typed
//! [`ExecError`] is kept in a thread-local slot for [`Template::render`](super::Template::render)
//! to return, since `gotmpl` carries only its own error type through execution.

use std::cell::RefCell;
use std::sync::Arc;

use gotmpl::{TemplateError as EngineError, Value as Raw};

use super::error::ExecError;
use super::value::{
    Printer, StructView, View, is_nil_collection, plain, sprint, sprintln, text_v, type_name, view,
};

thread_local! {
    static FAILURE: RefCell<Option<ExecError>> = const { RefCell::new(None) };
}

/// Forgets any typed error left by an earlier render on this thread.
pub(super) fn clear_failure() {
    FAILURE.with(|f| f.borrow_mut().take());
}

/// The typed error the failed render stopped on, if one of these functions raised it.
pub(super) fn take_failure() -> Option<ExecError> {
    FAILURE.with(|f| f.borrow_mut().take())
}

fn fail(e: ExecError) -> EngineError {
    let message = e.to_string();
    FAILURE.with(|f| *f.borrow_mut() = Some(e));
    EngineError::Exec(message)
}

type Result<T> = std::result::Result<T, EngineError>;

/// Field access (`.A.B`): `__field receiver "A" "B"`.
pub(super) const FIELD: &str = "__field";
/// An action's value as Go prints it: `<no value>` for a missing value.
pub(super) const SHOW: &str = "__show";
/// The value as `gotmpl`'s printing functions should see it.
pub(super) const PLAIN: &str = "__plain";
/// `range`'s operand, checked and unwrapped.
pub(super) const RANGE: &str = "__range";
/// An assignment to a variable never declared: fails when run, as Go's `setVar` does.
pub(super) const UNDECLARED: &str = "__undeclared";

/// Adds this module's functions to `t`, replacing Go's typed builtins.
pub(super) fn install(t: gotmpl::Template) -> gotmpl::Template {
    t.func(FIELD, field)
        .func(SHOW, show)
        .func(PLAIN, |args| one(PLAIN, args).map(|v| plain(&v)))
        .func(RANGE, range)
        .func(UNDECLARED, undeclared)
        .func("print", |args| {
            Ok(Raw::String(Arc::from(sprint(args).as_str())))
        })
        .func("println", |args| {
            Ok(Raw::String(Arc::from(sprintln(args).as_str())))
        })
        .func("html", |args| Ok(escaped(args, gotmpl::html_escape)))
        .func("js", |args| Ok(escaped(args, gotmpl::js_escape)))
        .func("urlquery", |args| Ok(escaped(args, gotmpl::url_encode)))
        .func("index", index)
        .func("slice", slice)
        .func("len", len)
        .func("not", not)
        .func("eq", eq)
        .func("ne", |args| {
            let [a, b] = two("ne", args)?;
            Ok(Raw::Bool(!equal(a, std::slice::from_ref(b))?))
        })
        .func("lt", |args| order("lt", args, |o| o.is_lt()))
        .func("le", |args| order("le", args, |o| o.is_le()))
        .func("gt", |args| order("gt", args, |o| o.is_gt()))
        .func("ge", |args| order("ge", args, |o| o.is_ge()))
}

fn arg_count(function: &str, want: &str, got: usize) -> EngineError {
    fail(ExecError::WrongArgCount {
        function: function.to_owned(),
        want: want.to_owned(),
        got,
    })
}

fn one(function: &str, args: &[Raw]) -> Result<Raw> {
    match args {
        [v] => Ok(v.clone()),
        _ => Err(arg_count(function, "1", args.len())),
    }
}

fn two<'a>(function: &str, args: &'a [Raw]) -> Result<[&'a Raw; 2]> {
    match args {
        [a, b] => Ok([a, b]),
        _ => Err(arg_count(function, "2", args.len())),
    }
}

/// Go refuses a missing value or `nil` as an argument of type `reflect.Value`.
fn valid(function: &'static str, v: &Raw) -> Result<()> {
    match view(v) {
        View::Invalid => Err(fail(ExecError::InvalidArgument { function })),
        _ => Ok(()),
    }
}

/// Go's `indirect`: through non-nil pointers; `None` at a nil pointer.
fn indirect(v: &Raw) -> Option<&Raw> {
    match view(v) {
        View::NilPointer(_) => None,
        View::Pointer(p) => indirect(p),
        _ => Some(v),
    }
}

fn field(args: &[Raw]) -> Result<Raw> {
    let Some((receiver, names)) = args.split_first() else {
        return Err(arg_count(FIELD, "at least 1", 0));
    };
    let mut current = receiver.clone();
    for name in names {
        let name = name.as_str().unwrap_or_default();
        current = field_of(&current, name)?;
    }
    Ok(current)
}

/// Go's `evalField` for data without methods.
fn field_of(receiver: &Raw, name: &str) -> Result<Raw> {
    match view(receiver) {
        // A missing value stays missing (missingkey=default).
        View::Invalid => Ok(Raw::Nil),
        View::NilPointer(_) => Err(fail(ExecError::NilPointer {
            field: name.to_owned(),
        })),
        View::Pointer(p) => match indirect(p) {
            None => Err(fail(ExecError::NilPointer {
                field: name.to_owned(),
            })),
            Some(target) => match view(target) {
                View::Struct(_) => field_of(target, name),
                _ => Err(no_field(name, receiver)),
            },
        },
        View::Struct(s) => s.get(name).cloned().ok_or_else(|| no_field(name, receiver)),
        View::Map(m) => Ok(m.get(name).cloned().unwrap_or(Raw::Nil)),
        View::Slice(_)
        | View::String(_)
        | View::Int(_)
        | View::Uint(_)
        | View::Float(_)
        | View::Bool(_)
        | View::Function => Err(no_field(name, receiver)),
    }
}

fn no_field(name: &str, receiver: &Raw) -> EngineError {
    fail(ExecError::NoField {
        field: name.to_owned(),
        type_name: type_name(receiver),
    })
}

fn show(args: &[Raw]) -> Result<Raw> {
    let v = one(SHOW, args)?;
    let text = match view(&v) {
        View::Invalid => "<no value>".to_owned(),
        _ => text_v(&v, Printer::Action),
    };
    Ok(Raw::String(Arc::from(text.as_str())))
}

fn undeclared(args: &[Raw]) -> Result<Raw> {
    let name = args.first().and_then(Raw::as_str).unwrap_or_default();
    Err(fail(ExecError::UndeclaredVariable {
        name: name.to_owned(),
    }))
}

/// Go's `html`, `js` and `urlquery` (`evalArgs`): one string as it is, else `fmt.Sprint` of
/// the operands with missing values as `<no value>`; then escaped.
fn escaped(args: &[Raw], escape: fn(&str) -> String) -> Raw {
    let text = match args {
        [Raw::String(s)] => s.to_string(),
        _ => {
            let printable: Vec<Raw> = args
                .iter()
                .map(|a| match view(a) {
                    View::Invalid => Raw::String(Arc::from("<no value>")),
                    _ => a.clone(),
                })
                .collect();
            sprint(&printable)
        }
    };
    Raw::String(Arc::from(escape(&text).as_str()))
}

/// Go's `walkRange` operand: pointers are followed; slices, maps and integers iterate; a
/// missing value is an empty range; anything else is an error.
fn range(args: &[Raw]) -> Result<Raw> {
    let v = one(RANGE, args)?;
    let Some(target) = indirect(&v) else {
        return Err(fail(ExecError::NotIterable {
            type_name: "nil pointer".to_owned(),
        }));
    };
    match view(target) {
        View::Invalid | View::Slice(_) | View::Map(_) | View::Int(_) | View::Uint(_) => {
            Ok(target.clone())
        }
        View::NilPointer(_)
        | View::Pointer(_)
        | View::Struct(_)
        | View::String(_)
        | View::Float(_)
        | View::Bool(_)
        | View::Function => Err(fail(ExecError::NotIterable {
            type_name: type_name(target),
        })),
    }
}

/// Go's `not`: a missing value is false, so `not` of it is true.
fn not(args: &[Raw]) -> Result<Raw> {
    let v = one("not", args)?;
    Ok(Raw::Bool(!v.is_truthy()))
}

fn len(args: &[Raw]) -> Result<Raw> {
    let v = one("len", args)?;
    valid("len", &v)?;
    let Some(target) = indirect(&v) else {
        return Err(fail(ExecError::NoLength {
            type_name: "nil pointer".to_owned(),
        }));
    };
    let n = match view(target) {
        View::Map(m) => m.len(),
        View::Slice(items) => items.len(),
        View::String(s) => s.len(),
        _ => {
            return Err(fail(ExecError::NoLength {
                type_name: type_name(target),
            }));
        }
    };
    Ok(Raw::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Go's `indexArg`: an integer in `0..=cap`.
fn index_arg(function: &'static str, index: &Raw, cap: usize) -> Result<usize> {
    let x = match view(index) {
        View::Int(i) => i,
        View::Uint(u) => i64::try_from(u).unwrap_or(i64::MAX),
        other => {
            return Err(fail(ExecError::BadIndex {
                function,
                found: match other {
                    View::Invalid => "nil".to_owned(),
                    _ => type_name(index),
                },
                want: "an integer",
            }));
        }
    };
    match usize::try_from(x) {
        Ok(i) if i <= cap => Ok(i),
        _ => Err(fail(ExecError::IndexOutOfRange {
            function,
            index: x,
            length: cap,
        })),
    }
}

fn index(args: &[Raw]) -> Result<Raw> {
    let Some((item, indexes)) = args.split_first() else {
        return Err(arg_count("index", "at least 1", 0));
    };
    for v in args {
        valid("index", v)?;
    }
    let mut item = item.clone();
    for i in indexes {
        let Some(target) = indirect(&item) else {
            return Err(fail(ExecError::NotIndexable {
                function: "index",
                type_name: "nil pointer".to_owned(),
            }));
        };
        let next = match view(target) {
            View::Slice(items) => {
                let x = index_arg("index", i, items.len())?;
                items.get(x).cloned().ok_or_else(|| {
                    fail(ExecError::IndexOutOfRange {
                        function: "index",
                        index: i64::try_from(x).unwrap_or(i64::MAX),
                        length: items.len(),
                    })
                })?
            }
            View::String(s) => {
                let x = index_arg("index", i, s.len())?;
                let byte = s.as_bytes().get(x).copied().ok_or_else(|| {
                    fail(ExecError::IndexOutOfRange {
                        function: "index",
                        index: i64::try_from(x).unwrap_or(i64::MAX),
                        length: s.len(),
                    })
                })?;
                Raw::Uint(u64::from(byte))
            }
            View::Map(m) => {
                let Some(key) = i.as_str() else {
                    return Err(fail(ExecError::BadIndex {
                        function: "index",
                        found: type_name(i),
                        want: "a string",
                    }));
                };
                // A missing key gives the zero value of the map's values: "".
                m.get(key)
                    .cloned()
                    .unwrap_or_else(|| Raw::String(Arc::from("")))
            }
            _ => {
                return Err(fail(ExecError::NotIndexable {
                    function: "index",
                    type_name: type_name(target),
                }));
            }
        };
        item = next;
    }
    Ok(item)
}

fn slice(args: &[Raw]) -> Result<Raw> {
    let Some((item, indexes)) = args.split_first() else {
        return Err(arg_count("slice", "at least 1", 0));
    };
    for v in args {
        valid("slice", v)?;
    }
    let Some(target) = indirect(item) else {
        return Err(fail(ExecError::NotIndexable {
            function: "slice",
            type_name: "nil pointer".to_owned(),
        }));
    };
    if indexes.len() > 3 {
        return Err(fail(ExecError::BadSlice {
            reason: "too many slice indexes",
        }));
    }
    let len = match view(target) {
        View::String(_) if indexes.len() == 3 => {
            return Err(fail(ExecError::BadSlice {
                reason: "cannot 3-index slice a string",
            }));
        }
        View::String(s) => s.len(),
        // The capacity of our slices is their length.
        View::Slice(items) => items.len(),
        _ => {
            return Err(fail(ExecError::NotIndexable {
                function: "slice",
                type_name: type_name(target),
            }));
        }
    };
    let mut idx = [0, len, len];
    for (slot, i) in idx.iter_mut().zip(indexes) {
        *slot = index_arg("slice", i, len)?;
    }
    let [low, high, max] = idx;
    if low > high {
        return Err(fail(ExecError::InvertedSlice { low, high }));
    }
    if indexes.len() == 3 && high > max {
        return Err(fail(ExecError::InvertedSlice {
            low: high,
            high: max,
        }));
    }
    match view(target) {
        View::String(s) => s
            .get(low..high)
            .map(|sub| Raw::String(Arc::from(sub)))
            .ok_or_else(|| fail(ExecError::SplitsCharacter { low, high })),
        View::Slice(items) => Ok(Raw::List(items.get(low..high).unwrap_or_default().into())),
        _ => Ok(target.clone()),
    }
}

/// A value of one of Go's basic kinds, as comparisons see it.
#[derive(Debug, Clone, Copy)]
enum Basic<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    String(&'a str),
}

fn basic(v: &Raw) -> Option<Basic<'_>> {
    match view(v) {
        View::Bool(b) => Some(Basic::Bool(b)),
        View::Int(i) => Some(Basic::Int(i)),
        View::Uint(u) => Some(Basic::Uint(u)),
        View::Float(f) => Some(Basic::Float(f)),
        View::String(s) => Some(Basic::String(s)),
        _ => None,
    }
}

fn incomparable(function: &'static str, a: &Raw, b: &Raw) -> EngineError {
    fail(ExecError::Incomparable {
        function,
        left: type_name(a),
        right: type_name(b),
    })
}

fn eq(args: &[Raw]) -> Result<Raw> {
    let Some((first, rest)) = args.split_first() else {
        return Err(arg_count("eq", "at least 1", 0));
    };
    Ok(Raw::Bool(equal(first, rest)?))
}

/// Go's `eq`: whether `a` equals any of `others`. Values of one basic kind compare by value
/// (signed and unsigned integers together); a missing value equals only a missing value or a
/// nil pointer, map or slice; other values of one reflect kind: nil ones are equal, pointers by
/// identity, comparable structs field by field; maps and slices are not comparable.
fn equal(a: &Raw, others: &[Raw]) -> Result<bool> {
    if others.is_empty() {
        return Err(arg_count("eq", "at least 2", 1));
    }
    for b in others {
        let truth = match (basic(a), basic(b)) {
            (Some(x), Some(y)) => match (x, y) {
                (Basic::Bool(x), Basic::Bool(y)) => x == y,
                (Basic::Int(x), Basic::Int(y)) => x == y,
                (Basic::Uint(x), Basic::Uint(y)) => x == y,
                (Basic::Float(x), Basic::Float(y)) => x == y,
                (Basic::String(x), Basic::String(y)) => x == y,
                (Basic::Int(x), Basic::Uint(y)) | (Basic::Uint(y), Basic::Int(x)) => {
                    u64::try_from(x).is_ok_and(|x| x == y)
                }
                _ => return Err(incomparable("eq", a, b)),
            },
            (None, None) => composite_equal(a, b)?,
            // A basic value and a missing one are unequal; with anything else, an error.
            _ if is_invalid(a) || is_invalid(b) => false,
            _ => return Err(incomparable("eq", a, b)),
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn is_invalid(v: &Raw) -> bool {
    matches!(view(v), View::Invalid)
}

/// Go's reflect kind of a value of no basic kind, for `eq`'s `canCompare`.
#[derive(PartialEq)]
enum Composite {
    Invalid,
    Pointer,
    Struct,
    Map,
    Slice,
    Func,
}

fn composite(v: &Raw) -> Composite {
    match view(v) {
        View::NilPointer(_) | View::Pointer(_) => Composite::Pointer,
        View::Struct(_) => Composite::Struct,
        View::Map(_) => Composite::Map,
        View::Slice(_) => Composite::Slice,
        View::Function => Composite::Func,
        _ => Composite::Invalid,
    }
}

fn is_nil(v: &Raw) -> bool {
    matches!(view(v), View::Invalid | View::NilPointer(_)) || is_nil_collection(v)
}

fn composite_equal(a: &Raw, b: &Raw) -> Result<bool> {
    let (ka, kb) = (composite(a), composite(b));
    if ka != kb && ka != Composite::Invalid && kb != Composite::Invalid {
        return Err(incomparable("eq", a, b));
    }
    if is_nil(a) || is_nil(b) {
        return Ok(is_nil(a) == is_nil(b));
    }
    match (view(a), view(b)) {
        (View::Pointer(_), View::Pointer(_)) => Ok(same_list(a, b)),
        (View::Struct(x), View::Struct(y)) => {
            if !comparable(y) {
                return Err(incomparable("eq", a, b));
            }
            Ok(struct_equal(x, y))
        }
        _ => Err(incomparable("eq", a, b)),
    }
}

fn same_list(a: &Raw, b: &Raw) -> bool {
    match (a, b) {
        (Raw::List(x), Raw::List(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// Whether Go's `==` works on the struct: no slice or map inside it (pointers compare by
/// address and are fine).
fn comparable(s: StructView<'_>) -> bool {
    s.declared().all(|f| match view(f) {
        View::Slice(_) | View::Map(_) => false,
        View::Struct(inner) => comparable(inner),
        _ => true,
    })
}

fn struct_equal(x: StructView<'_>, y: StructView<'_>) -> bool {
    x.type_name == y.type_name
        && x.text == y.text
        && x.declared()
            .zip(y.declared())
            .all(|(a, b)| match (view(a), view(b)) {
                (View::Struct(p), View::Struct(q)) => struct_equal(p, q),
                (View::NilPointer(_), View::NilPointer(_)) => true,
                (View::Pointer(_), View::Pointer(_)) => same_list(a, b),
                _ => match (basic(a), basic(b)) {
                    (Some(Basic::Bool(p)), Some(Basic::Bool(q))) => p == q,
                    (Some(Basic::Int(p)), Some(Basic::Int(q))) => p == q,
                    (Some(Basic::Uint(p)), Some(Basic::Uint(q))) => p == q,
                    (Some(Basic::Float(p)), Some(Basic::Float(q))) => p == q,
                    (Some(Basic::String(p)), Some(Basic::String(q))) => p == q,
                    _ => false,
                },
            })
}

/// Go's `lt` family: basic kinds only, integers of either sign together.
fn order(
    function: &'static str,
    args: &[Raw],
    pick: impl Fn(std::cmp::Ordering) -> bool,
) -> Result<Raw> {
    use std::cmp::Ordering;
    let [a, b] = two(function, args)?;
    valid(function, a)?;
    valid(function, b)?;
    let (Some(x), Some(y)) = (basic(a), basic(b)) else {
        return Err(incomparable(function, a, b));
    };
    let ordering = match (x, y) {
        (Basic::Int(x), Basic::Int(y)) => x.cmp(&y),
        (Basic::Uint(x), Basic::Uint(y)) => x.cmp(&y),
        (Basic::String(x), Basic::String(y)) => x.cmp(y),
        (Basic::Int(x), Basic::Uint(y)) => match u64::try_from(x) {
            Ok(x) => x.cmp(&y),
            Err(_) => Ordering::Less,
        },
        (Basic::Uint(x), Basic::Int(y)) => match u64::try_from(y) {
            Ok(y) => x.cmp(&y),
            Err(_) => Ordering::Greater,
        },
        (Basic::Float(x), Basic::Float(y)) => {
            // Go: lt is x < y, le is lt || eq; with NaN every answer is false but ne.
            match x.partial_cmp(&y) {
                Some(o) => o,
                None => return Ok(Raw::Bool(function == "gt" || function == "ge")),
            }
        }
        _ => return Err(incomparable(function, a, b)),
    };
    Ok(Raw::Bool(pick(ordering)))
}
