//! [`CertificateAuthority`]: the trust domain's signing authority, with rotation, the local
//! bundle and the journal.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use tracing::{info, warn};

use spiffe_core::jwt::JwtAlgorithm;
use spiffe_core::key::KeyType;
use spiffe_core::x509::CertificateRequest;
use spiffe_core::{Bundle, JwtBundle, PublicKey, TrustDomain, X509Bundle};

use crate::CaError;
use crate::clock::Clock;
use crate::journal::{
    self, JournalData, JwtRecord, PublishedJwtRecord, PublishedX509Record, X509Record,
};
use crate::jwt::{JwtAuthority, JwtSvidParams};
use crate::keys::{CaKeyType, KeyManager};
use crate::rotation::{AuthorityStatus, SlotId, Step, Track};
use crate::upstream::UpstreamCa;
use crate::x509::{CaSubject, TtlPolicy, X509Authority, X509SvidParams, unix};

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

    fn effective_refresh_hint(&self) -> Duration {
        self.refresh_hint
            .unwrap_or_else(|| (self.ca_ttl / 10).min(Duration::from_secs(300)))
            .max(Duration::from_secs(1))
    }
}

/// One authority as reported to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorityState {
    /// X.509: hex Subject Key Identifier; JWT: the key ID.
    pub id: String,
    /// The slot it occupies, if it still has one.
    pub slot: Option<SlotId>,
    /// Prepared, active or old; `None` once it left its slot (published until expiry).
    pub status: Option<AuthorityStatus>,
    /// Expiry, seconds since the Unix epoch.
    pub not_after: i64,
    /// Whether an operator tainted it.
    pub tainted: bool,
}

/// What a rotation step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// X.509 CAs prepared.
    pub x509_prepared: Vec<String>,
    /// X.509 CAs activated.
    pub x509_activated: Vec<String>,
    /// JWT keys prepared.
    pub jwt_prepared: Vec<String>,
    /// JWT keys activated.
    pub jwt_activated: Vec<String>,
    /// Published authorities dropped because they expired.
    pub expired: Vec<String>,
    /// Whether the bundle changed (its sequence was bumped).
    pub bundle_changed: bool,
}

#[derive(Debug, Clone)]
struct PublishedX509 {
    id: String,
    roots: Vec<CertificateDer<'static>>,
    not_after: i64,
    tainted: bool,
}

#[derive(Debug, Clone)]
struct PublishedJwt {
    kid: String,
    key: PublicKey,
    not_after: i64,
    tainted: bool,
}

/// Everything readers need, swapped as a whole on every change.
#[derive(Debug, Clone)]
struct State {
    x509: Track<X509Authority>,
    jwt: Track<JwtAuthority>,
    published_x509: Vec<PublishedX509>,
    published_jwt: Vec<PublishedJwt>,
    sequence: u64,
    bundle: Arc<Bundle>,
}

/// The signing authority of a trust domain.
///
/// Readers (minting, bundle) take an `Arc` snapshot of the state and sign outside any lock;
/// changes (rotation, manual steps) are serialized and replace the snapshot.
#[derive(Debug)]
pub struct CertificateAuthority {
    config: CaConfig,
    keys: Arc<dyn KeyManager>,
    clock: Arc<dyn Clock>,
    journal: Option<journal::Journal>,
    state: RwLock<Arc<State>>,
    writer: Mutex<()>,
}

fn x509_key_id(slot: SlotId) -> String {
    format!("x509-CA-{}", slot.as_str())
}

fn jwt_key_id(slot: SlotId) -> String {
    format!("JWT-Signer-{}", slot.as_str())
}

