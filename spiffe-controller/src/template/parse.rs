//! From tokens to pipelines: `{{ .A.B }}`, `{{ index .PodMeta.Labels "app" }}`,
//! `{{ .PodMeta.Name | printf "%s-x" }}`, `{{ (index .M "k") }}`.

use super::error::ParseError;
use super::lex::{Piece, Tok, Token};

/// The functions this renderer defines (Go's builtins that make sense for strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func {
    /// `index item key...`
    Index,
    /// `print args...`
    Print,
    /// `println args...`
    Println,
    /// `printf format args...`
    Printf,
    /// `len item`
    Len,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "index" => Func::Index,
            "print" => Func::Print,
            "println" => Func::Println,
            "printf" => Func::Printf,
            "len" => Func::Len,
            _ => return None,
        })
    }
}

/// Go's keywords and builtins that this subset leaves out on purpose.
const UNSUPPORTED: &[&str] = &[
    "if", "else", "end", "range", "with", "define", "template", "block", "break", "continue",
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "html", "js", "urlquery", "call",
    "slice",
];

/// An operand or function of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// A function (only first in a command).
    Func(Func),
    /// `.` and a field chain after it (`.A.B` is `Field(["A", "B"])`).
    Field(Vec<String>),
    /// `$` and a field chain.
    Root(Vec<String>),
    /// A string literal.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `nil`.
    Nil,
    /// `( pipeline )` and a field chain after it.
    Sub(Box<Pipeline>, Vec<String>),
}

/// One stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    pub(crate) args: Vec<Arg>,
}

/// Commands joined by `|`: each result is the last argument of the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pipeline {
    pub(crate) commands: Vec<Command>,
}

/// A parsed template node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`.
    Action(Pipeline),
}

/// Parses lexed pieces into nodes.
pub(crate) fn parse(pieces: Vec<Piece>) -> Result<Vec<Node>, ParseError> {
    pieces
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => Ok(Node::Text(t)),
            Piece::Action { offset, tokens } => {
                let mut parser = Parser {
                    tokens: &tokens,
                    pos: 0,
                    action_offset: offset,
                };
                let pipeline = parser.pipeline(false)?;
                if let Some(t) = parser.peek() {
                    return Err(ParseError::UnbalancedParen { offset: t.offset });
                }
                Ok(Node::Action(pipeline))
            }
        })
        .collect()
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
    action_offset: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn here(&self) -> usize {
        self.peek().map_or(self.action_offset, |t| t.offset)
    }

    fn pipeline(&mut self, in_paren: bool) -> Result<Pipeline, ParseError> {
        let start = self.here();
        let mut commands = Vec::new();
        loop {
            let stage_at = self.here();
            let command = self.command()?;
            if command.args.is_empty() {
                return Err(ParseError::EmptyCommand { offset: stage_at });
            }
            if command.args.len() > 1 && !matches!(command.args[0], Arg::Func(_)) {
                return Err(ParseError::ArgumentToNonFunction { offset: stage_at });
            }
            if !commands.is_empty() && !matches!(command.args[0], Arg::Func(_)) {
                return Err(ParseError::NotExecutable {
                    offset: stage_at,
                    stage: commands.len() + 1,
                });
            }
            commands.push(command);
            match self.peek().map(|t| &t.kind) {
                Some(Tok::Pipe) => {
                    self.pos += 1;
                }
                Some(Tok::RParen) if in_paren => {
                    self.pos += 1;
                    break;
                }
                Some(Tok::RParen) => {
                    return Err(ParseError::UnbalancedParen {
                        offset: self.here(),
                    });
                }
                None if in_paren => {
                    return Err(ParseError::UnbalancedParen { offset: start });
                }
                None => break,
                Some(other) => {
                    return Err(ParseError::UnexpectedToken {
                        offset: self.here(),
                        found: other.describe(),
                    });
                }
            }
        }
        Ok(Pipeline { commands })
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let mut args = Vec::new();
        while let Some(t) = self.peek() {
            match &t.kind {
                Tok::Pipe | Tok::RParen => break,
                _ => {
                    let first = args.is_empty();
                    args.push(self.operand(first)?);
                }
            }
        }
        Ok(Command { args })
    }

    /// Field tokens directly after the current position (no space between): a chain.
    fn chain(&mut self) -> Vec<String> {
        let mut chain = Vec::new();
        while let Some(Token {
            kind: Tok::Field(name),
            space_before: false,
            ..
        }) = self.peek()
        {
            chain.push(name.clone());
            self.pos += 1;
        }
        chain
    }

    fn operand(&mut self, first: bool) -> Result<Arg, ParseError> {
        let Some(t) = self.peek().cloned() else {
            return Err(ParseError::EmptyCommand {
                offset: self.action_offset,
            });
        };
        self.pos += 1;
        match t.kind {
            Tok::Dot => {
                let chain = self.chain();
                Ok(Arg::Field(chain))
            }
            Tok::Field(name) => {
                let mut chain = vec![name];
                chain.extend(self.chain());
                Ok(Arg::Field(chain))
            }
            Tok::Var(name) => {
                if !name.is_empty() {
                    return Err(ParseError::Unsupported {
                        offset: t.offset,
                        what: format!("variable ${name}"),
                    });
                }
                if matches!(self.peek().map(|t| &t.kind), Some(Tok::Assign)) {
                    return Err(ParseError::Unsupported {
                        offset: t.offset,
                        what: "variable declaration".into(),
                    });
                }
                Ok(Arg::Root(self.chain()))
            }
            Tok::Ident(name) => match name.as_str() {
                "true" => Ok(Arg::Bool(true)),
                "false" => Ok(Arg::Bool(false)),
                "nil" => Ok(Arg::Nil),
                n if UNSUPPORTED.contains(&n) => Err(ParseError::Unsupported {
                    offset: t.offset,
                    what: format!("{n:?}"),
                }),
                n => match Func::from_name(n) {
                    Some(f) if first => Ok(Arg::Func(f)),
                    Some(_) => Err(ParseError::Unsupported {
                        offset: t.offset,
                        what: format!("function {n:?} as an argument (use parentheses)"),
                    }),
                    None => Err(ParseError::UnknownFunction {
                        offset: t.offset,
                        name: n.to_owned(),
                    }),
                },
            },
            Tok::Str(s) => Ok(Arg::Str(s)),
            Tok::Int(i) => Ok(Arg::Int(i)),
            Tok::LParen => {
                let inner = self.pipeline(true)?;
                let chain = self.chain();
                Ok(Arg::Sub(Box::new(inner), chain))
            }
            Tok::Assign => Err(ParseError::Unsupported {
                offset: t.offset,
                what: "variable declaration".into(),
            }),
            Tok::Pipe | Tok::RParen => Err(ParseError::UnexpectedToken {
                offset: t.offset,
                found: t.kind.describe(),
            }),
        }
    }
}
