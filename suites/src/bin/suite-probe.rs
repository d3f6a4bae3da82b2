//! A workload for the suites, run as another user by the tests.
//!
//! - `suite-probe fetch <socket> <calls>`: makes `calls` Workload API calls (X.509 and JWT in
//!   turn, a fresh connection every 50 calls) and prints one line per distinct outcome:
//!   `x509 <count> <ids>`, `jwt <count> <ids>` (IDs sorted, comma-separated), or
//!   `err <count> <rpc> <code>`. Every X.509 SVID must be within its validity when received
//!   (else `expired <count> ...`).
//! - `suite-probe handoff <socket> <fifo>`: connects to the socket (so the kernel records this
//!   process as the peer), starts `suite-probe hold <fifo>` with the connection as its stdin,
//!   prints `handoff <own pid> <holder pid>` and exits at once.
//! - `suite-probe handoff-stay <socket> <fifo>`: the same, but waits for the holder to finish
//!   before exiting (the control case: the caller is alive during attestation).
//! - `suite-probe hold <fifo>`: waits until a line can be read from `fifo`, then sends
//!   `FetchX509SVID` over its stdin (the inherited connection) and prints `svids <ids>` or
//!   `err <code> <message>`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow, bail};
use hyper_util::rt::TokioIo;
use spiffe_proto::workload::X509svidRequest;
use spiffe_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use spiffe_workload::{Endpoint, WorkloadApiClient};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|rt| rt.block_on(dispatch(&args)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("suite-probe: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(args: &[String]) -> Result<()> {
    match args {
        [mode, socket, calls] if mode == "fetch" => fetch(socket, calls.parse()?).await,
        [mode, socket, fifo] if mode == "handoff" => handoff(socket, fifo, false),
        [mode, socket, fifo] if mode == "handoff-stay" => handoff(socket, fifo, true),
        [mode, fifo] if mode == "hold" => hold(fifo).await,
        _ => bail!("usage: suite-probe fetch|handoff|handoff-stay|hold ..."),
    }
}

fn ids<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = ids.collect();
    v.sort_unstable();
    v.join(",")
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

async fn fetch(socket: &str, calls: usize) -> Result<()> {
    let endpoint = Endpoint::parse(socket)?;
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut client = WorkloadApiClient::connect_endpoint(endpoint.clone()).await?;
    for i in 0..calls {
        if i > 0 && i % 50 == 0 {
            client = WorkloadApiClient::connect_endpoint(endpoint.clone()).await?;
        }
        let outcome = if i % 2 == 0 {
            match client.fetch_x509_context().await {
                Ok(ctx) => {
                    let now = now_unix();
                    let stale = ctx
                        .svids
                        .iter()
                        .any(|s| s.expires_at_unix() <= now || s.not_before_unix() > now + 1);
                    let set = ids(ctx.svids.iter().map(|s| s.spiffe_id().as_str()));
                    if stale {
                        format!("expired {set}")
                    } else {
                        format!("x509 {set}")
                    }
                }
                Err(e) => format!("err FetchX509SVID {:?}", e.code()),
            }
        } else {
            match client.fetch_jwt_svids(&["suite-probe"], None).await {
                Ok(svids) => format!("jwt {}", ids(svids.iter().map(|s| s.spiffe_id().as_str()))),
                Err(e) => format!("err FetchJWTSVID {:?}", e.code()),
            }
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    let mut out = std::io::stdout().lock();
    for (outcome, count) in outcomes {
        let (kind, rest) = outcome.split_once(' ').unwrap_or((&outcome, ""));
        writeln!(out, "{kind} {count} {rest}")?;
    }
    Ok(())
}

fn handoff(socket: &str, fifo: &str, stay: bool) -> Result<()> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .with_context(|| format!("connect to {socket}"))?;
    let exe = std::env::current_exe()?;
    let mut holder = Command::new(exe)
        .args(["hold", fifo])
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(stream)))
        .spawn()
        .context("start the holder")?;
    println!("handoff {} {}", std::process::id(), holder.id());
    std::io::stdout().flush()?;
    if stay {
        holder.wait()?;
    }
    Ok(())
}

async fn hold(fifo: &str) -> Result<()> {
    // The connection made by the process that started us.
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    let stream = std::os::unix::net::UnixStream::from(fd);
    stream.set_nonblocking(true)?;
    let stream = tokio::net::UnixStream::from_std(stream)?;
    // Go when the test says so (a line on the FIFO).
    let mut line = String::new();
    BufReader::new(std::fs::File::open(fifo).with_context(|| format!("open {fifo}"))?)
        .read_line(&mut line)?;

    let slot = std::sync::Arc::new(Mutex::new(Some(stream)));
    let channel = tonic::transport::Endpoint::try_from("http://workload.socket")?
        .connect_with_connector(tower::service_fn(move |_: http_uri::Uri| {
            let taken = slot.lock().map(|mut s| s.take()).ok().flatten();
            async move {
                taken
                    .map(TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the inherited connection is used up"))
            }
        }))
        .await
        .map_err(|e| anyhow!("HTTP/2 over the inherited connection: {e}"))?;
    let mut request = tonic::Request::new(X509svidRequest {});
    request.metadata_mut().insert(
        spiffe_workload::SECURITY_HEADER_KEY,
        tonic::metadata::MetadataValue::from_static(spiffe_workload::SECURITY_HEADER_VALUE),
    );
    let result = SpiffeWorkloadApiClient::new(channel)
        .fetch_x509svid(request)
        .await;
    match result {
        Ok(response) => {
            let mut stream = response.into_inner();
            match stream.message().await {
                Ok(Some(msg)) => println!(
                    "svids {}",
                    ids(msg.svids.iter().map(|s| s.spiffe_id.as_str()))
                ),
                Ok(None) => println!("err None stream ended without a message"),
                Err(status) => println!("err {:?} {}", status.code(), status.message()),
            }
        }
        Err(status) => println!("err {:?} {}", status.code(), status.message()),
    }
    Ok(())
}

/// `http::Uri`, through tonic's re-export.
mod http_uri {
    pub(crate) use tonic::codegen::http::Uri;
}
