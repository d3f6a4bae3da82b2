//! The checks Go's template parser makes that `gotmpl`'s leaves to execution (or skips): every
//! function is one of Go's builtins, every variable is declared in scope, `{{break}}` and
//! `{{continue}}` stand inside a `{{range}}`. Go refuses such a template when it is parsed,
//! even where the offending part would never run.
//!
//! One rule is Go's executor's, which `gotmpl` does not keep: an assignment (`$x = ...`) to a
//! variable never declared fails when it runs. Such an assignment's pipeline is replaced here
//! by a call that fails (`__undeclared`).
//!
//! Scopes follow Go's parser (text/template/parse): a declaration is visible from its pipeline
//! to the end of the enclosing `if`/`with`/`range` (its `else` included); a `define` starts
//! afresh with `$` only.

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, PipeNode};

use super::error::ParseError;
use super::funcs::UNDECLARED;

/// The functions Go's `text/template` defines.
pub(super) const GO_BUILTINS: [&str; 19] = [
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

struct Scope {
    vars: Vec<String>,
    range_depth: usize,
}

/// Checks one template body (the root or a `define`).
pub(super) fn tree(root: &mut ListNode) -> Result<(), ParseError> {
    let mut scope = Scope {
        vars: vec!["$".to_owned()],
        range_depth: 0,
    };
    list(&mut scope, root)
}

fn list(s: &mut Scope, l: &mut ListNode) -> Result<(), ParseError> {
    l.nodes.iter_mut().try_for_each(|n| node(s, n))
}

fn node(s: &mut Scope, n: &mut Node) -> Result<(), ParseError> {
    let is_range = matches!(n, Node::Range(_));
    match n {
        Node::Text(_) => Ok(()),
        Node::List(l) => list(s, l),
        Node::Action(a) => pipe(s, &mut a.pipe, true),
        Node::If(b) | Node::With(b) | Node::Range(b) => {
            let mark = s.vars.len();
            // A range assigns per iteration; an empty range assigns nothing, so no failure.
            pipe(s, &mut b.pipe, !is_range)?;
            if is_range {
                s.range_depth += 1;
            }
            let body = list(s, &mut b.body);
            if is_range {
                s.range_depth -= 1;
            }
            body?;
            if let Some(e) = &mut b.else_body {
                list(s, e)?;
            }
            s.vars.truncate(mark);
            Ok(())
        }
        Node::Template(t) => t.pipe.as_mut().map_or(Ok(()), |p| pipe(s, p, true)),
        Node::Define(d) => tree(&mut d.body),
        Node::Break(_) if s.range_depth == 0 => Err(ParseError::OutsideRange { keyword: "break" }),
        Node::Continue(_) if s.range_depth == 0 => Err(ParseError::OutsideRange {
            keyword: "continue",
        }),
        Node::Break(_) | Node::Continue(_) => Ok(()),
    }
}

/// Checks a pipeline; declares its variables (before its commands, as Go's parser does).
fn pipe(s: &mut Scope, p: &mut PipeNode, assignment_fails: bool) -> Result<(), ParseError> {
    let mut undeclared = None;
    for d in &p.decl {
        if p.is_assign && !s.vars.iter().any(|v| v == d.as_str()) {
            undeclared.get_or_insert_with(|| d.to_string());
        }
        s.vars.push(d.to_string());
    }
    for c in &mut p.commands {
        for a in &mut c.args {
            expr(s, a)?;
        }
    }
    if let (Some(name), true) = (undeclared, assignment_fails) {
        let pos = p.pos;
        p.commands = vec![CommandNode {
            pos,
            args: vec![
                Expr::Identifier(pos, UNDECLARED.into()),
                Expr::String(pos, name.as_str().into()),
            ],
        }];
    }
    Ok(())
}

fn expr(s: &mut Scope, e: &mut Expr) -> Result<(), ParseError> {
    match e {
        Expr::Identifier(_, name) if !GO_BUILTINS.contains(&name.as_str()) => {
            Err(ParseError::UndefinedFunction {
                name: name.to_string(),
            })
        }
        Expr::Variable(_, name, _) if !s.vars.iter().any(|v| v == name.as_str()) => {
            Err(ParseError::UndefinedVariable {
                name: name.to_string(),
            })
        }
        Expr::Pipe(_, p) => pipe(s, p, true),
        Expr::Chain(_, inner, _) => expr(s, inner),
        Expr::Identifier(..)
        | Expr::Variable(..)
        | Expr::Dot(_)
        | Expr::Field(..)
        | Expr::String(..)
        | Expr::Number(..)
        | Expr::Bool(..)
        | Expr::Nil(_) => Ok(()),
    }
}
