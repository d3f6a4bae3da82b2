//! Executing parsed nodes against a [`Value`].

use std::borrow::Cow;
use std::fmt::Write;

use super::error::ExecError;
use super::parse::{Arg, Command, Func, Node, Pipeline};
use super::value::Value;

/// Renders `nodes` with `data` as both `.` and `$`.
pub(crate) fn render(nodes: &[Node], data: &Value) -> Result<String, ExecError> {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => {
                let v = pipeline(p, data)?;
                let _ = write!(out, "{v}");
            }
        }
    }
    Ok(out)
}

fn pipeline(p: &Pipeline, data: &Value) -> Result<Value, ExecError> {
    let mut last: Option<Value> = None;
    for c in &p.commands {
        last = Some(command(c, data, last)?);
    }
    Ok(last.unwrap_or(Value::Nil))
}

fn command(c: &Command, data: &Value, piped: Option<Value>) -> Result<Value, ExecError> {
    match c.args.split_first() {
        Some((Arg::Func(f), rest)) => {
            let mut args = rest
                .iter()
                .map(|a| operand(a, data))
                .collect::<Result<Vec<_>, _>>()?;
            args.extend(piped);
            call(*f, args)
        }
        // The parser allows a non-function only alone and only as the first stage.
        Some((a, _)) => operand(a, data),
        None => Ok(Value::Nil),
    }
}

fn operand(a: &Arg, data: &Value) -> Result<Value, ExecError> {
    match a {
        Arg::Field(chain) | Arg::Root(chain) => walk(data, chain),
        Arg::Str(s) => Ok(Value::Str(s.clone())),
        Arg::Int(i) => Ok(Value::Int(*i)),
        Arg::Bool(b) => Ok(Value::Bool(*b)),
        Arg::Nil => Ok(Value::Nil),
        Arg::Sub(p, chain) => {
            let v = pipeline(p, data)?;
            walk(&v, chain)
        }
        // Functions only stand first; a nested one is refused at parse time.
        Arg::Func(_) => Ok(Value::Nil),
    }
}

/// One field step: a struct's field, or a map's value (`<no value>` when absent).
fn step<'a>(v: &'a Value, name: &str) -> Result<Cow<'a, Value>, ExecError> {
    match v {
        Value::Struct(s) => s
            .get(name)
            .map(Cow::Borrowed)
            .ok_or_else(|| ExecError::NoField {
                field: name.to_owned(),
                type_name: s.type_name().to_owned(),
            }),
        Value::Map(m) => Ok(Cow::Owned(
            m.get(name)
                .map_or(Value::Missing, |s| Value::Str(s.clone())),
        )),
        Value::Nil | Value::Missing => Err(ExecError::NilPointer {
            field: name.to_owned(),
            type_name: v.type_name(),
        }),
        other => Err(ExecError::NoField {
            field: name.to_owned(),
            type_name: other.type_name(),
        }),
    }
}

/// Follows `.A.B...` from `v`.
fn walk(v: &Value, chain: &[String]) -> Result<Value, ExecError> {
    let mut cur = Cow::Borrowed(v);
    for name in chain {
        cur = match cur {
            Cow::Borrowed(b) => step(b, name)?,
            Cow::Owned(o) => Cow::Owned(step(&o, name)?.into_owned()),
        };
    }
    Ok(cur.into_owned())
}

fn call(f: Func, args: Vec<Value>) -> Result<Value, ExecError> {
    match f {
        Func::Index => index(args),
        Func::Len => {
            let [item] = <[Value; 1]>::try_from(args).map_err(|a| ExecError::WrongArgCount {
                function: "len",
                want: "1",
                got: a.len(),
            })?;
            match item {
                Value::Str(s) => Ok(Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX))),
                Value::Map(m) => Ok(Value::Int(i64::try_from(m.len()).unwrap_or(i64::MAX))),
                other => Err(ExecError::NoLen {
                    type_name: other.type_name(),
                }),
            }
        }
        Func::Print => Ok(Value::Str(sprint(&args))),
        Func::Println => {
            let mut s = args
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ");
            s.push('\n');
            Ok(Value::Str(s))
        }
        Func::Printf => printf(args),
    }
}

fn index(args: Vec<Value>) -> Result<Value, ExecError> {
    let mut it = args.into_iter();
    let Some(mut item) = it.next() else {
        return Err(ExecError::WrongArgCount {
            function: "index",
            want: "at least 1",
            got: 0,
        });
    };
    for key in it {
        item = match item {
            Value::Map(m) => match key {
                Value::Str(k) => Value::Str(m.get(&k).cloned().unwrap_or_default()),
                other => {
                    return Err(ExecError::IndexKey {
                        found: other.type_name(),
                    });
                }
            },
            other => {
                return Err(ExecError::NotIndexable {
                    type_name: other.type_name(),
                });
            }
        };
    }
    Ok(item)
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !matches!(a, Value::Str(_)) && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        let _ = write!(out, "{a}");
    }
    out
}

fn printf(args: Vec<Value>) -> Result<Value, ExecError> {
    let mut it = args.into_iter();
    let format = match it.next() {
        Some(Value::Str(s)) => s,
        Some(other) => {
            return Err(ExecError::FormatNotString {
                found: other.type_name(),
            });
        }
        None => {
            return Err(ExecError::WrongArgCount {
                function: "printf",
                want: "at least 1",
                got: 0,
            });
        }
    };
    let bad = |reason: String| ExecError::BadFormat {
        format: format.clone(),
        reason,
    };
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(verb) = chars.next() else {
            return Err(bad("trailing %".into()));
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if !matches!(verb, 's' | 'v' | 'd' | 'q') {
            return Err(bad(format!("unsupported verb %{verb}")));
        }
        let Some(arg) = it.next() else {
            return Err(bad(format!("missing argument for %{verb}")));
        };
        match (verb, &arg) {
            ('d', Value::Int(i)) => {
                let _ = write!(out, "{i}");
            }
            ('d', other) => {
                return Err(bad(format!("%d of a {}", other.type_name())));
            }
            ('q', Value::Str(s)) => {
                let _ = write!(out, "{s:?}");
            }
            ('q', other) => {
                return Err(bad(format!("%q of a {}", other.type_name())));
            }
            (_, v) => {
                let _ = write!(out, "{v}");
            }
        }
    }
    let extra = it.count();
    if extra > 0 {
        return Err(bad(format!("{extra} extra argument(s)")));
    }
    Ok(Value::Str(out))
}
