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
use crate::cli::duration;
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

/// `-ttl` as a Go duration.
fn parse_ttl(s: &str) -> Result<Duration, String> {
    duration::parse(s)
}

/// The TTL the API takes: whole seconds, rounded up, 32 bits.
fn ttl_seconds(ttl: Duration) -> Result<i32> {
    let secs = i64::try_from(duration::ceil_secs(ttl)).unwrap_or(i64::MAX);
    flags::ttl_i32("TTL", secs)
}

/// Whether the server shortened the lifetime asked for (the SVID ends before now + ttl).
fn capped(expires_at: i64, ttl: Duration) -> bool {
    let remaining = expires_at - crate::cli::gotime::now_unix();
    i64::try_from(ttl.as_secs()).is_ok_and(|t| remaining < t)
}
