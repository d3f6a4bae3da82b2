//! SPIFFE federation (SPIFFE_Federation.md): the server's own SPIFFE bundle endpoint, and the
//! client that keeps the bundles of foreign trust domains fresh from theirs.
//!
//! - `relationship`: [`FederationRelationship`] (trust domain, endpoint URL, profile), checked
//!   as the specification says.
//! - `endpoint`: the bundle endpoint server, profile `https_spiffe` (the server's own X509-SVID)
//!   or `https_web` (a certificate and key from files, reloaded when they change).
//! - `client`: one bounded HTTPS GET of a bundle endpoint, authenticated by the relationship's
//!   profile.
//! - `refresher`: a task per relationship that fetches on the bundle's refresh hint (clamped),
//!   backs off with jitter on failure, and stores a fetched bundle only if it is usable and not
//!   older than the stored one.

mod client;
mod endpoint;
mod refresher;
mod relationship;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use spiffe_core::TrustDomain;

pub use client::{BundleFetcher, EndpointAuth, FetchError, MAX_BUNDLE_SIZE, MAX_REDIRECTS};
pub use endpoint::{EndpointError, FileCert};
pub(crate) use endpoint::{
    bind as bind_endpoint, serve as serve_endpoint, tls_config as endpoint_tls, watch_files,
};
pub(crate) use refresher::run as run_refresher;
pub use refresher::{RefreshError, Refreshed, refresh_once};
pub use relationship::{
    EndpointProfile, EndpointUrl, FederationRelationship, MAX_ENDPOINT_URL_LEN,
    PROFILE_HTTPS_SPIFFE, PROFILE_HTTPS_WEB, RelationshipError,
};

/// The refresh hint the bundle endpoint publishes unless configured (SPIRE's default).
pub const DEFAULT_REFRESH_HINT: Duration = Duration::from_secs(300);
/// How often a `https_web` serving certificate's files are checked for changes, unless
/// configured (SPIRE's default).
pub const DEFAULT_FILE_SYNC_INTERVAL: Duration = Duration::from_secs(3600);

/// The server's federation settings (SPIRE's `federation` block).
#[derive(Clone, Default)]
pub struct FederationConfig {
    /// The server's own bundle endpoint, if it serves one.
    pub bundle_endpoint: Option<BundleEndpointConfig>,
    /// Relationships from the configuration file, by trust domain. They take precedence over
    /// relationships in the datastore for the same trust domain (as in SPIRE).
    pub federates_with: BTreeMap<TrustDomain, FederationRelationship>,
    /// How bundles are refreshed from foreign bundle endpoints.
    pub refresh: RefreshPolicy,
    /// The roots `https_web` endpoints are checked against; `None`: the Mozilla root program's
    /// (webpki-roots).
    pub web_roots: Option<Arc<RootCertStore>>,
}

impl std::fmt::Debug for FederationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The roots by count: a root store prints every anchor.
        f.debug_struct("FederationConfig")
            .field("bundle_endpoint", &self.bundle_endpoint)
            .field("federates_with", &self.federates_with)
            .field("refresh", &self.refresh)
            .field("web_roots", &self.web_roots.as_ref().map(|r| r.len()))
            .finish()
    }
}

/// The bundle endpoint this server serves (SPIFFE_Federation.md 5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleEndpointConfig {
    /// Where it listens (`address` and `port`).
    pub address: SocketAddr,
    /// The `spiffe_refresh_hint` it publishes (`refresh_hint`); whole seconds, at least one.
    pub refresh_hint: Duration,
    /// How it authenticates itself to clients.
    pub profile: ServeProfile,
    /// Limits on what clients may hold.
    pub limits: EndpointLimits,
}

impl BundleEndpointConfig {
    /// An endpoint at `address` with SPIRE's defaults: profile `https_spiffe`, refresh hint
    /// 5 minutes.
    pub fn new(address: SocketAddr) -> Self {
        BundleEndpointConfig {
            address,
            refresh_hint: DEFAULT_REFRESH_HINT,
            profile: ServeProfile::HttpsSpiffe,
            limits: EndpointLimits::default(),
        }
    }
}

