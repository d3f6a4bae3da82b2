//! The provider as a real process against a real `spiffe-server` (bundle API on its admin
//! socket) and a real `spiffe-agent` (Workload API), fetched with a real HTTP client over TCP,
//! TLS and a UNIX socket, and a JWT-SVID of our server validated by PyJWT through it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use http::StatusCode;
use rustls_pki_types::CertificateDer;

/// The key IDs of a `/keys` document.
fn kids(doc: &serde_json::Value) -> BTreeSet<String> {
    doc["keys"]
        .as_array()
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k["kid"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Every key of a `/keys` document is the server's JWT authority of the same key ID, with
/// `alg` ES256 and no `use`.
fn assert_keys_are_the_servers(doc: &serde_json::Value, server: &Server) {
    let server_keys = server.jwt_keys();
    let keys = doc["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), server_keys.len(), "{doc}\n{server_keys:?}");
    for key in keys {
        let kid = key["kid"].as_str().expect("kid");
        let (_, theirs) = server_keys
            .iter()
            .find(|(k, _)| k == kid)
            .unwrap_or_else(|| panic!("{kid} is not a key of the server: {server_keys:?}"));
        for member in ["kty", "crv", "x", "y"] {
            assert_eq!(key[member], theirs[member], "{member} of {kid}");
        }
        assert_eq!(key["alg"], "ES256");
        assert!(
            key.get("use").is_none(),
            "no `use` unless set_key_use: {key}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_api_keys_follow_rotation_and_validate_in_pyjwt() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let health = free_port();
    let issuer = format!("http://localhost:{port}");
    // A 30 s CA lifetime: the next JWT key is prepared after 15 s and signs after 25 s (the
    // server checks every 10 s).
    let socket = tmp.path().join("admin").join("api.sock");
    let server = Server::start(
        &tmp.path().join("server"),
        &socket,
        &format!("jwt_issuer = \"{issuer}\"\nca_ttl = \"30s\"\n"),
    )
    .await;
    let provider_daemon = start_provider(
        tmp.path(),
        &format!(
            "domains = [\"localhost\"]\nallow_insecure_scheme = true\n\
             insecure_addr = \"127.0.0.1:{port}\"\nlog_level = \"debug\"\n\
             [server_api]\naddress = \"unix://{}\"\npoll_interval = \"1s\"\n\
             [health_checks]\nbind_port = {health}\n",
            socket.display()
        ),
    );
    let provider = &provider_daemon;

    eventually("the provider is ready", READY, || async move {
        provider.assert_running();
        let r = get(health, "localhost", "/ready", &[]).await?;
        if r.status == StatusCode::OK {
            Ok(())
        } else {
            Err(format!("{r:?}\n{}", provider.log()))
        }
    })
    .await;
    let live = get(health, "localhost", "/live", &[]).await.unwrap();
    assert_eq!(live.status, StatusCode::OK);

    // The discovery document, derived from the Host header.
    let host = format!("localhost:{port}");
    let r = get(port, &host, "/.well-known/openid-configuration", &[])
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(
        r.json(),
        serde_json::json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/keys"),
            "authorization_endpoint": "",
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "ES384"],
        })
    );
    // A host outside `domains` is refused, also when a proxy names it.
    let r = get(
        port,
        "evil.example",
        "/.well-known/openid-configuration",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, "domain \"evil.example\" is not allowed\n");
    let r = get(
        port,
        &host,
        "/.well-known/openid-configuration",
        &[("x-forwarded-host", "evil.example")],
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The keys: exactly the server's JWT authorities.
    let r = get(port, &host, "/keys", &[]).await.unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.headers["cache-control"],
        "no-cache, no-store, must-revalidate"
    );
    let first = r.json();
    assert_keys_are_the_servers(&first, &server);
    let first_kids = kids(&first);
    assert_eq!(first_kids.len(), 1, "{first}");
    let (host_ref, first_kids_ref, server_ref) = (&host, &first_kids, &server);

    // A JWT-SVID of our server, validated by PyJWT through discovery and the JWKS.
    let sub = "spiffe://example.org/ns/prod/sa/payment";
    let token = server.mint_jwt(sub, "sts.example.com");
    assert!(first_kids.contains(&jwt_kid(&token)));
    let python = python_with_pyjwt("server_api_keys_follow_rotation_and_validate_in_pyjwt");
    if let Some(python) = &python {
        let out = pyjwt_validate(python, &issuer, &token, "sts.example.com");
        let v: serde_json::Value = serde_json::from_str(out.ok().trim()).unwrap();
        assert_eq!(v["sub"], sub);
        assert_eq!(v["iss"], issuer.as_str());
        assert_eq!(v["kid"].as_str(), Some(jwt_kid(&token).as_str()));
        // The same token for another audience is refused by PyJWT.
        let wrong = pyjwt_validate(python, &issuer, &token, "other.example.com");
        assert_ne!(wrong.code, 0, "{wrong:?}");
        assert!(wrong.stderr.contains("InvalidAudienceError"), "{wrong:?}");
    }

    // Rotation: the prepared key appears in /keys next to the current one ...
    let rotated = eventually("the prepared JWT key is served", READY, || async move {
        provider.assert_running();
        let r = get(port, host_ref, "/keys", &[]).await?;
        let doc = r.json();
        if kids(&doc).len() > 1 && kids(&doc).is_superset(first_kids_ref) {
            Ok(doc)
        } else {
            Err(format!("{doc}"))
        }
    })
    .await;
    let new_kid = kids(&rotated)
        .difference(&first_kids)
        .next()
        .cloned()
        .unwrap();
    assert!(
        server.jwt_keys().iter().any(|(k, _)| *k == new_kid),
        "the new key is the server's"
    );
    // ... and once it signs, its tokens validate through the provider.
    let new_kid_ref = &new_kid;
    let token = eventually("the server signs with the new key", READY, || async move {
        let token = server_ref.mint_jwt(sub, "sts.example.com");
        if jwt_kid(&token) == *new_kid_ref {
            Ok(token)
        } else {
            Err(format!("signed by {}", jwt_kid(&token)))
        }
    })
    .await;
    if let Some(python) = &python {
        let out = pyjwt_validate(python, &issuer, &token, "sts.example.com");
        let v: serde_json::Value = serde_json::from_str(out.ok().trim()).unwrap();
        assert_eq!(v["kid"].as_str(), Some(new_kid.as_str()));
    }
    assert!(
        provider.log().contains("key set changed"),
        "{}",
        provider.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn workload_api_keys_behind_a_proxy_on_a_unix_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("admin").join("api.sock");
    let server = Server::start(&tmp.path().join("server"), &socket, "").await;
    let agent = Agent::start(&server, &tmp.path().join("agent")).await;
    // The provider's identity: this test's user.
    let uid = nix::unistd::geteuid().as_raw();
    server
        .cli(&[
            "entry",
            "create",
            "-parentID",
            ALIAS,
            "-spiffeID",
            "spiffe://example.org/oidc-discovery-provider",
            "-selector",
            &format!("unix:uid:{uid}"),
        ])
        .ok();
    let listen = tmp.path().join("oidc").join("server.sock");
    let provider_daemon = start_provider(
        tmp.path(),
        &format!(
            "domains = [\"oidc.example.org\"]\nlisten_socket_path = \"{}\"\n\
             [workload_api]\nsocket_path = \"{}\"\ntrust_domain = \"{TD}\"\npoll_interval = \"1s\"\n",
            listen.display(),
            agent.socket.display()
        ),
    );
    let provider = &provider_daemon;
    let listen_ref = &listen;
    let keys = eventually(
        "the provider serves the agent's keys",
        READY,
        || async move {
            provider.assert_running();
            let r = get_unix(listen_ref, "oidc.example.org", "/keys", &[]).await?;
            if r.status == StatusCode::OK {
                Ok(r.json())
            } else {
                Err(format!("{r:?}\n{}", provider.log()))
            }
        },
    )
    .await;
    assert_keys_are_the_servers(&keys, &server);
    let token = server.mint_jwt("spiffe://example.org/w", "sts.example.com");
    assert!(kids(&keys).contains(&jwt_kid(&token)));

    // Behind a TLS proxy: the proxy's forwarded host and scheme make the URLs.
    let r = get_unix(
        &listen,
        "localhost",
        "/.well-known/openid-configuration",
        &[
            ("x-forwarded-host", "oidc.example.org"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let doc = r.json();
    assert_eq!(doc["issuer"], "https://oidc.example.org");
    assert_eq!(doc["jwks_uri"], "https://oidc.example.org/keys");
    // Without allow_insecure_scheme the URLs are https even for plain HTTP.
    let r = get_unix(
        &listen,
        "oidc.example.org",
        "/.well-known/openid-configuration",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(r.json()["issuer"], "https://oidc.example.org");
    let r = get_unix(
        &listen,
        "localhost",
        "/.well-known/openid-configuration",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body, "domain \"localhost\" is not allowed\n");

    // SIGTERM: a clean exit that removes the socket.
    let status = provider.terminate();
    assert!(status.success(), "{status}\n{}", provider.log());
    assert!(!listen.exists(), "the socket is removed");
    assert!(provider.log().contains("shutting down"));
}

/// A self-signed serving certificate for `oidc.example.org`, written to `cert`/`key`.
fn serving_cert(cert: &std::path::Path, key: &std::path::Path) -> CertificateDer<'static> {
    let pair = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["oidc.example.org".to_owned()]).unwrap();
    let c = params.self_signed(&pair).unwrap();
    std::fs::write(cert, c.pem()).unwrap();
    std::fs::write(key, pair.serialize_pem()).unwrap();
    c.der().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn https_from_files_reload_and_readiness_before_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = (tmp.path().join("cert.pem"), tmp.path().join("key.pem"));
    let first = serving_cert(&cert, &key);
    let port = free_port();
    let health = free_port();
    // The server is not there yet.
    let socket = tmp.path().join("admin").join("api.sock");
    let provider_daemon = start_provider(
        tmp.path(),
        &format!(
            "domains = [\"oidc.example.org\"]\nallow_insecure_scheme = true\n\
             [serving_cert_file]\ncert_file_path = \"{}\"\nkey_file_path = \"{}\"\n\
             addr = \"127.0.0.1:{port}\"\nfile_sync_interval = \"1s\"\n\
             [server_api]\naddress = \"unix://{}\"\npoll_interval = \"1s\"\n\
             [health_checks]\nbind_port = {health}\nready_path = \"/readyz\"\n",
            cert.display(),
            key.display(),
            socket.display()
        ),
    );
    let provider = &provider_daemon;
    let first_ref = &first;
    let (r, presented) = eventually("HTTPS answers", READY, || async move {
        provider.assert_running();
        get_tls(port, "oidc.example.org", first_ref, "/keys").await
    })
    .await;
    assert_eq!(presented, first);
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.body, "document not available\n");
    // Live (within the threshold of the start), not ready (no keys yet).
    let live = get(health, "x", "/live", &[]).await.unwrap();
    assert_eq!(live.status, StatusCode::OK);
    let ready = get(health, "x", "/readyz", &[]).await.unwrap();
    assert_eq!(ready.status, StatusCode::INTERNAL_SERVER_ERROR);
    // Over TLS the URLs are https, allow_insecure_scheme notwithstanding.
    let (r, _) = get_tls(
        port,
        "oidc.example.org",
        &first,
        "/.well-known/openid-configuration",
    )
    .await
    .unwrap();
    assert_eq!(
        r.json()["issuer"],
        format!("https://oidc.example.org:{port}")
    );

    // The server comes up: the provider becomes ready and serves its keys.
    let server = Server::start(&tmp.path().join("server"), &socket, "").await;
    eventually("the provider is ready", READY, || async move {
        provider.assert_running();
        let r = get(health, "x", "/readyz", &[]).await?;
        if r.status == StatusCode::OK {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
    let (r, _) = get_tls(port, "oidc.example.org", &first, "/keys")
        .await
        .unwrap();
    assert_eq!(r.status, StatusCode::OK);
    assert_keys_are_the_servers(&r.json(), &server);

    // A new certificate on disk is presented after the next sync.
    let second = serving_cert(&cert, &key);
    let second_ref = &second;
    eventually("the new certificate is presented", READY, || async move {
        let (_, presented) = get_tls(port, "oidc.example.org", second_ref, "/keys").await?;
        if presented == *second_ref {
            Ok(())
        } else {
            Err("the old certificate".to_owned())
        }
    })
    .await;
    // A broken key file keeps the last good pair.
    std::fs::write(&key, "not a key").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, presented) = get_tls(port, "oidc.example.org", &second, "/keys")
        .await
        .unwrap();
    assert_eq!(presented, second);
    assert!(
        provider.log().contains("keeping the last good pair"),
        "{}",
        provider.log()
    );
}

#[test]
fn bad_configurations_stop_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let run_with = |text: &str| {
        let path = tmp.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        run(
            std::path::Path::new(PROVIDER),
            &["-config", path.to_str().unwrap()],
        )
    };
    let r = run_with(
        "domains = [\"a.test\"]\n[acme]\nemail = \"x@a.test\"\ntos_accepted = true\n\
         [server_api]\naddress = \"unix:///s\"\n",
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
    assert!(
        r.stderr
            .starts_with("Error: the acme section is not supported"),
        "{r:?}"
    );
    let r = run_with("domains = [\"a.test\"]\ninsecure_addr = \":0\"\n");
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("exactly one of the server_api"), "{r:?}");
    let r = run(
        std::path::Path::new(PROVIDER),
        &["-config", tmp.path().join("missing.conf").to_str().unwrap()],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.starts_with("Error: could not read config file"),
        "{r:?}"
    );
    let r = run(std::path::Path::new(PROVIDER), &["-version"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains(env!("CARGO_PKG_VERSION")), "{r:?}");
}
