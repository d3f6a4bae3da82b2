//! Rewrites a parsed template so that `gotmpl` executes it with Go's typed semantics over our
//! encoded data (`value.rs`), through the functions of `funcs.rs`:
//!
//! | written | executed |
//! |---|---|
//! | `.A.B`, `$x.A`, `(pipe).A` | `(__field . "A" "B")`, `(__field $x "A")`, `(__field (pipe) "A")` |
//! | `{{ pipeline }}` (printed) | `{{ pipeline \| __show }}` |
//! | `{{ range pipeline }}` | `{{ range pipeline \| __range }}` |
//! | `printf` args | `(__plain arg)`; piped: `\| __plain \|` first |
//!
//! Everything else (control flow, variables, literals, the builtins by name) is left to
//! `gotmpl` as parsed; `funcs.rs` replaces the builtins that need types.

use gotmpl::parse::{BranchNode, CommandNode, Expr, ListNode, Node, PipeNode, Pos};

use super::funcs::{FIELD, PLAIN, RANGE, SHOW};

/// Rewrites every node of `list`.
pub(super) fn list(list: &mut ListNode) {
    for n in &mut list.nodes {
        node(n);
    }
}

fn node(n: &mut Node) {
    match n {
        Node::List(l) => list(l),
        Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        Node::Action(a) => {
            pipe(&mut a.pipe);
            if a.pipe.decl.is_empty() && !a.pipe.commands.is_empty() {
                append_stage(&mut a.pipe, SHOW);
            }
        }
        Node::If(b) | Node::With(b) => branch(b),
        Node::Range(b) => {
            branch(b);
            if !b.pipe.commands.is_empty() {
                append_stage(&mut b.pipe, RANGE);
            }
        }
        Node::Template(t) => {
            if let Some(p) = &mut t.pipe {
                pipe(p);
            }
        }
        Node::Define(d) => list(&mut d.body),
    }
}

fn branch(b: &mut BranchNode) {
    pipe(&mut b.pipe);
    list(&mut b.body);
    if let Some(e) = &mut b.else_body {
        list(e);
    }
}

fn ident(pos: Pos, name: &str) -> Expr {
    Expr::Identifier(pos, name.into())
}

fn command(pos: Pos, args: Vec<Expr>) -> CommandNode {
    CommandNode { pos, args }
}

fn append_stage(p: &mut PipeNode, name: &str) {
    let pos = p.pos;
    p.commands.push(command(pos, vec![ident(pos, name)]));
}

/// `(name args...)` as an expression.
fn call(pos: Pos, name: &str, args: Vec<Expr>) -> Expr {
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(ident(pos, name));
    all.extend(args);
    Expr::Pipe(
        pos,
        PipeNode {
            pos,
            decl: Vec::new(),
            commands: vec![command(pos, all)],
            is_assign: false,
        },
    )
}

fn head(c: &CommandNode) -> Option<&str> {
    match c.args.first() {
        Some(Expr::Identifier(_, name)) => Some(name.as_str()),
        _ => None,
    }
}

fn is_literal(e: &Expr) -> bool {
    matches!(
        e,
        Expr::String(..) | Expr::Number(..) | Expr::Bool(..) | Expr::Nil(..)
    )
}

fn pipe(p: &mut PipeNode) {
    let commands = std::mem::take(&mut p.commands);
    for (i, mut c) in commands.into_iter().enumerate() {
        let pos = c.pos;
        for a in &mut c.args {
            expr(a);
        }
        if head(&c) == Some("printf") {
            // gotmpl's printf formats plain values: pointers followed, structs as text.
            for a in c.args.iter_mut().skip(1) {
                if !is_literal(a) {
                    let inner = std::mem::replace(a, Expr::Nil(pos));
                    *a = call(pos, PLAIN, vec![inner]);
                }
            }
            if i > 0 {
                p.commands.push(command(pos, vec![ident(pos, PLAIN)]));
            }
        }
        p.commands.push(c);
    }
}

fn expr(e: &mut Expr) {
    match e {
        Expr::Field(pos, names) => {
            let pos = *pos;
            let names = std::mem::take(names);
            *e = field(pos, Expr::Dot(pos), names);
        }
        Expr::Variable(pos, name, names) if !names.is_empty() => {
            let pos = *pos;
            let names = std::mem::take(names);
            let receiver = Expr::Variable(pos, name.clone(), Vec::new());
            *e = field(pos, receiver, names);
        }
        Expr::Chain(pos, inner, names) => {
            let pos = *pos;
            let names = std::mem::take(names);
            let mut receiver = std::mem::replace(inner.as_mut(), Expr::Nil(pos));
            expr(&mut receiver);
            if let Expr::Identifier(p, name) = receiver {
                // `fn.Field`: the function called without arguments, then the field.
                receiver = call(p, name.as_str(), Vec::new());
            }
            *e = field(pos, receiver, names);
        }
        Expr::Pipe(_, p) => pipe(p),
        Expr::Dot(_)
        | Expr::Variable(..)
        | Expr::Identifier(..)
        | Expr::String(..)
        | Expr::Number(..)
        | Expr::Bool(..)
        | Expr::Nil(_) => {}
    }
}

fn field(pos: Pos, receiver: Expr, names: Vec<gotmpl::parse::SmolStr>) -> Expr {
    let mut args = Vec::with_capacity(names.len() + 1);
    args.push(receiver);
    args.extend(
        names
            .into_iter()
            .map(|n| Expr::String(pos, std::sync::Arc::from(n.as_str()))),
    );
    call(pos, FIELD, args)
}
