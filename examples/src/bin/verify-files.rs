//! verify-files: embedding only the verifier. A service that gets its SVID as files (written by
//! the agent's file sink or `spiffe-agent api fetch x509 -write`) serves mTLS with spiffe-core
//! alone: no Workload API client, no async SPIFFE machinery. The files are re-read when they
//! change, and the next handshake uses the new SVID without a new TLS configuration.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Parser;
use spiffe_core::tls::{MtlsConfig, peer_spiffe_id};
use spiffe_core::{
    Bundle, BundleSet, BundleSetCell, SpiffeId, SvidCell, X509Bundle, X509Svid, authorize,
};

#[derive(Parser)]
struct Args {
    /// Directory holding svid.pem, key.pem and bundle.pem.
    #[arg(long)]
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9443")]
    listen: String,
    /// The only SPIFFE ID admitted.
    #[arg(long)]
    allow: String,
    /// Stop after this many connections (0: never).
    #[arg(long, default_value_t = 0)]
    connections: u32,
}

fn load(dir: &Path) -> anyhow::Result<(X509Svid, BundleSet)> {
    let svid = X509Svid::parse_pem(
        &std::fs::read(dir.join("svid.pem"))?,
        &std::fs::read(dir.join("key.pem"))?,
    )?;
    let td = svid.spiffe_id().trust_domain();
    let roots = X509Bundle::parse_pem(td, &std::fs::read(dir.join("bundle.pem"))?)?;
    Ok((svid, [Bundle::from(roots)].into_iter().collect()))
}

fn modified(dir: &Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join("svid.pem"))
        .and_then(|m| m.modified())
        .ok()
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let allow = SpiffeId::parse(&args.allow).context("--allow")?;
    let (svid, bundles) = load(&args.dir).context("reading the SVID files")?;
    let svid_cell = Arc::new(SvidCell::new(svid));
    let bundle_cell = Arc::new(BundleSetCell::new(bundles));
    // Follow rotation: re-read the files when they change.
    {
        let (dir, svid_cell, bundle_cell) = (
            args.dir.clone(),
            Arc::clone(&svid_cell),
            Arc::clone(&bundle_cell),
        );
        std::thread::spawn(move || {
            let mut seen = modified(&dir);
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let now = modified(&dir);
                if now != seen
                    && let Ok((svid, bundles)) = load(&dir)
                {
                    println!(
                        "verify-files: reloaded {} (expires {:?})",
                        svid.spiffe_id(),
                        svid.expires_at()
                    );
                    svid_cell.set(svid);
                    bundle_cell.set(bundles);
                    seen = now;
                }
            }
        });
    }
    let config = Arc::new(
        MtlsConfig::new(
            svid_cell,
            bundle_cell,
            Arc::new(authorize::id(allow.clone())),
        )
        .server_config()?,
    );
    let listener = TcpListener::bind(&args.listen)?;
    println!(
        "verify-files listening on {}, admitting only {allow}",
        listener.local_addr()?
    );
    for (n, tcp) in listener.incoming().enumerate() {
        let tcp = tcp?;
        let mut tls =
            rustls::StreamOwned::new(rustls::ServerConnection::new(Arc::clone(&config))?, tcp);
        let mut line = String::new();
        match BufReader::new(&mut tls).read_line(&mut line) {
            Ok(_) => {
                let peer = peer_spiffe_id(tls.conn.peer_certificates())
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                let _ = writeln!(tls, "hello {peer}");
                println!("verify-files: admitted {peer}");
            }
            Err(e) => println!("verify-files: refused a caller: {e}"),
        }
        if args.connections > 0 && n + 1 >= args.connections as usize {
            break;
        }
    }
    Ok(())
}
