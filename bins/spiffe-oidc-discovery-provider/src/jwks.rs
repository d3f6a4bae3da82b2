//! The key set: the trust domain's JWT authorities as the source last gave them, published
//! through a `watch` channel, and rendered as the `/keys` document (RFC 7517 JWK Set, members
//! in go-jose's order, `alg` derived from the key as SPIRE derives it).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use spiffe_core::key::{KeyType, PublicKey};
use tokio::sync::watch;

/// One JWT authority: its key ID and public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authority {
    /// `kid`.
    pub(crate) kid: String,
    /// The public key.
    pub(crate) key: PublicKey,
}

/// The authorities of one fetch, and when they last changed.
#[derive(Debug)]
pub(crate) struct KeySet {
    /// The authorities, in the source's order.
    pub(crate) authorities: Vec<Authority>,
    /// When this set replaced a different one (`Last-Modified`).
    pub(crate) modified: SystemTime,
}

/// What the source has published so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Published {
    /// The key set, once one was fetched.
    pub(crate) keys: Option<Arc<KeySet>>,
    /// When a fetch last succeeded.
    pub(crate) last_poll: Option<Instant>,
}

/// The publishing end, held by the source's poller.
#[derive(Debug)]
pub(crate) struct KeyStore {
    tx: watch::Sender<Published>,
}

impl KeyStore {
    /// An empty store and a reader of it.
    pub(crate) fn new() -> (KeyStore, watch::Receiver<Published>) {
        let (tx, rx) = watch::channel(Published::default());
        (KeyStore { tx }, rx)
    }

    /// Records a successful fetch; the set is replaced (and its time of change set) only when
    /// it differs from the last one. Returns whether it changed.
    pub(crate) fn update(&self, authorities: Vec<Authority>) -> bool {
        let mut changed = false;
        self.tx.send_modify(|p| {
            p.last_poll = Some(Instant::now());
            if p.keys.as_ref().map(|k| &k.authorities) != Some(&authorities) {
                changed = true;
                p.keys = Some(Arc::new(KeySet {
                    authorities,
                    modified: SystemTime::now(),
                }));
            }
        });
        changed
    }
}

/// The JWS algorithm a verifier should use with `key`, as SPIRE derives it: RS256 for RSA
/// keys of 2048 bits or more, ES256 for P-256, ES384 for P-384; none otherwise.
pub(crate) fn algorithm(key: &PublicKey) -> Option<&'static str> {
    match key.key_type() {
        KeyType::Rsa => key
            .rsa_components()
            .filter(|(n, _)| trim_zeros(n).len() >= 256)
            .map(|_| "RS256"),
        KeyType::EcP256 => Some("ES256"),
        KeyType::EcP384 => Some("ES384"),
        _ => None,
    }
}

fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// One JWK, members in go-jose's order.
#[derive(Debug, Serialize)]
struct JwkOut<'a> {
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<&'static str>,
    kty: &'static str,
    kid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alg: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
}

/// The JWK Set; `keys` is `null` when there is no key, as SPIRE's provider writes it.
#[derive(Debug, Serialize)]
struct JwksOut<'a> {
    keys: Option<Vec<JwkOut<'a>>>,
}

/// A JWK of `authority`, or `None` for a key type JWKs do not carry here.
fn jwk(authority: &Authority, set_key_use: bool) -> Option<JwkOut<'_>> {
    let key = &authority.key;
    let mut out = JwkOut {
        use_: set_key_use.then_some("sig"),
        kty: "",
        kid: &authority.kid,
        crv: None,
        alg: algorithm(key),
        x: None,
        y: None,
        n: None,
        e: None,
    };
    if let (Some((x, y)), Some(crv)) = (key.ec_coordinates(), key.key_type().jwk_curve()) {
        out.kty = "EC";
        out.crv = Some(crv);
        out.x = Some(URL_SAFE_NO_PAD.encode(x));
        out.y = Some(URL_SAFE_NO_PAD.encode(y));
    } else if let Some((n, e)) = key.rsa_components() {
        out.kty = "RSA";
        out.n = Some(URL_SAFE_NO_PAD.encode(trim_zeros(n)));
        out.e = Some(URL_SAFE_NO_PAD.encode(trim_zeros(e)));
    } else if key.key_type() == KeyType::Ed25519 {
        out.kty = "OKP";
        out.crv = Some("Ed25519");
        out.x = Some(URL_SAFE_NO_PAD.encode(key.raw()));
    } else {
        return None;
    }
    Some(out)
}

