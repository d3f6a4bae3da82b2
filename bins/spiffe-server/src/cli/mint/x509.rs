//! `x509 mint`: a P-256 key made here (it never leaves this process except into the files or
//! stdout), a CSR with the SPIFFE ID and DNS names, signed by the server; then its bundle.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use rcgen::{CertificateParams, DistinguishedName, KeyPair, SanType};
use spiffe_core::pem;
use spiffe_proto::spire::api::server::bundle::v1 as bundle_api;
use spiffe_proto::spire::api::server::bundle::v1::bundle_client::BundleClient;
use spiffe_proto::spire::api::server::svid::v1 as svid_api;
use spiffe_proto::spire::api::server::svid::v1::svid_client::SvidClient;

use super::{capped, files, parse_ttl, ttl_seconds};
use crate::cli::client::{connect, rpc};
use crate::cli::flags::{self, Format, OutputArgs, SocketArgs};
use crate::cli::gotime;
use crate::cli::output;

/// Flags of `x509 mint`.
#[derive(Debug, Clone, Args)]
pub(crate) struct X509MintArgs {
    /// SPIFFE ID of the X509-SVID
    #[arg(long = "spiffeID", alias = "spiffe-id", value_name = "ID")]
    spiffe_id: Option<String>,
    /// TTL of the X509-SVID, a Go duration such as 1h or 90m (0: the server default)
    #[arg(long = "ttl", value_name = "DURATION", value_parser = parse_ttl, default_value = "0")]
    ttl: Duration,
    /// DNS name to include in the SVID; repeat for more
    #[arg(long = "dns", value_name = "NAME")]
    dns_names: Vec<String>,
    /// Directory to write svid.pem, key.pem (0600) and bundle.pem to, instead of stdout
    #[arg(long = "write", value_name = "DIR")]
    write: Option<PathBuf>,
    #[command(flatten)]
    output: OutputArgs,
    #[command(flatten)]
    socket: SocketArgs,
}

/// A fresh P-256 key and a CSR for it (URI SAN = the SPIFFE ID, DNS SANs).
fn key_and_csr(spiffe_id: &str, dns_names: &[String]) -> Result<(KeyPair, Vec<u8>)> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| anyhow!("unable to generate key: {e}"))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.subject_alt_names.push(SanType::URI(
        spiffe_id
            .try_into()
            .map_err(|e| anyhow!("unable to generate CSR: SPIFFE ID: {e}"))?,
    ));
    for name in dns_names {
        params.subject_alt_names.push(SanType::DnsName(
            name.as_str()
                .try_into()
                .map_err(|e| anyhow!("invalid -dns {name:?}: {e}"))?,
        ));
    }
    let csr = params
        .serialize_request(&key)
        .map_err(|e| anyhow!("unable to generate CSR: {e}"))?;
    Ok((key, csr.der().to_vec()))
}

/// Runs `x509 mint`.
pub(crate) async fn run(a: X509MintArgs) -> Result<()> {
    let id = match a.spiffe_id.as_deref() {
        None | Some("") => bail!("spiffeID must be specified"),
        Some(s) => flags::spiffe_id("SPIFFE ID", s)?,
    };
    let ttl = ttl_seconds(a.ttl)?;
    let (key, csr) = key_and_csr(id.as_str(), &a.dns_names)?;
    let channel = connect(&a.socket.path()).await?;
    let svid = SvidClient::new(channel.clone())
        .mint_x509svid(svid_api::MintX509svidRequest { csr, ttl })
        .await
        .map_err(rpc)
        .context("unable to mint SVID")?
        .into_inner()
        .svid
        .filter(|s| !s.cert_chain.is_empty())
        .ok_or_else(|| anyhow!("server response missing SVID chain"))?;
    let bundle = BundleClient::new(channel)
        .get_bundle(bundle_api::GetBundleRequest { output_mask: None })
        .await
        .map_err(rpc)
        .context("unable to get bundle")?
        .into_inner();
    if bundle.x509_authorities.is_empty() {
        bail!("server response missing X509 Authorities");
    }
    if capped(svid.expires_at, a.ttl) {
        output::err(&format!(
            "X509-SVID lifetime was capped shorter than specified ttl; expires {:?}\n",
            gotime::rfc3339(svid.expires_at)
        ));
    }
    let key_der = key.serialize_der();
    let roots: Vec<&[u8]> = bundle
        .x509_authorities
        .iter()
        .map(|c| c.asn1.as_slice())
        .collect();
    let chain: Vec<&[u8]> = svid.cert_chain.iter().map(Vec::as_slice).collect();
    let pems =
        |ders: &[&[u8]]| -> String { ders.iter().map(|d| pem::encode("CERTIFICATE", d)).collect() };
    let svid_pem = pems(&chain);
    let key_pem = pem::encode("PRIVATE KEY", &key_der);
    let bundle_pem = pems(&roots);
    if let Some(dir) = &a.write {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let (svid_path, key_path, bundle_path) = (
            dir.join("svid.pem"),
            dir.join("key.pem"),
            dir.join("bundle.pem"),
        );
        files::write(&svid_path, svid_pem.as_bytes(), 0o644).context("unable to write SVID")?;
        output::out(&format!("X509-SVID written to {}\n", svid_path.display()))?;
        files::write(&key_path, key_pem.as_bytes(), 0o600).context("unable to write key")?;
        output::out(&format!("Private key written to {}\n", key_path.display()))?;
        files::write(&bundle_path, bundle_pem.as_bytes(), 0o644)
            .context("unable to write bundle")?;
        return output::out(&format!("Root CAs written to {}\n", bundle_path.display()));
    }
    match a.output.output {
        Format::Pretty => output::out(&format!(
            "X509-SVID:\n{svid_pem}\nPrivate key:\n{key_pem}\nRoot CAs:\n{bundle_pem}\n"
        )),
        Format::Json => {
            let b64 = |ders: &[&[u8]]| -> Vec<String> {
                ders.iter().map(|d| STANDARD.encode(d)).collect()
            };
            // Go's struct order (x509_svid, private_key, root_cas), not sorted.
            let json = format!(
                "{{\"x509_svid\":{},\"private_key\":{},\"root_cas\":{}}}\n",
                serde_json::to_string(&b64(&chain))?,
                serde_json::to_string(&STANDARD.encode(&key_der))?,
                serde_json::to_string(&b64(&roots))?,
            );
            output::out(&json)
        }
    }
}
