//! The journal: the authority's slots and published keys, on disk, so a restarted server keeps
//! its active CA and JWT key (the keys themselves live in the key manager).
//!
//! This module reads and writes the file; [`codec`] turns the state into records and back.

mod codec;

pub(crate) use codec::{restore_state, to_journal};

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Serialize};

use crate::CaError;
use crate::keys::disk::write_atomic;
use crate::rotation::{AuthorityStatus, SlotId};

/// The current journal format.
const VERSION: u32 = 1;

/// An X.509 slot as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct X509Record {
    pub(crate) slot: SlotId,
    pub(crate) status: AuthorityStatus,
    /// This CA's certificate (base64 DER).
    pub(crate) cert: String,
    /// What follows a leaf in its SVID chains (base64 DER).
    pub(crate) chain: Vec<String>,
    /// The published roots (base64 DER).
    pub(crate) roots: Vec<String>,
}

/// A JWT slot as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JwtRecord {
    pub(crate) slot: SlotId,
    pub(crate) status: AuthorityStatus,
    pub(crate) kid: String,
    pub(crate) alg: String,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
}

/// A published X.509 authority as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PublishedX509Record {
    pub(crate) id: String,
    pub(crate) roots: Vec<String>,
    pub(crate) not_after: i64,
    pub(crate) tainted: bool,
}

/// A published JWT key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PublishedJwtRecord {
    pub(crate) kid: String,
    /// DER SubjectPublicKeyInfo, base64.
    pub(crate) spki: String,
    pub(crate) not_after: i64,
    pub(crate) tainted: bool,
}

/// The whole journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JournalData {
    pub(crate) version: u32,
    pub(crate) sequence: u64,
    pub(crate) x509: Vec<X509Record>,
    pub(crate) jwt: Vec<JwtRecord>,
    pub(crate) published_x509: Vec<PublishedX509Record>,
    pub(crate) published_jwt: Vec<PublishedJwtRecord>,
}

/// The journal file.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    path: PathBuf,
}

impl Journal {
    pub(crate) fn new(path: PathBuf) -> Self {
        Journal { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stored journal, if there is one.
    pub(crate) fn load(&self) -> Result<Option<JournalData>, CaError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CaError::io(&self.path, e)),
        };
        let data: JournalData = serde_json::from_slice(&bytes).map_err(|e| CaError::Corrupt {
            path: self.path.clone(),
            reason: format!("journal is not valid: {e}"),
        })?;
        if data.version != VERSION {
            return Err(CaError::Corrupt {
                path: self.path.clone(),
                reason: format!("journal version {} is not supported", data.version),
            });
        }
        Ok(Some(data))
    }

    /// Replaces the stored journal atomically.
    pub(crate) fn store(&self, data: &JournalData) -> Result<(), CaError> {
        let json = serde_json::to_vec_pretty(data).map_err(|e| CaError::Corrupt {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CaError::io(dir, e))?;
        }
        write_atomic(&self.path, &json, 0o600)
    }

    pub(crate) fn corrupt(&self, reason: impl Into<String>) -> CaError {
        CaError::Corrupt {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
}

impl JournalData {
    pub(crate) fn empty() -> Self {
        JournalData {
            version: VERSION,
            sequence: 0,
            x509: Vec::new(),
            jwt: Vec::new(),
            published_x509: Vec::new(),
            published_jwt: Vec::new(),
        }
    }
}

/// Encodes DER certificates for the journal.
pub(crate) fn encode_certs(certs: &[CertificateDer<'_>]) -> Vec<String> {
    certs.iter().map(|c| STANDARD.encode(c)).collect()
}

/// Decodes DER certificates from the journal.
pub(crate) fn decode_certs(
    journal: &Journal,
    values: &[String],
) -> Result<Vec<CertificateDer<'static>>, CaError> {
    values
        .iter()
        .map(|v| {
            STANDARD
                .decode(v)
                .map(CertificateDer::from)
                .map_err(|e| journal.corrupt(format!("certificate is not base64: {e}")))
        })
        .collect()
}
