//! [`DiskKeyManager`]: keys in files of a directory, so a restarted server keeps its identity.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

use super::{CaKeyType, KeyManager, Signer, SoftSigner};
use crate::CaError;

/// Keeps each key as a PKCS#8 PEM file `<dir>/<id>.key`, mode 0600, written to a temporary
/// file, synced and renamed into place (a crash leaves the old key or the new one, never half a
/// key). The directory is created with mode 0700.
#[derive(Debug)]
pub struct DiskKeyManager {
    dir: PathBuf,
    cache: Mutex<HashMap<String, Arc<SoftSigner>>>,
}

impl DiskKeyManager {
    /// Opens (creating if needed) the key directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CaError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| CaError::io(&dir, e))?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| CaError::io(&dir, e))?;
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
            return Err(CaError::Crypto(format!(
                "key ID {id:?} must be made of [A-Za-z0-9._-] and not start with '.'"
            )));
        }
        Ok(self.dir.join(format!("{id}.key")))
    }
}

/// Writes `contents` to `path` atomically with the given mode: a temporary file in the same
/// directory, synced, then renamed over `path` (and the directory synced), so a crash leaves the
/// old contents or the new ones, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), CaError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        CaError::io(path, e)
    })
}

impl KeyManager for DiskKeyManager {
    fn generate(&self, id: &str, key_type: CaKeyType) -> Result<Arc<dyn Signer>, CaError> {
        let path = self.path(id)?;
        let signer = Arc::new(SoftSigner::generate(key_type)?);
        let pem = Zeroizing::new(spiffe_core::pem::encode("PRIVATE KEY", signer.pkcs8_der()));
        write_atomic(&path, pem.as_bytes(), 0o600)?;
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
        let pem = match fs::read(&path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CaError::io(&path, e)),
        };
        let der = PrivatePkcs8KeyDer::from_pem_slice(&pem).map_err(|e| CaError::Corrupt {
            path: path.clone(),
            reason: format!("not a PKCS#8 PEM key: {e}"),
        })?;
        let signer = Arc::new(SoftSigner::from_pkcs8(der.secret_pkcs8_der()).map_err(|e| {
            CaError::Corrupt {
                path: path.clone(),
                reason: e.to_string(),
            }
        })?);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), Arc::clone(&signer));
        Ok(Some(signer))
    }
}