impl CertificateAuthority {
    /// Opens the authority: restores it from the journal if there is one, then makes sure an
    /// X.509 CA and a JWT key are active.
    pub fn new(
        config: CaConfig,
        keys: Arc<dyn KeyManager>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CaError> {
        let journal = config.journal_path.clone().map(journal::Journal::new);
        let empty = State {
            x509: Track::default(),
            jwt: Track::default(),
            published_x509: Vec::new(),
            published_jwt: Vec::new(),
            sequence: 0,
            bundle: Arc::new(Bundle::new(config.trust_domain.clone())),
        };
        let ca = CertificateAuthority {
            config,
            keys,
            clock,
            journal,
            state: RwLock::new(Arc::new(empty)),
            writer: Mutex::new(()),
        };
        if let Some(j) = &ca.journal
            && let Some(data) = j.load()?
        {
            let restored = ca.restore(j, &data)?;
            *ca.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(restored);
            info!(journal = %j.path().display(), "signing authority restored from its journal");
        }
        ca.rotate()?;
        Ok(ca)
    }

    /// The configuration.
    pub fn config(&self) -> &CaConfig {
        &self.config
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.config.trust_domain
    }

    fn snapshot(&self) -> Arc<State> {
        Arc::clone(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// The local trust bundle: every published X.509 root and JWT key, `spiffe_sequence` bumped
    /// on every change, and the refresh hint.
    pub fn bundle(&self) -> Arc<Bundle> {
        Arc::clone(&self.snapshot().bundle)
    }

    /// The active X.509 authority.
    pub fn active_x509(&self) -> Result<Arc<X509Authority>, CaError> {
        self.snapshot()
            .x509
            .active()
            .cloned()
            .ok_or(CaError::NoActiveAuthority { kind: "X.509" })
    }

    /// The active JWT key.
    pub fn active_jwt(&self) -> Result<Arc<JwtAuthority>, CaError> {
        self.snapshot()
            .jwt
            .active()
            .cloned()
            .ok_or(CaError::NoActiveAuthority { kind: "JWT" })
    }

    /// Checks that `params` may be signed: the ID is of this trust domain and has a path.
    fn check_id(&self, id: &spiffe_core::SpiffeId) -> Result<(), CaError> {
        if !id.is_member_of(&self.config.trust_domain) {
            return Err(CaError::ForeignTrustDomain {
                id: id.to_string(),
                trust_domain: self.config.trust_domain.to_string(),
            });
        }
        if id.is_root() {
            return Err(CaError::RootId { id: id.to_string() });
        }
        Ok(())
    }

    fn check_key(&self, key: &PublicKey) -> Result<(), CaError> {
        if !self.config.allowed_svid_keys.contains(&key.key_type()) {
            let allowed: Vec<String> = self
                .config
                .allowed_svid_keys
                .iter()
                .map(ToString::to_string)
                .collect();
            return Err(CaError::KeyTypeNotAllowed {
                key_type: key.key_type(),
                allowed: allowed.join(", "),
            });
        }
        if let Some((n, _)) = key.rsa_components() {
            let bits = n.len() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err(CaError::RsaKeySize { bits });
            }
        }
        Ok(())
    }

    /// Mints an X509-SVID for a public key with the active CA. Returns the chain, leaf first.
    pub fn mint_x509_svid(
        &self,
        public_key: &PublicKey,
        params: &X509SvidParams,
    ) -> Result<Vec<CertificateDer<'static>>, CaError> {
        self.check_id(&params.spiffe_id)?;
        self.check_key(public_key)?;
        let authority = self.active_x509()?;
        authority.mint(public_key, params, self.clock.now(), self.config.ttl_policy)
    }

    /// Mints an X509-SVID from a PKCS#10 CSR: its signature is checked and only its public key
    /// is used; everything else comes from `params`.
    pub fn mint_x509_svid_from_csr(
        &self,
        csr_der: &[u8],
        params: &X509SvidParams,
    ) -> Result<Vec<CertificateDer<'static>>, CaError> {
        let csr = CertificateRequest::parse_and_verify(csr_der)?;
        self.mint_x509_svid(csr.public_key(), params)
    }

    /// Mints a JWT-SVID with the active JWT key.
    pub fn mint_jwt_svid(&self, params: &JwtSvidParams) -> Result<String, CaError> {
        self.check_id(&params.spiffe_id)?;
        self.active_jwt()?.mint(params, self.clock.now())
    }

    /// The X.509 authorities: those in slots, then those only still published.
    pub fn x509_authorities(&self) -> Vec<AuthorityState> {
        let s = self.snapshot();
        let mut out: Vec<AuthorityState> = Vec::new();
        for slot in s.x509.slots() {
            out.push(AuthorityState {
                id: slot.authority.id().to_owned(),
                slot: Some(slot.id),
                status: Some(slot.status),
                not_after: slot.authority.not_after(),
                tainted: s
                    .published_x509
                    .iter()
                    .any(|p| p.id == slot.authority.id() && p.tainted),
            });
        }
        for p in &s.published_x509 {
            if !out.iter().any(|a| a.id == p.id) {
                out.push(AuthorityState {
                    id: p.id.clone(),
                    slot: None,
                    status: None,
                    not_after: p.not_after,
                    tainted: p.tainted,
                });
            }
        }
        out
    }

