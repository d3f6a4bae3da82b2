//! Differential conformance with go-spiffe v2.9.0: the same inputs, hand-written and generated,
//! go to go-spiffe's parsers (`spiffe-interop conform`, interop/go/conform.go) and to ours, and
//! the answers are compared: accepted or refused, and the parsed value.
//!
//! Where we differ on purpose the difference is listed in `EXPECTED` with its reason; any other
//! difference, or an expected one that went away, fails the test.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use spiffe_core::{Bundle, JwtBundle, SpiffeId, TrustDomain, X509Bundle};

use super::Peers;

/// go-spiffe's answerer, one question a line.
struct Go {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Go {
    fn start(peers: &Peers) -> Go {
        let mut child = Command::new(&peers.interop)
            .arg("conform")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Go {
            child,
            stdin,
            stdout,
        }
    }

    /// go-spiffe's answer: `Ok(value)` or `Err(message)`.
    fn ask(&mut self, question: &Value) -> Result<String, String> {
        writeln!(self.stdin, "{question}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let a: Value = serde_json::from_str(&line).unwrap();
        if a["ok"] == json!(true) {
            Ok(a["value"].as_str().unwrap_or_default().to_owned())
        } else {
            Err(a["error"].as_str().unwrap_or_default().to_owned())
        }
    }
}

impl Drop for Go {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One comparison: the case's name, ours and go-spiffe's answers.
struct Outcome {
    kind: &'static str,
    case: String,
    ours: Result<String, String>,
    go: Result<String, String>,
}

impl Outcome {
    /// Same acceptance and, when both accept, the same value.
    fn agrees(&self) -> bool {
        match (&self.ours, &self.go) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            _ => false,
        }
    }
}

/// Differences we keep on purpose: (kind, case, reason).
const EXPECTED: &[(&str, &str, &str)] = &[
    (
        "id",
        "spiffe://example.org/aaa... (2061 bytes)",
        "SPIFFE-ID.md 2.3: URIs longer than 2048 bytes SHOULD NOT be considered valid; go-spiffe \
         does not check the length",
    ),
    (
        "td",
        "spiffe://example.org/aaa... (2061 bytes)",
        "the same ID, asked for its trust domain",
    ),
    (
        "id",
        "spiffe://aaaaaaaaaaaaaaa... (267 bytes)",
        "SPIFFE-ID.md 2.3: a trust domain name is at most 255 bytes; go-spiffe does not check it",
    ),
    (
        "td",
        "spiffe://aaaaaaaaaaaaaaa... (267 bytes)",
        "the same ID, asked for its trust domain",
    ),
    (
        "spiffe_bundle",
        "a malformed key of unknown use",
        "SPIFFE Trust Domain and Bundle 4.2: keys whose use is not known are ignored; go-spiffe \
         first decodes every key with go-jose and refuses the whole bundle for a malformed one",
    ),
    (
        "x509_svid",
        "EKU without clientAuth",
        "X509-SVID 4.4: when a leaf SVID has the extended key usage extension, id-kp-serverAuth \
         and id-kp-clientAuth MUST be set; go-spiffe's x509svid.Parse does not look at EKU and \
         leaves it to the TLS handshake. Where a reference breaks the spec we follow the spec: \
         such a leaf is refused when it is parsed, not half-way through an mTLS handshake",
    ),
    (
        "jwt_bundle",
        "no keys",
        "RFC 7517 5: the keys member of a JWK Set is REQUIRED; go-spiffe's jwtbundle.Parse takes \
         a document without it as an empty bundle",
    ),
];

/// A deterministic pseudo-random generator (xorshift), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// ID-shaped strings: the pieces SPIFFE-ID.md's rules are about, joined at random.
fn generated_ids(n: usize) -> Vec<String> {
    const HEADS: &[&str] = &[
        "spiffe://",
        "SPIFFE://",
        "Spiffe://",
        "spiffe:/",
        "spiffe:",
        "http://",
        "",
        "spiffe:///",
    ];
    const PARTS: &[&str] = &[
        "example.org",
        "EXAMPLE.org",
        "td",
        "a-b_c.d",
        "/",
        "//",
        "/.",
        "/..",
        "/a",
        "/A",
        "/0",
        "/-_.",
        "/%41",
        "?q",
        "#f",
        ":8080",
        "user@",
        " ",
        "é",
        "*",
        "/ns/prod/sa/payment",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    (0..n)
        .map(|_| {
            let mut s = rng.pick(HEADS).to_owned();
            for _ in 0..=(rng.next() % 4) {
                s.push_str(rng.pick(PARTS));
            }
            s
        })
        .collect()
}

fn hand_written_ids() -> Vec<String> {
    let long_path = format!("/{}", "a".repeat(2040));
    let mut ids: Vec<String> = [
        "spiffe://example.org",
        "spiffe://example.org/",
        "spiffe://example.org/a/b",
        "spiffe://example.org/a//b",
        "spiffe://example.org/a/./b",
        "spiffe://example.org/a/../b",
        "spiffe://example.org/a/",
        "spiffe://example.org/A.b-c_d",
        "spiffe://example.org/%41",
        "spiffe://example.org/a?b",
        "spiffe://example.org/a#b",
        "spiffe://EXAMPLE.org/a",
        "SPIFFE://example.org/a",
        "spiffe://example.org:8080/a",
        "spiffe://user@example.org/a",
        "spiffe:///a",
        "spiffe://",
        "spiffe://ex ample.org",
        "",
        "example.org",
        "spiffe://1.2.3.4/a",
        "spiffe://[::1]/a",
        "spiffe://xn--nxasmq6b.example/a",
        "spiffe://a_b.example/x",
    ]
    .map(str::to_owned)
    .to_vec();
    ids.push(format!("spiffe://example.org{long_path}"));
    ids.push(format!("spiffe://{}/a", "a".repeat(255)));
    ids.push(format!("spiffe://{}/a", "a".repeat(256)));
    ids
}

/// How a case is named in reports: long inputs shortened as `EXPECTED` names them.
fn case_name(s: &str) -> String {
    if s.len() > 100 {
        format!("{}... ({} bytes)", &s[..24], s.len())
    } else {
        format!("{s:?}")
    }
}

fn ours_id(s: &str) -> Result<String, String> {
    SpiffeId::parse(s)
        .map(|id| id.as_str().to_owned())
        .map_err(|e| e.to_string())
}

fn ours_td(s: &str) -> Result<String, String> {
    TrustDomain::from_id_or_name(s)
        .map(|td| td.name().to_owned())
        .map_err(|e| e.to_string())
}

fn kids(jwt: &JwtBundle) -> String {
    jwt.authorities()
        .map(|(kid, _)| kid)
        .collect::<Vec<_>>()
        .join(",")
}

fn ours_bundle(kind: &str, td: &TrustDomain, data: &[u8]) -> Result<String, String> {
    match kind {
        "x509_bundle" => X509Bundle::parse_pem(td.clone(), data)
            .map(|b| format!("x509={}", b.authorities().len())),
        "jwt_bundle" => {
            JwtBundle::parse_jwks(td.clone(), data).map(|b| format!("kids={}", kids(&b)))
        }
        _ => Bundle::parse_json(td.clone(), data).map(|b| {
            format!(
                "x509={} kids={}",
                b.x509().authorities().len(),
                kids(b.jwt())
            )
        }),
    }
    .map_err(|e| e.to_string())
}

/// A root certificate, DER.
fn root_der(cn: &str) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    params.distinguished_name = dn;
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// A P-256 JWK for `jwt-svid` use (with `use` when `with_use`).
fn ec_jwk(kid: &str, with_use: bool) -> Value {
    let key = rcgen::KeyPair::generate().unwrap();
    let raw = key.public_key_raw();
    let (x, y) = raw[1..].split_at(32);
    let mut v = json!({
        "kty": "EC",
        "crv": "P-256",
        "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(x),
        "y": URL_SAFE_NO_PAD.encode(y),
    });
    if with_use {
        v["use"] = json!("jwt-svid");
    }
    v
}

fn bundle_cases() -> Vec<(&'static str, String, Vec<u8>)> {
    let a = root_der("a");
    let b = root_der("b");
    let pem = |der: &[u8]| spiffe_core::pem::encode("CERTIFICATE", der);
    let v1 = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../spiffe-core/tests/data/v1-root.pem"),
    )
    .unwrap();
    let x5c = |der: &[u8]| json!({"use": "x509-svid", "kty": "EC", "x5c": [STANDARD.encode(der)]});
    let k1 = ec_jwk("k1", true);
    let k1_again = ec_jwk("k1", true);
    let k2 = ec_jwk("k2", true);
    let plain = ec_jwk("p", false);
    let mut cases: Vec<(&'static str, String, Vec<u8>)> = vec![
        ("x509_bundle", "empty".into(), Vec::new()),
        ("x509_bundle", "not PEM".into(), b"not pem at all".to_vec()),
        ("x509_bundle", "whitespace".into(), b"  \n".to_vec()),
        ("x509_bundle", "one root".into(), pem(&a).into_bytes()),
        (
            "x509_bundle",
            "two roots".into(),
            format!("{}{}", pem(&a), pem(&b)).into_bytes(),
        ),
        (
            "x509_bundle",
            "the same root twice".into(),
            format!("{}{}", pem(&a), pem(&a)).into_bytes(),
        ),
        ("x509_bundle", "a version-1 root".into(), v1.clone()),
        (
            "x509_bundle",
            "only a key block".into(),
            spiffe_core::pem::encode("PRIVATE KEY", &[1, 2, 3]).into_bytes(),
        ),
        (
            "x509_bundle",
            "garbage in a CERTIFICATE block".into(),
            spiffe_core::pem::encode("CERTIFICATE", &[0x30, 0x03, 1, 2, 3]).into_bytes(),
        ),
    ];
    let docs: Vec<(&'static str, Value)> = vec![
        ("no keys member", json!({})),
        ("empty keys", json!({"keys": []})),
        ("one x509 authority", json!({"keys": [x5c(&a)]})),
        (
            "the same x509 authority twice",
            json!({"keys": [x5c(&a), x5c(&a)]}),
        ),
        (
            "a version-1 x509 authority",
            json!({"keys": [x5c(&pem_der(&v1))]}),
        ),
        ("two JWT keys", json!({"keys": [k1, k2]})),
        ("a repeated kid", json!({"keys": [k1, k1_again]})),
        (
            "x509 and JWT",
            json!({"keys": [x5c(&b), k2], "spiffe_refresh_hint": 300, "spiffe_sequence": 4}),
        ),
        (
            "x5c with two certificates",
            json!({"keys": [{"use": "x509-svid", "kty": "EC", "x5c": [STANDARD.encode(&a), STANDARD.encode(&b)]}]}),
        ),
        (
            "a malformed key of unknown use",
            json!({"keys": [{"use": "other", "kty": "EC"}]}),
        ),
        (
            "a well-formed key of unknown use",
            json!({"keys": [{"use": "other", "kty": "oct", "k": "AAAA"}, k2]}),
        ),
        ("not JSON", json!("keys")),
    ];
    for (name, doc) in docs {
        cases.push(("spiffe_bundle", name.into(), doc.to_string().into_bytes()));
    }
    let jwks: Vec<(&'static str, Value)> = vec![
        ("plain JWKS", json!({"keys": [plain]})),
        ("jwt-svid keys", json!({"keys": [k1, k2]})),
        ("a repeated kid", json!({"keys": [k1, k1_again]})),
        ("no keys", json!({})),
    ];
    for (name, doc) in jwks {
        cases.push(("jwt_bundle", name.into(), doc.to_string().into_bytes()));
    }
    cases
}

/// A CA for SVID cases: its key and issuer.
struct SvidCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl SvidCa {
    fn new() -> SvidCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "svid ca");
        params.distinguished_name = dn;
        SvidCa {
            issuer: rcgen::Issuer::new(params, rcgen::KeyPair::generate().unwrap()),
        }
    }

