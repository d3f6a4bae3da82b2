//! SPIFFE IDs as logs may show them.
//!
//! SPIRE names a join-token agent `spiffe://<td>/spire/agent/join_token/<token>`: until the
//! agent attests, whoever reads that ID can attest first with the token and take the node's
//! place. Logs therefore show such an ID with the token replaced by `sha256:` and the first 8
//! hex digits of its SHA-256 ([`LogId`]), which an operator can match with
//! `printf %s TOKEN | sha256sum | cut -c1-8`. Every other ID shows as it is.

use std::fmt;

use aws_lc_rs::digest;

use super::SpiffeId;

/// The path segments before the token in a join-token agent's ID.
const JOIN_TOKEN_PREFIX: [&str; 3] = ["spire", "agent", "join_token"];

/// The SHA-256 of a join token, in lower-case hex (what a datastore keeps instead of it).
pub fn join_token_hash(token: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// What logs show for a join token: the first 8 hex digits of its SHA-256.
pub fn join_token_fingerprint(token: &str) -> String {
    let mut hash = join_token_hash(token);
    hash.truncate(8);
    hash
}

/// A SPIFFE ID as logs may show it: a join-token agent's ID with the token replaced by
/// `sha256:<fingerprint>`; any other ID as it is.
#[derive(Debug, Clone, Copy)]
pub struct LogId<'a>(pub &'a SpiffeId);

impl fmt::Display for LogId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match join_token_of(self.0) {
            Some(token) => write!(
                f,
                "spiffe://{}/{}/sha256:{}",
                self.0.trust_domain_name(),
                JOIN_TOKEN_PREFIX.join("/"),
                join_token_fingerprint(token)
            ),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A SPIFFE ID given as text (a stored row, an event payload), as logs may show it; text that
/// is not an ID shows as `(not a SPIFFE ID)`, since nothing of a token could be told apart in it.
pub fn log_id_str(id: &str) -> String {
    match SpiffeId::parse(id) {
        Ok(id) => LogId(&id).to_string(),
        Err(_) => "(not a SPIFFE ID)".to_owned(),
    }
}

/// The token of a join-token agent's ID.
pub fn join_token_of(id: &SpiffeId) -> Option<&str> {
    let mut segments = id.segments();
    for expected in JOIN_TOKEN_PREFIX {
        if segments.next() != Some(expected) {
            return None;
        }
    }
    let token = segments.next()?;
    segments.next().is_none().then_some(token)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn hashes_and_fingerprints() {
        // printf %s abc | sha256sum
        assert_eq!(
            join_token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(join_token_fingerprint("abc"), "ba7816bf");
    }

    #[test]
    fn log_ids_hide_tokens() {
        let id = SpiffeId::parse("spiffe://example.org/spire/agent/join_token/abc").unwrap();
        assert_eq!(join_token_of(&id), Some("abc"));
        assert_eq!(
            LogId(&id).to_string(),
            "spiffe://example.org/spire/agent/join_token/sha256:ba7816bf"
        );
        assert_eq!(
            log_id_str(id.as_str()),
            "spiffe://example.org/spire/agent/join_token/sha256:ba7816bf"
        );
        for other in [
            "spiffe://example.org/spire/agent/k8s_psat/c1/node",
            "spiffe://example.org/ns/prod/sa/pay",
            "spiffe://example.org/spire/agent/join_token",
            "spiffe://example.org/spire/agent/join_token/abc/more",
        ] {
            let id = SpiffeId::parse(other).unwrap();
            assert_eq!(LogId(&id).to_string(), other);
        }
        assert_eq!(log_id_str("not an id"), "(not a SPIFFE ID)");
    }
}
