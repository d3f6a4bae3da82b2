//! The SHA-256 digest of a workload's binary, read through `/proc/<pid>/exe`, within a size limit.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use aws_lc_rs::digest::{Context, SHA256};

use crate::error::AttestError;

/// Why a digest could not be computed.
#[derive(Debug)]
pub(crate) enum DigestError {
    /// Opening or reading the file failed.
    Io(io::Error),
    /// The file is larger than the limit (`size` is what was seen: its length, or the bytes read
    /// before the limit was passed if it grew while being read).
    TooLarge { size: u64, limit: u64 },
}

impl DigestError {
    /// Into the attestation error for process `pid` whose binary is at `path`.
    pub(crate) fn into_attest_error(self, pid: i32, path: &Path) -> AttestError {
        match self {
            DigestError::Io(e) if e.kind() == io::ErrorKind::NotFound => {
                AttestError::ProcessGone { pid }
            }
            DigestError::Io(source) => AttestError::Digest { pid, source },
            DigestError::TooLarge { size, limit } => AttestError::WorkloadTooLarge {
                pid,
                path: path.to_owned(),
                size,
                limit,
            },
        }
    }
}

/// The lower-case hex SHA-256 of the file at `path`, refused if it is larger than `limit` bytes
/// (`None`: no limit). The limit is checked on the file's size before reading, and again while
/// reading, so a file that grows meanwhile is not read past it.
pub(crate) fn sha256_hex(path: &Path, limit: Option<u64>) -> Result<String, DigestError> {
    let file = File::open(path).map_err(DigestError::Io)?;
    if let Some(limit) = limit {
        let size = file.metadata().map_err(DigestError::Io)?.len();
        if size > limit {
            return Err(DigestError::TooLarge { size, limit });
        }
    }
    let mut reader: Box<dyn Read> = match limit {
        Some(limit) => Box::new(file.take(limit.saturating_add(1))),
        None => Box::new(file),
    };
    let mut context = Context::new(&SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut read_total: u64 = 0;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DigestError::Io(e)),
        };
        read_total = read_total.saturating_add(n as u64);
        if let Some(limit) = limit.filter(|limit| read_total > *limit) {
            return Err(DigestError::TooLarge {
                size: read_total,
                limit,
            });
        }
        context.update(buf.get(..n).unwrap_or_default());
    }
    Ok(hex::encode(context.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exe");
        std::fs::write(&path, b"data").unwrap();
        // The digest SPIRE's own test expects for "data".
        let want = "3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7";
        assert_eq!(sha256_hex(&path, None).unwrap(), want);
        assert_eq!(sha256_hex(&path, Some(4)).unwrap(), want);
        assert!(matches!(
            sha256_hex(&path, Some(2)),
            Err(DigestError::TooLarge { size: 4, limit: 2 })
        ));
        assert!(matches!(
            sha256_hex(&dir.path().join("missing"), None),
            Err(DigestError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            sha256_hex(&empty, Some(0)).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
