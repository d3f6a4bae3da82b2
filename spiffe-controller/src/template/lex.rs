//! Splitting a template into text and actions, and an action into tokens.

use super::error::ParseError;

/// A lexical piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Literal text, with trim markers applied.
    Text(String),
    /// An action's tokens (comments produce no piece).
    Action {
        /// Byte offset of the `{{`.
        offset: usize,
        /// Its tokens.
        tokens: Vec<Token>,
    },
}

/// A token of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    /// Byte offset in the template.
    pub(crate) offset: usize,
    /// Whether white space separates it from the token before.
    pub(crate) space_before: bool,
    /// What it is.
    pub(crate) kind: Tok,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `.`
    Dot,
    /// `.Name`
    Field(String),
    /// `$` or `$name`
    Var(String),
    /// A bare word: a function, keyword or `true`/`false`/`nil`.
    Ident(String),
    /// A string literal's value.
    Str(String),
    /// An integer literal.
    Int(i64),
    /// `|`
    Pipe,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `:=` or `=`
    Assign,
}

impl Tok {
    /// The token as written, roughly, for messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Dot => "\".\"".into(),
            Tok::Field(f) => format!("field \".{f}\""),
            Tok::Var(v) => format!("variable \"${v}\""),
            Tok::Ident(i) => format!("{i:?}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Int(i) => format!("number {i}"),
            Tok::Pipe => "\"|\"".into(),
            Tok::LParen => "\"(\"".into(),
            Tok::RParen => "\")\"".into(),
            Tok::Assign => "\":=\"".into(),
        }
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits `src` into pieces.
pub(crate) fn lex(src: &str) -> Result<Vec<Piece>, ParseError> {
    let mut pieces = Vec::new();
    let mut pos = 0;
    let mut trim_next = false;
    while pos <= src.len() {
        let Some(found) = src[pos..].find("{{") else {
            let mut text = &src[pos..];
            if trim_next {
                text = text.trim_start();
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(text.to_owned()));
            }
            break;
        };
        let start = pos + found;
        let mut text = &src[pos..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = start + 2;
        let left_trim = src[inner..].starts_with('-')
            && src[inner + 1..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_whitespace());
        if left_trim {
            text = text.trim_end();
            inner += 1;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text.to_owned()));
        }
        let (action, end, right_trim) = lex_action(src, start, inner)?;
        if let Some(tokens) = action {
            pieces.push(Piece::Action {
                offset: start,
                tokens,
            });
        }
        trim_next = right_trim;
        pos = end;
    }
    Ok(pieces)
}

/// Whether the action closes at `i`: `}}`, or white space then `-}}` (trim). Returns the
/// position after the delimiter and whether it trims.
fn close_at(src: &str, i: usize) -> Option<(usize, bool)> {
    let rest = &src[i..];
    if rest.starts_with("}}") {
        return Some((i + 2, false));
    }
    let ws = rest.len()
        - rest
            .trim_start_matches(|c: char| c.is_ascii_whitespace())
            .len();
    if ws > 0 && rest[ws..].starts_with("-}}") {
        return Some((i + ws + 3, true));
    }
    None
}

