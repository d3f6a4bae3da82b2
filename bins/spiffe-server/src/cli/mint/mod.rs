//! `x509 mint` and `jwt mint`: SVIDs minted by the server for an administrator, outside of
//! any registration entry.

mod files;
mod jwt;
mod x509;

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;

pub(crate) use self::jwt::JwtMintArgs;
pub(crate) use self::x509::X509MintArgs;
use spiffe_core::duration::{self, DurationError};

use crate::cli::flags;

/// The x509 commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum X509Command {
    /// Mints an X509-SVID
    Mint(X509MintArgs),
}

/// The jwt commands.
#[derive(Debug, Clone, Subcommand)]
pub(crate) enum JwtCommand {
    /// Mints a JWT-SVID
    Mint(JwtMintArgs),
}

/// Runs an x509 command.
pub(crate) async fn run_x509(cmd: X509Command) -> Result<()> {
    let X509Command::Mint(a) = cmd;
    x509::run(a).await
}

/// Runs a jwt command.
pub(crate) async fn run_jwt(cmd: JwtCommand) -> Result<()> {
    let JwtCommand::Mint(a) = cmd;
    jwt::run(a).await
}

/// `-ttl` as a Go duration (SPIRE's is a Go `flag.Duration`: `"3600"` is refused for want of
/// a unit).
fn parse_ttl(s: &str) -> Result<Duration, DurationError> {
    duration::parse(s)
}

/// The TTL the API takes: whole seconds, rounded up (as SPIRE's mint commands send TTLs), 32
/// bits.
fn ttl_seconds(ttl: Duration) -> Result<i32> {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    flags::ttl_i32("TTL", i64::try_from(secs).unwrap_or(i64::MAX))
}

/// Whether the server shortened the lifetime asked for (the SVID ends before now + ttl).
fn capped(expires_at: i64, ttl: Duration) -> bool {
    let remaining = expires_at - crate::cli::gotime::now_unix();
    i64::try_from(ttl.as_secs()).is_ok_and(|t| remaining < t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_are_go_durations_rounded_up_to_seconds() {
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("0"), Ok(Duration::ZERO));
        assert!(matches!(
            parse_ttl("3600"),
            Err(DurationError::MissingUnit { .. })
        ));
        assert!(parse_ttl("-1h").is_err());
        assert_eq!(ttl_seconds(Duration::from_millis(1500)).unwrap(), 2);
        assert_eq!(ttl_seconds(Duration::from_secs(3)).unwrap(), 3);
        assert!(ttl_seconds(Duration::from_secs(1 << 40)).is_err());
    }
}
