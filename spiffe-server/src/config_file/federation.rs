//! The `[federation]` table: SPIRE's `federation { bundle_endpoint { ... } federates_with "td"
//! { ... } }` block written as TOML, with SPIRE's names.
//!
//! ```toml
//! [federation.bundle_endpoint]
//! address = "0.0.0.0"
//! port = 8443
//! refresh_hint = "5m"
//! [federation.bundle_endpoint.profile.https_web.serving_cert_file]
//! cert_file_path = "/etc/spiffe/bundle-endpoint.crt"
//! key_file_path = "/etc/spiffe/bundle-endpoint.key"
//! file_sync_interval = "1h"
//! # or: [federation.bundle_endpoint.profile.https_spiffe]
//!
//! [federation.federates_with."partner.org"]
//! bundle_endpoint_url = "https://partner.example:8443"
//! [federation.federates_with."partner.org".bundle_endpoint_profile.https_spiffe]
//! endpoint_spiffe_id = "spiffe://partner.org/spire/server"
//!
//! [federation.federates_with."web.org"]
//! bundle_endpoint_url = "https://bundle.web.example/"
//! [federation.federates_with."web.org".bundle_endpoint_profile.https_web]
//! ```
//!
//! A `bundle_endpoint` without a profile serves `https_spiffe`, as SPIRE does. ACME (`acme`,
//! alone or inside `https_web`) is recognised and refused: no ACME server can be reached from
//! where this server is tested, so it is not offered.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use spiffe_core::TrustDomain;
use spiffe_fs::config::{DurationValue, EmptyData};

use super::ConfigFileError;
use super::resolve::socket_addr;
use crate::federation::{
    BundleEndpointConfig, DEFAULT_FILE_SYNC_INTERVAL, DEFAULT_REFRESH_HINT, EndpointProfile,
    EndpointUrl, FederationConfig, FederationRelationship, PROFILE_HTTPS_SPIFFE, PROFILE_HTTPS_WEB,
    ServeProfile,
};

/// The bundle endpoint's address unless configured.
const DEFAULT_ADDRESS: &str = "0.0.0.0";
/// The bundle endpoint's port unless configured (SPIRE has no default; HTTPS's port).
const DEFAULT_PORT: u16 = 443;

/// `[federation]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationFile {
    /// The server's own bundle endpoint.
    pub bundle_endpoint: Option<BundleEndpointFile>,
    /// The trust domains this server federates with, by name.
    pub federates_with: Option<BTreeMap<String, FederatesWithFile>>,
}

/// `[federation.bundle_endpoint]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleEndpointFile {
    /// IP address to listen on (default `0.0.0.0`).
    pub address: Option<String>,
    /// TCP port (default 443).
    pub port: Option<u16>,
    /// The `spiffe_refresh_hint` published (default 5 minutes).
    pub refresh_hint: Option<DurationValue>,
    /// SPIRE's deprecated place for ACME settings: refused.
    pub acme: Option<AcmeFile>,
    /// `profile.https_spiffe` or `profile.https_web`.
    pub profile: Option<ServeProfileFile>,
}

/// `[federation.bundle_endpoint.profile]`: exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeProfileFile {
    /// Serve with the server's own X509-SVID.
    pub https_spiffe: Option<EmptyData>,
    /// Serve with a Web PKI certificate.
    pub https_web: Option<HttpsWebFile>,
}

/// `[federation.bundle_endpoint.profile.https_web]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsWebFile {
    /// ACME: refused.
    pub acme: Option<AcmeFile>,
    /// The certificate and key files.
    pub serving_cert_file: Option<ServingCertFile>,
}

/// SPIRE's ACME settings: read so that they can be refused by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeFile {
    /// Directory endpoint URL.
    pub directory_url: Option<String>,
    /// Domain name.
    pub domain_name: Option<String>,
    /// Contact address.
    pub email: Option<String>,
    /// Terms of service accepted.
    pub tos_accepted: Option<bool>,
}

/// `[federation.bundle_endpoint.profile.https_web.serving_cert_file]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServingCertFile {
    /// The certificate chain (PEM, leaf first).
    pub cert_file_path: Option<PathBuf>,
    /// Its private key (PEM).
    pub key_file_path: Option<PathBuf>,
    /// How often the files are checked for changes (default 1 hour).
    pub file_sync_interval: Option<DurationValue>,
}

/// `[federation.federates_with."<trust domain>"]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatesWithFile {
    /// The foreign bundle endpoint's URL (`https://`).
    pub bundle_endpoint_url: Option<String>,
    /// `bundle_endpoint_profile.https_spiffe` or `bundle_endpoint_profile.https_web`.
    pub bundle_endpoint_profile: Option<ClientProfileFile>,
}

