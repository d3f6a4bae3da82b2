//! The checks Go's template parser makes that `gotmpl`'s leaves to execution (or skips): every
//! function is one of Go's builtins, every variable is declared in scope, `{{break}}` and
//! `{{continue}}` stand inside a `{{range}}`. Go refuses such a template when it is parsed,
//! even where the offending part would never run.
//!
//! One rule is Go's executor's, which `gotmpl` does not keep: an assignment (`$x = ...`) to a
//! variable never declared fails when it runs. Such an assignment's pipeline is replaced here
//! by a call that fails (`__undeclared`).
//!
//! String and character literals are read again from the text as Go reads them
//! (`literal.rs`), their values replacing `gotmpl`'s.
//!
//! Scopes follow Go's parser (text/template/parse): a declaration is visible from its pipeline
//! to the end of the enclosing `if`/`with`/`range` (its `else` included); a `define` starts
//! afresh with `$` only.

use std::sync::Arc;

use gotmpl::parse::{CommandNode, Expr, ListNode, Node, Number, PipeNode, Pos};

use super::error::ParseError;
use super::funcs::UNDECLARED;
use super::literal;

/// The functions Go's `text/template` defines.
pub(super) const GO_BUILTINS: [&str; 19] = [
    "and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf",
    "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne",
];

struct Scope<'a> {
    source: &'a str,
    vars: Vec<String>,
    range_depth: usize,
}

/// Checks one template body (the root or a `define`) parsed from `source`.
pub(super) fn tree(root: &mut ListNode, source: &str) -> Result<(), ParseError> {
    let mut scope = Scope {
        source,
        vars: vec!["$".to_owned()],
        range_depth: 0,
    };
    list(&mut scope, root)
}

/// The template text from a literal's position on.
fn text_at<'a>(s: &Scope<'a>, pos: Pos) -> &'a str {
    s.source.get(pos.offset..).unwrap_or_default()
}

fn list(s: &mut Scope<'_>, l: &mut ListNode) -> Result<(), ParseError> {
    l.nodes.iter_mut().try_for_each(|n| node(s, n))
}

fn node(s: &mut Scope<'_>, n: &mut Node) -> Result<(), ParseError> {
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
        Node::Define(d) => tree(&mut d.body, s.source),
        Node::Break(_) if s.range_depth == 0 => Err(ParseError::OutsideRange { keyword: "break" }),
        Node::Continue(_) if s.range_depth == 0 => Err(ParseError::OutsideRange {
            keyword: "continue",
        }),
        Node::Break(_) | Node::Continue(_) => Ok(()),
    }
}

/// Checks a pipeline; declares its variables (before its commands, as Go's parser does).
fn pipe(s: &mut Scope<'_>, p: &mut PipeNode, assignment_fails: bool) -> Result<(), ParseError> {
    let mut undeclared = None;
    for d in &p.decl {
        if p.is_assign && !s.vars.iter().any(|v| v == d.as_str()) {
            undeclared.get_or_insert_with(|| d.to_string());
        }
        s.vars.push(d.to_string());
    }
    for c in &mut p.commands {
        // Go separates a command's operands with white space (`print .A"x"`, `len(.A)` and
        // `.A.(f)` are refused); gotmpl reads them without.
        for pair in c.args.windows(2) {
            let start = pair[1].pos().offset;
            let before = s.source.get(..start).and_then(|t| t.chars().next_back());
            if !before.is_some_and(char::is_whitespace) {
                return Err(ParseError::BadCharacter { offset: start });
            }
        }
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

/// Where a name (function, field chain, variable, `true`, `nil`, `.`) written at the start of
/// `e` ends in the text, for the expressions that are names.
fn name_end(e: &Expr) -> Option<usize> {
    let fields =
        |names: &[gotmpl::parse::SmolStr]| names.iter().map(|n| 1 + n.len()).sum::<usize>();
    Some(match e {
        Expr::Identifier(pos, name) => pos.offset + name.len(),
        Expr::Dot(pos) => pos.offset + 1,
        Expr::Field(pos, names) => pos.offset + fields(names),
        Expr::Variable(pos, name, names) => pos.offset + name.len() + fields(names),
        Expr::Chain(pos, inner, names) => match inner.as_ref() {
            Expr::Identifier(_, name) => pos.offset + name.len() + fields(names),
            _ => return None,
        },
        Expr::Bool(pos, b) => pos.offset + if *b { 4 } else { 5 },
        Expr::Nil(pos) => pos.offset + 3,
        Expr::String(..) | Expr::Number(..) | Expr::Pipe(..) => return None,
    })
}

/// Go's lexer ends a name only at white space, `.`, `,`, `|`, `:`, `(`, `)` or the closing
/// delimiter (`atTerminator`); `gotmpl`'s ends it at any other character too (`index$x`).
fn check_name_end(s: &Scope<'_>, e: &Expr) -> Result<(), ParseError> {
    let Some(end) = name_end(e) else {
        return Ok(());
    };
    let rest = s.source.get(end..).unwrap_or_default();
    match rest.chars().next() {
        None | Some(' ' | '\t' | '\r' | '\n' | '.' | ',' | '|' | ':' | '(' | ')') => Ok(()),
        Some(_) if rest.starts_with("}}") => Ok(()),
        Some(_) => Err(ParseError::BadCharacter { offset: end }),
    }
}

fn expr(s: &mut Scope<'_>, e: &mut Expr) -> Result<(), ParseError> {
    check_name_end(s, e)?;
    match e {
        Expr::String(pos, value) if text_at(s, *pos).starts_with('"') => {
            let text = literal::string(text_at(s, *pos)).map_err(|r| match r {
                literal::Refusal::Syntax(reason) => ParseError::BadLiteral { reason },
                literal::Refusal::NotUtf8 => ParseError::NotUtf8Literal,
            })?;
            *value = Arc::from(text);
            Ok(())
        }
        Expr::Number(pos, value) if text_at(s, *pos).starts_with('\'') => {
            let c = literal::character(text_at(s, *pos))
                .map_err(|reason| ParseError::BadLiteral { reason })?;
            *value = Number::Int(i64::from(c));
            Ok(())
        }
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
