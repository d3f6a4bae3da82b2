//! [`State`]: everything readers of the authority need (both lifecycles, the bundle sequence
//! and the bundle built from them), swapped as a whole on every change.

use std::sync::Arc;

use spiffe_core::{Bundle, JwtBundle, X509Bundle};

use crate::CaError;
use crate::config::CaConfig;
use crate::jwt::JwtAuthority;
use crate::lifecycle::Lifecycle;
use crate::slot::SlotAuthority;
use crate::x509::X509Authority;

/// The authority's state.
#[derive(Debug, Clone)]
pub(crate) struct State {
    /// The X.509 CAs.
    pub(crate) x509: Lifecycle<X509Authority>,
    /// The JWT keys.
    pub(crate) jwt: Lifecycle<JwtAuthority>,
    /// The bundle's `spiffe_sequence`.
    pub(crate) sequence: u64,
    /// The bundle published from the lifecycles.
    pub(crate) bundle: Arc<Bundle>,
}

/// An authority kind whose lifecycle the state holds.
pub(crate) trait Tracked: SlotAuthority {
    /// Its lifecycle in `state`.
    fn of(state: &State) -> &Lifecycle<Self>;
    /// Its lifecycle in `state`, to change.
    fn of_mut(state: &mut State) -> &mut Lifecycle<Self>;
}

impl Tracked for X509Authority {
    fn of(state: &State) -> &Lifecycle<Self> {
        &state.x509
    }
    fn of_mut(state: &mut State) -> &mut Lifecycle<Self> {
        &mut state.x509
    }
}

impl Tracked for JwtAuthority {
    fn of(state: &State) -> &Lifecycle<Self> {
        &state.jwt
    }
    fn of_mut(state: &mut State) -> &mut Lifecycle<Self> {
        &mut state.jwt
    }
}

impl State {
    /// No authority yet, an empty bundle.
    pub(crate) fn empty(config: &CaConfig) -> Self {
        State {
            x509: Lifecycle::default(),
            jwt: Lifecycle::default(),
            sequence: 0,
            bundle: Arc::new(Bundle::new(config.trust_domain.clone())),
        }
    }

    /// The bundle of every published X.509 root and JWT key, with the state's sequence and
    /// the configured refresh hint.
    ///
    /// # Errors
    ///
    /// [`CaError::Bundle`] if a root or key is refused by the bundle (a certificate that cannot
    /// be a trust anchor, two JWT keys with one key ID).
    pub(crate) fn build_bundle(&self, config: &CaConfig) -> Result<Bundle, CaError> {
        let td = config.trust_domain.clone();
        let mut x509 = X509Bundle::new(td.clone());
        for p in self.x509.published() {
            for root in &p.public {
                // Authorities under one upstream CA share its roots: publish each once.
                if !x509.contains(root) {
                    x509.add_authority(root.clone())
                        .map_err(|source| CaError::Bundle {
                            what: format!("X.509 authority {}", p.id),
                            source,
                        })?;
                }
            }
        }
        let mut jwt = JwtBundle::new(td);
        for p in self.jwt.published() {
            jwt.add_authority(p.id.clone(), p.public.clone())
                .map_err(|source| CaError::Bundle {
                    what: format!("JWT key {}", p.id),
                    source,
                })?;
        }
        let mut bundle = Bundle::from_parts(x509, jwt).map_err(|source| CaError::Bundle {
            what: "X.509 and JWT parts".into(),
            source,
        })?;
        bundle.set_sequence(Some(self.sequence));
        bundle.set_refresh_hint(Some(config.effective_refresh_hint()));
        Ok(bundle)
    }
}
