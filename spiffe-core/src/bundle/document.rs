//! [`Bundle`]: the SPIFFE bundle document of one trust domain.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;

use super::jwk::{self, Jwk, JwkKey, JwkSet, USE_JWT, USE_X509};
use super::{BundleError, JwtBundle, X509Bundle};
use crate::id::TrustDomain;
use crate::x509::Cert;

/// The SPIFFE bundle of one trust domain: its X.509 authorities, its JWT-SVID keys, and the
/// document's `spiffe_sequence` and `spiffe_refresh_hint`.
///
/// The two parts are kept behind `Arc`s so that a [`crate::BundleSource`] can hand them out
/// without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    trust_domain: TrustDomain,
    x509: Arc<X509Bundle>,
    jwt: Arc<JwtBundle>,
    sequence: Option<u64>,
    refresh_hint: Option<Duration>,
}

/// How strictly `x509-svid` entries are read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Entries must be as X509-SVID.md 6.1 says publishers make them.
    Strict,
    /// Entries are read as X509-SVID.md 6.2 says consumers read them.
    Lenient,
    /// A plain RFC 7517 key set of JWT keys (the Workload API's JWT bundles): a key without
    /// `use` is a JWT-SVID key.
    PlainJwks,
}

impl Bundle {
    /// An empty bundle (trusts nothing) with no sequence number or refresh hint.
    pub fn new(trust_domain: TrustDomain) -> Self {
        Bundle {
            x509: Arc::new(X509Bundle::new(trust_domain.clone())),
            jwt: Arc::new(JwtBundle::new(trust_domain.clone())),
            trust_domain,
            sequence: None,
            refresh_hint: None,
        }
    }

    /// A bundle made of an X.509 part and a JWT part of the same trust domain.
    pub fn from_parts(x509: X509Bundle, jwt: JwtBundle) -> Result<Self, BundleError> {
        if x509.trust_domain() != jwt.trust_domain() {
            return Err(BundleError::TrustDomainMismatch {
                bundle: jwt.trust_domain().to_string(),
                expected: x509.trust_domain().to_string(),
            });
        }
        Ok(Bundle {
            trust_domain: x509.trust_domain().clone(),
            x509: Arc::new(x509),
            jwt: Arc::new(jwt),
            sequence: None,
            refresh_hint: None,
        })
    }

    /// Parses a SPIFFE bundle document, strictly.
    ///
    /// `keys` is required; JWKs with a missing or unknown `use`, or an unknown `kty`, are ignored
    /// (SPIFFE_Trust_Domain_and_Bundle.md 4.2). An `x509-svid` entry must hold exactly one `x5c`
    /// certificate and no `kid` (X509-SVID.md 6.1), and its key members, when given, must be the
    /// certificate's key. A `jwt-svid` entry must have a non-empty, unique `kid` and a key of a
    /// JWT-SVID algorithm (EC P-256/P-384/P-521 or RSA). The same certificate twice is an error.
    pub fn parse_json(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        Self::parse_mode(trust_domain, json, Mode::Strict)
    }

    /// Parses a bundle document with the consumer rules of X509-SVID.md 6.2: an `x509-svid`
    /// entry without `x5c` is ignored, and of several `x5c` values only the first is used. All
    /// other rules are those of [`Bundle::parse_json`].
    pub fn parse_json_lenient(trust_domain: TrustDomain, json: &[u8]) -> Result<Self, BundleError> {
        Self::parse_mode(trust_domain, json, Mode::Lenient)
    }

    fn parse_mode(trust_domain: TrustDomain, json: &[u8], mode: Mode) -> Result<Self, BundleError> {
        let set: JwkSet =
            serde_json::from_slice(json).map_err(|e| BundleError::Json(e.to_string()))?;
        Self::from_jwk_set(trust_domain, set, mode)
    }

    /// Parses a plain JWK Set of JWT-SVID keys, as the Workload API's `FetchJWTBundles` and
    /// SPIRE send them: keys without `use` are JWT keys; other rules as [`Bundle::parse_json`].
    pub(crate) fn parse_plain_jwks(
        trust_domain: TrustDomain,
        json: &[u8],
    ) -> Result<Self, BundleError> {
        Self::parse_mode(trust_domain, json, Mode::PlainJwks)
    }

    pub(crate) fn from_jwk_set_strict(
        trust_domain: TrustDomain,
        set: JwkSet,
    ) -> Result<Self, BundleError> {
        Self::from_jwk_set(trust_domain, set, Mode::Strict)
    }

