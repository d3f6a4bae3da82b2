//! The handshake-signature half of a rustls certificate verifier, written once.

/// Writes the three handshake-signature methods that rustls's `ServerCertVerifier` and
/// `ClientCertVerifier` both require (`verify_tls12_signature`, `verify_tls13_signature`,
/// `supported_verify_schemes`), delegating to rustls's own checks with the
/// `WebPkiSupportedAlgorithms` found at `self.<path>` (the path is the macro's argument, e.g.
/// `0.signature_verification_algorithms` or `provider.signature_verification_algorithms`).
///
/// Use it inside the `impl` block of either trait; the certificate checks stay the verifier's
/// own. Needs the `rustls` feature.
///
/// ```
/// use std::sync::Arc;
///
/// use spiffe_core::pki_types::{CertificateDer, ServerName, UnixTime};
/// use spiffe_core::tls::rustls;
/// use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
/// use rustls::crypto::CryptoProvider;
///
/// /// Refuses every server (a stand-in for real certificate checks).
/// #[derive(Debug)]
/// struct RefuseAll {
///     provider: Arc<CryptoProvider>,
/// }
///
/// impl ServerCertVerifier for RefuseAll {
///     fn verify_server_cert(
///         &self,
///         _: &CertificateDer<'_>,
///         _: &[CertificateDer<'_>],
///         _: &ServerName<'_>,
///         _: &[u8],
///         _: UnixTime,
///     ) -> Result<ServerCertVerified, rustls::Error> {
///         Err(rustls::Error::General("refused".into()))
///     }
///
///     spiffe_core::handshake_signature_methods!(provider.signature_verification_algorithms);
/// }
///
/// let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
/// let verifier = RefuseAll { provider };
/// assert!(!verifier.supported_verify_schemes().is_empty());
/// ```
#[macro_export]
macro_rules! handshake_signature_methods {
    (@verify $method:ident, $($algorithms:tt)+) => {
        fn $method(
            &self,
            message: &[u8],
            cert: &$crate::pki_types::CertificateDer<'_>,
            dss: &$crate::tls::rustls::DigitallySignedStruct,
        ) -> ::core::result::Result<
            $crate::tls::rustls::client::danger::HandshakeSignatureValid,
            $crate::tls::rustls::Error,
        > {
            $crate::tls::rustls::crypto::$method(message, cert, dss, &self.$($algorithms)+)
        }
    };
    ($($algorithms:tt)+) => {
        // rustls names its checks as the trait names the methods.
        $crate::handshake_signature_methods!(@verify verify_tls12_signature, $($algorithms)+);
        $crate::handshake_signature_methods!(@verify verify_tls13_signature, $($algorithms)+);

        fn supported_verify_schemes(
            &self,
        ) -> ::std::vec::Vec<$crate::tls::rustls::SignatureScheme> {
            self.$($algorithms)+.supported_schemes()
        }
    };
}
