//! [`FederationRelationship`]: where the bundle of a foreign trust domain is fetched from and how
//! that endpoint is authenticated (SPIFFE_Federation.md 5.1 and 5.2).

use std::fmt;

use spiffe_core::{SpiffeId, TrustDomain};
use thiserror::Error;

/// The longest bundle endpoint URL accepted, in bytes.
pub const MAX_ENDPOINT_URL_LEN: usize = 2048;

/// Why a federation relationship is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RelationshipError {
    /// The bundle endpoint URL does not parse or breaks a rule of SPIFFE_Federation.md
    /// 5.2.1.1 / 5.2.2.1.
    #[error("bundle_endpoint_url {url:?}: {rule}")]
    Url {
        /// The URL as given (cut to [`MAX_ENDPOINT_URL_LEN`] bytes).
        url: String,
        /// The rule broken.
        rule: &'static str,
    },
    /// The endpoint profile is not `https_web` or `https_spiffe`.
    #[error(
        "bundle_endpoint_profile {profile:?} is unknown; must be \"https_web\" or \"https_spiffe\""
    )]
    UnknownProfile {
        /// The profile as given.
        profile: String,
    },
    /// `https_spiffe` without a valid endpoint SPIFFE ID.
    #[error("endpoint_spiffe_id {id:?}: {reason}")]
    EndpointSpiffeId {
        /// The ID as given.
        id: String,
        /// Why it is refused.
        reason: String,
    },
    /// A relationship with the server's own trust domain.
    #[error("trust_domain {trust_domain:?}: a server does not federate with its own trust domain")]
    OwnTrustDomain {
        /// The trust domain.
        trust_domain: String,
    },
}

/// A bundle endpoint URL: `https`, with a host, without userinfo (SPIFFE_Federation.md
/// 5.2.1.1 and 5.2.2.1), at most [`MAX_ENDPOINT_URL_LEN`] bytes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EndpointUrl {
    text: String,
    uri: http::Uri,
}

