//! The `spiffe-server` binary against a real `spiffe-server run` (SQLite, and PostgreSQL once).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Server, cli_env};

const TD: &str = "mycompany.com";
const PAYMENT: &str = "spiffe://mycompany.com/ns/prod/sa/payment-service";
const AGENT: &str = "spiffe://mycompany.com/ns/spire/sa/spire-agent";

/// The seed's first command, verbatim.
const SEED_CREATE: &[&str] = &[
    "entry",
    "create",
    "-spiffeID",
    "spiffe://mycompany.com/ns/prod/sa/payment-service",
    "-parentID",
    "spiffe://mycompany.com/ns/spire/sa/spire-agent",
    "-selector",
    "k8s:ns:prod",
    "-selector",
    "k8s:sa:payment-sa",
    "-selector",
    "k8s:pod-label:app:payment-service",
    "-ttl",
    "3600",
];

/// The block SPIRE v1.15 prints for the seed's entry.
fn seed_block(id: &str) -> String {
    format!(
        "Entry ID                : {id}\n\
         SPIFFE ID               : spiffe://mycompany.com/ns/prod/sa/payment-service\n\
         Parent ID               : spiffe://mycompany.com/ns/spire/sa/spire-agent\n\
         Revision                : 0\n\
         X509-SVID TTL           : 3600\n\
         JWT-SVID TTL            : default\n\
         Selector                : k8s:ns:prod\n\
         Selector                : k8s:pod-label:app:payment-service\n\
         Selector                : k8s:sa:payment-sa\n\
         \n"
    )
}

