//! `api watch`: follows `FetchX509SVID` and prints SPIRE's block on every update (the time is
//! since the previous update), until SIGINT or SIGTERM. Errors are printed to stderr and the
//! stream is opened again with backoff, as go-spiffe's watcher does; only errors that retrying
//! cannot cure end the command.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Args;
use futures::StreamExt as _;
use spiffe_workload::WorkloadApiClient;
use spiffe_workload::client::Backoff;
use tokio::signal::unix::{SignalKind, signal};
use tracing::debug;

use super::print::{self, TdLabel};
use super::view::views;
use crate::cli::client::{client_error, endpoint};
use crate::cli::flags::SocketArgs;
use crate::cli::output;

/// Flags of `api watch`.
#[derive(Debug, Clone, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    socket: SocketArgs,
}

/// Runs `api watch` until interrupted.
pub(crate) async fn run(a: WatchArgs) -> Result<()> {
    let mut interrupt = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let client = WorkloadApiClient::connect_lazy(endpoint(&a.socket)?).map_err(client_error)?;
    tokio::select! {
        result = watch(&client) => result,
        _ = interrupt.recv() => Ok(()),
        _ = terminate.recv() => Ok(()),
    }
}

/// Opens the stream again and again; returns only on an error that is final.
async fn watch(client: &WorkloadApiClient) -> Result<()> {
    let mut last = Instant::now();
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        match follow(client, &mut last, &mut backoff).await {
            Ok(()) => debug!("the agent closed the stream; opening it again"),
            Err((e, false)) => return Err(e),
            Err((e, true)) => output::err(&format!("{e:#}\n")),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// One stream: prints every update until it ends. An error comes with whether to retry.
async fn follow(
    client: &WorkloadApiClient,
    last: &mut Instant,
    backoff: &mut Backoff,
) -> Result<(), (anyhow::Error, bool)> {
    let mut stream = client.stream_x509_contexts().await.map_err(|e| {
        let retry = e.is_retryable();
        (client_error(e), retry)
    })?;
    while let Some(update) = stream.next().await {
        let context = update.map_err(|e| {
            let retry = e.is_retryable();
            (client_error(e), retry)
        })?;
        backoff.reset();
        let block = print::pretty(&views(&context), last.elapsed(), TdLabel::Name)
            .map_err(|e| (e, true))?;
        output::out(&block).map_err(|e| (e, false))?;
        *last = Instant::now();
    }
    Ok(())
}
