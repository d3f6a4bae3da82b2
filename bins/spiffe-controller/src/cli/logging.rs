//! Logs: `tracing` to stderr, as text or JSON, at a level (`RUST_LOG` overrides it).

use anyhow::{Result, bail};
use tracing_subscriber::EnvFilter;

/// Installs the subscriber.
pub(crate) fn init(level: &str, format: &str) -> Result<()> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{},kube=warn,tower=warn,hyper=warn",
            level.to_ascii_lowercase()
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        "text" | "" => builder.try_init(),
        "json" => builder.json().try_init(),
        other => bail!("unknown log format {other:?} (text or json)"),
    };
    // Already installed (tests): keep the existing one.
    let _ = result;
    Ok(())
}