/// The entry ID in a printed block.
fn entry_id(block: &str) -> String {
    block
        .lines()
        .find_map(|l| l.strip_prefix("Entry ID                : "))
        .unwrap_or_else(|| panic!("no entry ID in {block:?}"))
        .to_owned()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The seed's two commands, verbatim (the socket comes from the environment), and SPIRE's
/// exact output.
fn seed_commands(server: &Server) {
    let created = cli_env(Some(&server.socket), SEED_CREATE, None);
    let out = created.ok();
    let id = entry_id(out);
    assert!(is_uuid(&id), "{id}");
    assert_eq!(out, seed_block(&id));
    let shown = cli_env(Some(&server.socket), &["entry", "show"], None);
    assert_eq!(shown.ok(), format!("Found 1 entry\n{}", seed_block(&id)));
    assert_eq!(shown.stderr, "");
}

#[test]
fn seed_commands_on_sqlite() {
    let server = Server::start(TD, None);
    seed_commands(&server);
}

#[test]
fn seed_commands_on_postgres() {
    let db = common::pg::TestDb::create();
    let server = Server::start(TD, Some(&db.url));
    seed_commands(&server);
    assert_eq!(server.entry_count(), 1);
}

#[test]
fn bad_input_is_one_line_and_changes_nothing() {
    let server = Server::start(TD, None);
    let base = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut v = vec!["entry", "create"];
        v.extend_from_slice(extra);
        v
    };
    assert!(server.cli(SEED_CREATE).code == 0);
    assert_eq!(server.entry_count(), 1);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            base(&[
                "-spiffeID",
                "mycompany.com/x",
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
            ]),
            "Error: invalid SPIFFE ID \"mycompany.com/x\": SPIFFE ID must start with the scheme `spiffe://` (byte 0)",
        ),
        (
            base(&[
                "-spiffeID",
                "spiffe://mycompany.com/a//b",
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
            ]),
            "Error: invalid SPIFFE ID \"spiffe://mycompany.com/a//b\": path segment at byte 25 is empty",
        ),
        (
            base(&[
                "-spiffeID",
                "spiffe://other.org/x",
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
            ]),
            "Error: failed to create entry (code: InvalidArgument): failed to convert entry: invalid spiffe ID: \"spiffe://other.org/x\" is not a member of trust domain \"mycompany.com\"",
        ),
        (
            base(&[
                "-spiffeID",
                PAYMENT,
                "-parentID",
                "spiffe://other.org/agent",
                "-selector",
                "a:b",
            ]),
            "Error: failed to create entry (code: InvalidArgument): failed to convert entry: invalid parent ID: \"spiffe://other.org/agent\" is not a member of trust domain \"mycompany.com\"",
        ),
        (
            base(&["-spiffeID", PAYMENT, "-parentID", AGENT, "-selector", "k8s"]),
            "Error: selector \"k8s\" must be formatted as type:value",
        ),
        (
            base(&[
                "-spiffeID",
                PAYMENT,
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
                "-ttl",
                "-5",
            ]),
            "Error: a positive x509-SVID TTL is required",
        ),
        (
            base(&[
                "-spiffeID",
                PAYMENT,
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
                "-jwtSVIDTTL=-1",
            ]),
            "Error: a positive JWT-SVID TTL is required",
        ),
        (
            base(&[
                "-spiffeID",
                PAYMENT,
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
                "-x509SVIDTTL",
                "2147483648",
            ]),
            "Error: invalid value for X509 SVID TTL: 2147483648 does not fit in a 32-bit number of seconds (at most 2147483647)",
        ),
        (
            base(&[
                "-spiffeID",
                PAYMENT,
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
                "-ttl",
                "99999999999999999999",
            ]),
            "Error: invalid value \"99999999999999999999\" for flag -ttl: number too large to fit in target type",
        ),
        (
            base(&[
                "-spiffeID",
                PAYMENT,
                "-parentID",
                AGENT,
                "-selector",
                "a:b",
                "-colour",
                "red",
            ]),
            "Error: flag provided but not defined: -colour",
        ),
        (
            base(&["-spiffeID", PAYMENT, "-parentID", AGENT]),
            "Error: at least one selector is required",
        ),
        (
            base(&["-spiffeID", PAYMENT, "-selector", "a:b"]),
            "Error: a parent ID is required if the node flag is not set",
        ),
        (
            SEED_CREATE.to_vec(),
            "Error: failed to create entry (code: AlreadyExists): similar entry already exists: an entry with the same SPIFFE ID, parent ID and selectors is registered",
        ),
        (
            vec![
                "entry",
                "show",
                "-matchSelectorsOn",
                "all",
                "-selector",
                "a:b",
            ],
            "Error: match behavior \"all\" unknown (exact, subset, superset, any)",
        ),
    ];
    for (args, want) in cases {
        let r = server.cli(&args);
        assert_eq!(r.one_error_line(), want, "args: {args:?}");
        assert_eq!(server.entry_count(), 1, "args: {args:?}");
    }

    // No server: the socket does not exist.
    let missing = server.dir.path().join("nowhere.sock");
    let mut args = SEED_CREATE.to_vec();
    args.extend(["-socketPath", missing.to_str().unwrap()]);
    let r = cli_env(None, &args, None);
    let line = r.one_error_line();
    assert!(
        line.starts_with(&format!(
            "Error: could not reach the server at -socketPath {}: no such socket",
            missing.display()
        )),
        "{line}"
    );
    assert_eq!(server.entry_count(), 1);
}

#[test]
fn token_generate() {
    let server = Server::start(TD, None);
    let r = server.cli(&["token", "generate"]);
    let lines: Vec<&str> = r.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    let token = lines[0].strip_prefix("Token: ").expect("Token: line");
    assert!(is_uuid(token), "{token}");
    assert_eq!(lines[1], "Warning: Missing SPIFFE ID.");

    let r = server.cli(&[
        "token",
        "generate",
        "-spiffeID",
        "spiffe://mycompany.com/node/a",
        "-ttl",
        "60",
    ]);
    let token = r
        .ok()
        .strip_prefix("Token: ")
        .unwrap()
        .trim_end()
        .to_owned();
    assert!(is_uuid(&token));
    // The node alias entry SPIRE creates along with the token.
    let shown = server.cli(&[
        "entry",
        "show",
        "-spiffeID",
        "spiffe://mycompany.com/node/a",
    ]);
    assert!(
        shown.ok().contains(&format!(
            "Parent ID               : spiffe://mycompany.com/spire/agent/join_token/{token}\n"
        )),
        "{}",
        shown.stdout
    );
    let r = server.cli(&["token", "generate", "-output", "json"]);
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    assert!(is_uuid(v["value"].as_str().unwrap()));
    assert!(v["expires_at"].as_str().unwrap().parse::<i64>().is_ok());
}

