//! X509-SVID verification: SPIFFE rules, then RFC 5280 path validation against the bundle of
//! the leaf's own trust domain.

use std::time::SystemTime;

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use thiserror::Error;
use webpki::aws_lc_rs as algs;

use super::{Cert, X509Error, rules};
use crate::id::SpiffeId;
use crate::source::BundleSource;

/// Signature algorithms accepted in certificate chains.
pub(crate) static SIGNATURE_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    algs::ECDSA_P256_SHA256,
    algs::ECDSA_P256_SHA384,
    algs::ECDSA_P384_SHA256,
    algs::ECDSA_P384_SHA384,
    algs::ECDSA_P521_SHA256,
    algs::ECDSA_P521_SHA384,
    algs::ECDSA_P521_SHA512,
    algs::ED25519,
    algs::RSA_PKCS1_2048_8192_SHA256,
    algs::RSA_PKCS1_2048_8192_SHA384,
    algs::RSA_PKCS1_2048_8192_SHA512,
    algs::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
    algs::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
    algs::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
    algs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    algs::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// The purpose a chain is verified for. It selects the Extended Key Usage that each certificate
/// with an EKU extension must carry (the leaf must carry both in any case, X509-SVID.md 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Usage {
    /// A TLS server's certificate (`id-kp-serverAuth`).
    #[default]
    ServerAuth,
    /// A TLS client's certificate (`id-kp-clientAuth`).
    ClientAuth,
}

/// A chain that passed verification.
#[derive(Debug, Clone)]
pub struct VerifiedSvid {
    id: SpiffeId,
    path: Vec<CertificateDer<'static>>,
    expires_at: i64,
}

impl VerifiedSvid {
    /// The SPIFFE ID of the leaf.
    pub fn spiffe_id(&self) -> &SpiffeId {
        &self.id
    }

    /// The verified path: the leaf, the intermediates used, and the trusted root last.
    pub fn path(&self) -> &[CertificateDer<'static>] {
        &self.path
    }

    /// The leaf's `notAfter`, in seconds since the Unix epoch.
    pub fn expires_at_unix(&self) -> i64 {
        self.expires_at
    }

    /// The leaf's `notAfter`.
    pub fn expires_at(&self) -> SystemTime {
        super::svid::unix_to_system(self.expires_at)
    }

    /// Moves the ID out.
    pub fn into_spiffe_id(self) -> SpiffeId {
        self.id
    }
}

/// Why a presented chain was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum X509VerifyError {
    /// The chain breaks an X509-SVID rule (checked before any signature).
    #[error(transparent)]
    Svid(#[from] X509Error),
    /// No bundle is trusted for the leaf's trust domain.
    #[error("{id}: trust domain {trust_domain} is not trusted (no bundle)")]
    UntrustedTrustDomain {
        /// The leaf's SPIFFE ID.
        id: SpiffeId,
        /// Its trust domain.
        trust_domain: String,
    },
    /// RFC 5280 path validation failed against the bundle of the leaf's trust domain.
    #[error(
        "{id}: certificate chain does not verify against the bundle of {trust_domain}: {reason}"
    )]
    Path {
        /// The leaf's SPIFFE ID.
        id: SpiffeId,
        /// Its trust domain.
        trust_domain: String,
        /// What path validation reported.
        reason: String,
        /// Whether the failure is an expired (or not yet valid) certificate.
        expired: bool,
    },
}

impl X509VerifyError {
    /// The SPIFFE ID the presented leaf claims, when it got that far.
    pub fn claimed_id(&self) -> Option<&SpiffeId> {
        match self {
            X509VerifyError::Svid(_) => None,
            X509VerifyError::UntrustedTrustDomain { id, .. } | X509VerifyError::Path { id, .. } => {
                Some(id)
            }
        }
    }
}