    /// A leaf for `uris`, adjusted by `f`: (chain DER, PKCS#8 key DER).
    fn leaf(
        &self,
        uris: &[&str],
        f: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> (Vec<u8>, Vec<u8>) {
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        p.subject_alt_names = uris
            .iter()
            .map(|u| rcgen::SanType::URI((*u).try_into().unwrap()))
            .collect();
        f(&mut p);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.der().to_vec(), key.serialize_der())
    }
}

fn svid_cases() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    const ID: &str = "spiffe://example.org/workload";
    let ca = SvidCa::new();
    let (other_chain, other_key) = ca.leaf(&[ID], |_| {});
    let mut cases = vec![
        ("a correct SVID", ca.leaf(&[ID], |_| {})),
        (
            "two URI SANs",
            ca.leaf(&[ID, "spiffe://example.org/other"], |_| {}),
        ),
        ("no URI SAN", ca.leaf(&[], |_| {})),
        ("a root-path ID", ca.leaf(&["spiffe://example.org"], |_| {})),
        (
            "a non-SPIFFE URI",
            ca.leaf(&["https://example.org/x"], |_| {}),
        ),
        (
            "a leaf that is a CA",
            ca.leaf(&[ID], |p| {
                p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained)
            }),
        ),
        (
            "no digitalSignature",
            ca.leaf(&[ID], |p| {
                p.key_usages = vec![rcgen::KeyUsagePurpose::KeyEncipherment]
            }),
        ),
        (
            "keyCertSign on the leaf",
            ca.leaf(&[ID], |p| {
                p.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
            }),
        ),
        (
            "cRLSign on the leaf",
            ca.leaf(&[ID], |p| {
                p.key_usages.push(rcgen::KeyUsagePurpose::CrlSign)
            }),
        ),
        (
            "EKU without clientAuth",
            ca.leaf(&[ID], |p| {
                p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
            }),
        ),
        ("no EKU", ca.leaf(&[ID], |p| p.extended_key_usages.clear())),
        (
            "the key of another SVID",
            (ca.leaf(&[ID], |_| {}).0, other_key),
        ),
    ];
    cases.push((
        "garbage chain",
        (vec![0x30, 0x03, 1, 2, 3], other_chain.clone()),
    ));
    cases
        .into_iter()
        .map(|(name, (chain, key))| (name.to_owned(), chain, key))
        .collect()
}