    fn from_jwk_set(
        trust_domain: TrustDomain,
        set: JwkSet,
        mode: Mode,
    ) -> Result<Self, BundleError> {
        let mut x509 = X509Bundle::new(trust_domain.clone());
        let mut jwt = JwtBundle::new(trust_domain.clone());
        for (index, key) in set.keys.iter().enumerate() {
            match key.use_.as_deref() {
                // A JWT key set carries no X.509 authorities worth reading.
                Some(USE_X509) if mode == Mode::PlainJwks => {}
                Some(USE_X509) => x509_entry(&mut x509, key, index, mode)?,
                Some(USE_JWT) => jwt_entry(&mut jwt, key, index, mode)?,
                None if mode == Mode::PlainJwks => jwt_entry(&mut jwt, key, index, Mode::Strict)?,
                // Missing or unknown use: the whole JWK is ignored.
                _ => {}
            }
        }
        let refresh_hint = match set.spiffe_refresh_hint {
            None => None,
            Some(s) => Some(Duration::from_secs(u64::try_from(s).map_err(|_| {
                BundleError::Json(format!(
                    "spiffe_refresh_hint must be a non-negative number of seconds, got {s}"
                ))
            })?)),
        };
        Ok(Bundle {
            trust_domain,
            x509: Arc::new(x509),
            jwt: Arc::new(jwt),
            sequence: set.spiffe_sequence,
            refresh_hint,
        })
    }

    /// The document as compact JSON: `x509-svid` entries first, then `jwt-svid` entries, then
    /// `spiffe_sequence` and `spiffe_refresh_hint` when set.
    pub fn to_json(&self) -> String {
        encode(
            Some(&self.x509),
            Some(&self.jwt),
            self.sequence,
            self.refresh_hint,
        )
    }

    /// The document as indented JSON (for people).
    pub fn to_json_pretty(&self) -> String {
        let set = jwk_set(
            Some(&self.x509),
            Some(&self.jwt),
            self.sequence,
            self.refresh_hint,
        );
        serde_json::to_string_pretty(&set).unwrap_or_default()
    }