    /// The JWT keys: those in slots, then those only still published.
    pub fn jwt_authorities(&self) -> Vec<AuthorityState> {
        let s = self.snapshot();
        let mut out: Vec<AuthorityState> = Vec::new();
        for slot in s.jwt.slots() {
            out.push(AuthorityState {
                id: slot.authority.key_id().to_owned(),
                slot: Some(slot.id),
                status: Some(slot.status),
                not_after: slot.authority.not_after(),
                tainted: s
                    .published_jwt
                    .iter()
                    .any(|p| p.kid == slot.authority.key_id() && p.tainted),
            });
        }
        for p in &s.published_jwt {
            if !out.iter().any(|a| a.id == p.kid) {
                out.push(AuthorityState {
                    id: p.kid.clone(),
                    slot: None,
                    status: None,
                    not_after: p.not_after,
                    tainted: p.tainted,
                });
            }
        }
        out
    }

    /// Runs the rotation schedule at the clock's current time: bootstraps, prepares and
    /// activates as the thresholds say, and drops expired authorities from the bundle. A server
    /// calls this every few seconds.
    pub fn rotate(&self) -> Result<RotationReport, CaError> {
        self.change(|ca, state, report| {
            let now = unix(ca.clock.now());
            loop {
                match state.x509.step(now) {
                    Step::Nothing => break,
                    Step::Bootstrap => {
                        let id = ca.prepare_x509_in(state)?;
                        state.x509.activate();
                        report.x509_prepared.push(id.clone());
                        report.x509_activated.push(id);
                    }
                    Step::Prepare => report.x509_prepared.push(ca.prepare_x509_in(state)?),
                    Step::Activate => {
                        state.x509.activate();
                        if let Some(a) = state.x509.active() {
                            report.x509_activated.push(a.id().to_owned());
                        }
                    }
                }
            }
            loop {
                match state.jwt.step(now) {
                    Step::Nothing => break,
                    Step::Bootstrap => {
                        let id = ca.prepare_jwt_in(state)?;
                        state.jwt.activate();
                        report.jwt_prepared.push(id.clone());
                        report.jwt_activated.push(id);
                    }
                    Step::Prepare => report.jwt_prepared.push(ca.prepare_jwt_in(state)?),
                    Step::Activate => {
                        state.jwt.activate();
                        if let Some(a) = state.jwt.active() {
                            report.jwt_activated.push(a.key_id().to_owned());
                        }
                    }
                }
            }
            let before = state.published_x509.len() + state.published_jwt.len();
            state.published_x509.retain(|p| {
                let keep = p.not_after > now;
                if !keep {
                    report.expired.push(p.id.clone());
                }
                keep
            });
            state.published_jwt.retain(|p| {
                let keep = p.not_after > now;
                if !keep {
                    report.expired.push(p.kid.clone());
                }
                keep
            });
            Ok(before != state.published_x509.len() + state.published_jwt.len())
        })
    }

    /// Prepares a new X.509 CA now (replacing any prepared or old one in the next slot) and
    /// publishes it in the bundle. Returns its ID.
    pub fn prepare_x509(&self) -> Result<String, CaError> {
        let mut id = String::new();
        self.change(|ca, state, report| {
            id = ca.prepare_x509_in(state)?;
            report.x509_prepared.push(id.clone());
            Ok(false)
        })?;
        Ok(id)
    }

    /// Activates the prepared X.509 CA `id`; the active one becomes old.
    pub fn activate_x509(&self, id: &str) -> Result<(), CaError> {
        self.change(|_, state, report| {
            match &state.x509.next {
                Some(n) if n.authority.id() == id && n.status == AuthorityStatus::Prepared => {}
                _ => {
                    return Err(CaError::Rotation(format!(
                        "X.509 authority {id} is not the prepared authority"
                    )));
                }
            }
            state.x509.activate();
            report.x509_activated.push(id.to_owned());
            Ok(false)
        })
        .map(|_| ())
    }

