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
    /// The certificate, PEM (for a client that reads it from a file).
    pub cert_pem: String,
    /// Its key, PEM (PKCS#8).
    pub key_pem: String,
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
        let key_pem = key.serialize_pem();
        Ok(TlsMaterial {
            ca_pem: ca_cert.pem(),
            cert: vec![cert.der().clone()],
            key: PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?,
            cert_pem: cert.pem(),
            key_pem,
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

    /// A server configuration presenting the certificate and requiring a client certificate
    /// that chains to `client_ca_pem` (as a kubelet started with `--client-ca-file` checks
    /// one; this fake refuses the handshake without it).
    pub fn server_config_requiring_client_cert(
        &self,
        client_ca_pem: &str,
    ) -> Result<Arc<rustls::ServerConfig>, BoxError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(client_ca_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()?;
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.cert.clone(), self.key.clone_key())?;
        Ok(Arc::new(config))
    }
}
