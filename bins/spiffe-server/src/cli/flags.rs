//! Flags shared by several commands: the admin socket, `-output`, Go-style booleans, match
//! modes, selectors and SPIFFE IDs typed by people.

use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::Args;
use spiffe_core::{Selector, SpiffeId};
use spiffe_proto::spire::api::types as pb;
use spiffe_server::config::DEFAULT_SOCKET_PATH;

/// The environment variable that names the admin socket when `-socketPath` is not given
/// (SPIRE's is `SPIRE_SERVER_PRIVATE_SOCKET`).
pub(crate) const SOCKET_ENV: &str = "SPIFFE_SERVER_PRIVATE_SOCKET";

/// `-socketPath`, which every API command takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct SocketArgs {
    /// Path to the server's admin API socket [default: /tmp/spiffe-server/private/api.sock, or
    /// $SPIFFE_SERVER_PRIVATE_SOCKET]
    #[arg(long = "socketPath", alias = "socket-path", value_name = "PATH")]
    pub(crate) socket_path: Option<PathBuf>,
}

impl SocketArgs {
    /// The socket to dial: the flag, else the environment variable, else the default.
    pub(crate) fn path(&self) -> PathBuf {
        self.socket_path
            .clone()
            .or_else(|| {
                std::env::var_os(SOCKET_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET_PATH))
    }
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// For people (SPIRE's `pretty`).
    Pretty,
    /// SPIRE's protojson: compact, keys sorted, 64-bit integers as strings.
    Json,
}

/// `-output`.
#[derive(Debug, Clone, Args)]
pub(crate) struct OutputArgs {
    /// Desired output format (pretty, json)
    #[arg(long = "output", value_name = "FORMAT", value_parser = parse_format, default_value = "pretty")]
    pub(crate) output: Format,
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s.to_ascii_lowercase().as_str() {
        "pretty" | "prettyprint" => Ok(Format::Pretty),
        "json" => Ok(Format::Json),
        _ => Err(format!("unknown format option: {s:?} (pretty, json)")),
    }
}

/// A boolean as Go's `flag` reads one: `-admin`, `-admin=true`, `-admin=0`.
pub(crate) fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("parse error (true or false)".into()),
    }
}

/// SPIRE's match modes for selector and federates-with filters (`exact`, `subset`,
/// `superset`, `any`) as the API's enum value.
pub(crate) fn match_mode(s: &str) -> Result<i32> {
    use pb::selector_match::MatchBehavior as M;
    let m = match s {
        "exact" => M::MatchExact,
        "subset" => M::MatchSubset,
        "superset" => M::MatchSuperset,
        "any" => M::MatchAny,
        _ => {
            return Err(anyhow!(
                "match behavior {s:?} unknown (exact, subset, superset, any)"
            ));
        }
    };
    Ok(m as i32)
}

/// A SPIFFE ID typed by a person for the flag `flag`; upper case in the scheme and trust
/// domain is lowered (both are case-insensitive).
pub(crate) fn spiffe_id(flag: &str, s: &str) -> Result<SpiffeId> {
    SpiffeId::parse_normalized(s).map_err(|e| anyhow!("invalid {flag} {s:?}: {e}"))
}

/// A SPIFFE ID as the API carries it.
pub(crate) fn id_pb(id: &SpiffeId) -> pb::Spiffeid {
    spiffe_server::convert::id_to_pb(id)
}

/// `spiffe://<td><path>`, or nothing for an unset ID.
pub(crate) fn id_string(id: Option<&pb::Spiffeid>) -> String {
    id.map(|i| format!("spiffe://{}{}", i.trust_domain, i.path))
        .unwrap_or_default()
}

/// A `type:value` selector, split at the first `:`.
pub(crate) fn selector(s: &str) -> Result<pb::Selector> {
    let sel = Selector::parse(s).map_err(|e| anyhow!("{e}"))?;
    Ok(pb::Selector {
        r#type: sel.kind().to_owned(),
        value: sel.value().to_owned(),
    })
}

/// Selectors, in order.
pub(crate) fn selectors(list: &[String]) -> Result<Vec<pb::Selector>> {
    list.iter().map(|s| selector(s)).collect()
}

/// A number of seconds that must fit SPIRE's 32-bit TTL fields.
pub(crate) fn ttl_i32(what: &str, value: i64) -> Result<i32> {
    i32::try_from(value).map_err(|_| {
        anyhow!(
            "invalid value for {what}: {value} does not fit in a 32-bit number of seconds (at most {})",
            i32::MAX
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_and_modes() {
        assert_eq!(go_bool("T"), Ok(true));
        assert_eq!(go_bool("0"), Ok(false));
        assert!(go_bool("yes").is_err());
        assert_eq!(match_mode("any").ok(), Some(3));
        assert!(match_mode("all").is_err());
        assert_eq!(parse_format("JSON"), Ok(Format::Json));
    }

    #[test]
    fn ttl_bounds() {
        assert_eq!(ttl_i32("X509 SVID TTL", 3600).ok(), Some(3600));
        let err = ttl_i32("X509 SVID TTL", 1 << 31)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "invalid value for X509 SVID TTL: 2147483648 does not fit in a 32-bit number of seconds (at most 2147483647)"
            )
        );
    }

    #[test]
    fn selectors_split_at_first_colon() {
        let s = selector("k8s:pod-label:app:x").ok();
        assert_eq!(s.as_ref().map(|s| s.r#type.as_str()), Some("k8s"));
        assert_eq!(
            s.as_ref().map(|s| s.value.as_str()),
            Some("pod-label:app:x")
        );
        let err = selector("foo").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("selector \"foo\" must be formatted as type:value")
        );
    }
}
