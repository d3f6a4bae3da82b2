//! An X.509 context seen as SPIRE's CLI sees it: per SVID, its chain and key, the bundle of its
//! own trust domain, and the federated bundles (every other trust domain, sorted by name).

use std::sync::Arc;

use anyhow::{Result, anyhow};
use spiffe_core::pki_types::CertificateDer;
use spiffe_core::{TrustDomain, X509Svid};
use spiffe_workload::X509Context;

/// One SVID of a context, with its bundles.
#[derive(Debug)]
pub(crate) struct SvidView<'a> {
    /// The SVID (chain, key, hint).
    pub(crate) svid: &'a Arc<X509Svid>,
    /// The authorities of the SVID's own trust domain.
    pub(crate) bundle: &'a [CertificateDer<'static>],
    /// The authorities of the other trust domains, sorted by trust domain.
    pub(crate) federated: Vec<(&'a TrustDomain, &'a [CertificateDer<'static>])>,
}

/// The SVIDs of `context`, in order, each with its bundles.
pub(crate) fn views(context: &X509Context) -> Vec<SvidView<'_>> {
    context
        .svids
        .iter()
        .map(|svid| {
            let own = svid.spiffe_id().trust_domain();
            let bundle = context
                .bundles
                .get(own.name())
                .map_or(&[][..], |b| b.x509().authorities());
            let mut federated: Vec<_> = context
                .bundles
                .iter()
                .filter(|b| *b.trust_domain() != own)
                .map(|b| (b.trust_domain(), b.x509().authorities()))
                .collect();
            federated.sort_by(|a, b| a.0.name().cmp(b.0.name()));
            SvidView {
                svid,
                bundle,
                federated,
            }
        })
        .collect()
}

/// Verifies every SVID of `context` against the bundle of its trust domain, as SPIRE's
/// `api fetch x509` does before it prints anything.
pub(crate) fn verify(context: &X509Context) -> Result<()> {
    for svid in &context.svids {
        spiffe_core::x509::verify_chain(svid.chain(), &context.bundles).map_err(|e| {
            anyhow!(
                "{:?} SVID failed verification against bundle: {e}",
                svid.spiffe_id().to_string()
            )
        })?;
    }
    Ok(())
}
