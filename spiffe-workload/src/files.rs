//! The file sink: an X509-SVID as `svid.pem`, `key.pem` and `bundle.pem` in a directory, for
//! workloads that read files.
//!
//! Each file is replaced atomically (a temporary file in the same directory, written, synced,
//! then renamed over the old one, and the directory synced), so a reader sees the old file or
//! the new one, never a partial one. `key.pem` is 0600; the certificate files are 0644. The
//! bundle is written first (a new CA is trusted before an SVID it signed appears), then the key,
//! then the chain.

use std::fs::File;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use spiffe_core::{X509Bundle, X509Svid};
use thiserror::Error;

use crate::client::X509Context;
use crate::source::X509Source;

/// Mode of `key.pem`.
pub const KEY_MODE: u32 = 0o600;
/// Mode of `svid.pem` and `bundle.pem`.
pub const CERT_MODE: u32 = 0o644;
/// Mode of a directory this module creates.
pub const DIR_MODE: u32 = 0o755;

/// Why the files could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FileError {
    /// The directory could not be created.
    #[error("cannot create directory {path:?}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A file could not be written or renamed into place (the error names it).
    #[error("{0}")]
    Write(#[from] spiffe_fs::FsError),
    /// The context holds no SVID.
    #[error("no X509-SVID to write")]
    NoSvid,
    /// No bundle for the SVID's trust domain.
    #[error("no X.509 bundle for trust domain {trust_domain} of the SVID")]
    NoBundle {
        /// The trust domain.
        trust_domain: String,
    },
}

/// Writes X509-SVIDs into a directory.
#[derive(Debug, Clone)]
pub struct FileSink {
    dir: PathBuf,
    svid_name: String,
    key_name: String,
    bundle_name: String,
    include_federated: bool,
}

impl FileSink {
    /// A sink writing `svid.pem`, `key.pem` and `bundle.pem` into `dir` (created, mode 0755, if
    /// missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileSink {
            dir: dir.into(),
            svid_name: "svid.pem".into(),
            key_name: "key.pem".into(),
            bundle_name: "bundle.pem".into(),
            include_federated: false,
        }
    }

    /// Other file names.
    pub fn file_names(
        mut self,
        svid: impl Into<String>,
        key: impl Into<String>,
        bundle: impl Into<String>,
    ) -> Self {
        self.svid_name = svid.into();
        self.key_name = key.into();
        self.bundle_name = bundle.into();
        self
    }

    /// Whether [`FileSink::write_context`] appends the federated bundles to `bundle.pem` (off by
    /// default: only the SVID's own trust domain).
    pub fn include_federated(mut self, include: bool) -> Self {
        self.include_federated = include;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the chain file.
    pub fn svid_path(&self) -> PathBuf {
        self.dir.join(&self.svid_name)
    }

    /// Path of the key file.
    pub fn key_path(&self) -> PathBuf {
        self.dir.join(&self.key_name)
    }

    /// Path of the bundle file.
    pub fn bundle_path(&self) -> PathBuf {
        self.dir.join(&self.bundle_name)
    }

    /// Writes `svid` (chain and key) and the authorities of `bundles`, in order, as
    /// `bundle.pem`. Blocking I/O: from async code, call it in `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`FileError`] if the directory cannot be created or a file cannot be written.
    pub fn write(&self, svid: &X509Svid, bundles: &[&X509Bundle]) -> Result<(), FileError> {
        let span = tracing::debug_span!(
            "file_sink",
            dir = %self.dir.display(),
            spiffe_id = %svid.spiffe_id()
        );
        let _entered = span.enter();
        ensure_dir(&self.dir)?;
        let bundle_pem: String = bundles.iter().map(|b| b.to_pem()).collect();
        write_atomic(&self.bundle_path(), bundle_pem.as_bytes(), CERT_MODE)?;
        write_atomic(
            &self.key_path(),
            svid.private_key().to_pkcs8_pem().as_bytes(),
            KEY_MODE,
        )?;
        write_atomic(&self.svid_path(), svid.chain_pem().as_bytes(), CERT_MODE)?;
        sync_dir(&self.dir);
        tracing::info!(
            expires_at = svid.expires_at_unix(),
            "X509-SVID written to files"
        );
        Ok(())
    }

    /// Writes the default SVID of `context` with the bundle of its trust domain (and the
    /// federated ones, if [`FileSink::include_federated`]).
    ///
    /// # Errors
    ///
    /// [`FileError::NoSvid`] if the context holds no SVID, [`FileError::NoBundle`] without the
    /// bundle of its trust domain, else as [`FileSink::write`].
    pub fn write_context(&self, context: &X509Context) -> Result<(), FileError> {
        let svid = context.default_svid().ok_or(FileError::NoSvid)?;
        let td = svid.spiffe_id().trust_domain();
        let own = context
            .bundles
            .get(td.name())
            .ok_or_else(|| FileError::NoBundle {
                trust_domain: td.to_string(),
            })?;
        let mut bundles = vec![own.x509()];
        if self.include_federated {
            bundles.extend(
                context
                    .bundles
                    .iter()
                    .filter(|b| b.trust_domain() != &td)
                    .map(|b| b.x509()),
            );
        }
        self.write(svid, &bundles)
    }

    /// Writes the source's context now and again at every change, until the source closes.
    /// Failures are logged and retried at the next change.
    pub fn follow(self, source: &X509Source) -> tokio::task::JoinHandle<()> {
        let mut updates = source.updates();
        let initial = source.context();
        tokio::spawn(async move {
            let mut next = initial;
            loop {
                if let Some(context) = next.take() {
                    let sink = self.clone();
                    match tokio::task::spawn_blocking(move || sink.write_context(&context)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!(error = %e, "cannot write SVID files"),
                        Err(e) => tracing::error!(error = %e, "SVID file writer failed"),
                    }
                }
                if updates.changed().await.is_err() {
                    return;
                }
                next = updates.latest();
            }
        })
    }
}

/// Writes `svid.pem`, `key.pem` and `bundle.pem` (the authorities of `bundle`) into `dir`.
///
/// # Errors
///
/// As [`FileSink::write`].
pub fn write_x509_svid(dir: &Path, svid: &X509Svid, bundle: &X509Bundle) -> Result<(), FileError> {
    FileSink::new(dir).write(svid, &[bundle])
}

fn ensure_dir(dir: &Path) -> Result<(), FileError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|source| FileError::Dir {
            path: dir.to_path_buf(),
            source,
        })
}

/// Replaces `path` with `contents` atomically, with `mode` (see [`spiffe_fs::write_atomic`]:
/// a temporary file created exclusively under an unpredictable name, never through a link).
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FileError> {
    Ok(spiffe_fs::write_atomic(path, contents, mode)?)
}

/// Makes the renames durable (best effort: some file systems refuse to sync a directory).
fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "cannot sync directory");
    }
}