/// `[federation.federates_with."<td>".bundle_endpoint_profile]`: exactly one of the two.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientProfileFile {
    /// SPIFFE authentication of the endpoint.
    pub https_spiffe: Option<HttpsSpiffeFile>,
    /// Web PKI authentication of the endpoint.
    pub https_web: Option<EmptyData>,
}

/// `[federation.federates_with."<td>".bundle_endpoint_profile.https_spiffe]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsSpiffeFile {
    /// The SPIFFE ID the endpoint must present.
    pub endpoint_spiffe_id: Option<String>,
}

const ACME_REFUSED: &str = "ACME is not supported (it cannot be tested here); use https_web with serving_cert_file, or https_spiffe";

impl FederationFile {
    /// The federation settings for a server of trust domain `own`.
    pub(super) fn resolve(&self, own: &TrustDomain) -> Result<FederationConfig, ConfigFileError> {
        let mut out = FederationConfig::default();
        if let Some(endpoint) = &self.bundle_endpoint {
            out.bundle_endpoint = Some(endpoint.resolve()?);
        }
        for (name, relationship) in self.federates_with.iter().flatten() {
            let td = TrustDomain::parse(name).map_err(|e| {
                ConfigFileError::invalid(
                    format!("federation.federates_with[{name:?}]"),
                    format!("federation.federates_with[{name:?}]: invalid trust domain: {e}"),
                )
            })?;
            let relationship = relationship.resolve(name, td.clone())?;
            relationship.check_for(own).map_err(|e| {
                ConfigFileError::invalid(
                    format!("federation.federates_with[{name:?}]"),
                    format!("federation.federates_with[{name:?}]: {e}"),
                )
            })?;
            out.federates_with.insert(td, relationship);
        }
        Ok(out)
    }
}

impl BundleEndpointFile {
    fn resolve(&self) -> Result<BundleEndpointConfig, ConfigFileError> {
        const KEY: &str = "federation.bundle_endpoint";
        let address = socket_addr(
            "federation.bundle_endpoint.address",
            self.address
                .as_deref()
                .filter(|a| !a.is_empty())
                .unwrap_or(DEFAULT_ADDRESS),
            self.port.unwrap_or(DEFAULT_PORT),
        )?;
        let mut config = BundleEndpointConfig::new(address);
        config.refresh_hint = match &self.refresh_hint {
            Some(v) => v.get("federation.bundle_endpoint.refresh_hint")?,
            None => DEFAULT_REFRESH_HINT,
        };
        if config.refresh_hint.as_secs() == 0 {
            return Err(ConfigFileError::invalid(
                "federation.bundle_endpoint.refresh_hint",
                "federation.bundle_endpoint.refresh_hint must be at least 1s",
            ));
        }
        if self.acme.is_some() {
            return Err(ConfigFileError::invalid(
                format!("{KEY}.acme"),
                format!("{KEY}.acme: {ACME_REFUSED}"),
            ));
        }
        config.profile = match &self.profile {
            None => ServeProfile::HttpsSpiffe,
            Some(p) => match (&p.https_spiffe, &p.https_web) {
                (Some(_), None) => ServeProfile::HttpsSpiffe,
                (None, Some(web)) => web.resolve()?,
                _ => {
                    return Err(ConfigFileError::invalid(
                        format!("{KEY}.profile"),
                        format!(
                            "{KEY}.profile: exactly one bundle endpoint profile is expected (\"https_spiffe\" or \"https_web\")"
                        ),
                    ));
                }
            },
        };
        Ok(config)
    }
}

impl HttpsWebFile {
    fn resolve(&self) -> Result<ServeProfile, ConfigFileError> {
        const KEY: &str = "federation.bundle_endpoint.profile.https_web";
        if self.acme.is_some() {
            return Err(ConfigFileError::invalid(
                format!("{KEY}.acme"),
                format!("{KEY}.acme: {ACME_REFUSED}"),
            ));
        }
        let Some(files) = &self.serving_cert_file else {
            return Err(ConfigFileError::invalid(
                KEY,
                format!(
                    "{KEY}: malformed https_web profile configuration: 'serving_cert_file' is required"
                ),
            ));
        };
        let path = |field: &str, value: &Option<PathBuf>| match value {
            Some(p) if !p.as_os_str().is_empty() => Ok(p.clone()),
            _ => Err(ConfigFileError::invalid(
                format!("{KEY}.serving_cert_file.{field}"),
                format!("{KEY}.serving_cert_file.{field} must be configured"),
            )),
        };
        let file_sync_interval = match &files.file_sync_interval {
            Some(v) => v.get(
                "federation.bundle_endpoint.profile.https_web.serving_cert_file.file_sync_interval",
            )?,
            None => DEFAULT_FILE_SYNC_INTERVAL,
        };
        Ok(ServeProfile::HttpsWeb {
            cert_file: path("cert_file_path", &files.cert_file_path)?,
            key_file: path("key_file_path", &files.key_file_path)?,
            // As SPIRE: zero means the default.
            file_sync_interval: if file_sync_interval.is_zero() {
                DEFAULT_FILE_SYNC_INTERVAL
            } else {
                file_sync_interval
            },
        })
    }
}

