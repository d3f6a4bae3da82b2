//! The files, in the formats spiffe-helper writes, each replaced atomically (a temporary file
//! in the same directory, renamed over the old one) with its configured mode.
//!
//! - SVID file: the leaf certificate, then the intermediates unless
//!   `add_intermediates_to_bundle` (PEM `CERTIFICATE` blocks);
//! - key file: the private key as a PKCS#8 `PRIVATE KEY` PEM block;
//! - bundle file: the CA certificates of the SVID's trust domain, then the intermediates when
//!   `add_intermediates_to_bundle`, then the federated trust domains' CAs when
//!   `include_federated_domains`; with `omit_expired`, certificates past their `notAfter` are
//!   left out of both certificate files;
//! - JWT-SVID file: the token, nothing else (no line break);
//! - JWT bundle file: a JSON object from trust domain name to the standard base64 of that trust
//!   domain's JWKS (`{"keys":[...]}`, the JWT authorities with their `kid`, no SPIFFE members).
//!
//! The SVID file and the bundle take `cert_file_mode`, the key `key_file_mode`. The order of
//! the writes is spiffe-helper's: SVID, key, bundle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use spiffe_core::x509::{CertificateDer, CertificateInfo};
use spiffe_core::{BundleSet, JwtSvid, X509Svid};
use spiffe_workload::X509Context;
use thiserror::Error;
use zeroize::Zeroizing;

use crate::config::{Config, X509Files};

/// Why files could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OutputError {
    /// A file could not be written (the error names it and the step).
    #[error(transparent)]
    Write(#[from] spiffe_fs::FsError),
    /// No SVID carries the configured hint.
    #[error("no X509-SVID with hint {hint:?} (hints present: {present})")]
    NoHintedX509Svid {
        /// The hint.
        hint: String,
        /// The hints the agent sent.
        present: String,
    },
    /// No JWT-SVID carries the configured hint.
    #[error("no JWT-SVID with hint {hint:?} for audience {audience:?}")]
    NoHintedJwtSvid {
        /// The hint.
        hint: String,
        /// The audience asked for.
        audience: String,
    },
    /// The agent sent no SVID.
    #[error("the Workload API sent no {what}")]
    Empty {
        /// `X509-SVID`, `JWT-SVID`.
        what: &'static str,
    },
    /// No bundle for the SVID's trust domain.
    #[error("no bundles found for {trust_domain:?} trust domain")]
    NoBundle {
        /// The trust domain.
        trust_domain: String,
    },
}

/// The contents of the three X.509 files.
#[derive(Debug)]
pub struct X509Contents {
    /// The SVID file: leaf, and intermediates unless they go to the bundle.
    pub svid: String,
    /// The key file (zeroized on drop).
    pub key: Zeroizing<String>,
    /// The bundle file.
    pub bundle: String,
}

/// Where the X.509 files go and how they are made.
#[derive(Debug, Clone)]
pub struct X509Writer {
    svid: PathBuf,
    key: PathBuf,
    bundle: PathBuf,
    cert_mode: u32,
    key_mode: u32,
    add_intermediates_to_bundle: bool,
    include_federated_domains: bool,
    omit_expired: bool,
    hint: Option<String>,
}

impl X509Writer {
    /// The writer of `config`'s X.509 files.
    pub fn new(config: &Config, files: &X509Files) -> Self {
        X509Writer {
            svid: config.cert_dir.join(&files.svid),
            key: config.cert_dir.join(&files.key),
            bundle: config.cert_dir.join(&files.bundle),
            cert_mode: config.cert_file_mode,
            key_mode: config.key_file_mode,
            add_intermediates_to_bundle: config.add_intermediates_to_bundle,
            include_federated_domains: config.include_federated_domains,
            omit_expired: config.omit_expired,
            hint: config.hint.clone(),
        }
    }

