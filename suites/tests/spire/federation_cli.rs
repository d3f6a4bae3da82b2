//! The real `spire-server` CLI's `federation` and `bundle` commands against our server's admin
//! socket and against a real SPIRE server, command by command: the same exit code and the same
//! output once what differs by nature (keys, serials, times) is masked
//! ([`crate::cli_on_our_server::normalize`]). Then our CLI and SPIRE's, both against our
//! server, print `-output json` byte for byte alike.

use crate::cli_on_our_server::normalize;
use crate::common::{Run, Server, ServerOpts, command, run_cmd};
use crate::{Peers, SpireServer, serial};

const TD: &str = "mycompany.com";

/// A CA certificate of `partner.org` (PEM), as a bundle to seed a relationship with.
fn partner_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.subject_alt_names = vec![rcgen::SanType::URI(
        rcgen::string::Ia5String::try_from("spiffe://partner.org").unwrap(),
    )];
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "partner.org CA");
    params.self_signed(&key).unwrap().pem()
}

struct Pair {
    ours: Server,
    spire: SpireServer,
    peers: Peers,
    tmp: tempfile::TempDir,
}

impl Pair {
    fn run(&self, which: &str, args: &[&str], stdin: Option<&str>) -> Run {
        let socket = if which == "ours" {
            self.ours.socket.to_str().unwrap()
        } else {
            self.spire.socket.to_str().unwrap()
        };
        let mut all = args.to_vec();
        all.extend(["-socketPath", socket]);
        let mut cmd = command(&self.peers.spire_server, &all);
        match stdin {
            None => run_cmd(cmd),
            Some(input) => {
                use std::io::Write;
                use std::process::Stdio;
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().unwrap();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
                let out = child.wait_with_output().unwrap();
                Run {
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                }
            }
        }
    }

    /// Runs `args` against both; asserts the same exit code and masked output.
    fn same_with(&self, args: &[&str], stdin: Option<&str>) -> (Run, Run) {
        let ours = self.run("ours", args, stdin);
        let spire = self.run("spire", args, stdin);
        assert_eq!(
            (ours.code, normalize(&ours.stdout), normalize(&ours.stderr)),
            (
                spire.code,
                normalize(&spire.stdout),
                normalize(&spire.stderr)
            ),
            "`spire-server {}`: our server's answer (left) differs from SPIRE's (right)\n\
             ours:\n{}{}\nSPIRE:\n{}{}",
            args.join(" "),
            ours.stdout,
            ours.stderr,
            spire.stdout,
            spire.stderr
        );
        (ours, spire)
    }

    fn same(&self, args: &[&str]) -> (Run, Run) {
        self.same_with(args, None)
    }

    /// Runs `args` against both; asserts both fail with exit code 1 and returns the stderr
    /// of each (ours, SPIRE's), for cases whose messages differ on purpose.
    fn both_fail(&self, args: &[&str]) -> (String, String) {
        let ours = self.run("ours", args, None);
        let spire = self.run("spire", args, None);
        assert_eq!((ours.code, spire.code), (1, 1), "{ours:?}\n{spire:?}");
        (ours.stderr, spire.stderr)
    }
}

