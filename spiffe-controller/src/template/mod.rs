//! Go's `text/template`, as spire-controller-manager (SCM) runs it for `spiffeIDTemplate`,
//! `dnsNameTemplates`, `workloadSelectorTemplates` and the parent ID template: the whole
//! language, with Go's output.
//!
//! The [`gotmpl`] crate (a Rust port of `text/template`) lexes, parses and executes: actions
//! and pipelines, `{{- -}}` trim markers, `{{/* comments */}}`, variables (`$x := ...`,
//! `$x = ...`, `$`), `if`/`else if`/`else`, `with`/`else with`, `range` (slices, maps in key
//! order, integers, `$i, $v :=`, `{{break}}`, `{{continue}}`, `else`), `define`, `template`,
//! `block`, and Go's builtins `and or not len index slice eq ne lt le gt ge print printf
//! println urlquery html js call`, with `fmt`'s verbs, flags and widths in `printf` (a missing
//! argument prints `%!s(MISSING)`, an extra one `%!(EXTRA ...)`, `{{ nil }}` fails).
//!
//! This module adds what an untyped engine cannot know and SCM's Go data decides. The data is
//! typed ([`Value`]: structs with declared fields, pointers, maps, slices, nil or not): a field
//! the struct does not declare is an error, a nil pointer prints `<nil>` (or its type's
//! `String` text: `nil` for the Kubernetes types) and has no fields, a non-nil pointer is true
//! even to `0`, a missing map key is `<no value>` through field syntax and `""` through
//! `index` (SCM sets no `missingkey` option: Go's default), `eq` and `not` take a missing value
//! and `len`, `index`, `slice`, `lt` refuse it, as Go's do. `print`, `println`, `html`, `js`,
//! `urlquery` and an action's printing are Go's `fmt.Sprint` here (a float prints `1e+06`).
//! It also makes the checks Go's parser makes: unknown functions, undeclared variables,
//! `{{break}}` outside `{{range}}`, blocks left open or closing nothing (see `check.rs` and
//! [`Template::parse_named`]). How: the parsed template is rewritten to route field access,
//! printing and the typed builtins through functions of ours (`rewrite.rs`, `funcs.rs`);
//! control flow and `printf` stay `gotmpl`'s.
//!
//! The differential test `tests/template_go.rs` renders a generated corpus with Go's
//! `text/template` (the `spiffe-interop template` helper) and with this module, byte for byte.
//! Where Go's output is not had:
//!
//! - `gotmpl`'s own differences, out of this module's reach (its lexer and `printf`): `printf`
//!   verbs other than `%v` on maps and slices, widths on them, `%q` of a rune, `%T`, `%#v`, a
//!   lone `%`, `%v` of a float; a comment not right after `{{` is accepted, complex numbers and
//!   the smallest `int64` literal refused, as is an empty last pipeline stage. The test lists
//!   each (`GOTMPL_BUGS`). Parse errors are worded by `gotmpl`. (Its string and character
//!   literals are read again here as Go reads them: `literal.rs`.)
//! - By design: a whole struct prints as Go's `%v` of a plain struct (`{a b}`) where SCM's
//!   Kubernetes types print through their generated `String` methods or with pointer
//!   addresses; `print` and `printf` of a pointer print its value (Go prints the address);
//!   `printf` names our kinds in `%!d(string=...)` where Go names the field's type
//!   (`v1.RestartPolicy`, `int64`); methods of the Kubernetes types (`.PodMeta.GetName`,
//!   `.CreationTimestamp.Unix`) do not exist here; `slice` of a string must not cut a UTF-8
//!   character and a string literal must be UTF-8 (`"\xff"` is refused: the output is text),
//!   and `slice` of a slice stops at its length (Go's capacity depends on how the pod was
//!   decoded).
//! - Limits: templates nest at most 100 levels deep, execution 200 levels, and `range` runs at
//!   most 10,000,000 iterations in all (`gotmpl`'s; Go has none but memory).
//!
//! Nothing panics: every failure is a typed error.

