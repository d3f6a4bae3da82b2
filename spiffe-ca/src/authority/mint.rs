//! Minting on a [`CertificateAuthority`]: the checks every request passes (trust domain, path,
//! key type and size), then the active authority signs.

use rustls_pki_types::CertificateDer;

use spiffe_core::PublicKey;
use spiffe_core::x509::CertificateRequest;

use super::CertificateAuthority;
use crate::CaError;
use crate::jwt::JwtSvidParams;
use crate::x509::X509SvidParams;

impl CertificateAuthority {
    /// Checks that `params` may be signed: the ID is of this trust domain and has a path.
    fn check_id(&self, id: &spiffe_core::SpiffeId) -> Result<(), CaError> {
        if !id.is_member_of(&self.config.trust_domain) {
            return Err(CaError::ForeignTrustDomain {
                id: id.to_string(),
                trust_domain: self.config.trust_domain.to_string(),
            });
        }
        if id.is_root() {
            return Err(CaError::RootId { id: id.to_string() });
        }
        Ok(())
    }

    fn check_key(&self, key: &PublicKey) -> Result<(), CaError> {
        if !self.config.allowed_svid_keys.contains(&key.key_type()) {
            let allowed: Vec<String> = self
                .config
                .allowed_svid_keys
                .iter()
                .map(ToString::to_string)
                .collect();
            return Err(CaError::KeyTypeNotAllowed {
                key_type: key.key_type(),
                allowed: allowed.join(", "),
            });
        }
        if let Some((n, _)) = key.rsa_components() {
            let bits = n.len() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err(CaError::RsaKeySize { bits });
            }
        }
        Ok(())
    }

    /// Mints an X509-SVID for a public key with the active CA. Returns the chain, leaf first.
    ///
    /// # Errors
    ///
    /// [`CaError::ForeignTrustDomain`] or [`CaError::RootId`] for an ID outside the trust
    /// domain or without a path; [`CaError::KeyTypeNotAllowed`] or [`CaError::RsaKeySize`] for
    /// a key the configuration does not allow; [`CaError::NoActiveAuthority`]; and what
    /// [`X509Authority::mint`](crate::X509Authority::mint) refuses (TTL, DNS names, signing).
    pub fn mint_x509_svid(
        &self,
        public_key: &PublicKey,
        params: &X509SvidParams,
    ) -> Result<Vec<CertificateDer<'static>>, CaError> {
        self.check_id(&params.spiffe_id)?;
        self.check_key(public_key)?;
        let authority = self.active_x509()?;
        authority.mint(public_key, params, self.clock.now(), self.config.ttl_policy)
    }

    /// Mints an X509-SVID from a PKCS#10 CSR: its signature is checked and only its public key
    /// is used; everything else comes from `params`.
    ///
    /// # Errors
    ///
    /// [`CaError::Csr`] if the CSR does not parse or its signature does not verify; otherwise
    /// as [`CertificateAuthority::mint_x509_svid`].
    pub fn mint_x509_svid_from_csr(
        &self,
        csr_der: &[u8],
        params: &X509SvidParams,
    ) -> Result<Vec<CertificateDer<'static>>, CaError> {
        let csr = CertificateRequest::parse_and_verify(csr_der)?;
        self.mint_x509_svid(csr.public_key(), params)
    }

    /// Mints a JWT-SVID with the active JWT key.
    ///
    /// # Errors
    ///
    /// [`CaError::ForeignTrustDomain`] or [`CaError::RootId`] for an ID outside the trust
    /// domain or without a path; [`CaError::NoActiveAuthority`]; and what
    /// [`JwtAuthority::mint`](crate::JwtAuthority::mint) refuses (TTL, audience, signing).
    pub fn mint_jwt_svid(&self, params: &JwtSvidParams) -> Result<String, CaError> {
        self.check_id(&params.spiffe_id)?;
        self.active_jwt()?.mint(params, self.clock.now())
    }
}
