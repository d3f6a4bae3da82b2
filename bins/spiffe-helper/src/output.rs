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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::time::Duration;

    use spiffe_ca::ManualClock;
    use spiffe_ca::testing::TestTrustDomain;

    use super::*;
    use crate::config::FileConfig;

    const ID: &str = "spiffe://example.org/ns/prod/sa/payment-service";

    fn config(dir: &Path, extra: &str) -> Config {
        FileConfig::parse(&format!(
            "cert_dir = \"{}\"\nsvid_file_name = \"svid.pem\"\nsvid_key_file_name = \"key.pem\"\nsvid_bundle_file_name = \"bundle.pem\"\n{extra}",
            dir.display()
        ))
        .unwrap()
        .validate(None, None)
        .unwrap()
    }

    fn writer(dir: &Path, extra: &str) -> X509Writer {
        let c = config(dir, extra);
        let files = c.x509.clone().unwrap();
        X509Writer::new(&c, &files)
    }

    fn pems(text: &str) -> Vec<String> {
        text.split_inclusive("-----END CERTIFICATE-----\n")
            .map(str::to_owned)
            .collect()
    }

    fn pem(der: &CertificateDer<'_>) -> String {
        spiffe_core::pem::encode("CERTIFICATE", der.as_ref())
    }

    /// example.org's SVID with `intermediate` after the leaf, and a bundle set holding
    /// example.org and `federated`.
    fn context(
        td: &TestTrustDomain,
        intermediate: &CertificateDer<'static>,
        federated: &TestTrustDomain,
    ) -> X509Context {
        let svid = td.x509_svid(ID).unwrap();
        let chain = vec![svid.leaf().clone(), intermediate.clone()];
        let key = spiffe_core::PrivateKey::from_pkcs8_der(svid.private_key().pkcs8_der()).unwrap();
        let svid = X509Svid::new(chain, key).unwrap();
        X509Context {
            svids: vec![Arc::new(svid)],
            bundles: td.bundle_set_with(&[federated]),
        }
    }

    fn root(td: &TestTrustDomain) -> CertificateDer<'static> {
        td.bundle_set().iter().next().unwrap().x509().authorities()[0].clone()
    }

    #[test]
    fn svid_key_and_bundle_as_spiffe_helper_writes_them() {
        let td = TestTrustDomain::new("example.org").unwrap();
        let other = TestTrustDomain::new("other.org").unwrap();
        let inter = root(&other);
        let ctx = context(&td, &inter, &other);
        let dir = tempfile::tempdir().unwrap();

        // Default: leaf then intermediates; the bundle is the own trust domain's CAs only.
        let w = writer(dir.path(), "");
        w.write(&ctx).unwrap();
        let svid = std::fs::read_to_string(dir.path().join("svid.pem")).unwrap();
        assert_eq!(pems(&svid), [pem(ctx.svids[0].leaf()), pem(&inter)]);
        let bundle = std::fs::read_to_string(dir.path().join("bundle.pem")).unwrap();
        assert_eq!(pems(&bundle), [pem(&root(&td))]);
        let key = std::fs::read_to_string(dir.path().join("key.pem")).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
        assert!(key.ends_with("-----END PRIVATE KEY-----\n"), "{key}");
        let mode = |f: &str| {
            std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(
            (mode("svid.pem"), mode("key.pem"), mode("bundle.pem")),
            (0o644, 0o600, 0o644)
        );

        // add_intermediates_to_bundle: the leaf alone; roots, then the intermediates.
        let w = writer(
            dir.path(),
            "add_intermediates_to_bundle = true\ncert_file_mode = 0444\nkey_file_mode = 0400\n",
        );
        w.write(&ctx).unwrap();
        let svid = std::fs::read_to_string(dir.path().join("svid.pem")).unwrap();
        assert_eq!(pems(&svid), [pem(ctx.svids[0].leaf())]);
        let bundle = std::fs::read_to_string(dir.path().join("bundle.pem")).unwrap();
        assert_eq!(pems(&bundle), [pem(&root(&td)), pem(&inter)]);
        assert_eq!(
            (mode("svid.pem"), mode("key.pem"), mode("bundle.pem")),
            (0o444, 0o400, 0o444)
        );
        // Files are replaced: nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);

        // include_federated_domains: the other trust domains' CAs after the own ones.
        let w = writer(dir.path(), "include_federated_domains = true\n");
        let files = w.render(&ctx).unwrap();
        assert_eq!(pems(&files.bundle), [pem(&root(&td)), pem(&root(&other))]);
    }

    #[test]
    fn omit_expired_leaves_out_expired_certificates() {
        let td = TestTrustDomain::new("example.org").unwrap();
        // A CA minted two days ago with a 24-h life has expired.
        let past = ManualClock::new(SystemTime::now() - Duration::from_secs(2 * 86_400));
        let old = TestTrustDomain::with_clock("old.org", Arc::new(past)).unwrap();
        let expired = root(&old);
        let ctx = context(&td, &expired, &old);
        let dir = tempfile::tempdir().unwrap();
        let keep = writer(dir.path(), "include_federated_domains = true\n")
            .render(&ctx)
            .unwrap();
        assert_eq!(pems(&keep.svid).len(), 2);
        assert_eq!(pems(&keep.bundle).len(), 2);
        let omit = writer(
            dir.path(),
            "include_federated_domains = true\nomit_expired = true\n",
        )
        .render(&ctx)
        .unwrap();
        assert_eq!(pems(&omit.svid), [pem(ctx.svids[0].leaf())]);
        assert_eq!(pems(&omit.bundle), [pem(&root(&td))]);
    }

    #[test]
    fn the_hint_picks_the_svid() {
        let td = TestTrustDomain::new("example.org").unwrap();
        let a = td.x509_svid(ID).unwrap().with_hint("external");
        let b = td
            .x509_svid("spiffe://example.org/ns/prod/sa/internal")
            .unwrap()
            .with_hint("internal");
        let ctx = X509Context {
            svids: vec![Arc::new(a), Arc::new(b)],
            bundles: td.bundle_set(),
        };
        let dir = tempfile::tempdir().unwrap();
        let first = writer(dir.path(), "").pick(&ctx).unwrap();
        assert_eq!(first.spiffe_id().to_string(), ID);
        let hinted = writer(dir.path(), "hint = \"internal\"\n")
            .pick(&ctx)
            .unwrap();
        assert_eq!(hinted.hint(), Some("internal"));
        let err = writer(dir.path(), "hint = \"nope\"\n")
            .pick(&ctx)
            .unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
        assert!(err.to_string().contains("\"internal\""), "{err}");
    }

    #[test]
    fn the_jwt_bundle_file_maps_trust_domains_to_base64_jwks() {
        let td = TestTrustDomain::new("example.org").unwrap();
        let other = TestTrustDomain::new("other.org").unwrap();
        let text = render_jwt_bundles(&td.bundle_set_with(&[&other]));
        let map: BTreeMap<String, String> = serde_json::from_str(&text).unwrap();
        assert_eq!(map.keys().collect::<Vec<_>>(), ["example.org", "other.org"]);
        for (name, b64) in &map {
            let jwks: serde_json::Value =
                serde_json::from_slice(&STANDARD.decode(b64).unwrap()).unwrap();
            let object = jwks.as_object().unwrap();
            assert_eq!(
                object.keys().collect::<Vec<_>>(),
                ["keys"],
                "{name}: {jwks}"
            );
            let keys = jwks["keys"].as_array().unwrap();
            assert!(!keys.is_empty(), "{name}");
            for k in keys {
                assert!(k["kid"].is_string() && k["kty"].is_string(), "{k}");
                assert!(k.get("use").is_none() && k.get("x5c").is_none(), "{k}");
            }
            // The JWKS is one go-spiffe and spiffe-core parse back.
            let parsed = spiffe_core::JwtBundle::parse_jwks(
                spiffe_core::TrustDomain::parse(name).unwrap(),
                &STANDARD.decode(b64).unwrap(),
            )
            .unwrap();
            assert_eq!(parsed.len(), keys.len());
        }
    }

    #[test]
    fn jwt_svid_files_hold_the_token_alone() {
        let td = TestTrustDomain::new("example.org").unwrap();
        let a = td.jwt_svid(ID, &["user-service"]).unwrap();
        let b = td
            .jwt_svid(
                "spiffe://example.org/ns/prod/sa/internal",
                &["user-service"],
            )
            .unwrap()
            .with_hint("internal");
        let svids = [a, b];
        assert_eq!(
            pick_jwt(&svids, None, "user-service")
                .unwrap()
                .spiffe_id()
                .to_string(),
            ID
        );
        assert_eq!(
            pick_jwt(&svids, Some("internal"), "user-service")
                .unwrap()
                .hint(),
            Some("internal")
        );
        assert!(pick_jwt(&svids, Some("x"), "user-service").is_err());
        assert!(pick_jwt(&[], None, "user-service").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt.token");
        write_jwt_svid(&path, &svids[0], 0o600).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), svids[0].token());
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
            0o600
        );
    }

    #[test]
    fn a_missing_cert_dir_is_an_error_naming_the_file() {
        let td = TestTrustDomain::new("example.org").unwrap();
        let other = TestTrustDomain::new("other.org").unwrap();
        let ctx = context(&td, &root(&other), &other);
        let dir = tempfile::tempdir().unwrap();
        let err = writer(&dir.path().join("missing"), "")
            .write(&ctx)
            .unwrap_err();
        assert!(err.to_string().contains("svid.pem"), "{err}");
    }
}
