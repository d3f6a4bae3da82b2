//! Why a template did not parse or did not execute.

use thiserror::Error;

/// What is wrong in a template's text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Not Go template syntax (unclosed action, unexpected token, bad literal, ...), as
    /// `gotmpl`'s parser words it; `line` and `column` are 1-based.
    #[error("template: {line}:{column}: {message}")]
    Syntax {
        /// The line.
        line: usize,
        /// The column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A function Go's `text/template` does not define (only its builtins are available).
    #[error("template: function {name:?} not defined")]
    UndefinedFunction {
        /// The name.
        name: String,
    },
    /// A variable used where no variable of that name is declared.
    #[error("template: undefined variable {name:?}")]
    UndefinedVariable {
        /// The name, with its `$`.
        name: String,
    },
    /// `{{break}}` or `{{continue}}` outside the body of a `{{range}}`.
    #[error("template: {{{{{keyword}}}}} outside {{{{range}}}}")]
    OutsideRange {
        /// `break` or `continue`.
        keyword: &'static str,
    },
    /// A string or character literal Go refuses (a newline or an unknown escape in it, an
    /// escape of no character).
    #[error("template: bad literal: {reason}")]
    BadLiteral {
        /// What is wrong.
        reason: &'static str,
    },
    /// A string literal whose bytes are not UTF-8 (`"\xff"`): Go takes it, but what it prints
    /// would not be text.
    #[error("template: string literal is not UTF-8")]
    NotUtf8Literal,
    /// A name (function, field, variable, `.`, `true`, `nil`) followed by a character that
    /// cannot end it (`{{ index$x }}`: Go wants white space, `.`, `,`, `|`, `:`, `(`, `)` or
    /// the end of the action), or two operands without white space between them
    /// (`{{ print .A"x" }}`, `{{ len(.A) }}`).
    #[error("template: unexpected character at offset {offset}")]
    BadCharacter {
        /// The byte offset of the character.
        offset: usize,
    },
    /// Actions nested more than 100 deep (`gotmpl`'s limit; Go has none).
    #[error("template: nested more than 100 levels deep")]
    TooDeep,
    /// An `if`, `range`, `with`, `define` or `block` left open at the end of the template, or
    /// an `{{end}}` or `{{else}}` that closes nothing.
    #[error("template: unexpected EOF, or {{{{end}}}} or {{{{else}}}} outside a block")]
    Unbalanced,
}