#[test]
fn the_spire_cli_federation_and_bundle_commands_on_our_server() {
    let Some(peers) = Peers::find("the_spire_cli_federation_and_bundle_commands_on_our_server")
    else {
        return;
    };
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let ours = Server::start(
        &tmp.path().join("ours"),
        &ServerOpts {
            trust_domain: Some(TD),
            ..ServerOpts::default()
        },
    );
    let spire = SpireServer::start(&peers, &tmp.path().join("spire"), TD);
    let pair = Pair {
        ours,
        spire,
        peers,
        tmp,
    };
    let pem = pair.tmp.path().join("partner.pem");
    std::fs::write(&pem, partner_ca_pem()).unwrap();
    let pem = pem.to_str().unwrap();

    // Relationships.
    pair.same(&["federation", "list"]);
    pair.same(&["federation", "list", "-output", "json"]);
    // Created in name order: SPIRE lists relationships in creation order, ours in name order.
    let data = r#"{"federationRelationships":[{"trustDomain":"data.org","bundleEndpointURL":"https://data.example","bundleEndpointProfile":"https_web"}]}"#;
    pair.same_with(&["federation", "create", "-data", "-"], Some(data));
    pair.same(&[
        "federation",
        "create",
        "-trustDomain",
        "partner.org",
        "-bundleEndpointURL",
        "https://127.0.0.1:1/",
        "-bundleEndpointProfile",
        "https_spiffe",
        "-endpointSpiffeID",
        "spiffe://partner.org/spire/server",
        "-trustDomainBundlePath",
        pem,
        "-output",
        "json",
    ]);
    pair.same(&[
        "federation",
        "create",
        "-trustDomain",
        "web.org",
        "-bundleEndpointURL",
        "https://web.example/bundle",
        "-bundleEndpointProfile",
        "https_web",
    ]);
    for args in [
        &["federation", "list"][..],
        &["federation", "list", "-output", "json"],
        &["federation", "show", "-trustDomain", "partner.org"],
        &[
            "federation",
            "show",
            "-trustDomain",
            "partner.org",
            "-output",
            "json",
        ],
        &["federation", "show", "-trustDomain", "unknown.org"],
        &["federation", "show"],
        // Refused by the server the same way: the server's own trust domain, a URL that is not
        // https; refused by the CLI before calling: a missing URL, an unknown profile.
        &[
            "federation",
            "create",
            "-trustDomain",
            TD,
            "-bundleEndpointURL",
            "https://self.example",
            "-bundleEndpointProfile",
            "https_web",
        ],
        &[
            "federation",
            "create",
            "-trustDomain",
            "plain.org",
            "-bundleEndpointURL",
            "http://plain.example",
            "-bundleEndpointProfile",
            "https_web",
        ],
        &["federation", "create", "-trustDomain", "x.org"],
        &[
            "federation",
            "create",
            "-trustDomain",
            "x.org",
            "-bundleEndpointURL",
            "https://x.example",
            "-bundleEndpointProfile",
            "acme",
        ],
        &[
            "federation",
            "update",
            "-trustDomain",
            "web.org",
            "-bundleEndpointURL",
            "https://new.web.example/",
            "-bundleEndpointProfile",
            "https_spiffe",
            "-endpointSpiffeID",
            "spiffe://web.org/server",
        ],
        &[
            "federation",
            "update",
            "-trustDomain",
            "web.org",
            "-bundleEndpointURL",
            "https://new.web.example/",
            "-bundleEndpointProfile",
            "https_web",
            "-output",
            "json",
        ],
        &["federation", "show", "-trustDomain", "web.org"],
        &["federation", "refresh", "-id", "unknown.org"],
        &["federation", "refresh"],
        &["federation", "delete", "-id", "data.org"],
        &["federation", "delete", "-id", "data.org", "-output", "json"],
        &["federation", "delete"],
        &["federation", "list"],
    ] {
        pair.same(args);
    }

    // Different on purpose, each named: the two servers refuse these with their own words.
    // A duplicate: SPIRE answers Internal with its SQL driver's UNIQUE constraint error; ours
    // AlreadyExists (what SPIRE's API documents for it).
    let dup = [
        "federation",
        "create",
        "-trustDomain",
        "web.org",
        "-bundleEndpointURL",
        "https://web.example/bundle",
        "-bundleEndpointProfile",
        "https_web",
    ];
    let (o, s) = pair.both_fail(&dup);
    assert!(o.contains("(code: AlreadyExists, msg: \"failed to create federation relationship: federation relationship already exists\")"), "{o}");
    assert!(
        s.contains("(code: Internal, msg: \"failed to create federation relationship: "),
        "{s}"
    );
    // An update of a relationship that does not exist: SPIRE answers Internal (gorm's
    // "record not found"); ours NotFound.
    let missing = [
        "federation",
        "update",
        "-trustDomain",
        "nope.org",
        "-bundleEndpointURL",
        "https://nope.example",
        "-bundleEndpointProfile",
        "https_web",
    ];
    let (o, s) = pair.both_fail(&missing);
    assert!(o.contains("(code: NotFound, msg: \"failed to update federation relationship: federation relationship not found\")"), "{o}");
    assert!(
        s.contains("(code: Internal, msg: \"failed to update federation relationship: "),
        "{s}"
    );
    // A refresh whose fetch fails: the same first words; the reason is each client's.
    let (o, s) = pair.both_fail(&["federation", "refresh", "-id", "partner.org"]);
    let head = "Error: failed to refresh bundle: rpc error: code = Internal desc = failed to refresh bundle: ";
    assert!(o.starts_with(head), "{o}");
    assert!(s.starts_with(head), "{s}");

    // Federated bundles.
    for args in [
        &["bundle", "count"][..],
        &["bundle", "count", "-output", "json"],
        &["bundle", "list"],
        &["bundle", "list", "-output", "json"],
        &["bundle", "list", "-id", "spiffe://partner.org"],
        &[
            "bundle",
            "list",
            "-id",
            "spiffe://partner.org",
            "-format",
            "spiffe",
        ],
        &["bundle", "set", "-id", "spiffe://other.org", "-path", pem],
        &[
            "bundle",
            "set",
            "-id",
            "spiffe://other.org",
            "-path",
            pem,
            "-output",
            "json",
        ],
        &["bundle", "count"],
        &["bundle", "list", "-id", "spiffe://other.org"],
        &["bundle", "list", "-id", "spiffe://unknown.org"],
        &["bundle", "list", "-id", "spiffe://mycompany.com"],
        &[
            "bundle",
            "set",
            "-id",
            "spiffe://mycompany.com",
            "-path",
            pem,
        ],
        &[
            "bundle",
            "set",
            "-id",
            "spiffe://other.org",
            "-path",
            "/nonexistent.pem",
        ],
        &[
            "bundle",
            "set",
            "-id",
            "spiffe://other.org",
            "-path",
            pem,
            "-format",
            "spiffe",
        ],
        &["bundle", "set", "-path", pem],
        &["bundle", "delete", "-id", "spiffe://mycompany.com"],
        &["bundle", "delete"],
        &["bundle", "delete", "-id", "spiffe://other.org"],
        &["bundle", "delete", "-id", "spiffe://other.org"],
        &["bundle", "count"],
        // The relationship's bundle stays after the relationship is deleted (as in SPIRE).
        &["federation", "delete", "-id", "partner.org"],
        &["bundle", "list", "-id", "spiffe://partner.org"],
        &[
            "bundle",
            "delete",
            "-id",
            "spiffe://partner.org",
            "-output",
            "json",
        ],
        &["bundle", "count"],
    ] {
        pair.same(args);
    }

    // Our CLI and SPIRE's against our server: `-output json` byte for byte.
    let d = [
        "federation",
        "create",
        "-trustDomain",
        "json.org",
        "-bundleEndpointURL",
        "https://json.example",
        "-bundleEndpointProfile",
        "https_spiffe",
        "-endpointSpiffeID",
        "spiffe://json.org/s",
        "-output",
        "json",
    ];
    let del = ["federation", "delete", "-id", "json.org", "-output", "json"];
    // Each CLI's output of the same command on the same state, compared.
    let alike = |what: &str, ours: Run, spire: Run| {
        assert_eq!(
            (ours.code, &ours.stdout),
            (spire.code, &spire.stdout),
            "`{what}` against our server: our CLI (left) and SPIRE's (right) print differently\n\
             ours stderr: {}\nSPIRE stderr: {}",
            ours.stderr,
            spire.stderr
        );
    };
    let created = pair.ours.cli(&d);
    assert_eq!(created.code, 0, "{created:?}");
    // A duplicate: the same failed result either way.
    alike(
        "create (duplicate)",
        pair.ours.cli(&d),
        pair.run("ours", &d, None),
    );
    // Deleted by ours, then created and deleted by SPIRE's, then deleted again by both.
    let deleted = pair.ours.cli(&del);
    alike("create", created, pair.run("ours", &d, None));
    alike("delete", deleted, pair.run("ours", &del, None));
    alike(
        "delete (again)",
        pair.ours.cli(&del),
        pair.run("ours", &del, None),
    );
    assert_eq!(pair.ours.cli(&d).code, 0);
    for args in [
        &["federation", "list", "-output", "json"][..],
        &["federation", "list"],
        &[
            "federation",
            "show",
            "-trustDomain",
            "json.org",
            "-output",
            "json",
        ],
        &["federation", "show", "-trustDomain", "json.org"],
        &["federation", "show", "-trustDomain", "no.org"],
        &["federation", "refresh", "-id", "no.org"],
        &["bundle", "count", "-output", "json"],
        &["bundle", "list", "-output", "json"],
    ] {
        let our_cli = pair.ours.cli(args);
        let spire_cli = pair.run("ours", args, None);
        assert_eq!(
            (our_cli.code, &our_cli.stdout),
            (spire_cli.code, &spire_cli.stdout),
            "`spire-server {}` against our server: our CLI (left) and SPIRE's (right) print \
             differently\nours stderr: {}\nSPIRE stderr: {}",
            args.join(" "),
            our_cli.stderr,
            spire_cli.stderr
        );
    }
}
