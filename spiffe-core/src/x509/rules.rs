//! The SPIFFE-specific certificate rules (X509-SVID.md sections 4 and 5.2).

use super::cert::KeyUsage;
use super::{Cert, X509Error};
use crate::id::SpiffeId;

/// Checks the leaf rules and returns the leaf's SPIFFE ID:
/// exactly one URI SAN that is a SPIFFE ID with a non-root path; Basic Constraints present with
/// cA=false; Key Usage present, critical, with digitalSignature and without keyCertSign and
/// cRLSign; Extended Key Usage, when present, with both serverAuth and clientAuth.
pub(crate) fn leaf(cert: &Cert) -> Result<SpiffeId, X509Error> {
    let uri = match (cert.uri_count, cert.first_uri.as_deref()) {
        (0, _) | (_, None) => return Err(X509Error::NoUriSan),
        (1, Some(uri)) => uri,
        (count, _) => return Err(X509Error::MultipleUriSans { count }),
    };
    let id = SpiffeId::parse(uri).map_err(X509Error::InvalidUriSan)?;
    if id.is_root() {
        return Err(X509Error::RootPathId {
            id: id.as_str().to_owned(),
        });
    }
    match cert.basic_constraints {
        None => return Err(X509Error::MissingBasicConstraints),
        Some((true, _)) => return Err(X509Error::LeafIsCa),
        Some((false, _)) => {}
    }
    let (ku, critical) = cert.key_usage.ok_or(X509Error::MissingKeyUsage)?;
    if !critical {
        return Err(X509Error::KeyUsageNotCritical);
    }
    if !ku.has(KeyUsage::DIGITAL_SIGNATURE) {
        return Err(X509Error::MissingDigitalSignature);
    }
    if ku.has(KeyUsage::KEY_CERT_SIGN) {
        return Err(X509Error::LeafKeyCertSign);
    }
    if ku.has(KeyUsage::CRL_SIGN) {
        return Err(X509Error::LeafCrlSign);
    }
    if let Some(eku) = cert.ext_key_usage {
        if !eku.server_auth {
            return Err(X509Error::EkuMissingServerAuth);
        }
        if !eku.client_auth {
            return Err(X509Error::EkuMissingClientAuth);
        }
    }
    Ok(id)
}

/// Checks a certificate that signs others (`index` is its place in the chain): Basic Constraints
/// cA=true and Key Usage with keyCertSign.
///
/// X509-SVID.md asks signing certificates to mark Key Usage critical too; that is not enforced
/// here, because upstream roots outside the trust domain's control (an enterprise CA) often do
/// not, and RFC 5280 path validation does not require it.
pub(crate) fn signing(cert: &Cert, index: usize) -> Result<(), X509Error> {
    if !matches!(cert.basic_constraints, Some((true, _))) {
        return Err(X509Error::SigningCertNotCa { index });
    }
    match cert.key_usage {
        Some((ku, _)) if ku.has(KeyUsage::KEY_CERT_SIGN) => Ok(()),
        _ => Err(X509Error::SigningCertNoKeyCertSign { index }),
    }
}