/// The `/keys` document, indented as Go's `json.MarshalIndent(v, "", "  ")` writes it.
pub(crate) fn render(set: &KeySet, set_key_use: bool) -> Vec<u8> {
    let keys: Vec<JwkOut<'_>> = set
        .authorities
        .iter()
        .filter_map(|a| {
            let j = jwk(a, set_key_use);
            if j.is_none() {
                tracing::warn!(kid = %a.kid, key_type = %a.key.key_type(), "key type not representable as a JWK; left out");
            }
            j
        })
        .collect();
    let doc = JwksOut {
        keys: (!keys.is_empty()).then_some(keys),
    };
    // Serializing plain strings and options cannot fail; an empty body would be refused by
    // any client rather than misread.
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use rcgen::PublicKeyData;

    /// SPIRE's test key (handler_test.go): x and y of a P-256 point.
    const X: &str = "iSt7S4ih6QLodw9wf-zdPV8bmAlDJBCRRy24_UAZY70";
    const Y: &str = "Gb4gkQCeHj7HCbZzdctcAx9dxoDgC9sudsSG7ZLIWJs";

    fn spire_key() -> PublicKey {
        PublicKey::from_ec_coordinates(
            KeyType::EcP256,
            &URL_SAFE_NO_PAD.decode(X).unwrap(),
            &URL_SAFE_NO_PAD.decode(Y).unwrap(),
        )
        .unwrap()
    }

    fn set(authorities: Vec<Authority>) -> KeySet {
        KeySet {
            authorities,
            modified: SystemTime::now(),
        }
    }

    #[test]
    fn keys_render_byte_for_byte_as_spire_renders_them() {
        let s = set(vec![Authority {
            kid: "KEYID".into(),
            key: spire_key(),
        }]);
        let expected = format!(
            "{{\n  \"keys\": [\n    {{\n      \"kty\": \"EC\",\n      \"kid\": \"KEYID\",\n      \"crv\": \"P-256\",\n      \"alg\": \"ES256\",\n      \"x\": \"{X}\",\n      \"y\": \"{Y}\"\n    }}\n  ]\n}}"
        );
        assert_eq!(String::from_utf8(render(&s, false)).unwrap(), expected);
        let with_use = String::from_utf8(render(&s, true)).unwrap();
        assert!(with_use.starts_with(
            "{\n  \"keys\": [\n    {\n      \"use\": \"sig\",\n      \"kty\": \"EC\","
        ));
        assert_eq!(
            String::from_utf8(render(&set(Vec::new()), false)).unwrap(),
            "{\n  \"keys\": null\n}"
        );
    }

    #[test]
    fn rsa_keys_are_rs256() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let public = PublicKey::from_spki_der(&key.subject_public_key_info()).unwrap();
        assert_eq!(algorithm(&public), Some("RS256"));
        let doc = render(
            &set(vec![Authority {
                kid: "r".into(),
                key: public,
            }]),
            false,
        );
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["keys"][0]["kty"], "RSA");
        assert_eq!(v["keys"][0]["e"], "AQAB");
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let public = PublicKey::from_spki_der(&p384.subject_public_key_info()).unwrap();
        assert_eq!(algorithm(&public), Some("ES384"));
        let doc = render(
            &set(vec![Authority {
                kid: "k".into(),
                key: public,
            }]),
            false,
        );
        let v: serde_json::Value = serde_json::from_slice(&doc).unwrap();
        assert_eq!(v["keys"][0]["crv"], "P-384");
        assert_eq!(v["keys"][0]["x"].as_str().map(str::len), Some(64));
    }

    #[test]
    fn the_store_changes_only_when_the_keys_do() {
        let (store, rx) = KeyStore::new();
        assert!(rx.borrow().keys.is_none() && rx.borrow().last_poll.is_none());
        let a = Authority {
            kid: "a".into(),
            key: spire_key(),
        };
        assert!(store.update(vec![a.clone()]));
        let first = rx.borrow().clone();
        assert!(!store.update(vec![a.clone()]));
        let second = rx.borrow().clone();
        assert!(second.last_poll >= first.last_poll);
        assert!(Arc::ptr_eq(
            first.keys.as_ref().unwrap(),
            second.keys.as_ref().unwrap()
        ));
        let b = Authority {
            kid: "b".into(),
            key: spire_key(),
        };
        assert!(store.update(vec![a, b]));
        assert_eq!(rx.borrow().keys.as_ref().unwrap().authorities.len(), 2);
    }
}
