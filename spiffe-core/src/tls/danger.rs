//! Verifiers that deliberately skip certificate checks, for the few places a configuration asks
//! for that (an agent's insecure bootstrap, `skip_kubelet_verification`). Never a default.

use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Accepts any server certificate without checking its chain or name, but still checks that
/// the server holds the key of the certificate it shows (the handshake signatures), with the
/// algorithms of a [`CryptoProvider`].
#[derive(Debug, Clone)]
pub struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl AcceptAnyServerCert {
    /// A verifier checking handshake signatures with the algorithms of `provider`.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        AcceptAnyServerCert(provider)
    }
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    crate::handshake_signature_methods!(0.signature_verification_algorithms);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_certificate_and_offers_the_providers_schemes() {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = AcceptAnyServerCert::new(Arc::clone(&provider));
        let name = ServerName::try_from("example.org").unwrap();
        verifier
            .verify_server_cert(
                &CertificateDer::from(vec![1, 2, 3]),
                &[],
                &name,
                &[],
                UnixTime::now(),
            )
            .unwrap();
        assert_eq!(
            verifier.supported_verify_schemes(),
            provider
                .signature_verification_algorithms
                .supported_schemes()
        );
    }
}
