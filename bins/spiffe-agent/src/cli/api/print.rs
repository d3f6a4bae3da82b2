//! SPIRE's pretty block for X.509 contexts (`api fetch x509`, `api watch`), and the protojson
//! of `X509SVIDResponse` for `-output json`.

use std::time::Duration;

use anyhow::{Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use spiffe_core::TrustDomain;
use spiffe_core::duration;
use spiffe_core::pki_types::CertificateDer;
use spiffe_core::x509::CertificateInfo;

use super::view::SvidView;
use crate::cli::gotime::utc_string;

/// How federated trust domains are labelled: `api fetch x509` uses the trust domain's ID
/// (`[spiffe://domain.test]`), `api watch` its name (`[domain.test]`), as in SPIRE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TdLabel {
    /// `spiffe://domain.test`.
    Id,
    /// `domain.test`.
    Name,
}

impl TdLabel {
    fn of(self, td: &TrustDomain) -> String {
        match self {
            TdLabel::Id => td.id_string(),
            TdLabel::Name => td.name().to_owned(),
        }
    }
}

/// `notBefore` and `notAfter` of a certificate, as Go prints them.
fn validity(der: &CertificateDer<'_>) -> Result<(String, String)> {
    let info = CertificateInfo::parse(der).map_err(|e| anyhow!("certificate: {e}"))?;
    Ok((utc_string(info.not_before), utc_string(info.not_after)))
}

/// `Received N svid(s) after D`, then one block per SVID, then an empty line.
pub(crate) fn pretty(views: &[SvidView<'_>], elapsed: Duration, label: TdLabel) -> Result<String> {
    let plural = if views.len() == 1 { "" } else { "s" };
    let mut out = format!(
        "Received {} svid{plural} after {}\n",
        views.len(),
        duration::format(elapsed)
    );
    for view in views {
        out.push('\n');
        block(&mut out, view, label)?;
    }
    out.push('\n');
    Ok(out)
}

fn block(out: &mut String, view: &SvidView<'_>, label: TdLabel) -> Result<()> {
    let svid = view.svid;
    out.push_str(&format!("SPIFFE ID:\t\t{}\n", svid.spiffe_id()));
    if let Some(hint) = svid.hint() {
        out.push_str(&format!("Hint:\t\t\t{hint}\n"));
    }
    out.push_str(&format!(
        "SVID Valid After:\t{}\n",
        utc_string(svid.not_before_unix())
    ));
    out.push_str(&format!(
        "SVID Valid Until:\t{}\n",
        utc_string(svid.expires_at_unix())
    ));
    for (i, cert) in svid.chain().iter().skip(1).enumerate() {
        let (after, until) = validity(cert)?;
        let n = i + 1;
        out.push_str(&format!("Intermediate #{n} Valid After:\t{after}\n"));
        out.push_str(&format!("Intermediate #{n} Valid Until:\t{until}\n"));
    }
    for (i, cert) in view.bundle.iter().enumerate() {
        let (after, until) = validity(cert)?;
        let n = i + 1;
        out.push_str(&format!("CA #{n} Valid After:\t{after}\n"));
        out.push_str(&format!("CA #{n} Valid Until:\t{until}\n"));
    }
    for (td, certs) in &view.federated {
        let td = label.of(td);
        for (i, cert) in certs.iter().enumerate() {
            let (after, until) = validity(cert)?;
            let n = i + 1;
            out.push_str(&format!("[{td}] CA #{n} Valid After:\t{after}\n"));
            out.push_str(&format!("[{td}] CA #{n} Valid Until:\t{until}\n"));
        }
    }
    Ok(())
}

/// Concatenated DER, base64 (protojson's `bytes`).
fn der_b64(certs: &[CertificateDer<'_>]) -> String {
    let der: Vec<u8> = certs
        .iter()
        .flat_map(|c| c.as_ref().iter().copied())
        .collect();
    STANDARD.encode(der)
}

/// The `X509SVIDResponse` the context came from, as SPIRE's `-output json` prints it (before
/// key sorting): `svids`, `crl` (the agent sends none) and `federated_bundles`.
pub(crate) fn json(views: &[SvidView<'_>]) -> Value {
    let svids: Vec<Value> = views
        .iter()
        .map(|v| {
            json!({
                "spiffe_id": v.svid.spiffe_id().to_string(),
                "x509_svid": STANDARD.encode(v.svid.chain_der()),
                "x509_svid_key": STANDARD.encode(v.svid.private_key().pkcs8_der()),
                "bundle": der_b64(v.bundle),
                "hint": v.svid.hint().unwrap_or_default(),
            })
        })
        .collect();
    let federated: Map<String, Value> = views
        .first()
        .map(|v| {
            v.federated
                .iter()
                .map(|(td, certs)| (td.id_string(), Value::String(der_b64(certs))))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "svids": svids,
        "crl": [],
        "federated_bundles": federated,
    })
}
