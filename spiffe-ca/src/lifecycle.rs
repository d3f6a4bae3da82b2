//! [`Lifecycle`]: one authority kind's rotation slots and published authorities, with the
//! steps that move an authority through its life (prepare, activate, taint, revoke, expire),
//! written once for X.509 CAs and JWT keys alike.

use std::sync::Arc;

use tracing::info;

use crate::error::{CaError, RotationError};
use crate::rotation::{AuthorityStatus, Slot, SlotId, Step, Track};
use crate::slot::{Forge, SlotAuthority};

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

/// An authority in the bundle: from when it is prepared until it expires or is revoked.
#[derive(Debug, Clone)]
pub(crate) struct Published<P> {
    /// Its ID.
    pub(crate) id: String,
    /// What the bundle holds for it.
    pub(crate) public: P,
    /// Expiry, seconds since the Unix epoch.
    pub(crate) not_after: i64,
    /// Whether an operator tainted it.
    pub(crate) tainted: bool,
}

/// What the rotation schedule did to one kind.
#[derive(Debug, Default)]
pub(crate) struct Scheduled {
    /// IDs of the authorities prepared.
    pub(crate) prepared: Vec<String>,
    /// IDs of the authorities activated.
    pub(crate) activated: Vec<String>,
}

/// The slots and published authorities of one kind.
#[derive(Debug)]
pub(crate) struct Lifecycle<A: SlotAuthority> {
    track: Track<A>,
    published: Vec<Published<A::Public>>,
}

impl<A: SlotAuthority> Clone for Lifecycle<A> {
    fn clone(&self) -> Self {
        Lifecycle {
            track: self.track.clone(),
            published: self.published.clone(),
        }
    }
}

impl<A: SlotAuthority> Default for Lifecycle<A> {
    fn default() -> Self {
        Lifecycle {
            track: Track::default(),
            published: Vec::new(),
        }
    }
}

impl<A: SlotAuthority> Lifecycle<A> {
    /// A lifecycle restored from stored slots and published authorities.
    pub(crate) fn from_parts(track: Track<A>, published: Vec<Published<A::Public>>) -> Self {
        Lifecycle { track, published }
    }

    /// The active authority.
    pub(crate) fn active(&self) -> Option<&Arc<A>> {
        self.track.active()
    }

    /// The slots, current first.
    pub(crate) fn slots(&self) -> impl Iterator<Item = &Slot<A>> {
        self.track.slots()
    }

    /// The authorities in the bundle.
    pub(crate) fn published(&self) -> &[Published<A::Public>] {
        &self.published
    }

    /// Whether the authority `id` is published and tainted.
    pub(crate) fn is_tainted(&self, id: &str) -> bool {
        self.published.iter().any(|p| p.id == id && p.tainted)
    }

