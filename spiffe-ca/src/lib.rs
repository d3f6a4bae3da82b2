//! The SPIFFE signing authority of a trust domain.
//!
//! - [`CertificateAuthority`]: X.509 CA and JWT key, each in two slots (prepared -> active ->
//!   old) rotated on a schedule driven by an injectable [`Clock`]; minting of X509-SVIDs (from a
//!   CSR or a public key) and JWT-SVIDs; the local trust bundle with `spiffe_sequence` bumped on
//!   every change; a journal so a restarted server keeps its authorities.
//! - [`X509Authority`] / [`JwtAuthority`]: one CA certificate or JWT key and what it mints.
//! - [`KeyManager`] / [`Signer`]: where keys live ([`MemoryKeyManager`], [`DiskKeyManager`]; a
//!   KMS implements the traits). Private keys are zeroized on drop.
//! - [`UpstreamCa`]: an existing CA on disk that signs this trust domain's CAs.
//! - `testing` (feature): an in-process trust domain that mints SVIDs in one line.
#![forbid(unsafe_code)]

mod authority;
pub mod clock;
mod config;
mod error;
mod issuer;
mod journal;
mod jwt;
pub mod keys;
mod lifecycle;
mod report;
mod rotation;
mod slot;
mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod upstream;
mod x509;

pub use authority::CertificateAuthority;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::CaConfig;
pub use error::{CaError, CertificateError, CryptoError, RotationError, UpstreamError};
pub use issuer::CA_PATH_LEN;
pub use jwt::{JwtAuthority, JwtSvidParams};
pub use keys::{CaKeyType, DiskKeyManager, KeyManager, MemoryKeyManager, Signer, SoftSigner};
pub use lifecycle::AuthorityState;
pub use report::RotationReport;
pub use rotation::{AuthorityKind, AuthorityStatus, SlotId};
pub use upstream::UpstreamCa;
pub use x509::{BACKDATE, CaSubject, TtlPolicy, X509Authority, X509SvidParams};