/// A compact JWS: `header` and `claims` as JSON, signed ES256 with `key` (PKCS#8).
fn es256_token(header: &Value, claims: &Value, key: &[u8]) -> String {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, key).unwrap();
    let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// JWT-SVID cases: (name, token); every token's key is `kid` "k1" of the returned JWKS.
fn jwt_cases() -> (Vec<(&'static str, String)>, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let raw = key.public_key_raw();
    let (x, y) = raw[1..].split_at(32);
    let jwks = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "k1", "use": "jwt-svid",
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    }]});
    let pkcs8 = key.serialize_der();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims =
        |sub: &str, aud: Value, exp: u64| json!({"sub": sub, "aud": aud, "exp": exp, "iat": now});
    let ok = claims("spiffe://example.org/w", json!(["aud1"]), now + 600);
    let header = json!({"alg": "ES256", "kid": "k1", "typ": "JWT"});
    let sign = |h: &Value, c: &Value| es256_token(h, c, &pkcs8);
    let cases = vec![
        ("a correct token", sign(&header, &ok)),
        (
            "audience as a string",
            sign(
                &header,
                &claims("spiffe://example.org/w", json!("aud1"), now + 600),
            ),
        ),
        (
            "expired",
            sign(
                &header,
                &claims("spiffe://example.org/w", json!(["aud1"]), now - 600),
            ),
        ),
        (
            "another audience",
            sign(
                &header,
                &claims("spiffe://example.org/w", json!(["aud2"]), now + 600),
            ),
        ),
        (
            "sub not a SPIFFE ID",
            sign(&header, &claims("workload", json!(["aud1"]), now + 600)),
        ),
        (
            "sub in another trust domain",
            sign(
                &header,
                &claims("spiffe://other.org/w", json!(["aud1"]), now + 600),
            ),
        ),
        (
            "an unknown kid",
            sign(&json!({"alg": "ES256", "kid": "k2"}), &ok),
        ),
        ("no typ", sign(&json!({"alg": "ES256", "kid": "k1"}), &ok)),
        (
            "typ JOSE",
            sign(&json!({"alg": "ES256", "kid": "k1", "typ": "JOSE"}), &ok),
        ),
        (
            "typ other",
            sign(&json!({"alg": "ES256", "kid": "k1", "typ": "other"}), &ok),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": "k1"}).to_string()),
                URL_SAFE_NO_PAD.encode(ok.to_string())
            ),
        ),
        (
            "alg RS256 on an EC key",
            sign(&json!({"alg": "RS256", "kid": "k1"}), &ok),
        ),
        ("a bad signature", {
            let t = sign(&header, &ok);
            let cut = t.len() - 4;
            format!("{}AAAA", &t[..cut])
        }),
        ("not a JWS", "a.b".to_owned()),
    ];
    (cases, jwks.to_string().into_bytes())
}

