//! The SSRF-hardening metadata of SPIFFE_Workload_Endpoint.md 3, shared by server and client.
//!
//! The server's check (`is_present`) is compiled with the `server` feature alone: refusing a
//! request without the header is part of serving the Workload API, not of the client.

#[cfg(feature = "server")]
use tonic::metadata::MetadataMap;
#[cfg(any(feature = "client", test))]
use tonic::metadata::MetadataValue;

/// Key of the security header.
pub const SECURITY_HEADER_KEY: &str = "workload.spiffe.io";
/// Value of the security header (case sensitive).
pub const SECURITY_HEADER_VALUE: &str = "true";

#[cfg(feature = "server")]
/// Whether the metadata carries `workload.spiffe.io: true` exactly.
pub(crate) fn is_present(metadata: &MetadataMap) -> bool {
    metadata
        .get_all(SECURITY_HEADER_KEY)
        .iter()
        .any(|v| v.as_bytes() == SECURITY_HEADER_VALUE.as_bytes())
}

#[cfg(feature = "client")]
/// Adds the security header to every outgoing request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AddSecurityHeader;

#[cfg(feature = "client")]
impl tonic::service::Interceptor for AddSecurityHeader {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert(
            SECURITY_HEADER_KEY,
            MetadataValue::from_static(SECURITY_HEADER_VALUE),
        );
        Ok(request)
    }
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::*;

    #[test]
    fn only_exact_true_counts() {
        let mut m = MetadataMap::new();
        assert!(!is_present(&m));
        m.insert(SECURITY_HEADER_KEY, MetadataValue::from_static("True"));
        assert!(!is_present(&m));
        m.insert(SECURITY_HEADER_KEY, MetadataValue::from_static("true"));
        assert!(is_present(&m));
    }
}
