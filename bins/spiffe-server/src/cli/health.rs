//! `healthcheck`: gRPC health of the server on its admin socket.

use anyhow::{Result, anyhow};
use clap::{ArgAction, Args};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::cli::client::{connect, rpc};
use crate::cli::flags::{SocketArgs, go_bool};
use crate::cli::output;

/// Flags of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub(crate) struct HealthArgs {
    /// Accepted for SPIRE compatibility (the check is always the server's own)
    #[arg(long = "shallow", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    shallow: bool,
    /// Print what is checked, and why a check failed
    #[arg(long = "verbose", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    verbose: bool,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Runs `healthcheck`.
pub(crate) async fn run(a: HealthArgs) -> Result<()> {
    let _ = a.shallow;
    if a.verbose {
        output::out("Checking server health...\n")?;
    }
    let status = check(&a).await;
    match status {
        Ok(ServingStatus::Serving) => output::out("Server is healthy.\n"),
        Ok(other) => Err(anyhow!(
            "server is unhealthy: server returned status {:?}",
            other.as_str_name()
        )),
        Err(e) => {
            if a.verbose {
                output::err(&format!("Failed to check health: {e:#}\n"));
            }
            Err(anyhow!("server is unhealthy: unable to determine health"))
        }
    }
}

async fn check(a: &HealthArgs) -> Result<ServingStatus> {
    let mut client = HealthClient::new(connect(&a.socket.path()).await?);
    let resp = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(rpc)?
        .into_inner();
    Ok(ServingStatus::try_from(resp.status).unwrap_or(ServingStatus::Unknown))
}