/// Verifies an X509-SVID chain (leaf first) at the current time, for use as a server
/// certificate. See [`verify_chain_with`].
pub fn verify_chain(
    chain: &[CertificateDer<'_>],
    bundles: &dyn BundleSource,
) -> Result<VerifiedSvid, X509VerifyError> {
    verify_chain_with(chain, bundles, UnixTime::now(), Usage::ServerAuth)
}

/// Verifies an X509-SVID chain (leaf first) at time `at`:
///
/// 1. the leaf rules of X509-SVID.md (one URI SAN that is a SPIFFE ID with a path, cA=false,
///    critical Key Usage with digitalSignature and without keyCertSign/cRLSign, both EKUs);
/// 2. every further certificate is a signing certificate (cA=true, keyCertSign);
/// 3. the bundle of the *leaf's* trust domain is taken from `bundles`; no other trust domain's
///    authorities are ever considered;
/// 4. RFC 5280 path validation (rustls-webpki) from the leaf through the presented intermediates
///    to an authority of that bundle, at time `at`, for `usage`.
pub fn verify_chain_with(
    chain: &[CertificateDer<'_>],
    bundles: &dyn BundleSource,
    at: UnixTime,
    usage: Usage,
) -> Result<VerifiedSvid, X509VerifyError> {
    let (leaf_der, intermediates) = chain.split_first().ok_or(X509Error::EmptyChain)?;
    verify_split(leaf_der, intermediates, bundles, at, usage)
}

/// [`verify_chain_with`] on a leaf and its intermediates given apart (as TLS libraries do).
pub(crate) fn verify_split(
    leaf_der: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    bundles: &dyn BundleSource,
    at: UnixTime,
    usage: Usage,
) -> Result<VerifiedSvid, X509VerifyError> {
    let leaf = Cert::parse(leaf_der).map_err(|e| e.in_chain(0))?;
    let id = rules::leaf(&leaf)?;
    for (index, der) in intermediates.iter().enumerate() {
        let cert = Cert::parse(der).map_err(|e| e.in_chain(index + 1))?;
        rules::signing(&cert, index + 1)?;
    }
    let trust_domain = id.trust_domain();
    let Some(bundle) = bundles.x509_bundle(&trust_domain) else {
        return Err(X509VerifyError::UntrustedTrustDomain {
            trust_domain: trust_domain.name().to_owned(),
            id,
        });
    };
    let path_error = |id: &SpiffeId, e: webpki::Error| X509VerifyError::Path {
        id: id.clone(),
        trust_domain: trust_domain.name().to_owned(),
        expired: matches!(
            e,
            webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }
        ),
        reason: describe(&e),
    };
    let ee = webpki::EndEntityCert::try_from(leaf_der).map_err(|e| path_error(&id, e))?;
    let eku = match usage {
        Usage::ServerAuth => webpki::KeyUsage::server_auth(),
        Usage::ClientAuth => webpki::KeyUsage::client_auth(),
    };
    let verified = ee
        .verify_for_usage(
            SIGNATURE_ALGORITHMS,
            bundle.trust_anchors(),
            intermediates,
            at,
            eku,
            None,
            None,
        )
        .map_err(|e| path_error(&id, e))?;

    let mut path = Vec::with_capacity(intermediates.len() + 2);
    path.push(CertificateDer::from(leaf_der.as_ref().to_vec()));
    for cert in verified.intermediate_certificates() {
        path.push(CertificateDer::from(cert.der().as_ref().to_vec()));
    }
    let anchor = verified.anchor();
    if let Some(i) = bundle
        .trust_anchors()
        .iter()
        .position(|a| std::ptr::eq(a, anchor))
        && let Some(root) = bundle.authorities().get(i)
    {
        path.push(root.clone());
    }
    Ok(VerifiedSvid {
        id,
        path,
        expires_at: leaf.not_after,
    })
}

/// A one-line description of a path validation error.
fn describe(e: &webpki::Error) -> String {
    match e {
        webpki::Error::CertExpired { time, not_after } => format!(
            "certificate expired at {} (checked at {})",
            not_after.as_secs(),
            time.as_secs()
        ),
        webpki::Error::CertNotValidYet { time, not_before } => format!(
            "certificate not valid before {} (checked at {})",
            not_before.as_secs(),
            time.as_secs()
        ),
        webpki::Error::UnknownIssuer => {
            "issuer is not an authority of the bundle (unknown issuer)".to_owned()
        }
        webpki::Error::InvalidSignatureForPublicKey => "signature does not verify".to_owned(),
        other => format!("{other:?}"),
    }
}
