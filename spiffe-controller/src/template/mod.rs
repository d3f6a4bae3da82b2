//! A small subset of Go's `text/template`, enough for SPIRE's `spiffeIDTemplate`,
//! `dnsNameTemplates` and `workloadSelectorTemplates`:
//!
//! - text and `{{ action }}`, with `{{-` / `-}}` trim markers and `{{/* comments */}}`;
//! - field chains from the data (`.PodMeta.Name`) or from `$`, map keys by field syntax
//!   (`.PodMeta.Labels.app`, `<no value>` when absent, as in Go);
//! - string (`"..."`, `` `...` ``), integer, `true`/`false`/`nil` literals, `( ... )`;
//! - pipelines (`{{ .PodMeta.Name | printf "%s-svc" }}`);
//! - the functions `index` (maps; a missing key gives `""`), `len`, `print`, `println`,
//!   `printf` (verbs `%s %v %d %q %%`).
//!
//! Control structures (`if`, `range`, `with`, ...), variables and other functions are refused
//! when the template is parsed, with a [`ParseError`] naming the construct and its offset.
//! Nothing panics: every failure is a typed error.

mod error;
mod exec;
mod lex;
mod parse;
mod value;

pub use error::{ExecError, ParseError, TemplateError};
pub use value::{Struct, Value};

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        let nodes = parse::parse(lex::lex(source)?)?;
        Ok(Template {
            source: source.to_owned(),
            nodes,
        })
    }

    /// Executes the template with `data` as `.` (and `$`).
    pub fn render(&self, data: &Value) -> Result<String, ExecError> {
        exec::render(&self.nodes, data)
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Parses and renders in one step.
pub fn render(source: &str, data: &Value) -> Result<String, TemplateError> {
    Ok(Template::parse(source)?.render(data)?)
}

#[cfg(test)]
mod tests;
