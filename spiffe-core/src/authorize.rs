//! [`Authorizer`]: which verified peers are admitted, with a reason when one is not.
//!
//! Authorization runs after verification: it only ever sees a SPIFFE ID whose chain verified
//! against the bundle of its own trust domain.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use thiserror::Error;

use crate::id::{SpiffeId, TrustDomain};

/// Why a verified peer was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("peer {peer} is not authorized: {reason}")]
pub struct AuthorizationError {
    /// The peer's SPIFFE ID.
    pub peer: SpiffeId,
    /// Why it was refused.
    pub reason: String,
}

impl AuthorizationError {
    /// A refusal of `peer` for `reason`.
    pub fn new(peer: &SpiffeId, reason: impl Into<String>) -> Self {
        AuthorizationError {
            peer: peer.clone(),
            reason: reason.into(),
        }
    }
}

/// Decides whether a verified peer is admitted.
pub trait Authorizer: Send + Sync + fmt::Debug {
    /// Admits `peer` (whose chain, leaf first, was verified) or says why not.
    fn authorize(
        &self,
        peer: &SpiffeId,
        verified_chain: &[CertificateDer<'_>],
    ) -> Result<(), AuthorizationError>;
}

/// `Arc<A>` and `Box<A>` admit what `A` admits.
macro_rules! forward_authorizer {
    ($($pointer:ident),+) => {
        $(impl<A: Authorizer + ?Sized> Authorizer for $pointer<A> {
            fn authorize(
                &self,
                peer: &SpiffeId,
                chain: &[CertificateDer<'_>],
            ) -> Result<(), AuthorizationError> {
                (**self).authorize(peer, chain)
            }
        })+
    };
}

forward_authorizer!(Arc, Box);

/// Admits any verified peer.
pub fn any() -> Any {
    Any
}

/// Admits exactly one SPIFFE ID.
pub fn id(id: SpiffeId) -> Exact {
    Exact(id)
}

/// Admits any of the given SPIFFE IDs.
pub fn one_of(ids: impl IntoIterator<Item = SpiffeId>) -> OneOf {
    let mut ids: Vec<SpiffeId> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    OneOf(ids)
}

/// Admits any SPIFFE ID of a trust domain.
pub fn member_of(trust_domain: TrustDomain) -> MemberOf {
    MemberOf(trust_domain)
}

/// Admits the IDs for which `predicate` holds; `description` says what it checks, for the
/// refusal message ("does not satisfy `description`").
pub fn matching<F>(description: impl Into<String>, predicate: F) -> Matching<F>
where
    F: Fn(&SpiffeId) -> bool + Send + Sync,
{
    Matching {
        description: description.into(),
        predicate,
    }
}

/// See [`any`].
#[derive(Debug, Clone, Copy)]
pub struct Any;

impl Authorizer for Any {
    fn authorize(&self, _: &SpiffeId, _: &[CertificateDer<'_>]) -> Result<(), AuthorizationError> {
        Ok(())
    }
}

/// See [`id`].
#[derive(Debug, Clone)]
pub struct Exact(SpiffeId);

impl Authorizer for Exact {
    fn authorize(
        &self,
        peer: &SpiffeId,
        _: &[CertificateDer<'_>],
    ) -> Result<(), AuthorizationError> {
        if *peer == self.0 {
            Ok(())
        } else {
            Err(AuthorizationError::new(
                peer,
                format!("expected {}", self.0),
            ))
        }
    }
}

/// See [`one_of`].
#[derive(Debug, Clone)]
pub struct OneOf(Vec<SpiffeId>);

impl Authorizer for OneOf {
    fn authorize(
        &self,
        peer: &SpiffeId,
        _: &[CertificateDer<'_>],
    ) -> Result<(), AuthorizationError> {
        if self.0.binary_search(peer).is_ok() {
            return Ok(());
        }
        let list: Vec<&str> = self.0.iter().map(SpiffeId::as_str).collect();
        Err(AuthorizationError::new(
            peer,
            format!("expected one of [{}]", list.join(", ")),
        ))
    }
}

/// See [`member_of`].
#[derive(Debug, Clone)]
pub struct MemberOf(TrustDomain);

impl Authorizer for MemberOf {
    fn authorize(
        &self,
        peer: &SpiffeId,
        _: &[CertificateDer<'_>],
    ) -> Result<(), AuthorizationError> {
        if peer.is_member_of(&self.0) {
            Ok(())
        } else {
            Err(AuthorizationError::new(
                peer,
                format!("expected a member of trust domain {}", self.0),
            ))
        }
    }
}

/// See [`matching`].
pub struct Matching<F> {
    description: String,
    predicate: F,
}

impl<F> fmt::Debug for Matching<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Matching")
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl<F> Authorizer for Matching<F>
where
    F: Fn(&SpiffeId) -> bool + Send + Sync,
{
    fn authorize(
        &self,
        peer: &SpiffeId,
        _: &[CertificateDer<'_>],
    ) -> Result<(), AuthorizationError> {
        if (self.predicate)(peer) {
            Ok(())
        } else {
            Err(AuthorizationError::new(
                peer,
                format!("does not satisfy {}", self.description),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> SpiffeId {
        SpiffeId::parse(s).unwrap()
    }

    #[test]
    fn each_authorizer_says_why() {
        let payment = sid("spiffe://example.org/ns/prod/sa/payment");
        let intruder = sid("spiffe://example.org/ns/prod/sa/intruder");
        let foreign = sid("spiffe://other.org/ns/prod/sa/payment");

        assert!(any().authorize(&intruder, &[]).is_ok());

        let exact = id(payment.clone());
        assert!(exact.authorize(&payment, &[]).is_ok());
        let e = exact.authorize(&intruder, &[]).unwrap_err();
        assert_eq!(e.peer, intruder);
        assert_eq!(
            e.to_string(),
            "peer spiffe://example.org/ns/prod/sa/intruder is not authorized: \
             expected spiffe://example.org/ns/prod/sa/payment"
        );

        let list = one_of([payment.clone(), sid("spiffe://example.org/b")]);
        assert!(list.authorize(&payment, &[]).is_ok());
        let e = list.authorize(&foreign, &[]).unwrap_err().to_string();
        assert!(
            e.contains(
                "expected one of [spiffe://example.org/b, spiffe://example.org/ns/prod/sa/payment]"
            ),
            "{e}"
        );

        let td = member_of(TrustDomain::parse("example.org").unwrap());
        assert!(td.authorize(&intruder, &[]).is_ok());
        let e = td.authorize(&foreign, &[]).unwrap_err().to_string();
        assert!(e.contains("member of trust domain example.org"), "{e}");

        let m = matching("a path under /ns/prod", |id: &SpiffeId| {
            id.path().starts_with("/ns/prod/")
        });
        assert!(m.authorize(&foreign, &[]).is_ok());
        let e = m
            .authorize(&sid("spiffe://example.org/ns/dev/x"), &[])
            .unwrap_err();
        assert!(
            e.to_string()
                .ends_with("does not satisfy a path under /ns/prod")
        );

        let boxed: Box<dyn Authorizer> = Box::new(id(payment.clone()));
        assert!(boxed.authorize(&payment, &[]).is_ok());
    }
}
