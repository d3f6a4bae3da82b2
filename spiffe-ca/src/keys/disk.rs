//! [`DiskKeyManager`]: keys in files of a directory, so a restarted server keeps its identity.

use std::collections::HashMap;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use super::{CaKeyType, KeyManager, Signer, SoftSigner};
use crate::{CaError, CryptoError};

/// Keeps each key as a PKCS#8 PEM file `<dir>/<id>.key`, mode 0600, written to a temporary
/// file, synced and renamed into place (a crash leaves the old key or the new one, never half a
/// key). The directory is created with mode 0700.
#[derive(Debug)]
pub struct DiskKeyManager {
    dir: PathBuf,
    cache: Mutex<HashMap<String, Arc<SoftSigner>>>,
}

impl DiskKeyManager {
    /// Opens the key directory: created with mode 0700 if missing (an existing one keeps its
    /// mode); refused if another user controls it or a directory above it
    /// ([`spiffe_fs::ensure_trusted_dir`]), since whoever can write there chooses the CA key.
    ///
    /// # Errors
    ///
    /// [`CaError::Io`] (permission denied) if the directory is not trusted or cannot be
    /// created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CaError> {
        let dir = dir.into();
        let dir = spiffe_fs::ensure_trusted_dir(&dir, "key directory", 0o700).map_err(|e| {
            CaError::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::PermissionDenied, e),
            )
        })?;
        Ok(DiskKeyManager {
            dir,
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn path(&self, id: &str) -> Result<PathBuf, CaError> {
        let ok = !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
            && !id.starts_with('.');
        if !ok {
            return Err(CryptoError::InvalidKeyId { id: id.to_owned() }.into());
        }
        Ok(self.dir.join(format!("{id}.key")))
    }
}

/// Writes `contents` to `path` atomically with `mode` ([`spiffe_fs::write_atomic`]).
pub(crate) fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    spiffe_fs::write_atomic(path, contents, mode).map_err(|e| match e {
        spiffe_fs::FsError::Io { source, .. } => CaError::io(path, source),
        other => CaError::io(path, std::io::Error::other(other)),
    })
}

/// The largest key file read (an RSA-4096 PKCS#8 PEM is about 3.3 KB).
const MAX_KEY_FILE: u64 = 64 * 1024;

impl KeyManager for DiskKeyManager {
    fn generate(&self, id: &str, key_type: CaKeyType) -> Result<Arc<dyn Signer>, CaError> {
        let path = self.path(id)?;
        let signer = Arc::new(SoftSigner::generate(key_type)?);
        write_atomic(&path, signer.to_pkcs8_pem().as_bytes(), 0o600)?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), Arc::clone(&signer));
        Ok(signer)
    }

    fn get(&self, id: &str) -> Result<Option<Arc<dyn Signer>>, CaError> {
        if let Some(s) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
        {
            return Ok(Some(Arc::clone(s) as Arc<dyn Signer>));
        }
        let path = self.path(id)?;
        let pem = match spiffe_fs::read_secret_bounded(&path, MAX_KEY_FILE) {
            Ok(bytes) => bytes,
            Err(spiffe_fs::FsError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e) => {
                return Err(CaError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let key = spiffe_core::PrivateKey::from_pkcs8_pem(&pem).map_err(|e| CaError::Corrupt {
            path: path.clone(),
            reason: format!("not a PKCS#8 PEM key: {e}"),
        })?;
        let signer =
            Arc::new(
                SoftSigner::from_pkcs8(key.pkcs8_der()).map_err(|e| CaError::Corrupt {
                    path: path.clone(),
                    reason: e.to_string(),
                })?,
            );
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), Arc::clone(&signer));
        Ok(Some(signer))
    }
}