    /// Taints the old X.509 CA `id`: it stays in the bundle, but holders of SVIDs it signed
    /// are told to get new ones. Only an old authority can be tainted.
    pub fn taint_x509(&self, id: &str) -> Result<(), CaError> {
        self.change(|_, state, _| {
            let in_use = state
                .x509
                .slots()
                .any(|s| s.authority.id() == id && s.status != AuthorityStatus::Old);
            if in_use {
                return Err(CaError::Rotation(format!(
                    "X.509 authority {id} is not an old authority; only old authorities can be tainted"
                )));
            }
            let p = state
                .published_x509
                .iter_mut()
                .find(|p| p.id == id)
                .ok_or_else(|| CaError::UnknownAuthority {
                    kind: "X.509",
                    id: id.to_owned(),
                })?;
            if p.tainted {
                return Err(CaError::Rotation(format!("X.509 authority {id} is already tainted")));
            }
            p.tainted = true;
            Ok(true)
        })
        .map(|_| ())
    }

    /// Revokes the tainted X.509 CA `id`: it leaves the bundle at once.
    pub fn revoke_x509(&self, id: &str) -> Result<(), CaError> {
        self.change(|_, state, _| {
            let idx = state
                .published_x509
                .iter()
                .position(|p| p.id == id)
                .ok_or_else(|| CaError::UnknownAuthority {
                    kind: "X.509",
                    id: id.to_owned(),
                })?;
            if !state.published_x509[idx].tainted {
                return Err(CaError::Rotation(format!(
                    "X.509 authority {id} must be tainted before it is revoked"
                )));
            }
            state.published_x509.remove(idx);
            if state
                .x509
                .next
                .as_ref()
                .is_some_and(|n| n.authority.id() == id)
            {
                state.x509.next = None;
            }
            Ok(true)
        })
        .map(|_| ())
    }

    /// Prepares a new JWT key now and publishes it. Returns its key ID.
    pub fn prepare_jwt(&self) -> Result<String, CaError> {
        let mut id = String::new();
        self.change(|ca, state, report| {
            id = ca.prepare_jwt_in(state)?;
            report.jwt_prepared.push(id.clone());
            Ok(false)
        })?;
        Ok(id)
    }

    /// Activates the prepared JWT key `kid`.
    pub fn activate_jwt(&self, kid: &str) -> Result<(), CaError> {
        self.change(|_, state, report| {
            match &state.jwt.next {
                Some(n) if n.authority.key_id() == kid && n.status == AuthorityStatus::Prepared => {
                }
                _ => {
                    return Err(CaError::Rotation(format!(
                        "JWT key {kid} is not the prepared key"
                    )));
                }
            }
            state.jwt.activate();
            report.jwt_activated.push(kid.to_owned());
            Ok(false)
        })
        .map(|_| ())
    }

    /// Taints the old JWT key `kid`.
    pub fn taint_jwt(&self, kid: &str) -> Result<(), CaError> {
        self.change(|_, state, _| {
            let in_use = state
                .jwt
                .slots()
                .any(|s| s.authority.key_id() == kid && s.status != AuthorityStatus::Old);
            if in_use {
                return Err(CaError::Rotation(format!(
                    "JWT key {kid} is not an old key; only old keys can be tainted"
                )));
            }
            let p = state
                .published_jwt
                .iter_mut()
                .find(|p| p.kid == kid)
                .ok_or_else(|| CaError::UnknownAuthority {
                    kind: "JWT",
                    id: kid.to_owned(),
                })?;
            if p.tainted {
                return Err(CaError::Rotation(format!(
                    "JWT key {kid} is already tainted"
                )));
            }
            p.tainted = true;
            Ok(true)
        })
        .map(|_| ())
    }

    /// Revokes the tainted JWT key `kid`: it leaves the bundle at once.
    pub fn revoke_jwt(&self, kid: &str) -> Result<(), CaError> {
        self.change(|_, state, _| {
            let idx = state
                .published_jwt
                .iter()
                .position(|p| p.kid == kid)
                .ok_or_else(|| CaError::UnknownAuthority {
                    kind: "JWT",
                    id: kid.to_owned(),
                })?;
            if !state.published_jwt[idx].tainted {
                return Err(CaError::Rotation(format!(
                    "JWT key {kid} must be tainted before it is revoked"
                )));
            }
            state.published_jwt.remove(idx);
            if state
                .jwt
                .next
                .as_ref()
                .is_some_and(|n| n.authority.key_id() == kid)
            {
                state.jwt.next = None;
            }
            Ok(true)
        })
        .map(|_| ())
    }

    /// Whether the X.509 authority `id` is tainted.
    pub fn is_x509_tainted(&self, id: &str) -> bool {
        self.snapshot()
            .published_x509
            .iter()
            .any(|p| p.id == id && p.tainted)
    }

