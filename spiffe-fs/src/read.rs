//! Bounded reads: a file the daemon reads (a bundle, a token, a config file) cannot make it
//! allocate without limit, even when the path names `/dev/zero` or a growing file.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::FsError;

/// Reads `path` whole, refusing it when it holds more than `limit` bytes.
///
/// # Errors
///
/// [`FsError::TooLarge`] past `limit`, [`FsError::Io`] when it cannot be opened or read.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, FsError> {
    let file = File::open(path).map_err(FsError::io("open", path))?;
    let mut out = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(FsError::io("read", path))?;
    if out.len() as u64 > limit {
        return Err(FsError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(out)
}

/// [`read_bounded`] for a secret (a private key): read into one buffer sized from the file's
/// length and wiped when dropped, so no copy of the secret is left behind by a reallocation.
///
/// # Errors
///
/// As [`read_bounded`].
pub fn read_secret_bounded(path: &Path, limit: u64) -> Result<Zeroizing<Vec<u8>>, FsError> {
    let file = File::open(path).map_err(FsError::io("open", path))?;
    let len = file.metadata().map_err(FsError::io("inspect", path))?.len();
    if len > limit {
        return Err(FsError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    // One byte more than the file, so reading to its end never needs to grow the buffer
    // (a file that grew meanwhile is refused below without being copied).
    let capacity = usize::try_from(len).unwrap_or(usize::MAX).saturating_add(1);
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    let mut chunk = Zeroizing::new([0u8; 4096]);
    let mut file = file.take(limit.saturating_add(1));
    loop {
        let n = file
            .read(&mut chunk[..])
            .map_err(FsError::io("read", path))?;
        if n == 0 {
            break;
        }
        if out.len() + n > out.capacity() || (out.len() + n) as u64 > limit {
            return Err(FsError::TooLarge {
                path: path.to_path_buf(),
                limit: limit.min(len),
            });
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

/// [`read_bounded`] as UTF-8 text.
///
/// # Errors
///
/// As [`read_bounded`], and [`FsError::Io`] (invalid data) when it is not UTF-8.
pub fn read_to_string_bounded(path: &Path, limit: u64) -> Result<String, FsError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| FsError::Io {
        what: "read UTF-8 text from",
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn reads_up_to_the_limit_and_refuses_past_it() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        assert!(matches!(
            read_bounded(&path, 4),
            Err(FsError::TooLarge { limit: 4, .. })
        ));
        // An endless file stops at the limit.
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 1 << 20),
            Err(FsError::TooLarge { .. })
        ));
        let secret = read_secret_bounded(&path, 5).unwrap();
        assert_eq!(&secret[..], b"12345");
        assert_eq!(
            secret.capacity(),
            6,
            "sized once from the file, never grown"
        );
        assert!(read_secret_bounded(&path, 4).is_err());
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(read_to_string_bounded(&path, 10).is_err());
    }
}
