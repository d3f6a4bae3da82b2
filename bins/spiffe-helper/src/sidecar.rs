//! The two modes.
//!
//! **Daemon** (`daemon_mode = true`, the default): the X.509 files are written at every update
//! of the `FetchX509SVID` stream, then `cmd` is started or signalled and the PID file's process
//! signalled; the JWT bundle file at every update of `FetchJWTBundles`; each JWT-SVID file when
//! fetched (and validated against the agent's JWT bundles for its audience), and again at half
//! of the token's remaining life plus a second (spiffe-helper's rule), retrying failures from
//! 1 s doubling to 60 s. Streams that break are reopened with
//! backoff. It runs until SIGINT or SIGTERM.
//!
//! **One-shot** (`daemon_mode = false`): everything is fetched once and written, and the
//! program exits 0; if something cannot be had within the fetch timeout (30 s unless
//! `-fetch-timeout` says otherwise), it exits 1 naming what is missing and the last error.
//! spiffe-helper fails at once when the agent cannot be reached and retries a refusal
//! (PermissionDenied: no entry yet) with a backoff growing to minutes; here both are retried
//! until the one bound, which suits an init container started with the agent.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow, bail};
use spiffe_core::JwtSvid;
use spiffe_core::backoff::Backoff;
use spiffe_workload::{ClientError, Endpoint, JwtSource, WorkloadApiClient, X509Source};
use tokio::task::JoinSet;

use crate::config::{Config, JwtSvidConfig};
use crate::health::{self, Status, WriteStatus};
use crate::output::{self, X509Writer};
use crate::process::{Command, PidFile};

/// How long one-shot mode waits for each thing it fetches unless told otherwise.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// The Workload API endpoint of `agent_address`: a socket path (relative to the working
/// directory, as spiffe-helper takes it) or a `unix:`/`tcp:` URI.
///
/// # Errors
///
/// If the address does not parse.
pub fn endpoint(agent_address: &str) -> anyhow::Result<Endpoint> {
    let address = if agent_address.starts_with('/') || agent_address.contains(':') {
        agent_address.to_owned()
    } else {
        std::env::current_dir()
            .context("cannot resolve the relative agent_address")?
            .join(agent_address)
            .to_string_lossy()
            .into_owned()
    };
    Endpoint::parse(&address).with_context(|| format!("agent_address {agent_address:?}"))
}

/// The JWT files by path, as the health status names them.
fn jwt_files(config: &Config) -> Vec<String> {
    let mut files: Vec<String> = config
        .jwt_bundle_file_name
        .iter()
        .map(|f| path_name(&config.cert_dir, f))
        .collect();
    files.extend(
        config
            .jwt_svids
            .iter()
            .map(|j| path_name(&config.cert_dir, &j.jwt_svid_file_name)),
    );
    files
}

fn path_name(dir: &Path, file: &str) -> String {
    dir.join(file).to_string_lossy().into_owned()
}

/// The health status of `config`'s files, all unwritten.
pub fn status(config: &Config) -> Status {
    Status::new(config.x509.is_some(), jwt_files(config))
}

fn check_cert_dir(config: &Config) -> anyhow::Result<()> {
    let dir: PathBuf = if config.cert_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        config.cert_dir.clone()
    };
    if !dir.is_dir() {
        bail!(
            "cert_dir {:?} is not a directory (it must exist before spiffe-helper starts)",
            dir.display()
        );
    }
    Ok(())
}

