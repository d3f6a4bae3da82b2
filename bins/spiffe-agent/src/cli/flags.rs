//! Flags shared by several commands: the Workload API socket, `-timeout`, `-output` and
//! Go-style booleans.

use std::time::Duration;

use clap::Args;
use spiffe_core::duration::{DurationError, GoDuration};

/// `-socketPath`, which every command that talks to the agent takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct SocketArgs {
    /// Path to the Workload API socket [default: /tmp/spiffe-agent/public/api.sock, or
    /// $SPIFFE_ENDPOINT_SOCKET]
    #[arg(long = "socketPath", alias = "socket-path", value_name = "PATH")]
    pub(crate) socket_path: Option<String>,
}

/// `-socketPath` and `-timeout`, as SPIRE's `api fetch` and `api validate` take them.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    #[command(flatten)]
    pub(crate) socket: SocketArgs,
    /// Time to wait for a response (Go duration; 0 waits for ever)
    #[arg(long = "timeout", value_name = "DURATION", value_parser = parse_timeout,
          default_value = "5s")]
    pub(crate) timeout: Duration,
}

/// `-timeout`: a Go duration, where zero, and (as in SPIRE, which sets a deadline only for a
/// positive timeout) anything below zero, waits for ever.
pub(crate) fn parse_timeout(s: &str) -> Result<Duration, DurationError> {
    Ok(s.parse::<GoDuration>()?.to_std().unwrap_or(Duration::ZERO))
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// For people (SPIRE's `pretty`).
    Pretty,
    /// SPIRE's protojson: compact, keys sorted, bytes as base64.
    Json,
}

/// `-output`.
#[derive(Debug, Clone, Args)]
pub(crate) struct OutputArgs {
    /// Desired output format (pretty, json)
    #[arg(long = "output", value_name = "FORMAT", value_parser = parse_format,
          default_value = "pretty")]
    pub(crate) output: Format,
}

/// Parses `-output` (case-insensitive; `prettyprint` is SPIRE's other name for `pretty`).
pub(crate) fn parse_format(s: &str) -> Result<Format, String> {
    match s.to_ascii_lowercase().as_str() {
        "pretty" | "prettyprint" => Ok(Format::Pretty),
        "json" => Ok(Format::Json),
        _ => Err(format!("unknown format option: {s:?} (pretty, json)")),
    }
}

/// A boolean as Go's `flag` reads one: `-silent`, `-silent=true`, `-silent=0`.
pub(crate) fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("parse error (true or false)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_as_spire_reads_them() {
        assert_eq!(parse_timeout("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout("-1s"), Ok(Duration::ZERO));
        // A bare number has no unit: Go, and so SPIRE, refuse it.
        assert!(matches!(
            parse_timeout("5"),
            Err(DurationError::MissingUnit { .. })
        ));
    }

    #[test]
    fn booleans_and_formats() {
        assert_eq!(go_bool("T"), Ok(true));
        assert_eq!(go_bool("0"), Ok(false));
        assert!(go_bool("yes").is_err());
        assert_eq!(parse_format("JSON"), Ok(Format::Json));
        assert_eq!(parse_format("prettyprint"), Ok(Format::Pretty));
        assert!(parse_format("xml").is_err());
    }
}