/// Lexes the action whose `{{` is at `start` and whose content starts at `inner`. Returns its
/// tokens (`None` for a comment), the position after it, and whether it trims what follows.
#[allow(clippy::type_complexity)]
fn lex_action(
    src: &str,
    start: usize,
    inner: usize,
) -> Result<(Option<Vec<Token>>, usize, bool), ParseError> {
    let mut i = inner;
    // A comment: `{{/* ... */}}`, with optional trim markers and space around it.
    let after_ws = i + (src[i..].len() - src[i..].trim_start().len());
    if src[after_ws..].starts_with("/*") {
        let Some(close) = src[after_ws + 2..].find("*/") else {
            return Err(ParseError::UnclosedComment { offset: after_ws });
        };
        let j = after_ws + 2 + close + 2;
        return match close_at(src, j) {
            Some((end, trim)) => Ok((None, end, trim)),
            None => Err(ParseError::CommentNotAlone { offset: after_ws }),
        };
    }
    let mut tokens = Vec::new();
    let mut space_before = true;
    loop {
        if i >= src.len() {
            return Err(ParseError::UnclosedAction { offset: start });
        }
        if let Some((end, trim)) = close_at(src, i) {
            return Ok((Some(tokens), end, trim));
        }
        let rest = &src[i..];
        let Some(c) = rest.chars().next() else {
            return Err(ParseError::UnclosedAction { offset: start });
        };
        if c.is_whitespace() {
            i += c.len_utf8();
            space_before = true;
            continue;
        }
        let offset = i;
        let (kind, len) = match c {
            '|' => (Tok::Pipe, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '=' => (Tok::Assign, 1),
            ':' if rest.starts_with(":=") => (Tok::Assign, 2),
            '.' => {
                let name: String = rest[1..]
                    .chars()
                    .take_while(|c| is_ident_char(*c))
                    .collect();
                if name.is_empty() {
                    (Tok::Dot, 1)
                } else {
                    let len = 1 + name.len();
                    (Tok::Field(name), len)
                }
            }
            '$' => {
                let name: String = rest[1..]
                    .chars()
                    .take_while(|c| is_ident_char(*c))
                    .collect();
                let len = 1 + name.len();
                (Tok::Var(name), len)
            }
            '"' => lex_quoted(src, i)?,
            '`' => match rest[1..].find('`') {
                Some(close) => (Tok::Str(rest[1..1 + close].to_owned()), close + 2),
                None => return Err(ParseError::UnterminatedString { offset }),
            },
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+')
                    && rest[1..].chars().next().is_some_and(|d| d.is_ascii_digit())) =>
            {
                let digits = rest[1..]
                    .chars()
                    .take_while(|d| d.is_ascii_alphanumeric() || *d == '_' || *d == '.')
                    .count();
                let text = &rest[..1 + digits];
                let value = text.parse::<i64>().map_err(|_| ParseError::BadNumber {
                    offset,
                    text: text.to_owned(),
                })?;
                (Tok::Int(value), text.len())
            }
            c if is_ident_start(c) => {
                let name: String = rest.chars().take_while(|c| is_ident_char(*c)).collect();
                let len = name.len();
                (Tok::Ident(name), len)
            }
            other => {
                return Err(ParseError::UnexpectedChar {
                    offset,
                    found: other,
                });
            }
        };
        tokens.push(Token {
            offset,
            space_before,
            kind,
        });
        space_before = false;
        i += len;
    }
}

/// An interpreted string literal starting at `start` (the `"`): its value and length.
fn lex_quoted(src: &str, start: usize) -> Result<(Tok, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Ok((Tok::Str(out), at + 2)),
            '\n' => break,
            '\\' => {
                let esc_at = start + 1 + at;
                let Some((_, e)) = chars.next() else { break };
                let simple = match e {
                    '\\' => Some('\\'),
                    '"' => Some('"'),
                    '\'' => Some('\''),
                    'n' => Some('\n'),
                    't' => Some('\t'),
                    'r' => Some('\r'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'v' => Some('\u{b}'),
                    _ => None,
                };
                if let Some(s) = simple {
                    out.push(s);
                    continue;
                }
                let digits = match e {
                    'x' => 2,
                    'u' => 4,
                    'U' => 8,
                    _ => 0,
                };
                let bad = |n: usize| ParseError::BadEscape {
                    offset: esc_at,
                    escape: src[esc_at..].chars().take(n).collect::<String>(),
                };
                if digits == 0 {
                    return Err(bad(2));
                }
                let hex: String = (0..digits)
                    .filter_map(|_| chars.next().map(|(_, h)| h))
                    .collect();
                let value = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == digits)
                    .and_then(char::from_u32)
                    .ok_or_else(|| bad(2 + digits))?;
                out.push(value);
            }
            c => out.push(c),
        }
    }
    Err(ParseError::UnterminatedString { offset: start })
}