    /// The SVID the files are written for: the one with the hint, else the default (first).
    ///
    /// # Errors
    ///
    /// [`OutputError::Empty`] or [`OutputError::NoHintedX509Svid`].
    pub fn pick<'a>(&self, context: &'a X509Context) -> Result<&'a X509Svid, OutputError> {
        match &self.hint {
            None => context
                .default_svid()
                .map(AsRef::as_ref)
                .ok_or(OutputError::Empty { what: "X509-SVID" }),
            Some(hint) => context
                .svids
                .iter()
                .find(|s| s.hint() == Some(hint.as_str()))
                .map(AsRef::as_ref)
                .ok_or_else(|| OutputError::NoHintedX509Svid {
                    hint: hint.clone(),
                    present: context
                        .svids
                        .iter()
                        .map(|s| format!("{:?}", s.hint().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(", "),
                }),
        }
    }

    /// The three files' contents for `context`.
    ///
    /// # Errors
    ///
    /// As [`X509Writer::pick`], or [`OutputError::NoBundle`].
    pub fn render(&self, context: &X509Context) -> Result<X509Contents, OutputError> {
        let svid = self.pick(context)?;
        let td = svid.spiffe_id().trust_domain();
        let own = context
            .bundles
            .get(td.name())
            .ok_or_else(|| OutputError::NoBundle {
                trust_domain: td.name().to_owned(),
            })?;
        let chain = svid.chain();
        let mut bundle: Vec<&CertificateDer<'static>> = own.x509().authorities().iter().collect();
        let certs: Vec<&CertificateDer<'static>> = if self.add_intermediates_to_bundle {
            bundle.extend(chain.iter().skip(1));
            chain.iter().take(1).collect()
        } else {
            chain.iter().collect()
        };
        if self.include_federated_domains {
            for other in context.bundles.iter() {
                if other.trust_domain().name() != td.name() {
                    bundle.extend(other.x509().authorities());
                }
            }
        }
        let now = SystemTime::now();
        let pem = |certs: &[&CertificateDer<'static>]| -> String {
            certs
                .iter()
                .filter(|c| !self.omit_expired || !expired(c, now))
                .map(|c| spiffe_core::pem::encode("CERTIFICATE", c.as_ref()))
                .collect()
        };
        Ok(X509Contents {
            svid: pem(&certs),
            key: svid.private_key().to_pkcs8_pem(),
            bundle: pem(&bundle),
        })
    }

    /// Writes the files for `context`.
    ///
    /// # Errors
    ///
    /// As [`X509Writer::render`], or [`OutputError::Write`] naming the file.
    pub fn write(&self, context: &X509Context) -> Result<(), OutputError> {
        let files = self.render(context)?;
        spiffe_fs::write_atomic(&self.svid, files.svid.as_bytes(), self.cert_mode)?;
        spiffe_fs::write_atomic(&self.key, files.key.as_bytes(), self.key_mode)?;
        spiffe_fs::write_atomic(&self.bundle, files.bundle.as_bytes(), self.cert_mode)?;
        Ok(())
    }
}

/// Whether a certificate's `notAfter` has passed (one that does not parse counts as current:
/// it came from the agent, which checked it).
fn expired(cert: &CertificateDer<'_>, now: SystemTime) -> bool {
    CertificateInfo::parse(cert).is_ok_and(|info| info.expires_at() < now)
}

/// The JWT bundle file's contents: trust domain name to base64 of its JWKS.
pub fn render_jwt_bundles(bundles: &BundleSet) -> String {
    let map: BTreeMap<&str, String> = bundles
        .iter()
        .map(|b| {
            (
                b.trust_domain().name(),
                STANDARD.encode(plain_jwks(b.jwt())),
            )
        })
        .collect();
    // A map of strings always serializes.
    serde_json::to_string(&map).unwrap_or_default()
}

/// A JWT bundle as an RFC 7517 JWK Set without SPIFFE's members (`use`, sequence, refresh
/// hint), as go-spiffe's `jwtbundle.Bundle.Marshal` writes it.
fn plain_jwks(bundle: &spiffe_core::JwtBundle) -> String {
    let mut doc: serde_json::Value = match serde_json::from_str(&bundle.to_json()) {
        Ok(v) => v,
        Err(_) => return r#"{"keys":[]}"#.to_owned(),
    };
    if let Some(object) = doc.as_object_mut() {
        object.retain(|k, _| k == "keys");
        if let Some(keys) = object.get_mut("keys").and_then(|k| k.as_array_mut()) {
            for key in keys.iter_mut().filter_map(|k| k.as_object_mut()) {
                key.remove("use");
            }
        }
    }
    doc.to_string()
}

/// Writes the JWT bundle file.
///
/// # Errors
///
/// [`OutputError::Write`] naming the file.
pub fn write_jwt_bundles(path: &Path, bundles: &BundleSet, mode: u32) -> Result<(), OutputError> {
    spiffe_fs::write_atomic(path, render_jwt_bundles(bundles).as_bytes(), mode)?;
    Ok(())
}

/// The JWT-SVID to write among those the agent sent: the one with `hint`, else the first.
///
/// # Errors
///
/// [`OutputError::Empty`] or [`OutputError::NoHintedJwtSvid`].
pub fn pick_jwt<'a>(
    svids: &'a [JwtSvid],
    hint: Option<&str>,
    audience: &str,
) -> Result<&'a JwtSvid, OutputError> {
    match hint {
        None => svids.first().ok_or(OutputError::Empty { what: "JWT-SVID" }),
        Some(hint) => svids
            .iter()
            .find(|s| s.hint() == Some(hint))
            .ok_or_else(|| OutputError::NoHintedJwtSvid {
                hint: hint.to_owned(),
                audience: audience.to_owned(),
            }),
    }
}

/// Writes a JWT-SVID file: the token alone.
///
/// # Errors
///
/// [`OutputError::Write`] naming the file.
pub fn write_jwt_svid(path: &Path, svid: &JwtSvid, mode: u32) -> Result<(), OutputError> {
    spiffe_fs::write_atomic(path, svid.token().as_bytes(), mode)?;
    Ok(())
}
