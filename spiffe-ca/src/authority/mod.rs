//! [`CertificateAuthority`]: the trust domain's signing authority. Its state (both lifecycles
//! and the bundle) is an immutable snapshot that every change replaces, after writing the
//! journal; minting lives in `mint`.

mod mint;

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use tracing::info;

use spiffe_core::{Bundle, TrustDomain};

use crate::CaError;
use crate::clock::Clock;
use crate::config::CaConfig;
use crate::journal::{self, Journal};
use crate::jwt::JwtAuthority;
use crate::keys::KeyManager;
use crate::lifecycle::AuthorityState;
use crate::report::RotationReport;
use crate::rotation::AuthorityKind;
use crate::slot::Forge;
use crate::state::{State, Tracked};
use crate::x509::{X509Authority, unix};

/// The signing authority of a trust domain.
///
/// Readers (minting, bundle) take an `Arc` snapshot of the state and sign outside any lock;
/// changes (rotation, manual steps) are serialized and replace the snapshot.
#[derive(Debug)]
pub struct CertificateAuthority {
    config: CaConfig,
    keys: Arc<dyn KeyManager>,
    clock: Arc<dyn Clock>,
    journal: Option<Journal>,
    state: RwLock<Arc<State>>,
    writer: Mutex<()>,
}

