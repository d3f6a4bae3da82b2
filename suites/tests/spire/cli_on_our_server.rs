//! 2c: the real `spire-server` CLI against our server's admin socket and against a real SPIRE
//! server, command by command: the same exit code and the same output, once what differs by
//! nature (IDs, tokens, times, serials, keys) is masked.

use std::time::Duration;

use crate::common::{Server, ServerOpts, run_cmd};
use crate::{Peers, SpireAgent, SpireServer, eventually, field, serial};

const TD: &str = "mycompany.com";
const AGENT_ALIAS: &str = "spiffe://mycompany.com/ns/spire/sa/spire-agent";

/// Masks what differs between two servers by nature: UUIDs and join tokens, numbers of five
/// or more digits (times, serials, TTL-derived expiries), base64 runs (keys, tokens,
/// certificates), dates.
pub(crate) fn normalize(text: &str) -> String {
    let text = &mask_times(&mask_uuids(&mask_pem(text)));
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            out.push_str(&mask(word));
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '=' | '.') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// The base64 lines of every PEM block as one `<pem>` line.
fn mask_pem(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for line in text.split_inclusive('\n') {
        if line.starts_with("-----BEGIN ") {
            inside = true;
            out.push_str(line);
            out.push_str("<pem>\n");
        } else if line.starts_with("-----END ") {
            inside = false;
            out.push_str(line);
        } else if !inside {
            out.push_str(line);
        }
    }
    out
}

