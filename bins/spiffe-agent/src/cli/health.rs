//! `healthcheck`: gRPC health (`grpc.health.v1`) of the agent on its Workload API socket.

use std::time::Duration;

use anyhow::{Result, anyhow};
use clap::{ArgAction, Args};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::cli::client::{Rpc, channel, within};
use crate::cli::flags::{SocketArgs, go_bool};
use crate::cli::output;

/// How long the check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Flags of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub(crate) struct HealthArgs {
    /// Perform a less stringent health check (accepted; the check is the same)
    #[arg(long = "shallow", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    shallow: bool,
    /// Print verbose information
    #[arg(long = "verbose", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", default_value = "false", value_parser = go_bool,
          action = ArgAction::Set)]
    verbose: bool,
    #[command(flatten)]
    socket: SocketArgs,
}

/// Runs `healthcheck`: `Agent is healthy.`, or an error that prints as
/// `Agent is unhealthy: ...`.
pub(crate) async fn run(a: HealthArgs) -> Result<()> {
    let _ = a.shallow;
    if a.verbose {
        output::out("Checking agent health...\n")?;
    }
    match within(CHECK_TIMEOUT, check(&a)).await {
        Ok(ServingStatus::Serving) => output::out("Agent is healthy.\n"),
        Ok(other) => Err(anyhow!(
            "Agent is unhealthy: agent returned status {:?}",
            other.as_str_name()
        )),
        Err(e) => {
            if a.verbose {
                output::err(&format!("Failed to check health: {e:#}\n"));
            }
            Err(anyhow!("Agent is unhealthy: unable to determine health"))
        }
    }
}

async fn check(a: &HealthArgs) -> Result<ServingStatus> {
    let mut client = HealthClient::new(channel(&a.socket).await?);
    let resp = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .map_err(|s| {
            anyhow::Error::new(Rpc {
                code: s.code(),
                message: s.message().to_owned(),
            })
        })?
        .into_inner();
    Ok(ServingStatus::try_from(resp.status).unwrap_or(ServingStatus::Unknown))
}
