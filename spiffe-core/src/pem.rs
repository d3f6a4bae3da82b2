//! PEM encoding (RFC 7468) of DER blocks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Encodes one DER block as PEM with the given label, 64 characters a line.
pub fn encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 2 * label.len() + 40);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Encodes certificates as a PEM chain, in order.
pub fn encode_certificates<'a>(
    certs: impl IntoIterator<Item = &'a rustls_pki_types::CertificateDer<'a>>,
) -> String {
    certs
        .into_iter()
        .map(|c| encode("CERTIFICATE", c.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn wraps_at_64() {
        let pem = super::encode("X", &[0u8; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines[0], "-----BEGIN X-----");
        // 100 bytes are 136 base64 characters: 64 + 64 + 8.
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2].len(), 64);
        assert_eq!(lines[3].len(), 8);
        assert_eq!(lines[4], "-----END X-----");
        assert_eq!(lines.len(), 5);
    }
}