/// How the bundle endpoint authenticates itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeProfile {
    /// `https_spiffe`: the server's own X509-SVID (`spiffe://<td>/spire/server`), following
    /// its rotation.
    HttpsSpiffe,
    /// `https_web`: a certificate chain and key from PEM files (`serving_cert_file`), checked
    /// for changes every `file_sync_interval`.
    HttpsWeb {
        /// The certificate chain, leaf first (`cert_file_path`).
        cert_file: PathBuf,
        /// The private key, PKCS#8, SEC1 or PKCS#1 (`key_file_path`).
        key_file: PathBuf,
        /// How often the files are checked for changes (`file_sync_interval`).
        file_sync_interval: Duration,
    },
}

impl ServeProfile {
    /// The profile's name: `https_spiffe` or `https_web`.
    pub fn name(&self) -> &'static str {
        match self {
            ServeProfile::HttpsSpiffe => PROFILE_HTTPS_SPIFFE,
            ServeProfile::HttpsWeb { .. } => PROFILE_HTTPS_WEB,
        }
    }
}

/// What clients of the bundle endpoint may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointLimits {
    /// Connections open at once; one more is closed right after it is accepted. Default 256.
    pub max_connections: usize,
    /// How long a TLS handshake, and then the request's headers, may take. Default 10 s
    /// (SPIRE's `ReadHeaderTimeout`).
    pub handshake_timeout: Duration,
    /// How long a connection may live (kept alive or not). Default 60 s.
    pub connection_lifetime: Duration,
}

impl Default for EndpointLimits {
    fn default() -> Self {
        EndpointLimits {
            max_connections: 256,
            handshake_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
        }
    }
}

/// How bundles are refreshed from foreign bundle endpoints. The defaults are SPIRE's: a refresh
/// hint below 1 minute counts as 1 minute, the bundle is fetched four times per hint, every
/// 5 minutes when the bundle has no hint, and relationships are re-read every 10 seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// The smallest refresh hint honoured. Default 1 minute.
    pub min_hint: Duration,
    /// The largest refresh hint honoured (a peer cannot make this server stop refreshing).
    /// Default 1 day.
    pub max_hint: Duration,
    /// Fetches per refresh hint (so that a short outage of the endpoint does not leave the
    /// bundle stale for a whole hint). Default 4.
    pub attempts_per_hint: u32,
    /// The interval when the bundle has no refresh hint. Default 5 minutes.
    pub default_interval: Duration,
    /// The first wait after a failed fetch; it doubles (with jitter) up to `retry_max`.
    /// Default 1 second.
    pub retry_initial: Duration,
    /// The longest wait after failures. Default 5 minutes.
    pub retry_max: Duration,
    /// How often relationships are re-read from the datastore. Default 10 seconds.
    pub relationships_interval: Duration,
    /// How long one fetch (connect, handshake, request, body) may take. Default 30 seconds.
    pub fetch_timeout: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            min_hint: Duration::from_secs(60),
            max_hint: Duration::from_secs(24 * 3600),
            attempts_per_hint: 4,
            default_interval: Duration::from_secs(300),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            relationships_interval: Duration::from_secs(10),
            fetch_timeout: Duration::from_secs(30),
        }
    }
}

impl RefreshPolicy {
    /// The wait before the next fetch of a bundle with this refresh hint: the hint clamped to
    /// `[min_hint, max_hint]` divided by `attempts_per_hint`, or `default_interval` without a
    /// hint (a zero hint counts as none).
    pub fn interval(&self, hint: Option<Duration>) -> Duration {
        match hint.filter(|h| !h.is_zero()) {
            Some(h) => {
                let clamped = h.clamp(self.min_hint, self.max_hint.max(self.min_hint));
                clamped / self.attempts_per_hint.max(1)
            }
            None => self.default_interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_interval_is_clamped_like_spire() {
        let p = RefreshPolicy::default();
        let s = Duration::from_secs;
        assert_eq!(p.interval(None), s(300));
        assert_eq!(p.interval(Some(Duration::ZERO)), s(300));
        assert_eq!(p.interval(Some(s(1))), s(15), "below 1 min counts as 1 min");
        assert_eq!(p.interval(Some(s(600))), s(150));
        assert_eq!(
            p.interval(Some(s(10 * 24 * 3600))),
            s(6 * 3600),
            "at most a day"
        );
        let odd = RefreshPolicy {
            attempts_per_hint: 0,
            max_hint: Duration::ZERO,
            ..RefreshPolicy::default()
        };
        assert_eq!(odd.interval(Some(s(3600))), s(60));
    }
}
