//! `federation create|list|show|update|delete|refresh` run as a binary against a real server:
//! SPIRE's text, `-output json`, `-data` from a file and from standard input, exit codes and
//! error lines; `refresh` fetching from a second server's real bundle endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Server;

const TD: &str = "example.org";

fn web_block(td: &str, url: &str) -> String {
    format!(
        "Trust domain              : {td}\nBundle endpoint URL       : {url}\nBundle endpoint profile   : https_web\n"
    )
}

fn spiffe_block(td: &str, url: &str, id: &str) -> String {
    format!(
        "Trust domain              : {td}\nBundle endpoint URL       : {url}\nBundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : {id}\n"
    )
}

#[test]
fn federation_commands() {
    let server = Server::start(TD, None);
    assert_eq!(
        server.cli(&["federation", "list"]).ok(),
        "Found 0 federation relationships\n"
    );

    // From flags: https_web, then https_spiffe seeded with a PEM bundle of its trust domain.
    let r = server.cli(&[
        "federation",
        "create",
        "-trustDomain",
        "web.org",
        "-bundleEndpointURL",
        "https://web.example/bundle",
        "-bundleEndpointProfile",
        "https_web",
    ]);
    assert_eq!(
        r.ok(),
        format!("\n{}", web_block("web.org", "https://web.example/bundle"))
    );
    let partner = Server::start("partner.org", None);
    let pem_path = server.dir.path().join("partner.pem");
    std::fs::write(&pem_path, partner.cli(&["bundle", "show"]).ok()).unwrap();
    let r = server.cli(&[
        "federation",
        "create",
        "-trustDomain",
        "partner.org",
        "-bundleEndpointURL",
        "https://partner.example:8443",
        "-bundleEndpointProfile",
        "https_spiffe",
        "-endpointSpiffeID",
        "spiffe://partner.org/spire/server",
        "-trustDomainBundlePath",
        pem_path.to_str().unwrap(),
    ]);
    let partner_block = spiffe_block(
        "partner.org",
        "https://partner.example:8443",
        "spiffe://partner.org/spire/server",
    );
    assert_eq!(r.ok(), format!("\n{partner_block}"));
    // The bundle came with it.
    assert_eq!(
        server
            .cli(&["bundle", "list", "-id", "spiffe://partner.org"])
            .ok(),
        partner.cli(&["bundle", "show"]).ok()
    );

    // list and show, text and JSON.
    assert_eq!(
        server.cli(&["federation", "list"]).ok(),
        format!(
            "Found 2 federation relationships\n\n{partner_block}\n{}",
            web_block("web.org", "https://web.example/bundle")
        )
    );
    assert_eq!(
        server
            .cli(&["federation", "show", "-trustDomain", "partner.org"])
            .ok(),
        format!(
            "Found a federation relationship with trust domain partner.org:\n\n{partner_block}"
        )
    );
    let json: serde_json::Value =
        serde_json::from_str(server.cli(&["federation", "list", "-output", "json"]).ok()).unwrap();
    assert_eq!(json["next_page_token"], "");
    let first = &json["federation_relationships"][0];
    assert_eq!(first["trust_domain"], "partner.org");
    assert_eq!(
        first["https_spiffe"]["endpoint_spiffe_id"],
        "spiffe://partner.org/spire/server"
    );
    assert_eq!(first["trust_domain_bundle"]["trust_domain"], "partner.org");
    assert!(
        first["trust_domain_bundle"]
            .get("wit_authorities")
            .is_none()
    );
    assert_eq!(
        json["federation_relationships"][1]["https_web"],
        serde_json::json!({})
    );
    let shown: serde_json::Value = serde_json::from_str(
        server
            .cli(&[
                "federation",
                "show",
                "-trustDomain",
                "web.org",
                "-output",
                "json",
            ])
            .ok(),
    )
    .unwrap();
    assert_eq!(shown["bundle_endpoint_url"], "https://web.example/bundle");

    // A failure among successes (-data on stdin): the good one on stdout, the failed one on
    // stderr with its code and message, exit 1 with SPIRE's last line.
    let data = r#"{"federationRelationships":[
        {"trustDomain":"data.org","bundleEndpointURL":"https://data.example","bundleEndpointProfile":"https_web"},
        {"trustDomain":"web.org","bundleEndpointURL":"https://dup.example","bundleEndpointProfile":"https_web"}
    ]}"#;
    let r = server.cli_stdin(&["federation", "create", "-data", "-"], Some(data));
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stdout,
        format!("\n{}\n", web_block("data.org", "https://data.example"))
    );
    assert_eq!(
        r.stderr,
        format!(
            "Failed to create the following federation relationship (code: AlreadyExists, msg: \"failed to create federation relationship: federation relationship already exists\"):\n{}Error: failed to create one or more federation relationships\n",
            web_block("web.org", "https://dup.example")
        )
    );
    // The same with -output json: the results, exit 0 (as SPIRE).
    let r = server.cli_stdin(
        &["federation", "create", "-data", "-", "-output", "json"],
        Some(data),
    );
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    assert_eq!(v["results"][0]["status"]["code"], 6);
    assert!(v["results"][0].get("federation_relationship").is_none());

    // update from a -data file.
    let file = server.dir.path().join("update.json");
    std::fs::write(
        &file,
        r#"{"federationRelationships":[{"trustDomain":"web.org","bundleEndpointURL":"https://new.web.example","bundleEndpointProfile":"https_spiffe","endpointSPIFFEID":"spiffe://web.org/server"}]}"#,
    )
    .unwrap();
    let r = server.cli(&["federation", "update", "-data", file.to_str().unwrap()]);
    assert_eq!(
        r.ok(),
        format!(
            "\n{}",
            spiffe_block(
                "web.org",
                "https://new.web.example",
                "spiffe://web.org/server"
            )
        )
    );
    let r = server.cli(&[
        "federation",
        "update",
        "-trustDomain",
        "nope.org",
        "-bundleEndpointURL",
        "https://nope.example",
        "-bundleEndpointProfile",
        "https_web",
    ]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "\n");
    assert!(r.stderr.starts_with(
        "Failed to update the following federation relationship (code: NotFound, msg: \"failed to update federation relationship: federation relationship not found\"):\n"
    ), "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with("Error: failed to update one or more federation relationships\n")
    );

    // delete, refresh and their refusals.
    assert_eq!(
        server
            .cli(&["federation", "delete", "-id", "data.org"])
            .ok(),
        "federation relationship deleted.\n"
    );
    for (args, line) in [
        (
            vec!["federation", "delete", "-id", "data.org"],
            "Error: failed to delete federation relationship \"data.org\": federation relationship not found",
        ),
        (vec!["federation", "delete"], "Error: id is required"),
        (vec!["federation", "refresh"], "Error: id is required"),
        (
            vec!["federation", "refresh", "-id", "data.org"],
            "Error: there is no federation relationship with trust domain \"data.org\"",
        ),
        (
            vec!["federation", "show"],
            "Error: a trust domain name is required",
        ),
        (
            vec!["federation", "show", "-trustDomain", "data.org"],
            "Error: error showing federation relationship: rpc error: code = NotFound desc = federation relationship does not exist",
        ),
        (
            vec!["federation", "create", "-trustDomain", "x.org"],
            "Error: bundle endpoint URL is required",
        ),
        (
            vec![
                "federation",
                "create",
                "-trustDomain",
                "x.org",
                "-bundleEndpointURL",
                "https://x",
            ],
            "Error: unknown bundle endpoint profile type: \"\"",
        ),
        (
            vec![
                "federation",
                "create",
                "-data",
                "x.json",
                "-trustDomain",
                "x.org",
            ],
            "Error: cannot use other flags to specify relationship fields when 'data' flag is set",
        ),
    ] {
        let r = server.cli(&args);
        assert_eq!(r.one_error_line(), line, "{args:?}");
    }
    // A failed refresh (nothing listens there) is an error; the JSON of a delete.
    let r = server.cli(&["federation", "refresh", "-id", "web.org"]);
    assert!(
        r.one_error_line()
            .starts_with("Error: failed to refresh bundle: rpc error: code = Internal desc = failed to refresh bundle: "),
        "{}",
        r.stderr
    );
    let r = server.cli(&["federation", "delete", "-id", "web.org", "-output", "json"]);
    assert_eq!(
        r.ok(),
        "{\"results\":[{\"status\":{\"code\":0,\"message\":\"OK\"},\"trust_domain\":\"web.org\"}]}\n"
    );
}

