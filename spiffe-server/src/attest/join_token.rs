//! [`JoinTokenAttestor`]: single-use, expiring join tokens; and how tokens are made, judged
//! and kept out of logs.
//!
//! A join token is a bearer secret until it is used: whoever presents it first becomes the
//! agent `spiffe://<td>/spire/agent/join_token/<token>` (and takes the node alias made with it).
//! So the server never logs a token, nor an agent ID that holds one: logs carry
//! [`join_token_fingerprint`] (the first 8 hex digits of the token's SHA-256) instead, through
//! [`LogId`]. The datastore keeps only the SHA-256 of each token.

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use futures::future::BoxFuture;
use spiffe_core::SpiffeId;
use thiserror::Error;
use tonic::Status;

use super::{NodeAttestation, NodeAttestor};
use crate::config::MIN_JOIN_TOKEN_BITS;
use crate::datastore::now_unix;
use crate::state::ServerState;

/// Random bytes in a generated token (hex encoded: twice as many characters).
const GENERATED_BYTES: usize = (MIN_JOIN_TOKEN_BITS as usize).div_ceil(8);

/// Why a join token cannot be created.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum JoinTokenError {
    /// An operator-supplied token guessable in fewer than [`MIN_JOIN_TOKEN_BITS`] bits.
    #[error(
        "join token is too weak: estimated {bits} bits of entropy, at least {MIN_JOIN_TOKEN_BITS} \
         required (estimate: characters other than '-', '_' and '.' times log2 of the alphabet \
         they are drawn from: digits 10, hex letters of one case 6, letters of one case 26, any \
         other character 32; fewer than 8 different characters count as 0 bits); omit the token \
         to have one generated, or set allow_weak_join_tokens"
    )]
    Weak {
        /// The estimate.
        bits: u32,
    },
    /// The system's random number generator failed.
    #[error("generating a join token: the random number generator failed")]
    Random,
}

impl From<JoinTokenError> for Status {
    fn from(e: JoinTokenError) -> Self {
        match e {
            JoinTokenError::Weak { .. } => Status::invalid_argument(e.to_string()),
            JoinTokenError::Random => Status::internal(e.to_string()),
        }
    }
}

/// A new join token: [`MIN_JOIN_TOKEN_BITS`] random bits, as lowercase hex in the shape of
/// the UUIDs SPIRE generates (`8-4-4-4-12`), but with every bit random (a version 4 UUID has
/// only 122).
///
/// # Errors
///
/// [`JoinTokenError::Random`] if the system's random number generator fails.
pub fn generate_join_token() -> Result<String, JoinTokenError> {
    let mut bytes = [0u8; GENERATED_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| JoinTokenError::Random)?;
    // The UUID layout only; the version and variant bits are left random too.
    Ok(uuid::Uuid::from_bytes(bytes).hyphenated().to_string())
}

/// The estimated entropy of a token, in bits: the number of characters other than the
/// separators `-`, `_` and `.`, times log2 of the size of the alphabet they are drawn from
/// (the sum of the classes present: digits 10; lowercase letters 26, or 6 when all are `a-f`;
/// uppercase letters likewise; any other character 32). A token of fewer than 8 different
/// characters is estimated at 0 bits. The estimate is generous to random strings (a UUID
/// counts as 128 bits) and hard on words, short strings and repetitions.
pub fn estimate_entropy_bits(token: &str) -> u32 {
    let chars: Vec<char> = token
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .collect();
    let mut distinct = chars.clone();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 8 {
        return 0;
    }
    let letters = |is: fn(&char) -> bool, hex: std::ops::RangeInclusive<char>| {
        let present: Vec<char> = chars.iter().copied().filter(is).collect();
        if present.is_empty() {
            0u32
        } else if present.iter().all(|c| hex.contains(c)) {
            6
        } else {
            26
        }
    };
    let mut alphabet =
        letters(char::is_ascii_lowercase, 'a'..='f') + letters(char::is_ascii_uppercase, 'A'..='F');
    if chars.iter().any(char::is_ascii_digit) {
        alphabet += 10;
    }
    if chars.iter().any(|c| !c.is_ascii_alphanumeric()) {
        alphabet += 32;
    }
    let bits = chars.len() as f64 * f64::from(alphabet).log2();
    // Truncation is the intent: an estimate of 127.9 bits is below 128.
    bits.clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Checks an operator-supplied token against [`MIN_JOIN_TOKEN_BITS`] (unless `allow_weak`).
///
/// # Errors
///
/// [`JoinTokenError::Weak`] if the token's estimated entropy is below [`MIN_JOIN_TOKEN_BITS`]
/// and `allow_weak` is false.
pub fn check_join_token_strength(token: &str, allow_weak: bool) -> Result<(), JoinTokenError> {
    let bits = estimate_entropy_bits(token);
    if allow_weak || bits >= MIN_JOIN_TOKEN_BITS {
        Ok(())
    } else {
        Err(JoinTokenError::Weak { bits })
    }
}

/// The join token attestor: single-use tokens that expire; the agent becomes
/// `spiffe://<td>/spire/agent/join_token/<token>`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JoinTokenAttestor;

impl NodeAttestor for JoinTokenAttestor {
    fn kind(&self) -> &str {
        "join_token"
    }

    fn attest<'a>(
        &'a self,
        state: &'a ServerState,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<NodeAttestation, Status>> {
        Box::pin(async move {
            let token = std::str::from_utf8(payload).map_err(|_| {
                Status::invalid_argument("failed to attest: join token is not text")
            })?;
            if token.is_empty() {
                return Err(Status::invalid_argument(
                    "failed to attest: join token is empty",
                ));
            }
            let expires_at = state
                .ds
                .take_join_token(token)
                .await
                .map_err(crate::api::ds_status_pub)?
                .ok_or_else(|| {
                    Status::invalid_argument(
                        "failed to attest: join token does not exist or has already been used",
                    )
                })?;
            if expires_at < now_unix() {
                return Err(Status::invalid_argument(
                    "failed to attest: join token expired",
                ));
            }
            let agent_id = join_token_agent_id(&state.config.trust_domain, token)?;
            Ok(NodeAttestation {
                selectors: Vec::new(),
                agent_id,
                can_reattest: false,
            })
        })
    }
}

