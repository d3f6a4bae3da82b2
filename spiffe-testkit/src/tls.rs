//! Certificates for the fakes' HTTPS: a certificate authority made up with rcgen and a serving
//! certificate it signed.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::BoxError;

/// A CA and a serving certificate it signed.
#[derive(Debug)]
pub struct TlsMaterial {
    /// The CA certificate, PEM (what clients trust).
    pub ca_pem: String,
    /// The serving certificate.
    pub cert: Vec<CertificateDer<'static>>,
    /// Its key.
    pub key: PrivateKeyDer<'static>,
}

impl TlsMaterial {
    /// A CA named `ca_name` and a certificate named `name` for `sans` (DNS names or IP
    /// addresses).
    pub fn new(ca_name: &str, name: &str, sans: &[&str]) -> Result<TlsMaterial, BoxError> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, ca_name);
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate()?;
        let sans: Vec<String> = sans.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans)?;
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(TlsMaterial {
            ca_pem: ca_cert.pem(),
            cert: vec![cert.der().clone()],
            key: PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes())?,
        })
    }

    /// A server configuration presenting the certificate (no client certificates asked for).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(self.cert.clone(), self.key.clone_key())?;
        Ok(Arc::new(config))
    }
}
