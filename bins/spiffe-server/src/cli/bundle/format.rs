//! Bundle documents: PEM (the X.509 authorities) or the SPIFFE bundle format (a JWK Set,
//! indented four spaces as SPIRE prints it).

use anyhow::{Result, anyhow};
use spiffe_core::{Bundle, JwtBundle, TrustDomain, X509Bundle};
use spiffe_proto::spire::api::types as pb;
use spiffe_server::convert::{bundle_from_pb, bundle_to_pb};

use crate::cli::output::go_indent;

/// `-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BundleFormat {
    /// Concatenated PEM certificates.
    Pem,
    /// A SPIFFE bundle (JWK Set).
    Spiffe,
}

/// Parses `-format` (case-insensitive).
pub(crate) fn parse_format(s: &str) -> Result<BundleFormat> {
    match s.to_ascii_lowercase().as_str() {
        "" | "pem" => Ok(BundleFormat::Pem),
        "spiffe" => Ok(BundleFormat::Spiffe),
        other => Err(anyhow!("invalid format: {other:?} (pem, spiffe)")),
    }
}

/// The header `bundle list` prints above each bundle.
pub(crate) fn header(trust_domain: &str) -> String {
    let stars = "*".repeat(40);
    format!("{stars}\n* {trust_domain}\n{stars}\n")
}

/// The bundle as a document in `format`.
pub(crate) fn render(b: &pb::Bundle, format: BundleFormat) -> Result<String> {
    match format {
        BundleFormat::Pem => Ok(b
            .x509_authorities
            .iter()
            .map(|c| spiffe_core::pem::encode("CERTIFICATE", &c.asn1))
            .collect()),
        BundleFormat::Spiffe => {
            let mut bundle = bundle_from_pb(b).map_err(|e| anyhow!("invalid bundle: {e}"))?;
            if bundle.sequence() == Some(0) {
                bundle.set_sequence(None);
            }
            let mut s = go_indent(&bundle.to_json(), "    ");
            s.push('\n');
            Ok(s)
        }
    }
}

/// Bundle data read for `bundle set`, as the API's message.
pub(crate) fn parse(td: &TrustDomain, data: &[u8], format: BundleFormat) -> Result<pb::Bundle> {
    let bundle = match format {
        BundleFormat::Pem => {
            let x509 = X509Bundle::parse_pem(td.clone(), data)
                .map_err(|e| anyhow!("unable to parse bundle data: {e}"))?;
            Bundle::from_parts(x509, JwtBundle::new(td.clone()))
                .map_err(|e| anyhow!("unable to parse bundle data: {e}"))?
        }
        BundleFormat::Spiffe => Bundle::parse_json(td.clone(), data)
            .map_err(|e| anyhow!("unable to parse to spiffe bundle: {e}"))?,
    };
    Ok(bundle_to_pb(&bundle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_header() {
        assert_eq!(parse_format("SPIFFE").ok(), Some(BundleFormat::Spiffe));
        assert_eq!(
            parse_format("der").err().map(|e| e.to_string()).as_deref(),
            Some("invalid format: \"der\" (pem, spiffe)")
        );
        assert_eq!(
            header("domain.test"),
            "****************************************\n* domain.test\n****************************************\n"
        );
    }
}