    /// Runs one change on a copy of the state, then (if it succeeded) rebuilds the bundle when
    /// the published set changed, writes the journal, and swaps the snapshot. `f` returns
    /// whether it changed the published set by other means than preparing.
    fn change(
        &self,
        f: impl FnOnce(&Self, &mut State, &mut RotationReport) -> Result<bool, CaError>,
    ) -> Result<RotationReport, CaError> {
        let _guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut state = (*self.snapshot()).clone();
        let mut report = RotationReport::default();
        let published_changed = f(self, &mut state, &mut report)?;
        let changed = published_changed
            || !report.x509_prepared.is_empty()
            || !report.jwt_prepared.is_empty();
        let slots_changed =
            changed || !report.x509_activated.is_empty() || !report.jwt_activated.is_empty();
        if changed {
            state.sequence += 1;
            state.bundle = Arc::new(self.build_bundle(&state)?);
            report.bundle_changed = true;
        }
        if slots_changed {
            if let Some(j) = &self.journal {
                j.store(&to_journal(&state))?;
            }
            for id in &report.x509_activated {
                info!(authority_id = %id, "X.509 CA activated");
            }
            for id in &report.jwt_activated {
                info!(kid = %id, "JWT key activated");
            }
        }
        *self.state.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(state);
        Ok(report)
    }

    fn prepare_x509_in(&self, state: &mut State) -> Result<String, CaError> {
        let slot = state.x509.slot_for_prepare();
        let signer = self
            .keys
            .generate(&x509_key_id(slot), self.config.ca_key_type)?;
        let authority = X509Authority::create(
            &self.config.trust_domain,
            signer,
            &self.config.ca_subject,
            self.clock.now(),
            self.config.ca_ttl,
            self.config.upstream.as_deref(),
        )?;
        let id = authority.id().to_owned();
        state.published_x509.push(PublishedX509 {
            id: id.clone(),
            roots: authority.roots().to_vec(),
            not_after: authority.not_after(),
            tainted: false,
        });
        state.x509.prepare(Arc::new(authority));
        info!(authority_id = %id, slot = slot.as_str(), "X.509 CA prepared");
        Ok(id)
    }

    fn prepare_jwt_in(&self, state: &mut State) -> Result<String, CaError> {
        let slot = state.jwt.slot_for_prepare();
        let key_type = CaKeyType::for_jwt_algorithm(self.config.jwt_algorithm)?;
        let signer = self.keys.generate(&jwt_key_id(slot), key_type)?;
        let authority = JwtAuthority::create(
            signer,
            self.config.jwt_algorithm,
            self.clock.now(),
            self.config.ca_ttl,
        )?;
        let kid = authority.key_id().to_owned();
        state.published_jwt.push(PublishedJwt {
            kid: kid.clone(),
            key: authority.signer().public_key().clone(),
            not_after: authority.not_after(),
            tainted: false,
        });
        state.jwt.prepare(Arc::new(authority));
        info!(kid = %kid, slot = slot.as_str(), "JWT key prepared");
        Ok(kid)
    }

    fn build_bundle(&self, state: &State) -> Result<Bundle, CaError> {
        let td = self.config.trust_domain.clone();
        let mut x509 = X509Bundle::new(td.clone());
        for root in state.published_x509.iter().flat_map(|p| p.roots.iter()) {
            // Authorities under one upstream CA share its roots: publish each once.
            if !x509.contains(root) {
                x509.add_authority(root.clone())
                    .map_err(|e| CaError::Certificate(e.to_string()))?;
            }
        }
        let mut jwt = JwtBundle::new(td);
        for p in &state.published_jwt {
            jwt.add_authority(p.kid.clone(), p.key.clone())
                .map_err(|e| CaError::Certificate(e.to_string()))?;
        }
        let mut bundle =
            Bundle::from_parts(x509, jwt).map_err(|e| CaError::Certificate(e.to_string()))?;
        bundle.set_sequence(Some(state.sequence));
        bundle.set_refresh_hint(Some(self.config.effective_refresh_hint()));
        Ok(bundle)
    }

