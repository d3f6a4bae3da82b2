//! SPIRE's single-dash flags (`-spiffeID x`, `-ttl=60`) rewritten to the `--long` forms clap
//! parses, before clap sees them.
//!
//! Go's `flag` package accepts `-name`, `-name=value`, `--name` and `--name=value`. Here every
//! token of more than one character that starts with a single `-` becomes `--...`, except:
//! values of flags that take one (so `-hint -x` keeps `-x`), negative numbers (`-ttl -5` stays
//! a value for the validation to refuse), and everything after `--`.

use std::collections::HashSet;
use std::ffi::OsString;

use clap::Command;

/// The long names (and aliases) and one-letter names of every flag in `cmd` and its
/// subcommands that takes a value in the next token.
pub fn value_flags(cmd: &Command) -> HashSet<String> {
    let mut out = HashSet::new();
    collect(cmd, &mut out);
    out
}

fn collect(cmd: &Command, out: &mut HashSet<String>) {
    for arg in cmd.get_arguments() {
        let takes_next = arg.get_action().takes_values()
            && !arg.is_require_equals_set()
            && arg.get_num_args().is_none_or(|n| n.min_values() > 0);
        if !takes_next {
            continue;
        }
        if let Some(long) = arg.get_long() {
            out.insert(long.to_owned());
        }
        // One-letter names cannot collide with long ones, which have more than one.
        if let Some(short) = arg.get_short() {
            out.insert(short.to_string());
        }
        if let Some(aliases) = arg.get_all_aliases() {
            out.extend(aliases.into_iter().map(str::to_owned));
        }
    }
    for sub in cmd.get_subcommands() {
        collect(sub, out);
    }
}

/// Whether `s` reads as a number (`-5`, `-1.5`): such tokens are values, never flags.
fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().any(|b| b.is_ascii_digit())
}

/// Rewrites SPIRE-style arguments for clap. `args` includes the program name.
pub fn normalize(args: Vec<OsString>, value_flags: &HashSet<String>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter();
    if let Some(program) = iter.next() {
        out.push(program);
    }
    let mut expect_value = false;
    let mut rest_verbatim = false;
    for arg in iter {
        if rest_verbatim || expect_value {
            expect_value = false;
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            rest_verbatim = true;
            out.push(arg);
            continue;
        }
        let long = if let Some(body) = s.strip_prefix("--") {
            Some(body)
        } else if let Some(body) = s.strip_prefix('-') {
            let name = body.split_once('=').map_or(body, |(n, _)| n);
            if name.chars().count() > 1 && !is_number(s) {
                Some(body)
            } else {
                None
            }
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
                expect_value = s
                    .strip_prefix('-')
                    .is_some_and(|c| c.chars().count() == 1 && value_flags.contains(c));
                out.push(arg);
            }
        }
    }
    out
}

/// The bare name (`spiffeID`) of a flag as clap renders it (`--spiffeID <ID>`,
/// `--admin[=<ADMIN>]`).
pub fn flag_name(rendered: &str) -> &str {
    let name = rendered.trim_start_matches('-');
    name.split_once([' ', '=', '[']).map_or(name, |(n, _)| n)
}

/// All names of the flag `name` (its long name and aliases) anywhere in `cmd`.
pub fn flag_names(cmd: &Command, name: &str) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    let mut stack = vec![cmd];
    while let Some(c) = stack.pop() {
        for arg in c.get_arguments() {
            if arg.get_long() == Some(name) {
                if let Some(aliases) = arg.get_all_aliases() {
                    names.extend(aliases.into_iter().map(str::to_owned));
                }
                return names;
            }
        }
        stack.extend(c.get_subcommands());
    }
    names
}

/// The flag as the user typed it (`-ttl` for clap's `--x509SVIDTTL`), for error messages: the
/// last argument whose name is one of `names`.
pub fn as_typed(args: &[OsString], names: &[String]) -> String {
    args.iter()
        .skip(1)
        .rev()
        .filter_map(|a| a.to_str())
        .map(|a| a.split_once('=').map_or(a, |(n, _)| n))
        .find(|a| a.starts_with('-') && names.iter().any(|n| n == a.trim_start_matches('-')))
        .map_or_else(
            || format!("-{}", names.first().map_or("", String::as_str)),
            str::to_owned,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_flags_stay_and_keep_their_values() {
        let cmd = Command::new("prog").subcommand(
            Command::new("render")
                .arg(clap::Arg::new("file").short('f').num_args(1))
                .arg(
                    clap::Arg::new("trustDomain")
                        .long("trustDomain")
                        .num_args(1),
                ),
        );
        let flags = value_flags(&cmd);
        assert!(flags.contains("f") && flags.contains("trustDomain"));
        let args = [
            "prog",
            "render",
            "-f",
            "-abc",
            "-f",
            "b.yaml",
            "-trustDomain",
            "-x",
        ]
        .map(OsString::from)
        .to_vec();
        let got: Vec<String> = normalize(args, &flags)
            .into_iter()
            .map(|a| a.into_string().unwrap_or_default())
            .collect();
        assert_eq!(
            got,
            [
                "prog",
                "render",
                "-f",
                "-abc",
                "-f",
                "b.yaml",
                "--trustDomain",
                "-x"
            ]
        );
    }

    fn norm(args: &[&str]) -> Vec<String> {
        let flags: HashSet<String> = ["spiffeID", "ttl", "hint", "selector", "spiffe-id"]
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
                "entry",
                "create",
                "-spiffeID",
                "spiffe://a/b",
                "-ttl=60",
                "-admin"
            ]),
            [
                "entry",
                "create",
                "--spiffeID",
                "spiffe://a/b",
                "--ttl=60",
                "--admin"
            ]
        );
    }

    #[test]
    fn values_are_left_alone() {
        assert_eq!(norm(&["-hint", "-x"]), ["--hint", "-x"]);
        assert_eq!(norm(&["-ttl", "-5"]), ["--ttl", "-5"]);
        assert_eq!(norm(&["-admin", "-5"]), ["--admin", "-5"]);
        assert_eq!(norm(&["-data", "-"]), ["--data", "-"]);
        assert_eq!(norm(&["--", "-x"]), ["--", "-x"]);
        assert_eq!(norm(&["-h"]), ["-h"]);
        assert_eq!(norm(&["--spiffe-id", "-y"]), ["--spiffe-id", "-y"]);
    }

    #[test]
    fn typed_form_is_recovered() {
        let args: Vec<OsString> = ["prog", "entry", "-fooBar=1", "--ttl", "x"]
            .into_iter()
            .map(OsString::from)
            .collect();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(as_typed(&args, &names(&["fooBar"])), "-fooBar");
        assert_eq!(as_typed(&args, &names(&["x509SVIDTTL", "ttl"])), "--ttl");
        assert_eq!(as_typed(&args, &names(&["other"])), "-other");
        assert_eq!(flag_name("--admin[=<ADMIN>]"), "admin");
        assert_eq!(flag_name("--spiffeID <ID>"), "spiffeID");
    }
}
