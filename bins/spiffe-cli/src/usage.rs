//! clap's side: value flags accept values that start with `-` (as Go's `flag` does), and parse
//! errors become one line naming the flag as it was typed: `Error: ...` for `run` and
//! `validate`, the bare message for `api` and `healthcheck` (SPIRE's agent prints those raw).

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Command;
use clap::error::{ContextKind, ContextValue, Error, ErrorKind};

use crate::argv;
use crate::output;

/// Lets every flag that takes one value take one starting with `-` (`-hint -x`, `-ttl -5`).
pub fn prepare(cmd: Command) -> Command {
    let cmd = cmd.mut_args(|arg| {
        let single = arg.get_num_args().is_none_or(|n| n.min_values() == 1);
        if arg.get_action().takes_values() && single && !arg.is_require_equals_set() {
            arg.allow_hyphen_values(true)
        } else {
            arg
        }
    });
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .collect();
    names
        .iter()
        .fold(cmd, |cmd, name| cmd.mut_subcommand(name, prepare))
}

fn context(e: &Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    }
}

/// The one-line message of a parse error.
fn message(e: &Error, args: &[OsString], cmd: &Command) -> String {
    let typed = |rendered: &str| {
        let name = argv::flag_name(rendered);
        argv::as_typed(args, &argv::flag_names(cmd, name))
    };
    let arg = context(e, ContextKind::InvalidArg);
    match (e.kind(), arg) {
        (ErrorKind::UnknownArgument, Some(a)) if !a.starts_with('-') => {
            format!("unexpected argument {a:?} (flags start with -)")
        }
        (ErrorKind::UnknownArgument, Some(a)) => {
            format!("flag provided but not defined: {}", typed(&a))
        }
        (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(a)) => {
            let value = context(e, ContextKind::InvalidValue).unwrap_or_default();
            if value.is_empty() && std::error::Error::source(e).is_none() {
                return format!("flag needs an argument: {}", typed(&a));
            }
            let why = std::error::Error::source(e)
                .map(|s| s.to_string())
                .or_else(|| context(e, ContextKind::ValidValue).map(|v| format!("expected {v}")))
                .unwrap_or_else(|| "invalid value".into());
            format!("invalid value {value:?} for flag {}: {why}", typed(&a))
        }
        _ => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            first.strip_prefix("error: ").unwrap_or(first).to_owned()
        }
    }
}

/// Prints a parse error (or the help or version asked for), after `prefix`, and returns the
/// exit code.
pub fn report(e: &Error, args: &[OsString], cmd: &Command, prefix: &str) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let _ = e.print();
            ExitCode::FAILURE
        }
        _ => {
            output::err(&format!("{prefix}{}\n", message(e, args, cmd)));
            ExitCode::FAILURE
        }
    }
}