    fn restore(&self, j: &journal::Journal, data: &JournalData) -> Result<State, CaError> {
        let mut state = State {
            x509: Track::default(),
            jwt: Track::default(),
            published_x509: Vec::new(),
            published_jwt: Vec::new(),
            sequence: data.sequence,
            bundle: Arc::new(Bundle::new(self.config.trust_domain.clone())),
        };
        for rec in &data.x509 {
            let Some(signer) = self.keys.get(&x509_key_id(rec.slot))? else {
                warn!(
                    slot = rec.slot.as_str(),
                    "X.509 CA key is gone; the slot is dropped"
                );
                continue;
            };
            let cert = journal::decode_certs(j, std::slice::from_ref(&rec.cert))?
                .pop()
                .ok_or_else(|| j.corrupt("X.509 slot without a certificate"))?;
            let chain = journal::decode_certs(j, &rec.chain)?;
            let roots = journal::decode_certs(j, &rec.roots)?;
            let authority = match X509Authority::restore(cert, chain, roots, signer) {
                Ok(a) => Arc::new(a),
                Err(e) => {
                    // The slot's key was replaced after the journal was written (a crash between
                    // the two writes): that authority cannot sign any more.
                    warn!(slot = rec.slot.as_str(), error = %e, "X.509 slot dropped");
                    continue;
                }
            };
            let slot = crate::rotation::Slot {
                id: rec.slot,
                status: rec.status,
                authority,
            };
            if rec.status == AuthorityStatus::Active {
                state.x509.current = Some(slot);
            } else {
                state.x509.next = Some(slot);
            }
        }
        for rec in &data.jwt {
            let Some(signer) = self.keys.get(&jwt_key_id(rec.slot))? else {
                warn!(
                    slot = rec.slot.as_str(),
                    "JWT key is gone; the slot is dropped"
                );
                continue;
            };
            let alg: JwtAlgorithm = rec
                .alg
                .parse()
                .map_err(|_| j.corrupt(format!("unknown JWT algorithm {:?}", rec.alg)))?;
            let authority = match JwtAuthority::restore(
                rec.kid.clone(),
                signer,
                alg,
                rec.not_before,
                rec.not_after,
            ) {
                Ok(a) => Arc::new(a),
                Err(e) => {
                    warn!(slot = rec.slot.as_str(), error = %e, "JWT slot dropped");
                    continue;
                }
            };
            let slot = crate::rotation::Slot {
                id: rec.slot,
                status: rec.status,
                authority,
            };
            if rec.status == AuthorityStatus::Active {
                state.jwt.current = Some(slot);
            } else {
                state.jwt.next = Some(slot);
            }
        }
        for p in &data.published_x509 {
            state.published_x509.push(PublishedX509 {
                id: p.id.clone(),
                roots: journal::decode_certs(j, &p.roots)?,
                not_after: p.not_after,
                tainted: p.tainted,
            });
        }
        for p in &data.published_jwt {
            let spki = STANDARD
                .decode(&p.spki)
                .map_err(|e| j.corrupt(format!("JWT key is not base64: {e}")))?;
            state.published_jwt.push(PublishedJwt {
                kid: p.kid.clone(),
                key: PublicKey::from_spki_der(&spki)
                    .map_err(|e| j.corrupt(format!("JWT key {}: {e}", p.kid)))?,
                not_after: p.not_after,
                tainted: p.tainted,
            });
        }
        state.bundle = Arc::new(self.build_bundle(&state)?);
        Ok(state)
    }
}

fn to_journal(state: &State) -> JournalData {
    let mut data = JournalData::empty();
    data.sequence = state.sequence;
    for slot in state.x509.slots() {
        data.x509.push(X509Record {
            slot: slot.id,
            status: slot.status,
            cert: journal::encode_certs(std::slice::from_ref(slot.authority.certificate()))
                .pop()
                .unwrap_or_default(),
            chain: journal::encode_certs(slot.authority.chain()),
            roots: journal::encode_certs(slot.authority.roots()),
        });
    }
    for slot in state.jwt.slots() {
        data.jwt.push(JwtRecord {
            slot: slot.id,
            status: slot.status,
            kid: slot.authority.key_id().to_owned(),
            alg: slot.authority.algorithm().as_str().to_owned(),
            not_before: slot.authority.not_before(),
            not_after: slot.authority.not_after(),
        });
    }
    for p in &state.published_x509 {
        data.published_x509.push(PublishedX509Record {
            id: p.id.clone(),
            roots: journal::encode_certs(&p.roots),
            not_after: p.not_after,
            tainted: p.tainted,
        });
    }
    for p in &state.published_jwt {
        data.published_jwt.push(PublishedJwtRecord {
            kid: p.kid.clone(),
            spki: STANDARD.encode(p.key.spki_der()),
            not_after: p.not_after,
            tainted: p.tainted,
        });
    }
    data
}