/// `spiffe://<td>/spire/agent/join_token/<token>`.
///
/// # Errors
///
/// `INVALID_ARGUMENT` if `token` cannot be a path segment of a SPIFFE ID.
pub fn join_token_agent_id(td: &spiffe_core::TrustDomain, token: &str) -> Result<SpiffeId, Status> {
    SpiffeId::from_segments(td, &["spire", "agent", "join_token", token]).map_err(|_| {
        Status::invalid_argument(
            "failed to attest: bad join token: it must be a SPIFFE ID path segment (letters, \
             digits, '-', '_', '.')",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_strong_and_distinct() {
        let a = generate_join_token().unwrap();
        let b = generate_join_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36, "128 random bits in hex, UUID-shaped: {a}");
        for (i, c) in a.char_indices() {
            if [8, 13, 18, 23].contains(&i) {
                assert_eq!(c, '-', "{a}");
            } else {
                assert!(c.is_ascii_hexdigit() && !c.is_ascii_uppercase(), "{a}");
            }
        }
        // 32 hex digits: the estimate is the real entropy.
        assert!(
            estimate_entropy_bits(&a) >= MIN_JOIN_TOKEN_BITS || {
                // (fewer than 8 distinct hex digits in 32 random ones: about 1e-11)
                let mut d: Vec<char> = a.chars().filter(|c| *c != '-').collect();
                d.sort_unstable();
                d.dedup();
                d.len() < 8
            }
        );
        assert_eq!(check_join_token_strength(&a, false).ok(), Some(()));
    }

    #[test]
    fn entropy_estimates() {
        // A UUID: 32 hex digits.
        assert_eq!(
            estimate_entropy_bits("7b5ba3c8-4f1d-4b7a-9c2e-1d5f6a7b8c9d"),
            128
        );
        // Words, short strings, repeats.
        assert_eq!(estimate_entropy_bits("TokenBlog"), 51);
        assert!(estimate_entropy_bits("correct-horse-battery-staple") < 128);
        assert_eq!(estimate_entropy_bits(&"ab".repeat(40)), 0);
        assert_eq!(estimate_entropy_bits(""), 0);
        // 22 random base62 characters: 22 * log2(62) = 130.
        assert_eq!(estimate_entropy_bits("q3ZrX9bLw2MkT7vNc5HdPa"), 130);
        // Long lowercase text estimates high: the class rule is an estimate, not a dictionary.
        assert!(estimate_entropy_bits("thequickbrownfoxjumpsoverthelazydog") > 128);
        let weak = check_join_token_strength("mytoken123", false).unwrap_err();
        assert_eq!(weak, JoinTokenError::Weak { bits: 51 });
        assert!(weak.to_string().starts_with(
            "join token is too weak: estimated 51 bits of entropy, at least 128 required"
        ));
        assert!(weak.to_string().ends_with("or set allow_weak_join_tokens"));
        assert_eq!(check_join_token_strength("mytoken123", true), Ok(()));
        let status = Status::from(weak);
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn agent_ids_of_generated_tokens_show_only_a_fingerprint_in_logs() {
        let td = spiffe_core::TrustDomain::parse("example.org").unwrap();
        let id = join_token_agent_id(&td, "abc").unwrap();
        assert_eq!(
            spiffe_core::id::LogId(&id).to_string(),
            "spiffe://example.org/spire/agent/join_token/sha256:ba7816bf"
        );
    }
}
