//! What the agent keeps on disk so a restart needs no new join token: its SVID chain, its key
//! (mode 0600), the last trust bundle, and whether it may attest again.

use std::path::{Path, PathBuf};

use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};
use spiffe_core::{PrivateKey, TrustDomain, X509Bundle, X509Error, X509Svid};
use thiserror::Error;
use zeroize::Zeroizing;

/// Why stored state could not be read or written.
#[derive(Debug, Error)]
pub enum StorageError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The data directory (or a file in it) could not be used safely: another user controls
    /// it, or it could not be created or written.
    #[error("{0}")]
    Files(#[from] spiffe_fs::FsError),
    /// A stored file does not parse.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The largest file the agent reads from its data directory or as a bootstrap bundle (a
/// bundle of a few hundred roots is well below it).
pub const MAX_FILE: u64 = 4 << 20;

/// The agent's persisted identity.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The agent SVID and key.
    pub svid: X509Svid,
    /// The last trust bundle received.
    pub bundle: X509Bundle,
    /// Whether the agent may attest again when evicted.
    pub reattestable: bool,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    reattestable: bool,
}

/// The files under the data directory.
#[derive(Debug, Clone)]
pub struct Storage {
    dir: PathBuf,
}

impl Storage {
    /// Storage in `dir` (created with mode 0700 when first loaded or written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Storage { dir: dir.into() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(path: &Path) -> Result<Option<Vec<u8>>, StorageError> {
        match spiffe_fs::read_bounded(path, MAX_FILE) {
            Ok(b) => Ok(Some(b)),
            Err(spiffe_fs::FsError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn read_secret(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, StorageError> {
        match spiffe_fs::read_secret_bounded(path, MAX_FILE) {
            Ok(b) => Ok(Some(b)),
            Err(spiffe_fs::FsError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn write(&self, name: &str, contents: &[u8], mode: u32) -> Result<(), StorageError> {
        let dir = self.dir()?;
        let path = dir.join(name);
        Ok(spiffe_fs::write_atomic(&path, contents, mode)?)
    }

    /// The data directory, trusted: created with mode 0700 if missing (an existing one keeps its
    /// mode), refused if another user controls it or a directory above it.
    fn dir(&self) -> Result<PathBuf, StorageError> {
        Ok(spiffe_fs::ensure_trusted_dir(
            &self.dir,
            "data directory",
            0o700,
        )?)
    }

    /// The stored identity, if complete. The data directory is checked (and created) first:
    /// nothing is read from a directory another user controls.
    ///
    /// # Errors
    ///
    /// [`StorageError`] if the directory cannot be used safely, a file cannot be read, or a
    /// stored file does not parse.
    pub fn load(&self, td: &TrustDomain) -> Result<Option<Stored>, StorageError> {
        self.dir()?;
        let (svid_path, key_path, bundle_path, meta_path) = (
            self.path("agent-svid.pem"),
            self.path("agent-key.pem"),
            self.path("bundle.pem"),
            self.path("agent-data.json"),
        );
        let (Some(chain), Some(key), Some(bundle)) = (
            Self::read(&svid_path)?,
            Self::read_secret(&key_path)?,
            Self::read(&bundle_path)?,
        ) else {
            return Ok(None);
        };
        let svid = X509Svid::parse_pem(&chain, &key).map_err(|e| StorageError::Corrupt {
            path: svid_path,
            reason: e.to_string(),
        })?;
        let bundle =
            X509Bundle::parse_pem(td.clone(), &bundle).map_err(|e| StorageError::Corrupt {
                path: bundle_path,
                reason: e.to_string(),
            })?;
        let reattestable = match Self::read(&meta_path)? {
            Some(raw) => {
                serde_json::from_slice::<Meta>(&raw)
                    .map_err(|e| StorageError::Corrupt {
                        path: meta_path,
                        reason: e.to_string(),
                    })?
                    .reattestable
            }
            None => false,
        };
        Ok(Some(Stored {
            svid,
            bundle,
            reattestable,
        }))
    }

    /// Stores the agent SVID (chain 0644, key 0600) and whether it may attest again.
    ///
    /// # Errors
    ///
    /// [`StorageError`] if a file cannot be written.
    pub fn store_svid(&self, svid: &X509Svid, reattestable: bool) -> Result<(), StorageError> {
        self.write(
            "agent-key.pem",
            svid.private_key().to_pkcs8_pem().as_bytes(),
            0o600,
        )?;
        self.write("agent-svid.pem", svid.chain_pem().as_bytes(), 0o644)?;
        let meta = serde_json::to_vec(&Meta { reattestable }).unwrap_or_default();
        self.write("agent-data.json", &meta, 0o600)
    }

    /// Stores the trust bundle.
    ///
    /// # Errors
    ///
    /// [`StorageError`] if the file cannot be written.
    pub fn store_bundle(&self, bundle: &X509Bundle) -> Result<(), StorageError> {
        self.write("bundle.pem", bundle.to_pem().as_bytes(), 0o644)
    }

    /// Forgets the stored SVID (after an eviction that cannot be undone).
    pub fn forget_svid(&self) {
        for name in ["agent-svid.pem", "agent-key.pem"] {
            let _ = std::fs::remove_file(self.path(name));
        }
    }
}

/// Reads a PEM bundle file (`-trustBundle`).
///
/// # Errors
///
/// [`StorageError`] if the file cannot be read (or is too large) or is not a PEM bundle.
pub fn read_bundle_file(td: &TrustDomain, path: &Path) -> Result<X509Bundle, StorageError> {
    let pem = spiffe_fs::read_bounded(path, MAX_FILE)?;
    X509Bundle::parse_pem(td.clone(), &pem).map_err(|e| StorageError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Why a key and CSR could not be made ([`new_key_and_csr`]).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The P-256 key could not be generated.
    #[error("generating a P-256 key: {0}")]
    Generate(#[source] rcgen::Error),
    /// The certificate signing request could not be built or signed.
    #[error("building the certificate signing request: {0}")]
    Request(#[source] rcgen::Error),
    /// The generated key could not be loaded as a signing key.
    #[error("loading the generated key: {0}")]
    Key(#[from] spiffe_core::KeyError),
}

/// A new P-256 key and a CSR for it (the SPIFFE ID is decided by the server).
///
/// # Errors
///
/// [`CsrError`] if the key cannot be generated or loaded, or the CSR cannot be signed.
pub fn new_key_and_csr() -> Result<(PrivateKey, Vec<u8>), CsrError> {
    let key = rcgen::KeyPair::generate().map_err(CsrError::Generate)?;
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .and_then(|p| p.serialize_request(&key))
        .map_err(CsrError::Request)?
        .der()
        .to_vec();
    let private = PrivateKey::from_pkcs8_der(&Zeroizing::new(key.serialize_der()))?;
    Ok((private, csr))
}

/// Builds an SVID from a chain the server returned and the key the CSR was made with.
///
/// # Errors
///
/// [`X509Error`] if the chain is not a valid X509-SVID or its leaf does not match `key`.
pub fn svid_from_chain(chain: Vec<Vec<u8>>, key: PrivateKey) -> Result<X509Svid, X509Error> {
    let chain = chain.into_iter().map(CertificateDer::from).collect();
    X509Svid::new(chain, key)
}
