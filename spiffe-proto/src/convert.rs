//! Conversions between SPIRE's API types (`spire.api.types`) and spiffe-core's types.

use std::time::Duration;

use rustls_pki_types::CertificateDer;
use spiffe_core::{Bundle, JwtBundle, PublicKey, Selector, SpiffeId, TrustDomain, X509Bundle};
use thiserror::Error;

use crate::spire::api::types as pb;

/// Why an API message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct ConvertError {
    /// The field.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

pub(crate) fn err(field: &'static str, reason: impl ToString) -> ConvertError {
    ConvertError {
        field,
        reason: reason.to_string(),
    }
}

/// SPIRE's `SPIFFEID` message to a SPIFFE ID.
pub fn id_from_pb(
    field: &'static str,
    id: Option<&pb::Spiffeid>,
) -> Result<SpiffeId, ConvertError> {
    let id = id.ok_or_else(|| err(field, "is required"))?;
    let td = TrustDomain::parse(&id.trust_domain).map_err(|e| err(field, e))?;
    SpiffeId::from_path(&td, &id.path).map_err(|e| err(field, e))
}

/// A SPIFFE ID to SPIRE's `SPIFFEID` message.
pub fn id_to_pb(id: &SpiffeId) -> pb::Spiffeid {
    pb::Spiffeid {
        trust_domain: id.trust_domain_name().to_owned(),
        path: id.path().to_owned(),
    }
}

/// SPIRE's `Selector` message to a selector.
pub fn selector_from_pb(s: &pb::Selector) -> Result<Selector, ConvertError> {
    Selector::new(s.r#type.clone(), s.value.clone()).map_err(|e| err("selectors", e))
}

/// A selector to SPIRE's `Selector` message.
pub fn selector_to_pb(s: &Selector) -> pb::Selector {
    pb::Selector {
        r#type: s.kind().to_owned(),
        value: s.value().to_owned(),
    }
}

/// A federated trust domain as the API carries it (`spiffe://td` or `td`).
pub fn trust_domain_from_api(field: &'static str, s: &str) -> Result<TrustDomain, ConvertError> {
    TrustDomain::parse(s).map_err(|e| err(field, e))
}

/// A bundle to SPIRE's `Bundle` message.
pub fn bundle_to_pb(b: &Bundle) -> pb::Bundle {
    pb::Bundle {
        trust_domain: b.trust_domain().name().to_owned(),
        x509_authorities: b
            .x509()
            .authorities()
            .iter()
            .map(|c| pb::X509Certificate {
                asn1: c.as_ref().to_vec(),
                tainted: false,
            })
            .collect(),
        jwt_authorities: b
            .jwt()
            .authorities()
            .map(|(kid, key)| pb::JwtKey {
                public_key: key.spki_der().to_vec(),
                key_id: kid.to_owned(),
                expires_at: 0,
                tainted: false,
            })
            .collect(),
        refresh_hint: b
            .refresh_hint()
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        sequence_number: b.sequence().unwrap_or(0),
        wit_authorities: Vec::new(),
    }
}

/// SPIRE's `Bundle` message to a bundle (checking every certificate and key).
///
/// # Errors
///
/// [`ConvertError`] naming the field: a trust domain that does not parse, a certificate or key
/// that cannot be used, or a JWT key ID given twice.
pub fn bundle_from_pb(b: &pb::Bundle) -> Result<Bundle, ConvertError> {
    let td = trust_domain_from_api("trust_domain", &b.trust_domain)?;
    let x509 = X509Bundle::from_authorities(
        td.clone(),
        b.x509_authorities
            .iter()
            .map(|c| CertificateDer::from(c.asn1.clone())),
    )
    .map_err(|e| err("x509_authorities", e))?;
    let mut jwt = JwtBundle::new(td);
    for k in &b.jwt_authorities {
        let key = PublicKey::from_spki_der(&k.public_key).map_err(|e| err("jwt_authorities", e))?;
        // A bundle document from a peer keeps the last key of a repeated key ID (go-spiffe's
        // union); an API caller sending two keys under one ID is refused instead, so that
        // neither key is dropped silently.
        if jwt.find(&k.key_id).is_some() {
            return Err(err(
                "jwt_authorities",
                format!("duplicate JWT authority key ID {:?}", k.key_id),
            ));
        }
        jwt.add_authority(k.key_id.clone(), key)
            .map_err(|e| err("jwt_authorities", e))?;
    }
    let mut bundle = Bundle::from_parts(x509, jwt).map_err(|e| err("trust_domain", e))?;
    bundle.set_sequence(Some(b.sequence_number));
    if b.refresh_hint > 0 {
        bundle.set_refresh_hint(Some(Duration::from_secs(
            u64::try_from(b.refresh_hint).unwrap_or(0),
        )));
    }
    Ok(bundle)
}
