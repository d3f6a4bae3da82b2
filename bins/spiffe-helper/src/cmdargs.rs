//! `cmd_args` split into an argument vector by spiffe-helper's rules, which are Go's
//! `encoding/csv` with a space as the separator, first record only:
//!
//! - every single space separates two arguments (two spaces make an empty argument between
//!   them; a leading or trailing space an empty first or last one);
//! - an argument that starts with `"` is quoted: it runs to the next lone `"`, spaces and
//!   newlines included, and `""` inside it is one literal `"`; the closing quote must be
//!   followed by a space or the end;
//! - a `"` inside an unquoted argument is an error, and so is an unterminated quote;
//! - single quotes and backslashes mean nothing;
//! - the first line ends the arguments (empty lines before it are skipped), as spiffe-helper
//!   reads one CSV record.

use thiserror::Error;

/// Why `cmd_args` cannot be split.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CmdArgsError {
    /// A `"` inside an argument that does not start with one.
    #[error(
        "bare \" in non-quoted argument {index} (column {column}); quote the whole argument and double the inner quote"
    )]
    BareQuote {
        /// The argument's position, from 0.
        index: usize,
        /// The quote's column, from 1, in characters.
        column: usize,
    },
    /// A quoted argument not closed, or its closing quote followed by something other than a
    /// space.
    #[error("extraneous or missing \" in quoted argument {index} (column {column})")]
    Quote {
        /// The argument's position, from 0.
        index: usize,
        /// Where the problem was seen, from 1, in characters.
        column: usize,
    },
    /// Nothing but line breaks.
    #[error("holds only line breaks, no arguments")]
    OnlyLineBreaks,
}

/// Splits `args`; an empty string is no arguments.
///
/// # Errors
///
/// [`CmdArgsError`] naming the argument and column of a misplaced quote.
pub fn split(args: &str) -> Result<Vec<String>, CmdArgsError> {
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let normalized = args.replace("\r\n", "\n");
    let chars: Vec<char> = normalized.chars().collect();
    let mut pos = 0;
    // Empty lines before the record are skipped.
    while chars.get(pos) == Some(&'\n') {
        pos += 1;
    }
    if pos == chars.len() {
        return Err(CmdArgsError::OnlyLineBreaks);
    }
    let mut out = Vec::new();
    loop {
        let index = out.len();
        let mut field = String::new();
        if chars.get(pos) == Some(&'"') {
            pos += 1;
            loop {
                match chars.get(pos) {
                    None => {
                        return Err(CmdArgsError::Quote {
                            index,
                            column: pos + 1,
                        });
                    }
                    Some('"') => match chars.get(pos + 1) {
                        Some('"') => {
                            field.push('"');
                            pos += 2;
                        }
                        Some(' ') => {
                            pos += 2;
                            out.push(field);
                            break;
                        }
                        None | Some('\n') => {
                            out.push(field);
                            return Ok(out);
                        }
                        Some(_) => {
                            return Err(CmdArgsError::Quote {
                                index,
                                column: pos + 2,
                            });
                        }
                    },
                    Some(c) => {
                        field.push(*c);
                        pos += 1;
                    }
                }
            }
        } else {
            loop {
                match chars.get(pos) {
                    None | Some('\n') => {
                        out.push(field);
                        return Ok(out);
                    }
                    Some(' ') => {
                        pos += 1;
                        out.push(field);
                        break;
                    }
                    Some('"') => {
                        return Err(CmdArgsError::BareQuote {
                            index,
                            column: pos + 1,
                        });
                    }
                    Some(c) => {
                        field.push(*c);
                        pos += 1;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn ok(s: &str) -> Vec<String> {
        split(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn spaces_separate_and_every_space_counts() {
        assert_eq!(ok(""), Vec::<String>::new());
        assert_eq!(ok("start_envoy.sh"), ["start_envoy.sh"]);
        assert_eq!(
            ok("server --listen localhost:8002 --target localhost:8001"),
            [
                "server",
                "--listen",
                "localhost:8002",
                "--target",
                "localhost:8001"
            ]
        );
        assert_eq!(ok("a  b"), ["a", "", "b"]);
        assert_eq!(ok(" a"), ["", "a"]);
        assert_eq!(ok("a "), ["a", ""]);
    }

    #[test]
    fn double_quotes_group_and_doubled_quotes_are_literal() {
        // The examples of spiffe-helper's README.
        assert_eq!(ok("\"this is one argument\""), ["this is one argument"]);
        assert_eq!(
            ok("\"this is a single argument with ONE double-quote \"\" in it\""),
            ["this is a single argument with ONE double-quote \" in it"]
        );
        assert_eq!(ok("-c \"echo hello\""), ["-c", "echo hello"]);
        assert_eq!(
            ok("-e \"ALTER INSTANCE RELOAD TLS;\""),
            ["-e", "ALTER INSTANCE RELOAD TLS;"]
        );
        assert_eq!(ok("\"\" x"), ["", "x"]);
        assert_eq!(ok("\"a\nb\" c"), ["a\nb", "c"]);
    }

    #[test]
    fn single_quotes_and_backslashes_are_plain_characters() {
        assert_eq!(
            ok("-c 'echo hello world'"),
            ["-c", "'echo", "hello", "world'"]
        );
        assert_eq!(ok("a\\ b"), ["a\\", "b"]);
    }

    #[test]
    fn misplaced_quotes_are_errors_naming_where() {
        assert_eq!(
            split("ab\"c").unwrap_err(),
            CmdArgsError::BareQuote {
                index: 0,
                column: 3
            }
        );
        assert_eq!(
            split("x \"open").unwrap_err(),
            CmdArgsError::Quote {
                index: 1,
                column: 8
            }
        );
        assert_eq!(
            split("\"a\"b").unwrap_err(),
            CmdArgsError::Quote {
                index: 0,
                column: 4
            }
        );
        assert_eq!(split("\n\n").unwrap_err(), CmdArgsError::OnlyLineBreaks);
    }

    #[test]
    fn only_the_first_line_is_read() {
        assert_eq!(ok("a b\nc d"), ["a", "b"]);
        assert_eq!(ok("\n\na b"), ["a", "b"]);
        assert_eq!(ok("a b\r\nc"), ["a", "b"]);
    }
}
