//! The two-slot rotation of an authority kind (X.509 CA or JWT key): prepared -> active -> old.
//!
//! The *current* slot holds the active authority. The *next* slot holds either a prepared one
//! (published in the bundle, not yet signing) or the previous active one, now old. Preparing
//! reuses the next slot; activating swaps the slots.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::slot::SlotAuthority;

/// One of the two slots; it names the key in the key manager (`...-A`, `...-B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SlotId {
    /// Slot A.
    A,
    /// Slot B.
    B,
}

impl SlotId {
    /// The other slot.
    pub fn other(self) -> Self {
        match self {
            SlotId::A => SlotId::B,
            SlotId::B => SlotId::A,
        }
    }

    /// `"A"` or `"B"`.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotId::A => "A",
            SlotId::B => "B",
        }
    }
}

/// Where an authority is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorityStatus {
    /// Published in the bundle, not yet signing.
    Prepared,
    /// Signing.
    Active,
    /// Replaced; still published until it expires.
    Old,
}

impl AuthorityStatus {
    /// `"prepared"`, `"active"` or `"old"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityStatus::Prepared => "prepared",
            AuthorityStatus::Active => "active",
            AuthorityStatus::Old => "old",
        }
    }
}

impl std::fmt::Display for AuthorityStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two kinds of authority, each rotated on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthorityKind {
    /// X.509 CAs, which sign X509-SVIDs.
    X509,
    /// JWT keys, which sign JWT-SVIDs.
    Jwt,
}

impl AuthorityKind {
    /// `"X.509 authority"` or `"JWT key"`, as messages name one authority of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthorityKind::X509 => "X.509 authority",
            AuthorityKind::Jwt => "JWT key",
        }
    }

    /// `"X.509"` or `"JWT"`.
    pub fn label(self) -> &'static str {
        match self {
            AuthorityKind::X509 => "X.509",
            AuthorityKind::Jwt => "JWT",
        }
    }
}

impl std::fmt::Display for AuthorityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authority in a slot.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    pub(crate) id: SlotId,
    pub(crate) status: AuthorityStatus,
    pub(crate) authority: Arc<T>,
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot {
            id: self.id,
            status: self.status,
            authority: Arc::clone(&self.authority),
        }
    }
}

/// The two slots of one kind.
#[derive(Debug)]
pub(crate) struct Track<T> {
    pub(crate) current: Option<Slot<T>>,
    pub(crate) next: Option<Slot<T>>,
}

impl<T> Clone for Track<T> {
    fn clone(&self) -> Self {
        Track {
            current: self.current.clone(),
            next: self.next.clone(),
        }
    }
}

impl<T> Default for Track<T> {
    fn default() -> Self {
        Track {
            current: None,
            next: None,
        }
    }
}

/// When an authority with this lifetime gets a successor prepared: `notAfter -
/// min(lifetime / 2, 30 days)`.
pub(crate) fn prepare_at(not_before: i64, not_after: i64) -> i64 {
    let lifetime = (not_after - not_before).max(0);
    not_after - (lifetime / 2).min(30 * 86_400)
}

/// When the prepared successor is activated: `notAfter - min(lifetime / 6, 7 days)`.
pub(crate) fn activate_at(not_before: i64, not_after: i64) -> i64 {
    let lifetime = (not_after - not_before).max(0);
    not_after - (lifetime / 6).min(7 * 86_400)
}

/// What a rotation step decided for one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing to do.
    Nothing,
    /// No usable active authority: prepare one and activate it at once.
    Bootstrap,
    /// Prepare the successor.
    Prepare,
    /// Activate the prepared successor.
    Activate,
}

impl<T: SlotAuthority> Track<T> {
    /// The next thing to do at `now`.
    pub(crate) fn step(&self, now: i64) -> Step {
        let Some(current) = &self.current else {
            return Step::Bootstrap;
        };
        let a = &current.authority;
        let prepared = self
            .next
            .as_ref()
            .filter(|n| n.status == AuthorityStatus::Prepared && n.authority.not_after() > now);
        if now >= a.not_after() {
            // The active authority expired (the server was down through the rotation).
            return match prepared {
                Some(_) => Step::Activate,
                None => Step::Bootstrap,
            };
        }
        match prepared {
            Some(_) if now >= activate_at(a.not_before(), a.not_after()) => Step::Activate,
            Some(_) => Step::Nothing,
            None if now >= prepare_at(a.not_before(), a.not_after()) => Step::Prepare,
            None => Step::Nothing,
        }
    }

    /// The slot a new authority goes to.
    pub(crate) fn slot_for_prepare(&self) -> SlotId {
        match (&self.current, &self.next) {
            (_, Some(next)) => next.id,
            (Some(current), None) => current.id.other(),
            (None, None) => SlotId::A,
        }
    }

    /// Puts a new authority in the next slot, prepared.
    pub(crate) fn prepare(&mut self, authority: Arc<T>) -> SlotId {
        let id = self.slot_for_prepare();
        self.next = Some(Slot {
            id,
            status: AuthorityStatus::Prepared,
            authority,
        });
        id
    }

    /// Activates the prepared authority; the active one becomes old. Returns false if nothing
    /// is prepared.
    pub(crate) fn activate(&mut self) -> bool {
        match self.next.take() {
            Some(mut next) if next.status == AuthorityStatus::Prepared => {
                next.status = AuthorityStatus::Active;
                let old = self.current.replace(next);
                self.next = old.map(|mut o| {
                    o.status = AuthorityStatus::Old;
                    o
                });
                true
            }
            other => {
                self.next = other;
                false
            }
        }
    }

    /// The active authority.
    pub(crate) fn active(&self) -> Option<&Arc<T>> {
        self.current.as_ref().map(|s| &s.authority)
    }

    /// The slots, current first.
    pub(crate) fn slots(&self) -> impl Iterator<Item = &Slot<T>> {
        self.current.iter().chain(self.next.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_the_lifetime_with_caps() {
        let day = 86_400;
        // 24 h lifetime: prepare at half, activate at 5/6.
        assert_eq!(prepare_at(0, day), day / 2);
        assert_eq!(activate_at(0, day), day - day / 6);
        // A year: capped at 30 days and 7 days before the end.
        let year = 365 * day;
        assert_eq!(prepare_at(0, year), year - 30 * day);
        assert_eq!(activate_at(0, year), year - 7 * day);
    }
}