/// What went wrong while executing a parsed template against its data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ExecError {
    /// `.Foo` of a value that has no field `Foo`.
    #[error("can't evaluate field {field} in type {type_name}")]
    NoField {
        /// The field asked for.
        field: String,
        /// The type it was asked of.
        type_name: String,
    },
    /// `.Foo` of a nil pointer.
    #[error("nil pointer evaluating field {field}")]
    NilPointer {
        /// The field asked for.
        field: String,
    },
    /// A missing value (`.Labels.absent`) or `nil` where a function needs a value (`index`,
    /// `slice`, `len`, `lt`, ...).
    #[error("{function}: invalid value; expected a value, got a missing key or nil")]
    InvalidArgument {
        /// The function.
        function: &'static str,
    },
    /// An assignment (`$x = ...`) to a variable that was never declared.
    #[error("undefined variable: {name}")]
    UndeclaredVariable {
        /// The name, with its `$`.
        name: String,
    },
    /// A function called with the wrong number of arguments.
    #[error("wrong number of args for {function}: want {want} got {got}")]
    WrongArgCount {
        /// The function.
        function: String,
        /// What it takes.
        want: String,
        /// What it was given.
        got: usize,
    },
    /// `index` or `slice` of a value that has no elements (a struct, a number, a nil pointer).
    #[error("{function}: can't index item of type {type_name}")]
    NotIndexable {
        /// `index` or `slice`.
        function: &'static str,
        /// The item's type.
        type_name: String,
    },
    /// An index that is not an integer, or a map key that is not a string.
    #[error("{function}: cannot index with {found} (want {want})")]
    BadIndex {
        /// `index` or `slice`.
        function: &'static str,
        /// The index's type.
        found: String,
        /// What was expected.
        want: &'static str,
    },
    /// An index or slice bound outside the item.
    #[error("{function}: index out of range: {index} (length {length})")]
    IndexOutOfRange {
        /// `index` or `slice`.
        function: &'static str,
        /// The index.
        index: i64,
        /// The item's length.
        length: usize,
    },
    /// `slice x i j` with `i > j` (or `j > k`).
    #[error("slice: invalid slice index: {low} > {high}")]
    InvertedSlice {
        /// The lower bound.
        low: usize,
        /// The upper bound.
        high: usize,
    },
    /// `slice` with more than three indexes, or three of a string.
    #[error("slice: {reason}")]
    BadSlice {
        /// What is wrong.
        reason: &'static str,
    },
    /// `slice` of a string cutting a UTF-8 character in two (Go would produce invalid UTF-8;
    /// a rendered SPIFFE ID, DNS name or selector is text).
    #[error("slice: [{low}:{high}] splits a UTF-8 character of the string")]
    SplitsCharacter {
        /// The lower bound.
        low: usize,
        /// The upper bound.
        high: usize,
    },
    /// `len` of a value without a length.
    #[error("len of type {type_name}")]
    NoLength {
        /// The type.
        type_name: String,
    },
    /// A comparison of values of different kinds, or of a kind `lt`/`eq` cannot order or
    /// compare.
    #[error("{function}: incompatible types for comparison: {left} and {right}")]
    Incomparable {
        /// The function.
        function: &'static str,
        /// The first operand's type.
        left: String,
        /// The other operand's type.
        right: String,
    },
    /// `range` over a value that is not a slice, map or integer.
    #[error("range can't iterate over {type_name}")]
    NotIterable {
        /// The type.
        type_name: String,
    },
    /// Templates, `if`, `with` and `range` nested more than 200 deep when executed
    /// (`gotmpl`'s limit; Go's is 100,000 template calls).
    #[error("execution nested more than 200 levels deep")]
    DepthLimit,
    /// `range` ran 10,000,000 iterations in all (`gotmpl`'s limit; Go has none).
    #[error("range ran out of its 10,000,000 iterations")]
    RangeLimit,
    /// The engine (`gotmpl`) refused: an undefined template, a function value misused, a
    /// `printf` format that is not a string, `nil` as a command, ...
    #[error("{message}")]
    Engine {
        /// What it said.
        message: String,
    },
}

/// A template that failed, at either stage.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The text is not a valid template.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Executing it failed.
    #[error("executing template: {0}")]
    Exec(#[from] ExecError),
}

impl ParseError {
    /// `gotmpl`'s parse error, typed.
    pub(super) fn from_engine(e: gotmpl::TemplateError) -> Self {
        match e {
            gotmpl::TemplateError::Parse { message, .. }
                if message.starts_with("template nesting depth exceeded") =>
            {
                ParseError::TooDeep
            }
            gotmpl::TemplateError::Parse {
                line, col, message, ..
            }
            | gotmpl::TemplateError::Lex {
                line, col, message, ..
            } => ParseError::Syntax {
                line,
                column: col,
                message,
            },
            other => ParseError::Syntax {
                line: 0,
                column: 0,
                message: other.to_string(),
            },
        }
    }
}

impl ExecError {
    /// `gotmpl`'s execution error, typed where it has a type of ours.
    pub(super) fn from_engine(e: gotmpl::TemplateError) -> Self {
        match e {
            gotmpl::TemplateError::ArgCount {
                name,
                expected,
                got,
            } => ExecError::WrongArgCount {
                function: name,
                want: expected.to_string(),
                got,
            },
            gotmpl::TemplateError::NotIterable(type_name) => ExecError::NotIterable { type_name },
            gotmpl::TemplateError::RecursionLimit => ExecError::DepthLimit,
            gotmpl::TemplateError::RangeIterLimit => ExecError::RangeLimit,
            other => ExecError::Engine {
                message: other.to_string(),
            },
        }
    }
}
