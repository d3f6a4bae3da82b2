//! The absolute URLs of the configuration (`jwt_issuer`, `jwks_uri`): kept exactly as written
//! (an issuer must equal the tokens' `iss` byte for byte), with the parts the discovery
//! document is derived from.

use std::fmt;

use thiserror::Error;

/// The longest URL accepted.
const MAX_URL: usize = 2048;

/// Why a configured URL cannot be used (the sentences follow SPIRE's messages).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum UrlError {
    /// No `scheme://`.
    #[error("must contain a scheme")]
    NoScheme,
    /// Nothing between `scheme://` and the path.
    #[error("must contain a host")]
    NoHost,
    /// Spaces, control characters, or over the length limit.
    #[error("could not be parsed: {0}")]
    Invalid(&'static str),
}

/// An absolute URL with a scheme and a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpUrl {
    text: String,
    host_end: usize,
    path_end: usize,
}

impl HttpUrl {
    /// Parses `text` (kept as written).
    ///
    /// # Errors
    ///
    /// [`UrlError`] if it has no scheme, no host, or characters a URL cannot hold.
    pub(crate) fn parse(text: &str) -> Result<Self, UrlError> {
        if text.len() > MAX_URL {
            return Err(UrlError::Invalid("longer than 2048 bytes"));
        }
        if text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
        {
            return Err(UrlError::Invalid(
                "spaces, control or non-ASCII characters (percent-encode them)",
            ));
        }
        let Some(scheme_end) = text.find("://") else {
            return Err(UrlError::NoScheme);
        };
        let scheme = &text[..scheme_end];
        let mut chars = scheme.chars();
        let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return Err(UrlError::NoScheme);
        }
        let host_start = scheme_end + 3;
        let host_end = text[host_start..]
            .find(['/', '?', '#'])
            .map_or(text.len(), |i| host_start + i);
        if host_start == host_end {
            return Err(UrlError::NoHost);
        }
        let path_end = text[host_end..]
            .find(['?', '#'])
            .map_or(text.len(), |i| host_end + i);
        Ok(HttpUrl {
            text: text.to_owned(),
            host_end,
            path_end,
        })
    }

    /// The URL as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// `scheme://host` (with port, if any).
    fn origin(&self) -> &str {
        &self.text[..self.host_end]
    }

    /// The path (possibly empty).
    fn path(&self) -> &str {
        &self.text[self.host_end..self.path_end]
    }

    /// `scheme://host` + this URL's path joined with `keys` (query and fragment dropped):
    /// SPIRE's `jwks_uri` when only `jwt_issuer` is set.
    pub(crate) fn keys_url(&self) -> String {
        format!("{}{}", self.origin(), join_path(self.path(), "keys"))
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Go's `url.JoinPath(base, elem)` on paths, made absolute: the joined path cleaned (`.`, `..`
/// and repeated slashes removed), with a trailing slash kept if `elem` has one.
pub(crate) fn join_path(base: &str, elem: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in base.split('/').chain(elem.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    if elem.ends_with('/') && !out.ends_with('/') {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_as_spire_reads_them() {
        let u = HttpUrl::parse("https://domain.test/some/issuer/path/issuer1").unwrap();
        assert_eq!(u.as_str(), "https://domain.test/some/issuer/path/issuer1");
        assert_eq!(
            u.keys_url(),
            "https://domain.test/some/issuer/path/issuer1/keys"
        );
        let u = HttpUrl::parse("http://localhost:8080").unwrap();
        assert_eq!(u.keys_url(), "http://localhost:8080/keys");
        let u = HttpUrl::parse("https://a.test/x/?q=1#f").unwrap();
        assert_eq!(u.keys_url(), "https://a.test/x/keys");
        assert_eq!(HttpUrl::parse("a.test/x"), Err(UrlError::NoScheme));
        assert_eq!(HttpUrl::parse("1http://a.test"), Err(UrlError::NoScheme));
        assert_eq!(HttpUrl::parse("https:///x"), Err(UrlError::NoHost));
        assert!(matches!(
            HttpUrl::parse("https://a.test/ x"),
            Err(UrlError::Invalid(_))
        ));
    }

    #[test]
    fn paths_join_as_go_joins_them() {
        assert_eq!(join_path("/", "keys"), "/keys");
        assert_eq!(join_path("", "keys"), "/keys");
        assert_eq!(join_path("/instance/1", "keys"), "/instance/1/keys");
        assert_eq!(join_path("/instance/1/", "/keys"), "/instance/1/keys");
        assert_eq!(join_path("/a/../b//c", "keys"), "/b/c/keys");
        assert_eq!(
            join_path("/p", "/.well-known/openid-configuration"),
            "/p/.well-known/openid-configuration"
        );
    }
}
