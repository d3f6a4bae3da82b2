//! [`CaConfig`]: how the signing authority is set up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use spiffe_core::TrustDomain;
use spiffe_core::jwt::JwtAlgorithm;
use spiffe_core::key::KeyType;

use crate::keys::CaKeyType;
use crate::upstream::UpstreamCa;
use crate::x509::{CaSubject, TtlPolicy};

/// How the authority is set up.
#[derive(Debug)]
pub struct CaConfig {
    /// The trust domain signed for.
    pub trust_domain: TrustDomain,
    /// Lifetime of each X.509 CA and JWT key (SPIRE's `ca_ttl`; default 24 h).
    pub ca_ttl: Duration,
    /// Key type of X.509 CAs (default P-256).
    pub ca_key_type: CaKeyType,
    /// Algorithm of JWT-SVIDs (default ES256); the JWT key type follows from it.
    pub jwt_algorithm: JwtAlgorithm,
    /// Subject of CA certificates.
    pub ca_subject: CaSubject,
    /// What to do with SVID TTLs that outlive the CA.
    pub ttl_policy: TtlPolicy,
    /// Key types accepted in SVID requests (RSA: 2048 to 4096 bits).
    pub allowed_svid_keys: Vec<KeyType>,
    /// The bundle's `spiffe_refresh_hint` (default: a tenth of `ca_ttl`, at most 5 minutes).
    pub refresh_hint: Option<Duration>,
    /// An upstream CA to sign this trust domain's CAs.
    pub upstream: Option<Arc<UpstreamCa>>,
    /// Where the journal lives (`None`: in memory only).
    pub journal_path: Option<PathBuf>,
}

impl CaConfig {
    /// SPIRE's defaults for `trust_domain`.
    pub fn new(trust_domain: TrustDomain) -> Self {
        CaConfig {
            trust_domain,
            ca_ttl: Duration::from_secs(24 * 3600),
            ca_key_type: CaKeyType::EcP256,
            jwt_algorithm: JwtAlgorithm::ES256,
            ca_subject: CaSubject::default(),
            ttl_policy: TtlPolicy::Cap,
            allowed_svid_keys: vec![KeyType::EcP256, KeyType::EcP384, KeyType::Rsa],
            refresh_hint: None,
            upstream: None,
            journal_path: None,
        }
    }

    /// The refresh hint the bundle carries: the configured one, or a tenth of `ca_ttl` capped
    /// at 5 minutes; at least a second.
    pub(crate) fn effective_refresh_hint(&self) -> Duration {
        self.refresh_hint
            .unwrap_or_else(|| (self.ca_ttl / 10).min(Duration::from_secs(300)))
            .max(Duration::from_secs(1))
    }
}