#[test]
fn x509_mint_verifies_against_the_bundle() {
    let server = Server::start(TD, None);
    let out = server.dir.path().join("svid");
    let out_s = out.to_str().unwrap();
    let r = server.cli(&[
        "x509",
        "mint",
        "-spiffeID",
        PAYMENT,
        "-ttl",
        "1h",
        "-dns",
        "payment.prod.svc",
        "-write",
        out_s,
    ]);
    assert_eq!(
        r.ok(),
        format!(
            "X509-SVID written to {out_s}/svid.pem\nPrivate key written to {out_s}/key.pem\nRoot CAs written to {out_s}/bundle.pem\n"
        )
    );
    let mode = std::fs::metadata(out.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let bundle = server.cli(&["bundle", "show"]);
    let bundle_file = server.dir.path().join("bundle-show.pem");
    std::fs::write(&bundle_file, bundle.ok()).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("bundle.pem")).unwrap(),
        bundle.stdout
    );
    let verify = std::process::Command::new("openssl")
        .arg("verify")
        .arg("-CAfile")
        .arg(&bundle_file)
        .arg(out.join("svid.pem"))
        .output()
        .expect("openssl");
    assert!(
        verify.status.success(),
        "openssl verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(out.join("svid.pem"))
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("URI:{PAYMENT}")), "{text}");
    assert!(text.contains("DNS:payment.prod.svc"), "{text}");
    // The key matches the certificate.
    let svid = spiffe_core::X509Svid::parse_pem(
        &std::fs::read(out.join("svid.pem")).unwrap(),
        &std::fs::read(out.join("key.pem")).unwrap(),
    )
    .expect("svid.pem and key.pem form an SVID");
    assert_eq!(svid.spiffe_id().as_str(), PAYMENT);

    // Without -write: SPIRE's three sections on stdout.
    let r = server.cli(&["x509", "mint", "-spiffeID", PAYMENT]);
    let s = r.ok();
    assert!(
        s.starts_with("X509-SVID:\n-----BEGIN CERTIFICATE-----\n"),
        "{s}"
    );
    assert!(
        s.contains("\nPrivate key:\n-----BEGIN PRIVATE KEY-----\n"),
        "{s}"
    );
    assert!(
        s.contains("\nRoot CAs:\n-----BEGIN CERTIFICATE-----\n"),
        "{s}"
    );
    // Bad input writes nothing.
    let none = server.dir.path().join("none");
    let r = server.cli(&[
        "x509",
        "mint",
        "-spiffeID",
        "nope",
        "-write",
        none.to_str().unwrap(),
    ]);
    r.one_error_line();
    assert!(!none.exists());
    let r = server.cli(&["x509", "mint", "-spiffeID", PAYMENT, "-ttl", "5 days"]);
    assert!(
        r.one_error_line()
            .starts_with("Error: invalid value \"5 days\" for flag -ttl:")
    );
}

#[test]
fn jwt_mint() {
    let server = Server::start(TD, None);
    let r = server.cli(&[
        "jwt",
        "mint",
        "-spiffeID",
        PAYMENT,
        "-audience",
        "user-service",
        "-ttl",
        "5m",
    ]);
    let token = r.ok().trim_end().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");
    let file = server.dir.path().join("token.jwt");
    let r = server.cli(&[
        "jwt",
        "mint",
        "-spiffeID",
        PAYMENT,
        "-audience",
        "a",
        "-audience",
        "b",
        "-write",
        file.to_str().unwrap(),
    ]);
    assert_eq!(r.ok(), format!("JWT-SVID written to {}\n", file.display()));
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let jwt = std::fs::read_to_string(&file).unwrap();
    let parsed = spiffe_core::JwtSvid::parse_insecure(&jwt).unwrap();
    assert_eq!(parsed.spiffe_id().as_str(), PAYMENT);
    let r = server.cli(&["jwt", "mint", "-spiffeID", PAYMENT]);
    assert_eq!(
        r.one_error_line(),
        "Error: at least one audience must be specified"
    );
}