/// One-shot mode: fetches and writes everything once.
///
/// # Errors
///
/// What could not be fetched within `timeout`, or written.
pub async fn run_once(config: &Config, timeout: Duration) -> anyhow::Result<()> {
    check_cert_dir(config)?;
    let endpoint = endpoint(&config.agent_address)?;
    let client = WorkloadApiClient::connect_lazy(endpoint)?;
    if let Some(files) = &config.x509 {
        let source = X509Source::builder()
            .client(client.clone())
            .timeout(timeout)
            .build()
            .await
            .context("no X.509 SVID")?;
        let context = source
            .context()
            .ok_or_else(|| anyhow!("no X.509 SVID: the Workload API withdrew it"))?;
        X509Writer::new(config, files)
            .write(&context)
            .context("cannot write the X.509 files")?;
        tracing::info!(dir = %config.cert_dir.display(), "X.509 certificates written");
    }
    if let Some(file) = &config.jwt_bundle_file_name {
        let source = JwtSource::builder()
            .client(client.clone())
            .timeout(timeout)
            .build()
            .await
            .context("no JWT bundle")?;
        let path = config.cert_dir.join(file);
        output::write_jwt_bundles(&path, &source.bundles(), config.jwt_bundle_file_mode)
            .context("cannot write the JWT bundle")?;
        tracing::info!(file = %path.display(), "JWT bundle written");
    }
    for jwt in &config.jwt_svids {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let svid = loop {
            match fetch_jwt(&client, jwt, config.hint.as_deref()).await {
                Ok(svid) => break svid,
                Err(e) => {
                    let retry = e
                        .downcast_ref::<ClientError>()
                        .is_some_and(ClientError::is_retryable);
                    let delay = backoff.next_delay();
                    if !retry || tokio::time::Instant::now() + delay > deadline {
                        return Err(e.context(format!(
                            "no JWT SVID for audience {:?} within {timeout:?}",
                            jwt.jwt_audience
                        )));
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        };
        let path = config.cert_dir.join(&jwt.jwt_svid_file_name);
        output::write_jwt_svid(&path, &svid, config.jwt_svid_file_mode)
            .context("cannot write a JWT SVID")?;
        tracing::info!(file = %path.display(), audience = %jwt.jwt_audience, "JWT SVID written");
    }
    Ok(())
}

async fn fetch_jwt(
    client: &WorkloadApiClient,
    jwt: &JwtSvidConfig,
    hint: Option<&str>,
) -> anyhow::Result<JwtSvid> {
    let mut audiences = vec![jwt.jwt_audience.clone()];
    audiences.extend(jwt.jwt_extra_audiences.iter().cloned());
    let svids = client.fetch_jwt_svids(&audiences, None).await?;
    let svid = output::pick_jwt(&svids, hint, &jwt.jwt_audience)?.clone();
    // As spiffe-helper does: the token must validate against the agent's JWT bundles for the
    // audience before it is written.
    let bundles = client.fetch_jwt_bundles().await?;
    JwtSvid::parse_and_validate(svid.token(), &bundles, &jwt.jwt_audience).with_context(|| {
        format!(
            "the JWT SVID for audience {:?} does not validate against the JWT bundles",
            jwt.jwt_audience
        )
    })?;
    Ok(svid)
}

/// Daemon mode: keeps the files fresh until `shutdown` completes.
///
/// # Errors
///
/// If the configuration cannot be used (cert_dir missing, address invalid) or the health
/// listener cannot bind.
pub async fn run_daemon(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    check_cert_dir(&config)?;
    let endpoint = endpoint(&config.agent_address)?;
    let client = WorkloadApiClient::connect_lazy(endpoint)?;
    let status = status(&config);
    let mut tasks = JoinSet::new();
    if let Some(health) = config.health.clone() {
        let listener = health::bind(&health)
            .await
            .with_context(|| format!("health listener on port {}", health.bind_port))?;
        tracing::info!(port = health.bind_port, "health listener started");
        tasks.spawn(health::serve(listener, health, status.clone()));
    }
    if let Some(files) = &config.x509 {
        let writer = X509Writer::new(&config, files);
        let command = (!config.cmd.is_empty()).then(|| {
            Command::new(
                config.cmd.clone(),
                config.cmd_args.clone(),
                config.renew_signal,
            )
        });
        let pid_file = match (config.pid_file_name.is_empty(), config.renew_signal) {
            (false, Some(signal)) => {
                Some(PidFile::new(PathBuf::from(&config.pid_file_name), signal))
            }
            _ => None,
        };
        tasks.spawn(follow_x509(
            client.clone(),
            writer,
            command,
            pid_file,
            status.clone(),
        ));
    }
    if let Some(file) = &config.jwt_bundle_file_name {
        tasks.spawn(follow_jwt_bundles(
            client.clone(),
            config.cert_dir.join(file),
            config.jwt_bundle_file_mode,
            status.clone(),
        ));
    }
    for jwt in &config.jwt_svids {
        tasks.spawn(follow_jwt_svid(
            client.clone(),
            jwt.clone(),
            config.cert_dir.join(&jwt.jwt_svid_file_name),
            config.jwt_svid_file_mode,
            config.hint.clone(),
            status.clone(),
        ));
    }
    shutdown.await;
    tracing::info!("shutting down");
    tasks.shutdown().await;
    Ok(())
}

/// Builds a source, retrying (with backoff) until one starts.
async fn started<T, F, Fut>(what: &str, mut build: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, spiffe_workload::source::StartError>>,
{
    let mut backoff = Backoff::default();
    loop {
        match build().await {
            Ok(source) => return source,
            Err(e) => {
                let delay = backoff.next_delay();
                tracing::warn!(what, error = %e, ?delay, "waiting for the Workload API");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

async fn follow_x509(
    client: WorkloadApiClient,
    writer: X509Writer,
    command: Option<Command>,
    pid_file: Option<PidFile>,
    status: Status,
) {
    let source = started("X.509 context", || {
        X509Source::builder().client(client.clone()).build()
    })
    .await;
    let mut updates = source.updates();
    let mut next = source.context();
    loop {
        if let Some(context) = next.take() {
            for svid in &context.svids {
                tracing::info!(spiffe_id = %svid.spiffe_id(), expires_at = svid.expires_at_unix(), "received update");
            }
            let w = writer.clone();
            let written = tokio::task::spawn_blocking(move || w.write(&context)).await;
            match written {
                Ok(Ok(())) => {
                    status.set_x509(WriteStatus::Written);
                    tracing::info!("X.509 certificates updated");
                    if let Some(command) = &command
                        && let Err(e) = command.renewed()
                    {
                        tracing::error!(error = %e, "unable to signal process");
                    }
                    if let Some(pid_file) = &pid_file
                        && let Err(e) = pid_file.signal_with_retry().await
                    {
                        tracing::error!(error = %e, "unable to signal PID file");
                    }
                }
                Ok(Err(e)) => {
                    status.set_x509(WriteStatus::Failed);
                    tracing::error!(error = %e, "unable to write the X.509 files");
                }
                Err(e) => {
                    status.set_x509(WriteStatus::Failed);
                    tracing::error!(error = %e, "the X.509 writer failed");
                }
            }
        }
        if updates.changed().await.is_err() {
            tracing::error!("the X.509 source stopped");
            return;
        }
        next = updates.latest();
    }
}

async fn follow_jwt_bundles(client: WorkloadApiClient, path: PathBuf, mode: u32, status: Status) {
    let name = path.to_string_lossy().into_owned();
    let source = started("JWT bundles", || {
        JwtSource::builder().client(client.clone()).build()
    })
    .await;
    let mut updates = source.updates();
    let mut next = Some(source.bundles());
    loop {
        if let Some(bundles) = next.take() {
            match output::write_jwt_bundles(&path, &bundles, mode) {
                Ok(()) => {
                    status.set_jwt(&name, WriteStatus::Written);
                    tracing::info!(file = %name, "JWT bundle updated");
                }
                Err(e) => {
                    status.set_jwt(&name, WriteStatus::Failed);
                    tracing::error!(file = %name, error = %e, "error writing the JWT bundle");
                }
            }
        }
        if updates.changed().await.is_err() {
            tracing::error!("the JWT bundle source stopped");
            return;
        }
        next = updates.latest();
    }
}

/// When to fetch a JWT-SVID again: half of its remaining life, plus a second.
pub fn refresh_in(expiry: SystemTime, now: SystemTime) -> Duration {
    expiry.duration_since(now).unwrap_or_default() / 2 + Duration::from_secs(1)
}

async fn follow_jwt_svid(
    client: WorkloadApiClient,
    jwt: JwtSvidConfig,
    path: PathBuf,
    mode: u32,
    hint: Option<String>,
    status: Status,
) {
    let name = path.to_string_lossy().into_owned();
    let mut backoff =
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60)).with_jitter(0.0);
    loop {
        let result = match fetch_jwt(&client, &jwt, hint.as_deref()).await {
            Ok(svid) => output::write_jwt_svid(&path, &svid, mode)
                .map(|()| svid)
                .map_err(anyhow::Error::from),
            Err(e) => Err(e),
        };
        let wait = match result {
            Ok(svid) => {
                status.set_jwt(&name, WriteStatus::Written);
                backoff.reset();
                let wait = refresh_in(svid.expiry(), SystemTime::now());
                tracing::info!(file = %name, audience = %jwt.jwt_audience, refresh_in = ?wait, "JWT SVID updated");
                wait
            }
            Err(e) => {
                status.set_jwt(&name, WriteStatus::Failed);
                let wait = backoff.next_delay();
                tracing::error!(file = %name, audience = %jwt.jwt_audience, error = %e, retry_in = ?wait, "unable to update JWT SVID");
                wait
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn jwt_svids_are_refreshed_at_half_their_remaining_life_plus_a_second() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let expiry = now + Duration::from_secs(300);
        assert_eq!(refresh_in(expiry, now), Duration::from_secs(151));
        // An expired token is fetched again a second later.
        assert_eq!(refresh_in(now, expiry), Duration::from_secs(1));
    }

    #[test]
    fn agent_addresses_are_paths_or_uris() {
        assert_eq!(
            endpoint("/tmp/spire-agent/public/api.sock")
                .unwrap()
                .unix_path(),
            Some(Path::new("/tmp/spire-agent/public/api.sock"))
        );
        assert_eq!(
            endpoint("unix:///run/spire/sockets/agent.sock")
                .unwrap()
                .unix_path(),
            Some(Path::new("/run/spire/sockets/agent.sock"))
        );
        let relative = endpoint("api.sock").unwrap();
        assert!(relative.unix_path().unwrap().is_absolute());
        assert!(relative.unix_path().unwrap().ends_with("api.sock"));
        assert!(
            endpoint("tcp://127.0.0.1:8000")
                .unwrap()
                .unix_path()
                .is_none()
        );
    }
}