mod check;
mod error;
mod funcs;
mod literal;
mod rewrite;
mod value;

use std::fmt;

use gotmpl::parse::{Node, Parser};

pub use error::{ExecError, ParseError, TemplateError};
pub use value::{Data, Struct, Value};

/// The name templates are parsed under when no other is given (`{{ template "template" }}`
/// refers to the template itself).
pub const DEFAULT_NAME: &str = "template";

/// A parsed template.
#[derive(Clone)]
pub struct Template {
    name: String,
    source: String,
    program: gotmpl::Template,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Template {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.source == other.source
    }
}

impl Eq for Template {}

impl Template {
    /// Parses `source` under [`DEFAULT_NAME`].
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        Self::parse_named(DEFAULT_NAME, source)
    }

    /// Parses `source` as Go's `template.New(name).Parse(source)` does (SCM names its
    /// templates `spiffeIDTemplate`, `dnsNameTemplate`, `workloadSelectorTemplate`).
    pub fn parse_named(name: &str, source: &str) -> Result<Self, ParseError> {
        let parsed = gotmpl::Template::new(name)
            .parse(source)
            .map_err(ParseError::from_engine)?;
        check_structure(source)?;
        let root = match parsed.lookup(name) {
            Some(tree) => tree.clone(),
            // A root with no action (white space, comments, defines) is not kept by name, but
            // is printed as it is: take it from the parser.
            None => Parser::new(source, "{{", "}}")
                .and_then(Parser::parse)
                .map(|(tree, _)| tree)
                .map_err(ParseError::from_engine)?,
        };
        let mut program = funcs::install(gotmpl::Template::new(name));
        let mut trees = vec![(name, &root)];
        trees.extend(
            parsed
                .templates()
                .into_iter()
                .filter(|n| *n != name)
                .filter_map(|n| parsed.lookup(n).map(|t| (n, t))),
        );
        for (n, body) in trees {
            let mut tree = body.clone();
            check::tree(&mut tree, source)?;
            rewrite::list(&mut tree);
            program = program.add_parse_tree(n, tree);
        }
        Ok(Template {
            name: name.to_owned(),
            source: source.to_owned(),
            program,
        })
    }

    /// Executes the template with `data` as `.` (and `$`).
    pub fn render(&self, data: &Data) -> Result<String, ExecError> {
        funcs::clear_failure();
        self.program
            .execute_template_to_string(&self.name, &data.0)
            .map_err(|e| funcs::take_failure().unwrap_or_else(|| ExecError::from_engine(e)))
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The name it was parsed under.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Text appended to a template to see where `gotmpl`'s parser stops (see [`check_structure`]).
const END_PROBE: &str = "\u{0}spiffe-controller: end of template\u{0}";

/// Go refuses an `if`, `range`, `with` or `define` left open at the end (`unexpected EOF`) and
/// an `{{end}}` or `{{else}}` that closes nothing; `gotmpl`'s parser ends the template there
/// without an error. Parsed again with a text probe appended, a well-formed template ends with
/// the probe at its top level; otherwise the probe is inside an open block or never reached.
fn check_structure(source: &str) -> Result<(), ParseError> {
    let probed = format!("{source}{END_PROBE}");
    // Under a name no `define` uses, so that the probed root collides with none.
    let parsed = gotmpl::Template::new(PROBE_NAME)
        .parse(&probed)
        .map_err(ParseError::from_engine)?;
    match parsed.lookup(PROBE_NAME).and_then(|tree| tree.nodes.last()) {
        Some(Node::Text(t)) if t.text.ends_with(END_PROBE) => Ok(()),
        _ => Err(ParseError::Unbalanced),
    }
}

/// The name [`check_structure`] parses under.
const PROBE_NAME: &str = "\u{0}spiffe-controller: probe\u{0}";

/// Parses and renders in one step.
pub fn render(source: &str, data: &Data) -> Result<String, TemplateError> {
    Ok(Template::parse(source)?.render(data)?)
}

#[cfg(test)]
mod tests;
