//! Two trust domains on this machine, end to end: `./scripts/quickstart federation` run as a real
//! process (two servers with SPIFFE bundle endpoints, two agents, the example services), and its
//! output checked for each proof: the call across trust domains with both exact IDs, the
//! partner.org impostor and the mycompany.com intruder refused, and partner.org's CA rotation
//! followed by mycompany.com with no call failing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const PAYMENT: &str = "spiffe://mycompany.com/ns/prod/sa/payment-service";
const PARTNER_USER: &str = "spiffe://partner.org/ns/prod/sa/user-service";
const IMPOSTOR: &str = "spiffe://partner.org/ns/dev/sa/impostor";
const INTRUDER: &str = "spiffe://mycompany.com/ns/dev/sa/intruder";
/// The quickstart bounds each of its waits; this bounds the whole run (the CA rotation alone
/// takes about 90 s).
const WITHIN: Duration = Duration::from_secs(480);

#[test]
fn two_trust_domains_call_each_other_refuse_strangers_and_follow_a_ca_rotation() {
    let quickstart = common::example_bin("quickstart");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("quickstart.log");
    let file = std::fs::File::create(&log).unwrap();
    // Its own process group, so that a run that overstays is stopped with every process it
    // started.
    let mut child = common::command(&quickstart, &["federation"])
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let group = Pid::from_raw(i32::try_from(child.id()).unwrap());
    let deadline = Instant::now() + WITHIN;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = killpg(group, Signal::SIGKILL);
            let _ = child.wait();
            panic!(
                "the federation quickstart did not finish within {WITHIN:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "quickstart federation failed:\n{out}");

    // The call across trust domains: payment-service holds partner.org's bundle, user-service
    // answers to mycompany.com's payment-service by name.
    let call = out
        .lines()
        .find(|l| l.starts_with("call 1: ") && l.contains("200 OK"))
        .unwrap_or_else(|| panic!("no successful call:\n{out}"));
    assert!(
        call.contains("[trusting mycompany.com: 1 CA, partner.org: 1 CA]")
            && call.contains(&format!("-> {PARTNER_USER}: 200 OK"))
            && call.contains(&format!("\"caller\":\"{PAYMENT}\""))
            && call.contains(&format!("\"served_by\":\"{PARTNER_USER}\"")),
        "{call}"
    );
    // The partner.org impostor verifies (partner.org's bundle is held) and is refused by name.
    assert!(
        out.contains(&format!(
            "peer {IMPOSTOR} is not authorized: expected {PARTNER_USER}"
        )),
        "{out}"
    );
    // The mycompany.com intruder is refused by user-service, which logs its ID.
    assert!(
        out.lines().any(|l| l.starts_with("user-service log: ")
            && l.contains(&format!(
                "peer {INTRUDER} is not authorized: expected {PAYMENT}"
            ))),
        "{out}"
    );
    // partner.org's CA rotation: the grown bundle reached payment-service, user-service moved
    // to the new CA, and no call failed.
    assert!(
        out.contains("[trusting mycompany.com: 1 CA, partner.org: 2 CAs]"),
        "{out}"
    );
    let rotated = out
        .lines()
        .find(|l| l.starts_with("partner.org's CA went from "))
        .unwrap_or_else(|| panic!("no rotation summary:\n{out}"));
    assert!(rotated.contains("none failed"), "{rotated}");
    let cas: Vec<&str> = rotated
        .trim_start_matches("partner.org's CA went from ")
        .split(' ')
        .collect();
    assert_eq!(cas.get(1), Some(&"to"), "{rotated}");
    assert_ne!(cas.first(), cas.get(2), "{rotated}");
    assert!(out.contains("All steps behaved as expected."), "{out}");
}
