//! rustls certificate verifiers for SPIFFE peers.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DistinguishedName, OtherError};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::authorize::Authorizer;
use crate::source::BundleSource;
use crate::x509::{Usage, X509VerifyError, verify_split};

/// The parts both verifiers share: bundles, authorizer, handshake signature algorithms.
struct Inner {
    bundles: Arc<dyn BundleSource>,
    authorizer: Arc<dyn Authorizer>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl Inner {
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: Usage,
    ) -> Result<(), rustls::Error> {
        let verified = verify_split(end_entity, intermediates, &*self.bundles, now, usage)
            .map_err(verify_error)?;
        self.authorizer
            .authorize(verified.spiffe_id(), verified.path())
            .map_err(other)
    }
}

/// Why a peer's certificate was refused, as carried inside a rustls error. rustls prints the
/// inner error with `Debug`, so `Debug` here prints the readable message (naming the peer's ID);
/// the typed error is its `source()`.
pub struct PeerRefused(Box<dyn std::error::Error + Send + Sync>);

impl PeerRefused {
    /// The typed error: an [`X509VerifyError`] or an [`crate::AuthorizationError`].
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for PeerRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for PeerRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for PeerRefused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Wraps a refusal in a rustls error that keeps its message (and so the peer's ID).
fn other(e: impl std::error::Error + Send + Sync + 'static) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(PeerRefused(
        Box::new(e),
    )))))
}

fn verify_error(e: X509VerifyError) -> rustls::Error {
    other(e)
}

/// Verifies a TLS server's X509-SVID (for a client config), then authorizes its SPIFFE ID.
pub struct SpiffeServerCertVerifier(Inner);

/// Verifies a TLS client's X509-SVID (for a server config), then authorizes its SPIFFE ID.
/// A client certificate is mandatory unless [`SpiffeClientCertVerifier::optional`] says not.
pub struct SpiffeClientCertVerifier(Inner, bool);

impl SpiffeServerCertVerifier {
    /// A verifier trusting `bundles` and admitting what `authorizer` admits, with the handshake
    /// signature algorithms of `provider`.
    pub fn new(
        bundles: Arc<dyn BundleSource>,
        authorizer: Arc<dyn Authorizer>,
        provider: &CryptoProvider,
    ) -> Self {
        SpiffeServerCertVerifier(Inner {
            bundles,
            authorizer,
            algorithms: provider.signature_verification_algorithms,
        })
    }
}

impl SpiffeClientCertVerifier {
    /// A verifier trusting `bundles` and admitting what `authorizer` admits, with the handshake
    /// signature algorithms of `provider`.
    pub fn new(
        bundles: Arc<dyn BundleSource>,
        authorizer: Arc<dyn Authorizer>,
        provider: &CryptoProvider,
    ) -> Self {
        SpiffeClientCertVerifier(
            Inner {
                bundles,
                authorizer,
                algorithms: provider.signature_verification_algorithms,
            },
            true,
        )
    }

    /// The same verifier, letting clients without a certificate finish the handshake (the
    /// application then decides what an anonymous client may do). A certificate that is
    /// presented is still verified and authorized.
    pub fn optional(mut self) -> Self {
        self.1 = false;
        self
    }
}

impl fmt::Debug for SpiffeServerCertVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeServerCertVerifier")
            .field("authorizer", &self.0.authorizer)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for SpiffeClientCertVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpiffeClientCertVerifier")
            .field("authorizer", &self.0.authorizer)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for SpiffeServerCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify(end_entity, intermediates, now, Usage::ServerAuth)
            .map(|()| ServerCertVerified::assertion())
    }

    crate::handshake_signature_methods!(0.algorithms);
}

impl ClientCertVerifier for SpiffeClientCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.1
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // SPIFFE peers pick their SVID by trust domain, not by CA name.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .verify(end_entity, intermediates, now, Usage::ClientAuth)
            .map(|()| ClientCertVerified::assertion())
    }

    crate::handshake_signature_methods!(0.algorithms);
}
