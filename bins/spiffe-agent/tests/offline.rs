//! `spiffe-agent` without a server: validation errors of `run` and `validate`, flag errors,
//! and the error shapes of `api` and `healthcheck` when no agent listens.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{agent_cli, agent_command, run_cmd};

/// `run` flags that pass validation except for what a test leaves out.
const SERVER: &[&str] = &["-serverAddress", "127.0.0.1", "-serverPort", "1"];

fn run_with(extra: &[&str]) -> common::Run {
    let mut args = vec!["run"];
    args.extend_from_slice(SERVER);
    args.extend_from_slice(extra);
    agent_cli(&args)
}

#[test]
fn run_validation_errors_are_one_line_in_spire_order() {
    let line = run_with(&["-insecureBootstrap"])
        .one_error_line()
        .to_owned();
    assert_eq!(
        line,
        "Error: trust_domain must be configured (-trustDomain, or trust_domain in the config file)"
    );

    let r = agent_cli(&["run", "-trustDomain", "example.org"]);
    assert!(
        r.one_error_line()
            .starts_with("Error: server_address must be configured"),
        "{}",
        r.stderr
    );

    let r = agent_cli(&["run", "-trustDomain", "example.org", "-serverAddress", "h"]);
    assert!(
        r.one_error_line()
            .starts_with("Error: server_port must be configured"),
        "{}",
        r.stderr
    );

    let r = run_with(&["-trustDomain", "example.org"]);
    assert!(
        r.one_error_line().starts_with(
            "Error: trust_bundle_path must be configured unless insecure_bootstrap is set"
        ),
        "{}",
        r.stderr
    );

    let r = run_with(&[
        "-trustDomain",
        "example.org",
        "-insecureBootstrap",
        "-trustBundle",
        "/x.pem",
    ]);
    assert_eq!(
        r.one_error_line(),
        "Error: only one of insecure_bootstrap or trust_bundle_path can be specified, not both"
    );

    let r = run_with(&["-trustDomain", "Not A Domain", "-insecureBootstrap"]);
    assert!(
        r.one_error_line()
            .starts_with("Error: invalid trust_domain \"Not A Domain\": "),
        "{}",
        r.stderr
    );

    let r = run_with(&[
        "-trustDomain",
        "example.org",
        "-trustBundle",
        "/nonexistent/bundle.pem",
    ]);
    assert!(
        r.one_error_line()
            .starts_with("Error: could not load the trust bundle: open /nonexistent/bundle.pem: "),
        "{}",
        r.stderr
    );
}

#[test]
fn flag_errors_name_the_flag_as_typed() {
    let r = agent_cli(&["run", "-bogus"]);
    assert_eq!(
        r.one_error_line(),
        "Error: flag provided but not defined: -bogus"
    );
    let r = agent_cli(&["run", "-serverPort", "http"]);
    assert!(
        r.one_error_line()
            .starts_with("Error: invalid value \"http\" for flag -serverPort"),
        "{}",
        r.stderr
    );
    // api commands print raw, without `Error: `.
    let r = agent_cli(&["api", "fetch", "x509", "-nope"]);
    assert_eq!(r.one_error_line(), "flag provided but not defined: -nope");
}

#[test]
fn config_file_errors_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "trust_domian = \"example.org\"\n").unwrap();
    let r = agent_cli(&["run", "-config", bad.to_str().unwrap()]);
    let line = r.one_error_line();
    assert!(line.starts_with("Error: config file "), "{line}");
    assert!(line.contains("unknown field `trust_domian`"), "{line}");

    let good = dir.path().join("agent.toml");
    std::fs::write(
        &good,
        "[agent]\ntrust_domain = \"example.org\"\nserver_address = \"127.0.0.1\"\n\
         server_port = 8081\ninsecure_bootstrap = true\n",
    )
    .unwrap();
    let r = agent_cli(&["validate", "-config", good.to_str().unwrap()]);
    assert_eq!(r.ok(), "spiffe-agent configuration is valid.\n");

    // Flags win over the file.
    let r = agent_cli(&[
        "validate",
        "-config",
        good.to_str().unwrap(),
        "-trustBundle",
        "/x.pem",
    ]);
    assert_eq!(
        r.one_error_line(),
        "spiffe-agent configuration is invalid: only one of insecure_bootstrap or trust_bundle_path can be specified, not both"
    );
}

#[test]
fn api_errors_print_raw_without_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("missing.sock");
    let socket = socket.to_str().unwrap();

    let r = agent_cli(&["api", "fetch", "x509", "-socketPath", socket]);
    assert_eq!(
        r.one_error_line(),
        format!(
            "rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial unix {socket}: connect: no such file or directory\""
        )
    );
    // `api fetch` alone is `api fetch x509`.
    let r = agent_cli(&["api", "fetch", "-socketPath", socket]);
    assert!(
        r.one_error_line()
            .starts_with("rpc error: code = Unavailable"),
        "{}",
        r.stderr
    );

    let r = agent_cli(&["api", "fetch", "jwt", "-socketPath", socket]);
    assert_eq!(r.one_error_line(), "audience must be specified");
    let r = agent_cli(&[
        "api",
        "validate",
        "jwt",
        "-audience",
        "a",
        "-socketPath",
        socket,
    ]);
    assert_eq!(r.one_error_line(), "svid must be specified");
    let r = agent_cli(&[
        "api",
        "validate",
        "jwt",
        "-svid",
        "x",
        "-socketPath",
        socket,
    ]);
    assert_eq!(r.one_error_line(), "audience must be specified");

    let r = agent_cli(&["healthcheck", "-socketPath", socket]);
    assert_eq!(
        r.one_error_line(),
        "Agent is unhealthy: unable to determine health"
    );
    let r = agent_cli(&["healthcheck", "-verbose", "-socketPath", socket]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "Checking agent health...\n");
    assert!(
        r.stderr.starts_with("Failed to check health: rpc error: "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .ends_with("Agent is unhealthy: unable to determine health\n"),
        "{}",
        r.stderr
    );

    // SPIFFE_ENDPOINT_SOCKET is the fallback when -socketPath is not given.
    let mut cmd = agent_command(&["api", "fetch", "x509"]);
    cmd.env("SPIFFE_ENDPOINT_SOCKET", format!("unix://{socket}"));
    let r = run_cmd(cmd);
    assert!(
        r.one_error_line()
            .contains(&format!("dial unix {socket}: connect")),
        "{}",
        r.stderr
    );
}