impl CertificateAuthority {
    /// Opens the authority: restores it from the journal if there is one, then makes sure an
    /// X.509 CA and a JWT key are active.
    ///
    /// # Errors
    ///
    /// [`CaError::Io`] or [`CaError::Corrupt`] if the journal or a stored key cannot be read
    /// back; otherwise whatever preparing the first X.509 CA or JWT key refuses (key
    /// generation, the CA certificate, the upstream CA), or writing the journal.
    pub fn new(
        config: CaConfig,
        keys: Arc<dyn KeyManager>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CaError> {
        let journal = config.journal_path.clone().map(Journal::new);
        let empty = State::empty(&config);
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
            let restored = journal::restore_state(j, &data, &ca.config, ca.keys.as_ref())?;
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
    ///
    /// # Errors
    ///
    /// [`CaError::NoActiveAuthority`] if no X.509 CA is active.
    pub fn active_x509(&self) -> Result<Arc<X509Authority>, CaError> {
        self.active()
    }

    /// The active JWT key.
    ///
    /// # Errors
    ///
    /// [`CaError::NoActiveAuthority`] if no JWT key is active.
    pub fn active_jwt(&self) -> Result<Arc<JwtAuthority>, CaError> {
        self.active()
    }

    /// The X.509 authorities: those in slots, then those only still published.
    pub fn x509_authorities(&self) -> Vec<AuthorityState> {
        self.snapshot().x509.states()
    }

    /// The JWT keys: those in slots, then those only still published.
    pub fn jwt_authorities(&self) -> Vec<AuthorityState> {
        self.snapshot().jwt.states()
    }

    /// Whether the X.509 authority `id` is tainted.
    pub fn is_x509_tainted(&self, id: &str) -> bool {
        self.snapshot().x509.is_tainted(id)
    }

    /// Runs the rotation schedule at the clock's current time: bootstraps, prepares and
    /// activates as the thresholds say, and drops expired authorities from the bundle. A server
    /// calls this every few seconds.
    ///
    /// # Errors
    ///
    /// Whatever preparing a new X.509 CA or JWT key refuses (key generation, the CA
    /// certificate, the upstream CA), [`CaError::Bundle`] if the bundle cannot be rebuilt, or
    /// an I/O error writing the journal. Nothing changes then; the next call tries again.
    pub fn rotate(&self) -> Result<RotationReport, CaError> {
        self.change(|ca, state, report| {
            let now = ca.clock.now();
            let forge = ca.forge();
            for (kind, done) in [
                (AuthorityKind::X509, state.x509.schedule(unix(now), &forge)?),
                (AuthorityKind::Jwt, state.jwt.schedule(unix(now), &forge)?),
            ] {
                report.prepared_mut(kind).extend(done.prepared);
                report.activated_mut(kind).extend(done.activated);
            }
            report.expired.extend(state.x509.expire(unix(now)));
            report.expired.extend(state.jwt.expire(unix(now)));
            Ok(!report.expired.is_empty())
        })
    }

    /// Prepares a new X.509 CA now (replacing any prepared or old one in the next slot) and
    /// publishes it in the bundle. Returns its ID.
    ///
    /// # Errors
    ///
    /// Whatever creating the CA refuses (key generation, the CA certificate, the upstream
    /// CA), [`CaError::Bundle`], or an I/O error writing the journal.
    pub fn prepare_x509(&self) -> Result<String, CaError> {
        self.prepare::<X509Authority>()
    }

    /// Activates the prepared X.509 CA `id`; the active one becomes old.
    ///
    /// # Errors
    ///
    /// [`CaError::Rotation`] if `id` is not the prepared CA (it is active already, another one
    /// is prepared, none is, or no CA has that ID); an I/O error writing the journal.
    pub fn activate_x509(&self, id: &str) -> Result<(), CaError> {
        self.activate::<X509Authority>(id)
    }

    /// Taints the old X.509 CA `id`: it stays in the bundle, but holders of SVIDs it signed
    /// are told to get new ones. Only an old authority can be tainted.
    ///
    /// # Errors
    ///
    /// [`CaError::Rotation`] if `id` is prepared or active, not published, or tainted already;
    /// an I/O error writing the journal.
    pub fn taint_x509(&self, id: &str) -> Result<(), CaError> {
        self.taint::<X509Authority>(id)
    }

    /// Revokes the tainted X.509 CA `id`: it leaves the bundle at once.
    ///
    /// # Errors
    ///
    /// [`CaError::Rotation`] if `id` is not published or was not tainted first; an I/O error
    /// writing the journal.
    pub fn revoke_x509(&self, id: &str) -> Result<(), CaError> {
        self.revoke::<X509Authority>(id)
    }

    /// Prepares a new JWT key now and publishes it. Returns its key ID.
    ///
    /// # Errors
    ///
    /// Whatever creating the key refuses (a JWT algorithm whose key type is not generated,
    /// key generation), [`CaError::Bundle`], or an I/O error writing the journal.
    pub fn prepare_jwt(&self) -> Result<String, CaError> {
        self.prepare::<JwtAuthority>()
    }

    /// Activates the prepared JWT key `kid`.
    ///
    /// # Errors
    ///
    /// [`CaError::Rotation`] if `kid` is not the prepared key (it is active already, another
    /// one is prepared, none is, or no key has that ID); an I/O error writing the journal.
    pub fn activate_jwt(&self, kid: &str) -> Result<(), CaError> {
        self.activate::<JwtAuthority>(kid)
    }

    /// Taints the old JWT key `kid`.
    ///
    /// # Errors
    ///
    /// [`CaError::Rotation`] if `kid` is prepared or active, not published, or tainted
    /// already; an I/O error writing the journal.
    pub fn taint_jwt(&self, kid: &str) -> Result<(), CaError> {
        self.taint::<JwtAuthority>(kid)
    }

    /// Revokes the tainted JWT key `kid`: it leaves the bundle at once.
    ///
    /// # Errors
    ///
    /// [`CaError::Rotation`] if `kid` is not published or was not tainted first; an I/O error
    /// writing the journal.
    pub fn revoke_jwt(&self, kid: &str) -> Result<(), CaError> {
        self.revoke::<JwtAuthority>(kid)
    }

    fn active<A: Tracked>(&self) -> Result<Arc<A>, CaError> {
        A::of(&self.snapshot())
            .active()
            .cloned()
            .ok_or(CaError::NoActiveAuthority { kind: A::KIND })
    }

    fn forge(&self) -> Forge<'_> {
        Forge {
            config: &self.config,
            keys: self.keys.as_ref(),
            now: self.clock.now(),
        }
    }

    fn prepare<A: Tracked>(&self) -> Result<String, CaError> {
        let mut id = String::new();
        self.change(|ca, state, report| {
            id = A::of_mut(state).prepare(&ca.forge())?;
            report.prepared_mut(A::KIND).push(id.clone());
            Ok(false)
        })?;
        Ok(id)
    }

    fn activate<A: Tracked>(&self, id: &str) -> Result<(), CaError> {
        self.change(|_, state, report| {
            A::of_mut(state).activate(id)?;
            report.activated_mut(A::KIND).push(id.to_owned());
            Ok(false)
        })
        .map(|_| ())
    }

    fn taint<A: Tracked>(&self, id: &str) -> Result<(), CaError> {
        self.change(|_, state, _| {
            A::of_mut(state).taint(id)?;
            Ok(true)
        })
        .map(|_| ())
    }

    fn revoke<A: Tracked>(&self, id: &str) -> Result<(), CaError> {
        self.change(|_, state, _| {
            A::of_mut(state).revoke(id)?;
            Ok(true)
        })
        .map(|_| ())
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
        let changed = published_changed || report.any_prepared();
        let slots_changed = changed || report.any_activated();
        if changed {
            state.sequence += 1;
            state.bundle = Arc::new(state.build_bundle(&self.config)?);
            report.bundle_changed = true;
        }
        if slots_changed {
            if let Some(j) = &self.journal {
                j.store(&journal::to_journal(&state))?;
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
}
