//! [`RotationReport`]: what a rotation step did.

use crate::rotation::AuthorityKind;

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

impl RotationReport {
    /// The authorities of `kind` prepared.
    pub(crate) fn prepared_mut(&mut self, kind: AuthorityKind) -> &mut Vec<String> {
        match kind {
            AuthorityKind::X509 => &mut self.x509_prepared,
            AuthorityKind::Jwt => &mut self.jwt_prepared,
        }
    }

    /// The authorities of `kind` activated.
    pub(crate) fn activated_mut(&mut self, kind: AuthorityKind) -> &mut Vec<String> {
        match kind {
            AuthorityKind::X509 => &mut self.x509_activated,
            AuthorityKind::Jwt => &mut self.jwt_activated,
        }
    }

    /// Whether anything was prepared (the bundle gained an authority).
    pub(crate) fn any_prepared(&self) -> bool {
        !self.x509_prepared.is_empty() || !self.jwt_prepared.is_empty()
    }

    /// Whether anything was activated (the slots changed).
    pub(crate) fn any_activated(&self) -> bool {
        !self.x509_activated.is_empty() || !self.jwt_activated.is_empty()
    }
}
