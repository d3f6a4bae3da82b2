//! Why a template did not parse or did not execute.

use thiserror::Error;

/// What is wrong in a template's text; the offset is a byte offset into the template.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// `{{` without a matching `}}`.
    #[error("unclosed action starting at offset {offset}")]
    UnclosedAction {
        /// Where the action starts.
        offset: usize,
    },
    /// `{{/*` without `*/}}`.
    #[error("unclosed comment starting at offset {offset}")]
    UnclosedComment {
        /// Where the comment starts.
        offset: usize,
    },
    /// A comment followed by something other than the end of the action.
    #[error("comment at offset {offset} must be the whole action")]
    CommentNotAlone {
        /// Where the comment starts.
        offset: usize,
    },
    /// A string literal without its closing quote.
    #[error("unterminated string literal at offset {offset}")]
    UnterminatedString {
        /// Where the literal starts.
        offset: usize,
    },
    /// A backslash escape Go does not know.
    #[error("invalid escape {escape:?} in string literal at offset {offset}")]
    BadEscape {
        /// Where the escape starts.
        offset: usize,
        /// The escape as written.
        escape: String,
    },
    /// A character that starts no token.
    #[error("unexpected {found:?} in action at offset {offset}")]
    UnexpectedChar {
        /// Where.
        offset: usize,
        /// The character.
        found: char,
    },
    /// A token where it cannot stand.
    #[error("unexpected {found} in action at offset {offset}")]
    UnexpectedToken {
        /// Where.
        offset: usize,
        /// The token, as written.
        found: String,
    },
    /// `{{ }}` or `{{ a | }}`: a pipeline stage with nothing in it.
    #[error("missing value in action at offset {offset}")]
    EmptyCommand {
        /// Where the action or stage starts.
        offset: usize,
    },
    /// `(` without `)` or `)` without `(`.
    #[error("unbalanced parenthesis in action at offset {offset}")]
    UnbalancedParen {
        /// Where.
        offset: usize,
    },
    /// A function this renderer does not define.
    #[error("function {name:?} not defined (at offset {offset})")]
    UnknownFunction {
        /// Where.
        offset: usize,
        /// The name.
        name: String,
    },
    /// Control structures and variables (`if`, `range`, `with`, `$x :=`, ...) are outside the
    /// subset this renderer implements.
    #[error("{what} is not supported in these templates (at offset {offset})")]
    Unsupported {
        /// Where.
        offset: usize,
        /// The construct.
        what: String,
    },
    /// Arguments after a value that is not a function (`{{ .A "x" }}`).
    #[error("can't give argument to non-function at offset {offset}")]
    ArgumentToNonFunction {
        /// Where.
        offset: usize,
    },
    /// A later pipeline stage that is not a function call (`{{ .A | .B }}`).
    #[error("non executable command in pipeline stage {stage} (at offset {offset})")]
    NotExecutable {
        /// Where.
        offset: usize,
        /// 1-based stage number.
        stage: usize,
    },
    /// A number literal that does not fit.
    #[error("invalid number {text:?} at offset {offset}")]
    BadNumber {
        /// Where.
        offset: usize,
        /// The literal.
        text: String,
    },
}

/// What went wrong while executing a parsed template against its data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExecError {
    /// `.Foo` on a value that has no field `Foo`.
    #[error("can't evaluate field {field} in type {type_name}")]
    NoField {
        /// The field asked for.
        field: String,
        /// The type it was asked of.
        type_name: String,
    },
    /// A field of a nil value.
    #[error("nil pointer evaluating {type_name}.{field}")]
    NilPointer {
        /// The field asked for.
        field: String,
        /// The type.
        type_name: String,
    },
    /// `index` of something that is not a map.
    #[error("can't index item of type {type_name}")]
    NotIndexable {
        /// The type.
        type_name: String,
    },
    /// `index` of a map with a key that is not a string.
    #[error("index: value has type {found}; should be string")]
    IndexKey {
        /// The key's type.
        found: String,
    },
    /// A function called with the wrong number of arguments.
    #[error("wrong number of args for {function}: want {want} got {got}")]
    WrongArgCount {
        /// The function.
        function: &'static str,
        /// What it takes.
        want: &'static str,
        /// What it was given.
        got: usize,
    },
    /// `len` of a value without a length.
    #[error("len of type {type_name}")]
    NoLen {
        /// The type.
        type_name: String,
    },
    /// `printf` with a format that is not a string.
    #[error("printf: format has type {found}; should be string")]
    FormatNotString {
        /// The format's type.
        found: String,
    },
    /// A `printf` verb outside `%s %v %d %q %%`, or a verb without an argument.
    #[error("printf: {reason} in format {format:?}")]
    BadFormat {
        /// The format.
        format: String,
        /// What is wrong.
        reason: String,
    },
}

/// A template that failed, at either stage.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The text is not a valid template.
    #[error("template: {0}")]
    Parse(#[from] ParseError),
    /// Executing it failed.
    #[error("executing template: {0}")]
    Exec(#[from] ExecError),
}