impl FederatesWithFile {
    fn resolve(
        &self,
        name: &str,
        trust_domain: TrustDomain,
    ) -> Result<FederationRelationship, ConfigFileError> {
        let key = format!("federation.federates_with[{name:?}]");
        let url = match self.bundle_endpoint_url.as_deref() {
            None | Some("") => {
                return Err(ConfigFileError::invalid(
                    format!("{key}.bundle_endpoint_url"),
                    format!("{key}.bundle_endpoint_url must be configured"),
                ));
            }
            Some(url) => EndpointUrl::parse(url).map_err(|e| {
                ConfigFileError::invalid(
                    format!("{key}.bundle_endpoint_url"),
                    format!("{key}: {e}"),
                )
            })?,
        };
        let profile = match &self.bundle_endpoint_profile {
            None => {
                return Err(ConfigFileError::invalid(
                    format!("{key}.bundle_endpoint_profile"),
                    format!(
                        "federation configuration for trust domain {name:?}: missing bundle endpoint configuration"
                    ),
                ));
            }
            Some(p) => match (&p.https_spiffe, &p.https_web) {
                (None, Some(_)) => EndpointProfile::from_parts(PROFILE_HTTPS_WEB, ""),
                (Some(s), None) => EndpointProfile::from_parts(
                    PROFILE_HTTPS_SPIFFE,
                    s.endpoint_spiffe_id.as_deref().unwrap_or_default(),
                ),
                _ => {
                    return Err(ConfigFileError::invalid(
                        format!("{key}.bundle_endpoint_profile"),
                        format!(
                            "{key}.bundle_endpoint_profile: exactly one bundle endpoint profile is expected (\"https_spiffe\" or \"https_web\")"
                        ),
                    ));
                }
            }
            .map_err(|e| {
                ConfigFileError::invalid(
                    format!("{key}.bundle_endpoint_profile"),
                    format!("{key}.bundle_endpoint_profile: {e}"),
                )
            })?,
        };
        Ok(FederationRelationship {
            trust_domain,
            bundle_endpoint_url: url,
            profile,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::parse;
    use crate::federation::{EndpointProfile, ServeProfile};

    const BASE: &str = "trust_domain = \"example.org\"\ndata_dir = \"/tmp/x\"\n";

    fn federation(text: &str) -> Result<crate::federation::FederationConfig, String> {
        parse(&format!("{BASE}{text}"))
            .and_then(|f| f.resolve())
            .map(|r| r.config.federation)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn spire_names_map_to_the_federation_config() {
        let f = federation(
            r#"
            [server.federation.bundle_endpoint]
            address = "127.0.0.1"
            port = 8443
            refresh_hint = "10m"
            [server.federation.bundle_endpoint.profile.https_web.serving_cert_file]
            cert_file_path = "/c.pem"
            key_file_path = "/k.pem"
            [server.federation.federates_with."partner.org"]
            bundle_endpoint_url = "https://partner.example:8443"
            [server.federation.federates_with."partner.org".bundle_endpoint_profile.https_spiffe]
            endpoint_spiffe_id = "spiffe://partner.org/spire/server"
            [server.federation.federates_with."web.org"]
            bundle_endpoint_url = "https://bundle.web.example/td"
            [server.federation.federates_with."web.org".bundle_endpoint_profile.https_web]
            "#,
        );
        let f = f.as_ref();
        let endpoint = f.ok().and_then(|f| f.bundle_endpoint.clone());
        assert_eq!(
            endpoint.as_ref().map(|e| e.address.to_string()),
            Some("127.0.0.1:8443".into())
        );
        assert_eq!(
            endpoint.as_ref().map(|e| e.refresh_hint),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            endpoint.map(|e| e.profile),
            Some(ServeProfile::HttpsWeb {
                cert_file: "/c.pem".into(),
                key_file: "/k.pem".into(),
                file_sync_interval: Duration::from_secs(3600),
            })
        );
        let rels: Vec<(String, String, String)> = f
            .map(|f| {
                f.federates_with
                    .iter()
                    .map(|(td, r)| {
                        (
                            td.to_string(),
                            r.bundle_endpoint_url.to_string(),
                            match &r.profile {
                                EndpointProfile::HttpsWeb => "web".to_owned(),
                                EndpointProfile::HttpsSpiffe { endpoint_spiffe_id } => {
                                    endpoint_spiffe_id.to_string()
                                }
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            rels,
            vec![
                (
                    "partner.org".into(),
                    "https://partner.example:8443".into(),
                    "spiffe://partner.org/spire/server".into()
                ),
                (
                    "web.org".into(),
                    "https://bundle.web.example/td".into(),
                    "web".into()
                ),
            ]
        );
    }

    /// The example of this module's documentation (and of the README) resolves.
    #[test]
    fn the_documented_example_resolves() {
        let doc = include_str!("federation.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| *l != "//! ```toml")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        assert!(
            example.contains("[federation.bundle_endpoint]"),
            "{example}"
        );
        let f = federation(&example);
        let f = f.as_ref();
        assert_eq!(
            f.map(|f| f.bundle_endpoint.as_ref().map(|e| e.profile.name())),
            Ok(Some("https_web"))
        );
        assert_eq!(f.map(|f| f.federates_with.len()), Ok(2));
    }

    #[test]
    fn defaults_like_spire() {
        let f = federation("[federation.bundle_endpoint]\n");
        let e = f.ok().and_then(|f| f.bundle_endpoint);
        assert_eq!(
            e.as_ref().map(|e| e.address.to_string()),
            Some("0.0.0.0:443".into())
        );
        assert_eq!(
            e.as_ref().map(|e| e.refresh_hint),
            Some(Duration::from_secs(300))
        );
        assert_eq!(e.map(|e| e.profile), Some(ServeProfile::HttpsSpiffe));
        let none = federation("");
        assert!(none.is_ok_and(|f| f.bundle_endpoint.is_none() && f.federates_with.is_empty()));
    }

    #[test]
    fn refused_settings_name_the_key() {
        let cases = [
            (
                "[federation.federates_with.\"p.org\"]\nbundle_endpoint_url = \"http://p\"\n[federation.federates_with.\"p.org\".bundle_endpoint_profile.https_web]\n",
                "federation.federates_with[\"p.org\"]: bundle_endpoint_url \"http://p\": must use the https scheme",
            ),
            (
                "[federation.federates_with.\"p.org\"]\n[federation.federates_with.\"p.org\".bundle_endpoint_profile.https_web]\n",
                "federation.federates_with[\"p.org\"].bundle_endpoint_url must be configured",
            ),
            (
                "[federation.federates_with.\"p.org\"]\nbundle_endpoint_url = \"https://p\"\n",
                "federation configuration for trust domain \"p.org\": missing bundle endpoint configuration",
            ),
            (
                "[federation.federates_with.\"p.org\"]\nbundle_endpoint_url = \"https://p\"\n[federation.federates_with.\"p.org\".bundle_endpoint_profile.https_spiffe]\n",
                "federation.federates_with[\"p.org\"].bundle_endpoint_profile: endpoint_spiffe_id \"\": is required by the https_spiffe profile",
            ),
            (
                "[federation.federates_with.\"example.org\"]\nbundle_endpoint_url = \"https://p\"\n[federation.federates_with.\"example.org\".bundle_endpoint_profile.https_web]\n",
                "federation.federates_with[\"example.org\"]: trust_domain \"example.org\": a server does not federate with its own trust domain",
            ),
            (
                "[federation.bundle_endpoint.profile.https_web.acme]\ndomain_name = \"x\"\n",
                "federation.bundle_endpoint.profile.https_web.acme: ACME is not supported (it cannot be tested here); use https_web with serving_cert_file, or https_spiffe",
            ),
            (
                "[federation.bundle_endpoint.profile.https_web]\n",
                "federation.bundle_endpoint.profile.https_web: malformed https_web profile configuration: 'serving_cert_file' is required",
            ),
            (
                "[federation.bundle_endpoint.profile.https_web.serving_cert_file]\ncert_file_path = \"/c\"\n",
                "federation.bundle_endpoint.profile.https_web.serving_cert_file.key_file_path must be configured",
            ),
            (
                "[federation.bundle_endpoint.profile.https_spiffe]\n[federation.bundle_endpoint.profile.https_web.serving_cert_file]\n",
                "federation.bundle_endpoint.profile: exactly one bundle endpoint profile is expected (\"https_spiffe\" or \"https_web\")",
            ),
            (
                "[federation.bundle_endpoint]\nrefresh_hint = 0\n",
                "federation.bundle_endpoint.refresh_hint must be at least 1s",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(federation(text).err().as_deref(), Some(message), "{text}");
        }
    }
}