    pub(crate) fn to_jwk_set(&self) -> JwkSet {
        jwk_set(
            Some(&self.x509),
            Some(&self.jwt),
            self.sequence,
            self.refresh_hint,
        )
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The X.509 authorities.
    pub fn x509(&self) -> &X509Bundle {
        &self.x509
    }

    /// The X.509 authorities, shared.
    pub fn x509_shared(&self) -> Arc<X509Bundle> {
        Arc::clone(&self.x509)
    }

    /// The X.509 authorities, for changing (copied first if shared).
    pub fn x509_mut(&mut self) -> &mut X509Bundle {
        Arc::make_mut(&mut self.x509)
    }

    /// The JWT-SVID keys.
    pub fn jwt(&self) -> &JwtBundle {
        &self.jwt
    }

    /// The JWT-SVID keys, shared.
    pub fn jwt_shared(&self) -> Arc<JwtBundle> {
        Arc::clone(&self.jwt)
    }

    /// The JWT-SVID keys, for changing (copied first if shared).
    pub fn jwt_mut(&mut self) -> &mut JwtBundle {
        Arc::make_mut(&mut self.jwt)
    }

    /// `spiffe_sequence`, if set.
    pub fn sequence(&self) -> Option<u64> {
        self.sequence
    }

    /// Sets `spiffe_sequence`.
    pub fn set_sequence(&mut self, sequence: Option<u64>) {
        self.sequence = sequence;
    }

    /// `spiffe_refresh_hint`, if set.
    pub fn refresh_hint(&self) -> Option<Duration> {
        self.refresh_hint
    }

    /// Sets `spiffe_refresh_hint` (whole seconds are published).
    pub fn set_refresh_hint(&mut self, hint: Option<Duration>) {
        self.refresh_hint = hint;
    }

    /// Whether two bundles hold the same keys (ignoring sequence number and refresh hint).
    pub fn same_keys(&self, other: &Bundle) -> bool {
        self.trust_domain == other.trust_domain && self.x509 == other.x509 && self.jwt == other.jwt
    }
}

impl From<X509Bundle> for Bundle {
    /// A bundle with these X.509 authorities and no JWT key.
    fn from(x509: X509Bundle) -> Self {
        let td = x509.trust_domain().clone();
        Bundle {
            jwt: Arc::new(JwtBundle::new(td.clone())),
            x509: Arc::new(x509),
            trust_domain: td,
            sequence: None,
            refresh_hint: None,
        }
    }
}

impl From<JwtBundle> for Bundle {
    /// A bundle with these JWT keys and no X.509 authority.
    fn from(jwt: JwtBundle) -> Self {
        let td = jwt.trust_domain().clone();
        Bundle {
            x509: Arc::new(X509Bundle::new(td.clone())),
            jwt: Arc::new(jwt),
            trust_domain: td,
            sequence: None,
            refresh_hint: None,
        }
    }
}

fn x509_entry(
    bundle: &mut X509Bundle,
    key: &Jwk,
    index: usize,
    mode: Mode,
) -> Result<(), BundleError> {
    let err = |reason: String| BundleError::X509Entry { index, reason };
    let jwk_key = match jwk::key_of(key) {
        Ok(JwkKey::UnknownType) => return Ok(()),
        Ok(JwkKey::Known(k)) => Some(k),
        Ok(JwkKey::Absent) => None,
        Err(reason) => return Err(err(reason)),
    };
    if mode == Mode::Strict && key.kid.is_some() {
        return Err(err("must not have a \"kid\" (X509-SVID.md 6.1)".into()));
    }
    let x5c = key.x5c.as_deref().unwrap_or_default();
    let first = match (x5c, mode) {
        ([], Mode::Lenient | Mode::PlainJwks) => return Ok(()),
        ([], Mode::Strict) => {
            return Err(err(
                "must hold exactly one \"x5c\" certificate, found none".into()
            ));
        }
        ([first], _) | ([first, ..], Mode::Lenient | Mode::PlainJwks) => first,
        (many, Mode::Strict) => {
            return Err(err(format!(
                "must hold exactly one \"x5c\" certificate, found {}",
                many.len()
            )));
        }
    };
    let der = CertificateDer::from(jwk::x5c_der(first).map_err(err)?);
    if let Some(jwk_key) = jwk_key {
        let cert = Cert::parse(&der).map_err(|e| err(e.to_string()))?;
        if jwk_key.key_type() != cert.public_key.key_type()
            || jwk_key.raw() != cert.public_key.raw()
        {
            return Err(err(
                "key members do not match the \"x5c\" certificate's key".into(),
            ));
        }
    }
    bundle.add_authority(der).map_err(|e| match e {
        BundleError::Authority { source, .. } => BundleError::Authority { index, source },
        other => other,
    })
}

fn jwt_entry(
    bundle: &mut JwtBundle,
    key: &Jwk,
    index: usize,
    mode: Mode,
) -> Result<(), BundleError> {
    let err = |reason: String| BundleError::JwtEntry { index, reason };
    let public = match jwk::key_of(key) {
        Ok(JwkKey::Known(k)) => k,
        Ok(JwkKey::UnknownType) => return Ok(()),
        Ok(JwkKey::Absent) if mode != Mode::Strict => return Ok(()),
        Ok(JwkKey::Absent) => return Err(err("has no \"kty\"".into())),
        Err(reason) => return Err(err(reason)),
    };
    let kid = match key.kid.as_deref() {
        Some(kid) if !kid.is_empty() => kid,
        _ => return Err(err("must have a non-empty \"kid\" (JWT-SVID.md 6.1)".into())),
    };
    bundle.add_authority(kid, public)
}

/// Builds the JWK Set of the given parts.
fn jwk_set(
    x509: Option<&X509Bundle>,
    jwt: Option<&JwtBundle>,
    sequence: Option<u64>,
    refresh_hint: Option<Duration>,
) -> JwkSet {
    let mut keys = Vec::new();
    for der in x509.map(|b| b.authorities()).unwrap_or_default() {
        let mut entry = Jwk {
            use_: Some(USE_X509.into()),
            x5c: Some(vec![jwk::x5c_value(der)]),
            ..Jwk::default()
        };
        if let Ok(cert) = Cert::parse(der) {
            jwk::set_key(&mut entry, &cert.public_key);
        }
        keys.push(entry);
    }
    if let Some(jwt) = jwt {
        for (kid, key) in jwt.authorities() {
            let mut entry = Jwk {
                use_: Some(USE_JWT.into()),
                kid: Some(kid.to_owned()),
                ..Jwk::default()
            };
            if jwk::set_key(&mut entry, key) {
                keys.push(entry);
            }
        }
    }
    JwkSet {
        keys,
        spiffe_sequence: sequence,
        spiffe_refresh_hint: refresh_hint.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
    }
}

/// Encodes the given parts as a compact JWK Set document.
pub(crate) fn encode(
    x509: Option<&X509Bundle>,
    jwt: Option<&JwtBundle>,
    sequence: Option<u64>,
    refresh_hint: Option<Duration>,
) -> String {
    // Serializing plain strings and integers cannot fail.
    serde_json::to_string(&jwk_set(x509, jwt, sequence, refresh_hint)).unwrap_or_default()
}