/// Every time of day (`19:33:37`) as `<time>`: the two servers attest their agents a second
/// or so apart, so expiries can differ in their last digits.
fn mask_times(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let is_time = b.len() - i >= 8
            && b[i..i + 8].iter().enumerate().all(|(j, c)| {
                if matches!(j, 2 | 5) {
                    *c == b':'
                } else {
                    c.is_ascii_digit()
                }
            });
        if is_time {
            out.push_str("<time>");
            i += 8;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

/// Every UUID-shaped run (entry IDs, join tokens, also inside agent IDs) as `<uuid>`.
fn mask_uuids(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let is_uuid = b.len() - i >= 36
            && b[i..i + 36].iter().enumerate().all(|(j, c)| {
                if matches!(j, 8 | 13 | 18 | 23) {
                    *c == b'-'
                } else {
                    c.is_ascii_hexdigit()
                }
            });
        if is_uuid {
            out.push_str("<uuid>");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8().max(1);
        }
    }
    out
}

fn mask(word: &str) -> String {
    let is_uuid = word.len() == 36
        && word.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if is_uuid {
        return "<uuid>".into();
    }
    if word.len() >= 5 && word.chars().all(|c| c.is_ascii_digit()) {
        return "<n>".into();
    }
    // A date (2026-12-03) or a time (11:54:25 is split on ':').
    if word.len() == 10 && word.chars().filter(|c| *c == '-').count() == 2 {
        return "<date>".into();
    }
    if word.len() >= 24 && !word.starts_with("spiffe") && !word.starts_with("//") {
        return "<b64>".into();
    }
    // Serial numbers in hex, key IDs.
    if word.len() >= 16 && word.chars().all(|c| c.is_ascii_alphanumeric()) {
        return "<id>".into();
    }
    word.to_owned()
}

/// Both servers, the same trust domain, one SPIRE agent attested to each.
struct Pair {
    ours: Server,
    spire: SpireServer,
    _agents: Vec<SpireAgent>,
    _tmp: tempfile::TempDir,
}

impl Pair {
    fn start(peers: &Peers) -> Pair {
        let tmp = tempfile::tempdir().unwrap();
        let ours = Server::start(
            &tmp.path().join("ours"),
            &ServerOpts {
                trust_domain: Some(TD),
                ..ServerOpts::default()
            },
        );
        let spire = SpireServer::start(peers, &tmp.path().join("spire"), TD);
        let mut pair = Pair {
            ours,
            spire,
            _agents: Vec::new(),
            _tmp: tmp,
        };
        // One SPIRE agent on each, so agent commands have something to show.
        for which in ["ours", "spire"] {
            let token_out = pair.run(
                peers,
                which,
                &["token", "generate", "-spiffeID", AGENT_ALIAS],
            );
            let token = field(&token_out.stdout, "Token").unwrap().to_owned();
            let (port, bundle) = if which == "ours" {
                (
                    pair.ours.port,
                    pair.run(peers, which, &["bundle", "show"]).stdout,
                )
            } else {
                (
                    pair.spire.port,
                    pair.run(peers, which, &["bundle", "show"]).stdout,
                )
            };
            let dir = pair._tmp.path().join(format!("agent-{which}"));
            pair._agents
                .push(SpireAgent::start(peers, &dir, TD, port, &bundle, &token));
        }
        pair
    }

    /// `spire-server <args>` against one of the two (`ours` or `spire`).
    fn run(&self, peers: &Peers, which: &str, args: &[&str]) -> crate::common::Run {
        if which == "ours" {
            let mut all = args.to_vec();
            all.extend(["-socketPath", self.ours.socket.to_str().unwrap()]);
            run_cmd(crate::common::command(&peers.spire_server, &all))
        } else {
            self.spire.cli(peers, args)
        }
    }

    /// Runs `args` against both and asserts the same exit code and the same masked output;
    /// returns both raw outputs (ours, SPIRE's).
    fn same(&self, peers: &Peers, args: &[&str]) -> (String, String) {
        let ours = self.run(peers, "ours", args);
        let spire = self.run(peers, "spire", args);
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
        (ours.stdout, spire.stdout)
    }
}

/// The entry ID in `entry create`/`entry show` output.
fn entry_id(text: &str) -> String {
    field(text, "Entry ID")
        .unwrap_or_else(|| panic!("no entry ID in {text}"))
        .to_owned()
}

#[test]
fn the_spire_cli_gets_the_same_answers_from_our_server() {
    let Some(peers) = Peers::find("the_spire_cli_gets_the_same_answers_from_our_server") else {
        return;
    };
    let _serial = serial();
    let pair = Pair::start(&peers);

    pair.same(&peers, &["healthcheck"]);

    // The seed's command, as SPIRE 1.13's CLI takes it (it removed `-ttl`: both refuse it the
    // same way, since the CLI refuses it before calling anything).
    let seed = [
        "entry",
        "create",
        "-spiffeID",
        "spiffe://mycompany.com/ns/prod/sa/payment-service",
        "-parentID",
        AGENT_ALIAS,
        "-selector",
        "k8s:ns:prod",
        "-selector",
        "k8s:sa:payment-sa",
        "-selector",
        "k8s:pod-label:app:payment-service",
    ];
    let mut with_ttl = seed.to_vec();
    with_ttl.extend(["-ttl", "3600"]);
    pair.same(&peers, &with_ttl);
    let mut create = seed.to_vec();
    create.extend(["-x509SVIDTTL", "3600"]);
    let (ours, spire) = pair.same(&peers, &create);
    let (our_id, spire_id) = (entry_id(&ours), entry_id(&spire));
    // The same entry again: both refuse it as a duplicate.
    pair.same(&peers, &create);

    for args in [
        &["entry", "show"][..],
        &["entry", "show", "-output", "json"],
        &[
            "entry",
            "show",
            "-spiffeID",
            "spiffe://mycompany.com/ns/prod/sa/payment-service",
        ],
        &["entry", "show", "-selector", "k8s:ns:prod"],
        &["entry", "show", "-parentID", AGENT_ALIAS, "-output", "json"],
        &["entry", "count"],
        &["entry", "count", "-output", "json"],
        &["bundle", "show"],
        &["bundle", "show", "-format", "spiffe"],
        &["bundle", "show", "-output", "json"],
        &["agent", "count"],
        &["agent", "list"],
        &["agent", "list", "-output", "json"],
    ] {
        pair.same(&peers, args);
    }

    // Our CLI and SPIRE's, both against our server: `-output json` byte for byte (our printer
    // is the protojson pbjson generates, nulls dropped and keys sorted as SPIRE's printer does).
    for args in [
        &["entry", "show", "-output", "json"][..],
        &["entry", "show", "-parentID", AGENT_ALIAS, "-output", "json"],
        &["entry", "count", "-output", "json"],
        &["bundle", "show", "-output", "json"],
        &["bundle", "list", "-output", "json"],
        &["agent", "list", "-output", "json"],
        &["agent", "count", "-output", "json"],
    ] {
        let our_cli = pair.ours.cli(args);
        let spire_cli = pair.run(&peers, "ours", args);
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

    // Per-server IDs: the same command shape on each side, compared the same way.
    let both = |f: &dyn Fn(&str) -> Vec<String>| {
        let (o, s) = (f("ours"), f("spire"));
        let (o, s): (Vec<&str>, Vec<&str>) = (
            o.iter().map(String::as_str).collect(),
            s.iter().map(String::as_str).collect(),
        );
        let ours = pair.run(&peers, "ours", &o);
        let spire = pair.run(&peers, "spire", &s);
        assert_eq!(
            (ours.code, normalize(&ours.stdout), normalize(&ours.stderr)),
            (
                spire.code,
                normalize(&spire.stdout),
                normalize(&spire.stderr)
            ),
            "`spire-server {}`\nours:\n{}{}\nSPIRE:\n{}{}",
            o.join(" "),
            ours.stdout,
            ours.stderr,
            spire.stdout,
            spire.stderr
        );
        (ours.stdout, spire.stdout)
    };
    let entry = |which: &str| {
        if which == "ours" {
            our_id.clone()
        } else {
            spire_id.clone()
        }
    };
    both(&|w| {
        ["entry", "show", "-entryID", &entry(w)]
            .map(str::to_owned)
            .to_vec()
    });
    both(&|w| {
        [
            "entry",
            "update",
            "-entryID",
            &entry(w),
            "-spiffeID",
            "spiffe://mycompany.com/ns/prod/sa/payment-service",
            "-parentID",
            AGENT_ALIAS,
            "-selector",
            "k8s:ns:prod",
            "-x509SVIDTTL",
            "7200",
            "-dns",
            "payment.prod.svc",
        ]
        .map(str::to_owned)
        .to_vec()
    });
    both(&|w| {
        ["entry", "show", "-entryID", &entry(w), "-output", "json"]
            .map(str::to_owned)
            .to_vec()
    });

    // Agents: show, evict (and the agent comes back on its own), ban.
    let agent_id = |which: &str| -> String {
        let list = pair.run(&peers, which, &["agent", "list"]);
        field(&list.stdout, "SPIFFE ID")
            .unwrap_or_else(|| panic!("no agent on {which}: {list:?}"))
            .to_owned()
    };
    let (our_agent, spire_agent) = (agent_id("ours"), agent_id("spire"));
    let agent = |w: &str| {
        if w == "ours" {
            our_agent.clone()
        } else {
            spire_agent.clone()
        }
    };
    both(&|w| {
        ["agent", "show", "-spiffeID", &agent(w)]
            .map(str::to_owned)
            .to_vec()
    });
    both(&|w| {
        ["agent", "show", "-spiffeID", &agent(w), "-output", "json"]
            .map(str::to_owned)
            .to_vec()
    });
    both(&|w| {
        ["agent", "ban", "-spiffeID", &agent(w)]
            .map(str::to_owned)
            .to_vec()
    });
    both(&|w| {
        ["agent", "evict", "-spiffeID", &agent(w)]
            .map(str::to_owned)
            .to_vec()
    });
    eventually("both agent lists empty", Duration::from_secs(10), || {
        let (o, s) = (
            pair.run(&peers, "ours", &["agent", "count"]).stdout,
            pair.run(&peers, "spire", &["agent", "count"]).stdout,
        );
        if o == s {
            Ok(())
        } else {
            Err(format!("{o} / {s}"))
        }
    });

    // Minting.
    for args in [
        &["x509", "mint", "-spiffeID", "spiffe://mycompany.com/minted"][..],
        &[
            "x509",
            "mint",
            "-spiffeID",
            "spiffe://mycompany.com/minted",
            "-output",
            "json",
        ],
        &[
            "jwt",
            "mint",
            "-spiffeID",
            "spiffe://mycompany.com/minted",
            "-audience",
            "a",
        ],
        &[
            "jwt",
            "mint",
            "-spiffeID",
            "spiffe://mycompany.com/minted",
            "-audience",
            "a",
            "-output",
            "json",
        ],
        &[
            "token",
            "generate",
            "-spiffeID",
            "spiffe://mycompany.com/other",
        ],
        &[
            "token",
            "generate",
            "-spiffeID",
            "spiffe://mycompany.com/other",
            "-output",
            "json",
        ],
    ] {
        pair.same(&peers, args);
    }

    // Deleting, then counting and deleting again (an error both ways).
    both(&|w| {
        ["entry", "delete", "-entryID", &entry(w)]
            .map(str::to_owned)
            .to_vec()
    });
    both(&|w| {
        ["entry", "delete", "-entryID", &entry(w)]
            .map(str::to_owned)
            .to_vec()
    });
    pair.same(&peers, &["entry", "count"]);
}