    /// The authorities: those in slots, then those only still published.
    pub(crate) fn states(&self) -> Vec<AuthorityState> {
        let mut out: Vec<AuthorityState> = self
            .track
            .slots()
            .map(|slot| AuthorityState {
                id: slot.authority.id().to_owned(),
                slot: Some(slot.id),
                status: Some(slot.status),
                not_after: slot.authority.not_after(),
                tainted: self.is_tainted(slot.authority.id()),
            })
            .collect();
        for p in &self.published {
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

    /// Prepares a new authority in the next slot (replacing a prepared or old one there) and
    /// publishes it. Returns its ID.
    ///
    /// # Errors
    ///
    /// When the key cannot be generated or the authority cannot be created.
    pub(crate) fn prepare(&mut self, forge: &Forge<'_>) -> Result<String, CaError> {
        let slot = self.track.slot_for_prepare();
        let key_type = A::key_type(forge.config)?;
        let signer = forge.keys.generate(&A::key_id(slot), key_type)?;
        let authority = A::create(forge, signer)?;
        let id = authority.id().to_owned();
        self.published.push(Published {
            id: id.clone(),
            public: authority.public(),
            not_after: authority.not_after(),
            tainted: false,
        });
        self.track.prepare(Arc::new(authority));
        info!(id = %id, slot = slot.as_str(), "{} prepared", A::KIND);
        Ok(id)
    }

    /// Runs the rotation schedule at `now` (seconds since the Unix epoch): bootstraps,
    /// prepares and activates as the thresholds say.
    ///
    /// # Errors
    ///
    /// When a new authority cannot be prepared.
    pub(crate) fn schedule(&mut self, now: i64, forge: &Forge<'_>) -> Result<Scheduled, CaError> {
        let mut done = Scheduled::default();
        loop {
            match self.track.step(now) {
                Step::Nothing => return Ok(done),
                Step::Bootstrap => {
                    let id = self.prepare(forge)?;
                    self.track.activate();
                    done.prepared.push(id.clone());
                    done.activated.push(id);
                }
                Step::Prepare => done.prepared.push(self.prepare(forge)?),
                Step::Activate => {
                    self.track.activate();
                    if let Some(a) = self.track.active() {
                        done.activated.push(a.id().to_owned());
                    }
                }
            }
        }
    }

    /// Activates the prepared authority `id`; the active one becomes old.
    ///
    /// # Errors
    ///
    /// [`RotationError::AlreadyActive`] if `id` is active, [`RotationError::NotPrepared`] if
    /// another authority is prepared, [`RotationError::NothingPrepared`] if none is, and
    /// [`RotationError::UnknownAuthority`] if `id` is not known at all.
    pub(crate) fn activate(&mut self, id: &str) -> Result<(), RotationError> {
        if self.track.active().is_some_and(|a| a.id() == id) {
            return Err(RotationError::AlreadyActive {
                kind: A::KIND,
                id: id.to_owned(),
            });
        }
        let prepared = self
            .track
            .next
            .as_ref()
            .filter(|n| n.status == AuthorityStatus::Prepared)
            .map(|n| n.authority.id().to_owned());
        match prepared {
            Some(p) if p == id => {
                self.track.activate();
                Ok(())
            }
            _ if !self.is_known(id) => Err(self.unknown(id)),
            Some(prepared) => Err(RotationError::NotPrepared {
                kind: A::KIND,
                id: id.to_owned(),
                prepared,
            }),
            None => Err(RotationError::NothingPrepared {
                kind: A::KIND,
                id: id.to_owned(),
            }),
        }
    }

    /// Taints the old authority `id`: it stays in the bundle, but holders of what it signed
    /// are told to renew.
    ///
    /// # Errors
    ///
    /// [`RotationError::NotOld`] if `id` is prepared or active,
    /// [`RotationError::UnknownAuthority`] if it is not published,
    /// [`RotationError::AlreadyTainted`] if it is tainted already.
    pub(crate) fn taint(&mut self, id: &str) -> Result<(), RotationError> {
        if let Some(slot) = self
            .track
            .slots()
            .find(|s| s.authority.id() == id && s.status != AuthorityStatus::Old)
        {
            return Err(RotationError::NotOld {
                kind: A::KIND,
                id: id.to_owned(),
                status: slot.status,
            });
        }
        let unknown = self.unknown(id);
        let p = self
            .published
            .iter_mut()
            .find(|p| p.id == id)
            .ok_or(unknown)?;
        if p.tainted {
            return Err(RotationError::AlreadyTainted {
                kind: A::KIND,
                id: id.to_owned(),
            });
        }
        p.tainted = true;
        Ok(())
    }

    /// Revokes the tainted authority `id`: it leaves the bundle (and its slot) at once.
    ///
    /// # Errors
    ///
    /// [`RotationError::UnknownAuthority`] if `id` is not published,
    /// [`RotationError::NotTainted`] if it was not tainted first.
    pub(crate) fn revoke(&mut self, id: &str) -> Result<(), RotationError> {
        let idx = self
            .published
            .iter()
            .position(|p| p.id == id)
            .ok_or_else(|| self.unknown(id))?;
        if !self.published[idx].tainted {
            return Err(RotationError::NotTainted {
                kind: A::KIND,
                id: id.to_owned(),
            });
        }
        self.published.remove(idx);
        if self
            .track
            .next
            .as_ref()
            .is_some_and(|n| n.authority.id() == id)
        {
            self.track.next = None;
        }
        Ok(())
    }

    /// Drops the published authorities that expired by `now`; returns their IDs.
    pub(crate) fn expire(&mut self, now: i64) -> Vec<String> {
        let mut expired = Vec::new();
        self.published.retain(|p| {
            let keep = p.not_after > now;
            if !keep {
                expired.push(p.id.clone());
            }
            keep
        });
        expired
    }

    fn is_known(&self, id: &str) -> bool {
        self.track.slots().any(|s| s.authority.id() == id)
            || self.published.iter().any(|p| p.id == id)
    }

    fn unknown(&self, id: &str) -> RotationError {
        RotationError::UnknownAuthority {
            kind: A::KIND,
            id: id.to_owned(),
        }
    }
}
