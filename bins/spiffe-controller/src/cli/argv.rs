//! SPIRE's single-dash flags (`-trustDomain x`, `-resyncInterval=5s`) rewritten to the
//! `--long` forms clap parses, as the other binaries do: every token of more than one
//! character that starts with a single `-` becomes `--...`, except values of flags that take
//! one, negative numbers, and everything after `--`. One-letter flags (`-f`) stay.

use std::collections::HashSet;
use std::ffi::OsString;

use clap::Command;

/// The long names (and aliases) of every flag in `cmd` and its subcommands that takes a value
/// in the next token.
pub(crate) fn value_flags(cmd: &Command) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut stack = vec![cmd];
    while let Some(c) = stack.pop() {
        for arg in c.get_arguments() {
            let takes_next = arg.get_action().takes_values()
                && !arg.is_require_equals_set()
                && arg.get_num_args().is_none_or(|n| n.min_values() > 0);
            if !takes_next {
                continue;
            }
            if let Some(long) = arg.get_long() {
                out.insert(long.to_owned());
            }
            if let Some(aliases) = arg.get_all_aliases() {
                out.extend(aliases.into_iter().map(str::to_owned));
            }
        }
        stack.extend(c.get_subcommands());
    }
    out
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().any(|b| b.is_ascii_digit())
}

/// Rewrites SPIRE-style arguments for clap. `args` includes the program name.
pub(crate) fn normalize(args: Vec<OsString>, value_flags: &HashSet<String>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    out.extend(iter.next());
    let mut expect_value = false;
    let mut verbatim = false;
    for arg in iter {
        if verbatim || expect_value {
            expect_value = false;
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            verbatim = true;
            out.push(arg);
            continue;
        }
        let long = if let Some(body) = s.strip_prefix("--") {
            Some(body)
        } else if let Some(body) = s.strip_prefix('-') {
            let name = body.split_once('=').map_or(body, |(n, _)| n);
            (name.chars().count() > 1 && !is_number(s)).then_some(body)
        } else {
            None
        };
        match long {
            Some(body) => {
                expect_value = !body.contains('=') && value_flags.contains(body);
                out.push(OsString::from(format!("--{body}")));
            }
            None => {
                // `-f file`: a short flag whose value follows.
                expect_value = s.len() == 2 && s.starts_with('-') && s != "-";
                out.push(arg);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        let flags: HashSet<String> = ["trustDomain", "resyncInterval", "f"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        let args = std::iter::once("prog")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        normalize(args, &flags)
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap_or_default())
            .collect()
    }

    #[test]
    fn single_dash_becomes_long() {
        assert_eq!(
            norm(&[
                "run",
                "-trustDomain",
                "-x",
                "-resyncInterval=5s",
                "--watchClassless"
            ]),
            [
                "run",
                "--trustDomain",
                "-x",
                "--resyncInterval=5s",
                "--watchClassless"
            ]
        );
        assert_eq!(
            norm(&["render", "-f", "-abc", "-f", "b.yaml"]),
            ["render", "-f", "-abc", "-f", "b.yaml"]
        );
        assert_eq!(norm(&["--", "-x"]), ["--", "-x"]);
    }
}