#[test]
fn bundle_show_formats_and_count() {
    let server = Server::start(TD, None);
    let pem = server.cli(&["bundle", "show"]);
    assert!(pem.ok().starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(pem.stdout.ends_with("-----END CERTIFICATE-----\n"));
    let doc = server.cli(&["bundle", "show", "-format", "spiffe"]);
    let text = doc.ok();
    assert!(
        text.starts_with("{\n    \"keys\": [\n        {\n"),
        "{text}"
    );
    let td = spiffe_core::TrustDomain::parse(TD).unwrap();
    let bundle = spiffe_core::Bundle::parse_json(td, text.as_bytes()).expect("a SPIFFE bundle");
    assert_eq!(bundle.x509().authorities().len(), 1);
    assert!(!bundle.jwt().is_empty());
    assert_eq!(server.cli(&["bundle", "count"]).ok(), "1 bundle\n");
    let json = server.cli(&["bundle", "show", "-output", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.ok()).unwrap();
    assert_eq!(v["trust_domain"], TD);
    assert!(v["sequence_number"].is_string());

    // A federated bundle: set from SPIFFE format, list, delete.
    let other = Server::start("domain.test", None);
    let other_doc = other.cli(&["bundle", "show", "-format", "spiffe"]);
    let path = server.dir.path().join("other.json");
    std::fs::write(&path, other_doc.ok()).unwrap();
    let r = server.cli(&[
        "bundle",
        "set",
        "-id",
        "spiffe://domain.test",
        "-path",
        path.to_str().unwrap(),
        "-format",
        "spiffe",
    ]);
    assert_eq!(r.ok(), "bundle set.\n");
    let list = server.cli(&["bundle", "list"]);
    let other_pem = other.cli(&["bundle", "show"]);
    assert_eq!(
        list.ok(),
        format!(
            "****************************************\n* domain.test\n****************************************\n{}",
            other_pem.ok()
        )
    );
    assert_eq!(server.cli(&["bundle", "count"]).ok(), "2 bundles\n");
    let r = server.cli(&["bundle", "delete", "-id", "spiffe://domain.test"]);
    assert_eq!(r.ok(), "bundle deleted.\n");
    assert_eq!(server.cli(&["bundle", "list"]).ok(), "");
    let r = server.cli(&["bundle", "show", "-format", "der"]);
    assert_eq!(
        r.one_error_line(),
        "Error: invalid format: \"der\" (pem, spiffe)"
    );
}

#[test]
fn entry_update_delete_count() {
    let server = Server::start(TD, None);
    let id = entry_id(server.cli(SEED_CREATE).ok());
    assert_eq!(
        server.cli(&["entry", "count"]).ok(),
        "1 registration entry\n"
    );

    let r = server.cli(&[
        "entry",
        "update",
        "-entryID",
        &id,
        "-spiffeID",
        PAYMENT,
        "-parentID",
        AGENT,
        "-selector",
        "k8s:ns:prod",
        "-x509SVIDTTL",
        "600",
        "-jwtSVIDTTL",
        "60",
        "-dns",
        "payment.prod.svc",
        "-hint",
        "payments",
        "-admin",
        "-entryExpiry",
        "1900000000",
    ]);
    assert_eq!(
        r.ok(),
        format!(
            "Entry ID                : {id}\n\
             SPIFFE ID               : {PAYMENT}\n\
             Parent ID               : {AGENT}\n\
             Revision                : 1\n\
             X509-SVID TTL           : 600\n\
             JWT-SVID TTL            : 60\n\
             Expiration time         : 2030-03-17 17:46:40 +0000 UTC\n\
             Selector                : k8s:ns:prod\n\
             DNS name                : payment.prod.svc\n\
             Admin                   : true\n\
             Hint                    : payments\n\n"
        )
    );
    // Filters.
    let second = server.cli(&[
        "entry",
        "create",
        "-spiffeID",
        "spiffe://mycompany.com/ns/prod/sa/user-service",
        "-parentID",
        AGENT,
        "-selector",
        "k8s:ns:prod",
        "-selector",
        "k8s:sa:user-sa",
    ]);
    let second_id = entry_id(second.ok());
    assert_eq!(
        server.cli(&["entry", "count"]).ok(),
        "2 registration entries\n"
    );
    assert_eq!(
        server
            .cli(&["entry", "count", "-selector", "k8s:sa:user-sa"])
            .ok(),
        "1 registration entry\n"
    );
    assert_eq!(
        server
            .cli(&[
                "entry",
                "count",
                "-selector",
                "k8s:ns:prod",
                "-matchSelectorsOn",
                "exact"
            ])
            .ok(),
        "1 registration entry\n"
    );
    let shown = server.cli(&["entry", "show", "-hint", "payments"]);
    assert!(
        shown
            .ok()
            .starts_with(&format!("Found 1 entry\nEntry ID                : {id}\n"))
    );
    let shown = server.cli(&["entry", "show", "-entryID", &second_id]);
    assert!(
        shown
            .ok()
            .contains("spiffe://mycompany.com/ns/prod/sa/user-service")
    );
    let shown = server.cli(&["entry", "show", "-entryID", "nope"]);
    assert_eq!(
        shown.one_error_line(),
        "Error: error fetching entry ID nope: rpc error: code = NotFound desc = entry not found"
    );

    // JSON output: compact, keys sorted, 64-bit integers as strings.
    let json = server.cli(&["entry", "show", "-spiffeID", PAYMENT, "-output", "json"]);
    let text = json.ok();
    assert_eq!(text.lines().count(), 1);
    assert!(
        text.starts_with("{\"entries\":[{\"admin\":true,\"created_at\":\""),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(v["entries"][0]["revision_number"], "1");
    assert_eq!(v["entries"][0]["x509_svid_ttl"], 600);
    assert_eq!(v["next_page_token"], "");

    // Delete: SPIRE's message, without a final newline.
    let r = server.cli(&["entry", "delete", "-entryID", &id]);
    assert_eq!(
        r.ok(),
        format!("Deleted entry with ID: {id}\n\n\nDeleted 1 entries successfully")
    );
    assert_eq!(server.entry_count(), 1);
    let r = server.cli(&["entry", "delete", "-entryID", &id]);
    assert_ne!(r.code, 0);
    assert_eq!(
        r.stderr,
        format!(
            "Failed to delete entry with ID {id} (code: NotFound, msg: \"entry not found\")\nError: failed to delete one or more entries\n"
        )
    );
    assert_eq!(r.stdout, "\n\nFailed to delete 1 entries");
    let r = server.cli(&["entry", "delete"]);
    assert_eq!(r.one_error_line(), "Error: an entry ID is required");
    // Batch delete from stdin.
    let r = server.cli_stdin(
        &["entry", "delete", "-file", "-"],
        Some(&format!("{{\"ids\":[\"{second_id}\"]}}")),
    );
    r.ok();
    assert_eq!(server.entry_count(), 0);
}

#[test]
fn data_file_import() {
    let server = Server::start(TD, None);
    let data = r#"{"entries":[
      {"spiffe_id":"spiffe://mycompany.com/Blog","parent_id":"spiffe://mycompany.com/spire/agent/join_token/TokenBlog",
       "selectors":[{"type":"unix","value":"uid:1111"}],"x509_svid_ttl":200,"jwt_svid_ttl":30,
       "entryExpiry":1552410266,"dns_names":["blog.example"],"hint":"internal"},
      {"entry_id":"database","spiffe_id":"spiffe://mycompany.com/Database",
       "parent_id":"spiffe://mycompany.com/spire/agent/join_token/TokenDatabase",
       "selectors":[{"type":"unix","value":"uid:1111"}],"admin":true}
    ]}"#;
    let path = server.dir.path().join("entries.json");
    std::fs::write(&path, data).unwrap();
    let r = server.cli(&["entry", "create", "-data", path.to_str().unwrap()]);
    let out = r.ok();
    assert_eq!(out.matches("Entry ID").count(), 2, "{out}");
    assert!(
        out.contains("Expiration time         : 2019-03-12 17:04:26 +0000 UTC\n"),
        "{out}"
    );
    assert!(
        out.contains("Entry ID                : database\n"),
        "{out}"
    );
    assert_eq!(server.entry_count(), 2);
    // The same file again: both are duplicates, reported as SPIRE does.
    let r = server.cli(&["entry", "create", "-data", path.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.starts_with(
        "Failed to create the following entry (code: AlreadyExists, msg: \"similar entry already exists\"):\nEntry ID                : (none)\n"
    ), "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with("\nError: failed to create one or more entries\n"),
        "{}",
        r.stderr
    );
    // From stdin.
    let one = r#"{"entries":[{"spiffe_id":"spiffe://mycompany.com/Web","parent_id":"spiffe://mycompany.com/spire/server","selectors":[{"type":"k8s","value":"ns:web"}]}]}"#;
    let r = server.cli_stdin(&["entry", "create", "-data", "-"], Some(one));
    assert!(
        r.ok()
            .contains("SPIFFE ID               : spiffe://mycompany.com/Web\n")
    );
    assert_eq!(server.entry_count(), 3);
    // A bad file: one line, nothing created.
    let r = server.cli_stdin(
        &["entry", "create", "-data", "-"],
        Some("{\"entries\":[{\"spiffe_id\":\"x\"}]}"),
    );
    assert_eq!(
        r.one_error_line(),
        "Error: -data -: entries[0]: invalid SPIFFE ID: \"x\": SPIFFE ID must start with the scheme `spiffe://` (byte 0)"
    );
    assert_eq!(server.entry_count(), 3);
}

#[test]
fn agents_and_health() {
    let server = Server::start(TD, None);
    assert_eq!(server.cli(&["healthcheck"]).ok(), "Server is healthy.\n");
    assert_eq!(
        server.cli(&["agent", "list"]).ok(),
        "No attested agents found\n"
    );
    assert_eq!(server.cli(&["agent", "count"]).ok(), "0 attested agents\n");
    assert_eq!(
        server.cli(&["agent", "list", "-output", "json"]).ok(),
        "{\"agents\":[],\"next_page_token\":\"\"}\n"
    );
    let r = server.cli(&[
        "agent",
        "show",
        "-spiffeID",
        "spiffe://mycompany.com/spire/agent/join_token/x",
    ]);
    assert_eq!(
        r.one_error_line(),
        "Error: rpc error: code = NotFound desc = agent not found"
    );
    let r = server.cli(&["agent", "evict"]);
    assert_eq!(r.one_error_line(), "Error: a SPIFFE ID is required");
    let r = cli_env(
        None,
        &["healthcheck", "-socketPath", "/nonexistent/api.sock"],
        None,
    );
    assert_eq!(
        r.one_error_line(),
        "Error: server is unhealthy: unable to determine health"
    );
}

#[test]
fn run_from_a_config_file_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntrust_domain = \"example.org\"\ndata_dir = \"{}\"\nbind_address = \"127.0.0.1\"\nbind_port = 0\nsocket_path = \"{}\"\nca_ttl = \"48h\"\ndefault_x509_svid_ttl = \"1h30m\"\nlog_format = \"json\"\n\n[ca_subject]\ncountry = [\"DE\"]\norganization = [\"Acme\"]\n",
            dir.path().join("data").display(),
            socket.display()
        ),
    )
    .unwrap();
    let args: Vec<String> = [
        "run",
        "-config",
        config.to_str().unwrap(),
        "-trustDomain",
        "flags.win",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let mut server = Server::spawn(dir, socket, &args);
    // The flag overrides the file's trust domain.
    let r = server.cli(&["bundle", "show", "-output", "json"]);
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    assert_eq!(v["trust_domain"], "flags.win");
    let pem = server.cli(&["bundle", "show"]);
    let subject = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-subject"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(pem.ok().as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let subject = String::from_utf8_lossy(&subject.stdout);
    assert!(
        subject.contains("C=DE") || subject.contains("C = DE"),
        "{subject}"
    );
    // JSON logs on stderr.
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("\"server started\"")),
        "{log}"
    );
    let status = server.stop().expect("exit status");
    assert!(status.success(), "{status}");
}

