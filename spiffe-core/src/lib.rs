//! SPIFFE types and verification, with no I/O and no async runtime.
//!
//! - [`SpiffeId`] and [`TrustDomain`]: SPIFFE-ID.md, strict in every constructor.
//! - [`x509`]: X509-SVIDs ([`X509Svid`]) and their verification against a bundle.
//! - [`jwt`]: JWT-SVIDs ([`JwtSvid`]), parsed and validated strictly.
//! - [`bundle`]: X.509 and JWT bundles, the SPIFFE bundle document, [`BundleSet`].
//! - [`Authorizer`]: which verified peers are admitted, and why not.
//! - [`SvidSource`] / [`BundleSource`]: where the current SVID and bundles come from.
//! - [`tls`] (feature `rustls`): verifiers, resolvers and mTLS configs for rustls.
//! - [`dns`]: the DNS names an X509-SVID may carry.
//! - [`duration`]: Go's duration syntax and text, as SPIRE's configuration writes durations;
//!   [`backoff`]: retry delays with jitter.
//!
//! Every parser refuses bad input with a typed error that names the rule broken; none panics.
#![forbid(unsafe_code)]

mod asn1;
pub mod authorize;
pub mod backoff;
pub mod bundle;
pub mod dns;
pub mod duration;
pub mod id;
pub mod jwt;
pub mod key;
pub mod pem;
pub mod selector;
pub mod source;
#[cfg(feature = "rustls")]
pub mod tls;
pub mod x509;

/// The certificate and time types of the rustls ecosystem, as used in this crate's API.
pub use rustls_pki_types as pki_types;

pub use asn1::DecodeError;
pub use authorize::{AuthorizationError, Authorizer};
pub use bundle::{Bundle, BundleError, BundleSet, JwtBundle, X509Bundle};
pub use dns::DnsNameError;
pub use id::{IdError, SpiffeId, TrustDomain};
pub use jwt::{JwtError, JwtSvid};
pub use key::{KeyError, PrivateKey, PublicKey};
pub use selector::{Selector, SelectorError};
pub use source::{BundleSetCell, BundleSource, SourceError, SvidCell, SvidSource};
pub use x509::{X509Error, X509Svid, X509VerifyError};
