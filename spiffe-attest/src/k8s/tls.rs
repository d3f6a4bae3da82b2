//! The rustls client configuration for the kubelet's secure port: its certificate checked
//! against a CA file (with or without its name, as in SPIRE), or, when configured, not at all;
//! and the agent's client certificate, when it authenticates with one.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use spiffe_core::tls::danger::AcceptAnyServerCert;

use crate::k8s::config::{KubeletAuth, KubeletVerification};
use crate::k8s::error::K8sError;

/// A client configuration for HTTP/1.1 to the kubelet. `check_name`: the certificate must be
/// valid for the server name the connection uses (the node name); otherwise only its chain is
/// checked (the kubelet reached at `127.0.0.1`, whose certificate names the node). With
/// [`KubeletAuth::ClientCertificate`], the pair is read from its files now and presented.
pub(crate) fn client_config(
    verification: &KubeletVerification,
    check_name: bool,
    auth: &KubeletAuth,
) -> Result<ClientConfig, K8sError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match verification {
        // Any certificate (`skip_kubelet_verification`), still checking that the peer holds
        // the key of the certificate it shows.
        KubeletVerification::Skip => Arc::new(AcceptAnyServerCert::new(Arc::clone(&provider))),
        KubeletVerification::CaFile(path) => {
            let roots = Arc::new(load_roots(path)?);
            if check_name {
                WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .map_err(|e| K8sError::BadCa {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?
            } else {
                Arc::new(ChainOnly {
                    roots,
                    provider: Arc::clone(&provider),
                })
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(K8sError::TlsConfig)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match auth {
        KubeletAuth::ClientCertificate {
            certificate,
            private_key,
        } => {
            let chain = load_client_chain(certificate)?;
            let key = load_client_key(private_key)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                K8sError::BadClientCertificate {
                    what: "certificate",
                    path: certificate.clone(),
                    detail: format!("does not go with the key in {private_key:?}: {e}"),
                }
            })?
        }
        KubeletAuth::Token(_) | KubeletAuth::Anonymous => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The CA certificates in a PEM file.
fn load_roots(path: &Path) -> Result<RootCertStore, K8sError> {
    let bad = |detail: String| K8sError::BadCa {
        path: path.to_owned(),
        detail,
    };
    let pem = std::fs::read(path).map_err(|source| K8sError::ReadFile {
        what: "CA",
        path: path.to_owned(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("bad PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no CERTIFICATE block".into()));
    }
    Ok(roots)
}

/// The client certificate chain in a PEM file (leaf first).
fn load_client_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, K8sError> {
    let pem = std::fs::read(path).map_err(|source| K8sError::ReadFile {
        what: "client certificate",
        path: path.to_owned(),
        source,
    })?;
    let bad = |detail: String| K8sError::BadClientCertificate {
        what: "certificate",
        path: path.to_owned(),
        detail,
    };
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(bad("holds no CERTIFICATE block".into()));
    }
    Ok(chain)
}

/// The client certificate's private key in a PEM file.
fn load_client_key(path: &Path) -> Result<PrivateKeyDer<'static>, K8sError> {
    let pem = std::fs::read(path).map_err(|source| K8sError::ReadFile {
        what: "client private key",
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| K8sError::BadClientCertificate {
        what: "private key",
        path: path.to_owned(),
        detail: format!("no usable PRIVATE KEY block: {e}"),
    })
}

/// Checks the chain to the roots, not the name (SPIRE's `verifyKubeletCertificate`, used when
/// no node name is configured).
#[derive(Debug)]
struct ChainOnly {
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    spiffe_core::handshake_signature_methods!(provider.signature_verification_algorithms);
}