#[test]
fn run_refuses_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let r = cli_env(
        None,
        &["run", "-dataDir", dir.path().to_str().unwrap()],
        None,
    );
    assert_eq!(
        r.one_error_line(),
        "Error: trust_domain must be configured (-trustDomain, or trust_domain in the config file)"
    );
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "trust_domain = \"a.org\"\nca_ttl = \"1 day\"\n").unwrap();
    let r = cli_env(
        None,
        &[
            "run",
            "-config",
            config.to_str().unwrap(),
            "-dataDir",
            "/tmp/x",
        ],
        None,
    );
    assert!(
        r.one_error_line()
            .starts_with("Error: ca_ttl: unknown unit \" day\" in duration \"1 day\""),
        "{}",
        r.stderr
    );
    let r = cli_env(
        None,
        &[
            "run",
            "-trustDomain",
            "a.org",
            "-dataDir",
            "/tmp/x",
            "-logLevel",
            "loud",
        ],
        None,
    );
    assert!(
        r.one_error_line()
            .starts_with("Error: invalid log_level \"loud\"")
    );
}

#[test]
fn long_flags_and_go_flag_forms() {
    let server = Server::start(TD, None);
    // Idiomatic --long forms.
    let r = server.cli(&[
        "entry",
        "create",
        "--spiffe-id",
        PAYMENT,
        "--parent-id",
        AGENT,
        "--selector",
        "k8s:ns:prod",
        "--x509-svid-ttl",
        "60",
        "--dns",
        "a.example",
    ]);
    assert!(is_uuid(&entry_id(r.ok())));
    assert!(
        r.stdout.contains("X509-SVID TTL           : 60\n"),
        "{}",
        r.stdout
    );
    // Go's -flag=value and -bool=value forms, and a repeated single-value flag (the last wins).
    let r = server.cli(&[
        "entry",
        "create",
        "-spiffeID=spiffe://mycompany.com/b",
        "-parentID",
        AGENT,
        "-selector=k8s:ns:b",
        "-ttl=10",
        "-ttl=3600",
        "-admin=true",
        "-downstream=false",
        "-output",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(r.ok()).unwrap();
    let e = &v["results"][0]["entry"];
    assert_eq!(v["results"][0]["status"]["code"], 0);
    assert_eq!(e["x509_svid_ttl"], 3600);
    assert_eq!(e["admin"], true);
    assert_eq!(e["downstream"], false);
    assert_eq!(e["spiffe_id"]["path"], "/b");
    // show: entries sorted by SPIFFE ID (`/b` before `/ns/...`).
    let shown = server.cli(&["entry", "show"]);
    let ids: Vec<&str> = shown
        .ok()
        .lines()
        .filter_map(|l| l.strip_prefix("SPIFFE ID               : "))
        .collect();
    assert_eq!(ids, ["spiffe://mycompany.com/b", PAYMENT]);
    // A node entry is parented by the server.
    let r = server.cli(&[
        "entry",
        "create",
        "-node",
        "-spiffeID",
        "spiffe://mycompany.com/nodes/k8s",
        "-selector",
        "k8s_psat:cluster:demo",
    ]);
    assert!(
        r.ok()
            .contains("Parent ID               : spiffe://mycompany.com/spire/server\n")
    );
    let r = server.cli(&[
        "entry",
        "create",
        "-node",
        "-spiffeID",
        "spiffe://mycompany.com/n2",
        "-selector",
        "a:b",
        "-federatesWith",
        "spiffe://domain.test",
    ]);
    assert_eq!(r.one_error_line(), "Error: node entries can not federate");
    let r = server.cli(&[
        "entry",
        "create",
        "-spiffeID",
        "spiffe://mycompany.com/f",
        "-parentID",
        AGENT,
        "-selector",
        "a:b",
        "-federatesWith",
        "spiffe://domain.test",
    ]);
    assert_eq!(
        r.one_error_line(),
        "Error: failed to create entry (code: InvalidArgument): unable to find federated bundle \"spiffe://domain.test\""
    );
    let r = server.cli(&["entry", "update", "-spiffeID", PAYMENT]);
    assert_eq!(r.one_error_line(), "Error: entry ID is required");
    let r = server.cli(&[
        "entry",
        "update",
        "-entryID",
        "missing",
        "-spiffeID",
        PAYMENT,
        "-parentID",
        AGENT,
        "-selector",
        "a:b",
    ]);
    assert_eq!(
        r.one_error_line(),
        "Error: failed to update entry (code: NotFound): failed to update entry"
    );
    assert_eq!(server.entry_count(), 3);
}