/// A free TCP port on 127.0.0.1 (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn refresh_fetches_from_a_real_bundle_endpoint() {
    // partner.org serves its bundle endpoint (configured in its file, https_spiffe).
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let config = dir.path().join("server.toml");
    let port = free_port();
    std::fs::write(
        &config,
        format!(
            "[server]\ntrust_domain = \"partner.org\"\ndata_dir = \"{}\"\nbind_address = \"127.0.0.1\"\nbind_port = 0\nsocket_path = \"{}\"\n\n[server.federation.bundle_endpoint]\naddress = \"127.0.0.1\"\nport = {port}\nrefresh_hint = \"1h\"\n",
            dir.path().join("data").display(),
            socket.display()
        ),
    )
    .unwrap();
    let args: Vec<String> = ["run", "-config", config.to_str().unwrap()]
        .into_iter()
        .map(str::to_owned)
        .collect();
    let partner = Server::spawn(dir, socket, &args);
    let server = Server::start(TD, None);
    let seed = server.dir.path().join("partner.json");
    std::fs::write(
        &seed,
        partner.cli(&["bundle", "show", "-format", "spiffe"]).ok(),
    )
    .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let r = server.cli(&[
        "federation",
        "create",
        "-trustDomain",
        "partner.org",
        "-bundleEndpointURL",
        &url,
        "-bundleEndpointProfile",
        "https_spiffe",
        "-endpointSpiffeID",
        "spiffe://partner.org/spire/server",
        "-trustDomainBundlePath",
        seed.to_str().unwrap(),
        "-trustDomainBundleFormat",
        "spiffe",
    ]);
    r.ok();
    assert_eq!(
        server
            .cli(&["federation", "refresh", "-id", "partner.org"])
            .ok(),
        "Bundle refreshed\n"
    );
    assert_eq!(
        server
            .cli(&[
                "federation",
                "refresh",
                "-id",
                "partner.org",
                "-output",
                "json"
            ])
            .ok(),
        "{\"code\":0,\"message\":\"OK\"}\n"
    );
    // The stored bundle is the endpoint's document: its refresh hint (1 h) came with it.
    let v: serde_json::Value = serde_json::from_str(
        server
            .cli(&[
                "bundle",
                "list",
                "-id",
                "spiffe://partner.org",
                "-output",
                "json",
            ])
            .ok(),
    )
    .unwrap();
    assert_eq!(v["refresh_hint"], "3600");
}