impl EndpointUrl {
    /// Parses and checks a bundle endpoint URL.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::Url`] naming the rule broken: too long, not a URL, not `https`, no
    /// host, userinfo present, a fragment.
    pub fn parse(text: &str) -> Result<Self, RelationshipError> {
        let refuse = |rule| RelationshipError::Url {
            url: text.chars().take(MAX_ENDPOINT_URL_LEN).collect(),
            rule,
        };
        if text.len() > MAX_ENDPOINT_URL_LEN {
            return Err(refuse("must be at most 2048 bytes"));
        }
        if text.contains('#') {
            return Err(refuse("must not have a fragment"));
        }
        let uri: http::Uri = text.parse().map_err(|_| refuse("is not a valid URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(refuse("must use the https scheme"));
        }
        let Some(authority) = uri.authority() else {
            return Err(refuse("must specify the host"));
        };
        if authority.as_str().contains('@') {
            return Err(refuse("must not contain user info"));
        }
        if authority.host().is_empty() {
            return Err(refuse("must specify the host"));
        }
        Ok(EndpointUrl {
            text: text.to_owned(),
            uri,
        })
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL.
    pub fn uri(&self) -> &http::Uri {
        &self.uri
    }

    /// The host, without the brackets of an IPv6 literal.
    pub fn host(&self) -> &str {
        let host = self.uri.host().unwrap_or_default();
        host.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
    }

    /// The port (443 unless the URL names one).
    pub fn port(&self) -> u16 {
        self.uri.port_u16().unwrap_or(443)
    }

    /// The path and query to request (`/` if the URL has none).
    pub fn path_and_query(&self) -> &str {
        self.uri.path_and_query().map_or("/", |p| p.as_str())
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// How a bundle endpoint is authenticated (SPIFFE_Federation.md 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EndpointProfile {
    /// `https_web`: a certificate chaining to a Web PKI root and naming the URL's host.
    HttpsWeb,
    /// `https_spiffe`: an X509-SVID for this SPIFFE ID, verified against the latest bundle of
    /// the ID's trust domain this server has.
    HttpsSpiffe {
        /// The SPIFFE ID the endpoint must present.
        endpoint_spiffe_id: SpiffeId,
    },
}

impl EndpointProfile {
    /// The profile's name as stored and configured: `https_web` or `https_spiffe`.
    pub fn name(&self) -> &'static str {
        match self {
            EndpointProfile::HttpsWeb => PROFILE_HTTPS_WEB,
            EndpointProfile::HttpsSpiffe { .. } => PROFILE_HTTPS_SPIFFE,
        }
    }

    /// The endpoint SPIFFE ID of `https_spiffe`, if that is the profile.
    pub fn endpoint_spiffe_id(&self) -> Option<&SpiffeId> {
        match self {
            EndpointProfile::HttpsWeb => None,
            EndpointProfile::HttpsSpiffe { endpoint_spiffe_id } => Some(endpoint_spiffe_id),
        }
    }

    /// The profile from its stored or configured parts: a name and, for `https_spiffe`, the
    /// endpoint SPIFFE ID.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::UnknownProfile`] for another name;
    /// [`RelationshipError::EndpointSpiffeId`] if `https_spiffe` comes without a valid ID.
    pub fn from_parts(name: &str, endpoint_spiffe_id: &str) -> Result<Self, RelationshipError> {
        match name {
            PROFILE_HTTPS_WEB => Ok(EndpointProfile::HttpsWeb),
            PROFILE_HTTPS_SPIFFE => {
                let id = SpiffeId::parse(endpoint_spiffe_id).map_err(|e| {
                    RelationshipError::EndpointSpiffeId {
                        id: endpoint_spiffe_id.chars().take(2048).collect(),
                        reason: if endpoint_spiffe_id.is_empty() {
                            "is required by the https_spiffe profile".into()
                        } else {
                            e.to_string()
                        },
                    }
                })?;
                Ok(EndpointProfile::HttpsSpiffe {
                    endpoint_spiffe_id: id,
                })
            }
            other => Err(RelationshipError::UnknownProfile {
                profile: other.chars().take(64).collect(),
            }),
        }
    }
}

/// The name of the `https_web` profile.
pub const PROFILE_HTTPS_WEB: &str = "https_web";
/// The name of the `https_spiffe` profile.
pub const PROFILE_HTTPS_SPIFFE: &str = "https_spiffe";

/// A federation relationship: the foreign trust domain, the URL of its bundle endpoint and how
/// that endpoint is authenticated. The bundle fetched from the endpoint is stored as the trust
/// domain's federated bundle.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FederationRelationship {
    /// The foreign trust domain.
    pub trust_domain: TrustDomain,
    /// Its bundle endpoint.
    pub bundle_endpoint_url: EndpointUrl,
    /// How the endpoint is authenticated.
    pub profile: EndpointProfile,
}

impl FederationRelationship {
    /// Checks that the relationship can hold on a server of `own`: a foreign trust domain.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::OwnTrustDomain`] if `trust_domain` is `own`.
    pub fn check_for(&self, own: &TrustDomain) -> Result<(), RelationshipError> {
        if &self.trust_domain == own {
            return Err(RelationshipError::OwnTrustDomain {
                trust_domain: own.name().to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_spec() {
        let ok = EndpointUrl::parse("https://host.example.com/trust_domain?x=1");
        let ok = ok.as_ref();
        assert_eq!(ok.map(EndpointUrl::host), Ok("host.example.com"));
        assert_eq!(ok.map(EndpointUrl::port), Ok(443));
        assert_eq!(ok.map(EndpointUrl::path_and_query), Ok("/trust_domain?x=1"));
        let v6 = EndpointUrl::parse("https://[::1]:8443");
        assert_eq!(v6.as_ref().map(EndpointUrl::host), Ok("::1"));
        assert_eq!(v6.as_ref().map(EndpointUrl::port), Ok(8443));
        assert_eq!(v6.as_ref().map(EndpointUrl::path_and_query), Ok("/"));
        for (url, rule) in [
            ("http://h/", "must use the https scheme"),
            ("https://u:p@h/", "must not contain user info"),
            ("h/path", "is not a valid URL"),
            ("/path", "must use the https scheme"),
            ("https://h/#frag", "must not have a fragment"),
            ("https:// bad", "is not a valid URL"),
        ] {
            assert_eq!(
                EndpointUrl::parse(url),
                Err(RelationshipError::Url {
                    url: url.into(),
                    rule
                }),
                "{url}"
            );
        }
        let long = format!("https://h/{}", "a".repeat(MAX_ENDPOINT_URL_LEN));
        assert!(matches!(
            EndpointUrl::parse(&long),
            Err(RelationshipError::Url {
                rule: "must be at most 2048 bytes",
                ..
            })
        ));
    }

    #[test]
    fn profiles_from_parts() {
        assert_eq!(
            EndpointProfile::from_parts("https_web", ""),
            Ok(EndpointProfile::HttpsWeb)
        );
        let spiffe = EndpointProfile::from_parts("https_spiffe", "spiffe://a.org/spire/server");
        assert_eq!(
            spiffe
                .as_ref()
                .ok()
                .and_then(|p| p.endpoint_spiffe_id())
                .map(|i| i.to_string()),
            Some("spiffe://a.org/spire/server".to_owned())
        );
        assert_eq!(spiffe.map(|p| p.name()), Ok("https_spiffe"));
        assert_eq!(
            EndpointProfile::from_parts("https_spiffe", "").map_err(|e| e.to_string()),
            Err("endpoint_spiffe_id \"\": is required by the https_spiffe profile".into())
        );
        assert!(matches!(
            EndpointProfile::from_parts("acme", ""),
            Err(RelationshipError::UnknownProfile { .. })
        ));
    }

    #[test]
    fn not_with_itself() {
        let td = TrustDomain::parse("a.org").ok();
        let rel = td
            .clone()
            .zip(EndpointUrl::parse("https://a").ok())
            .map(|(td, url)| FederationRelationship {
                trust_domain: td,
                bundle_endpoint_url: url,
                profile: EndpointProfile::HttpsWeb,
            });
        let other = TrustDomain::parse("b.org").ok();
        assert!(matches!(
            rel.as_ref().zip(td.as_ref()).map(|(r, td)| r.check_for(td)),
            Some(Err(RelationshipError::OwnTrustDomain { .. }))
        ));
        assert_eq!(
            rel.as_ref()
                .zip(other.as_ref())
                .map(|(r, td)| r.check_for(td)),
            Some(Ok(()))
        );
    }
}