/// The DER of the first PEM certificate in `pem`.
fn pem_der(pem: &[u8]) -> Vec<u8> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    CertificateDer::from_pem_slice(pem).unwrap().to_vec()
}

/// An answer for a report, long values cut.
fn short(answer: &Result<String, String>) -> String {
    let (tag, text) = match answer {
        Ok(v) => ("Ok", v),
        Err(e) => ("Err", e),
    };
    if text.len() > 120 {
        format!("{tag}({}... ({} bytes))", &text[..100], text.len())
    } else {
        format!("{tag}({text:?})")
    }
}

#[test]
fn parsing_agrees_with_go_spiffe() {
    let Some(peers) = Peers::find("parsing_agrees_with_go_spiffe") else {
        return;
    };
    let mut go = Go::start(&peers);
    let mut outcomes = Vec::new();

    let mut ids = hand_written_ids();
    ids.extend(generated_ids(2000));
    for s in &ids {
        outcomes.push(Outcome {
            kind: "id",
            case: case_name(s),
            ours: ours_id(s),
            go: go.ask(&json!({"kind": "id", "input": s})),
        });
        outcomes.push(Outcome {
            kind: "td",
            case: case_name(s),
            ours: ours_td(s),
            go: go.ask(&json!({"kind": "td", "input": s})),
        });
    }

    let td = TrustDomain::parse("example.org").unwrap();
    for (kind, name, data) in bundle_cases() {
        outcomes.push(Outcome {
            kind,
            case: name,
            ours: ours_bundle(kind, &td, &data),
            go: go.ask(&json!({"kind": kind, "td": "example.org", "data": STANDARD.encode(&data)})),
        });
    }

    for (name, chain, key) in svid_cases() {
        outcomes.push(Outcome {
            kind: "x509_svid",
            case: name,
            ours: spiffe_core::X509Svid::parse_der(&chain, &key)
                .map(|s| s.spiffe_id().as_str().to_owned())
                .map_err(|e| e.to_string()),
            go: go.ask(&json!({"kind": "x509_svid", "data": STANDARD.encode(&chain), "key": STANDARD.encode(&key)})),
        });
    }

    let (tokens, jwks) = jwt_cases();
    let mut set = spiffe_core::BundleSet::new();
    let jwt_bundle = JwtBundle::parse_jwks(td.clone(), &jwks).unwrap();
    set.insert(Bundle::from_parts(X509Bundle::new(td.clone()), jwt_bundle).unwrap());
    for (name, token) in tokens {
        outcomes.push(Outcome {
            kind: "jwt_svid",
            case: name.to_owned(),
            ours: spiffe_core::JwtSvid::parse_and_validate(&token, &set, "aud1")
                .map(|s| s.spiffe_id().as_str().to_owned())
                .map_err(|e| e.to_string()),
            go: go.ask(&json!({"kind": "jwt_svid", "input": token, "audience": "aud1", "td": "example.org", "data": STANDARD.encode(&jwks)})),
        });
    }

    let mut unexpected = Vec::new();
    let mut seen_expected = Vec::new();
    for o in outcomes.iter().filter(|o| !o.agrees()) {
        let case = o.case.trim_matches('"');
        match EXPECTED
            .iter()
            .find(|(kind, name, _)| *kind == o.kind && *name == case)
        {
            Some(e) => seen_expected.push(e.1),
            None => unexpected.push(format!(
                "{} {}: ours {}, go-spiffe {}",
                o.kind,
                o.case,
                short(&o.ours),
                short(&o.go)
            )),
        }
    }
    assert!(
        unexpected.is_empty(),
        "{} of {} answers differ from go-spiffe v2.9.0:\n{}",
        unexpected.len(),
        outcomes.len(),
        unexpected.join("\n")
    );
    for (kind, name, reason) in EXPECTED {
        assert!(
            seen_expected.contains(name),
            "the expected difference {kind} {name} ({reason}) is gone: remove it from EXPECTED"
        );
    }
    eprintln!(
        "{} answers compared with go-spiffe v2.9.0; {} differ as EXPECTED lists",
        outcomes.len(),
        seen_expected.len()
    );
}
