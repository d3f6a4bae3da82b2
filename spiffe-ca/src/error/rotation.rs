//! [`RotationError`]: why a manual rotation step (activate, taint, revoke) was refused.

use thiserror::Error;

use crate::rotation::{AuthorityKind, AuthorityStatus};

/// Why a manual rotation step was refused. `kind` says whether the X.509 CAs or the JWT keys
/// were addressed; `id` is the authority named (hex Subject Key Identifier, or key ID).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RotationError {
    /// No authority has the ID: neither in a slot nor still published.
    #[error("no {kind} with ID {id}")]
    UnknownAuthority {
        /// Which kind of authority.
        kind: AuthorityKind,
        /// The ID named.
        id: String,
    },
    /// Activation of an authority while none is prepared.
    #[error("cannot activate {kind} {id}: no {kind} is prepared")]
    NothingPrepared {
        /// Which kind of authority.
        kind: AuthorityKind,
        /// The ID named.
        id: String,
    },
    /// Activation of an authority that is not the prepared one.
    #[error("cannot activate {kind} {id}: it is not the prepared one ({prepared} is)")]
    NotPrepared {
        /// Which kind of authority.
        kind: AuthorityKind,
        /// The ID named.
        id: String,
        /// The ID of the prepared authority.
        prepared: String,
    },
    /// Activation of the authority that is already active.
    #[error("cannot activate {kind} {id}: it is already active")]
    AlreadyActive {
        /// Which kind of authority.
        kind: AuthorityKind,
        /// The ID named.
        id: String,
    },
    /// Tainting of a prepared or active authority: only an old one can be tainted.
    #[error("cannot taint {kind} {id}: it is {status}; only old authorities can be tainted")]
    NotOld {
        /// Which kind of authority.
        kind: AuthorityKind,
        /// The ID named.
        id: String,
        /// Where it is in its life (prepared or active).
        status: AuthorityStatus,
    },
    /// Tainting of an authority that is already tainted.
    #[error("{kind} {id} is already tainted")]
    AlreadyTainted {
        /// Which kind of authority.
        kind: AuthorityKind,
        /// The ID named.
        id: String,
    },
    /// Revocation of an authority that was not tainted first.
    #[error("cannot revoke {kind} {id}: it must be tainted before it is revoked")]
    NotTainted {
        /// Which kind of authority.
        kind: AuthorityKind,
        /// The ID named.
        id: String,
    },
}
