//! 2e: our server and a SPIRE server that share nothing but a trust domain name do not accept
//! each other's SVIDs: each CA is its own root, and an SVID verifies only against the bundle of
//! the server that signed it, in a real TLS handshake too.

use std::process::{Command, Stdio};
use std::time::Duration;

use spiffe_core::x509::verify_chain;

use crate::common::{Deployment, ServerOpts, TD, example_bin, free_port, run_cmd};
use crate::{Peers, SpireAgent, SpireServer, context, eventually, field, serial};

#[test]
fn same_trust_domain_name_different_servers_trust_nothing_of_each_other() {
    let Some(peers) =
        Peers::find("same_trust_domain_name_different_servers_trust_nothing_of_each_other")
    else {
        return;
    };
    let _serial = serial();
    let uid = format!("unix:uid:{}", nix::unistd::geteuid().as_raw());

    // Ours: a server and our agent.
    let d = Deployment::start(&ServerOpts::default());
    let ours_id = format!("spiffe://{TD}/ours");
    d.server.create_entry(&ours_id, &[&uid], &[]).ok();

    // SPIRE's: a server and its agent, entry made with its CLI.
    let tmp = tempfile::tempdir().unwrap();
    let spire = SpireServer::start(&peers, &tmp.path().join("spire"), TD);
    let alias = format!("spiffe://{TD}/spire-alias");
    let token = spire.cli(&peers, &["token", "generate", "-spiffeID", &alias]);
    let token = field(token.ok(), "Token").unwrap().to_owned();
    let bundle = spire.cli(&peers, &["bundle", "show"]).ok().to_owned();
    let agent = SpireAgent::start(
        &peers,
        &tmp.path().join("agent"),
        TD,
        spire.port,
        &bundle,
        &token,
    );
    let theirs_id = format!("spiffe://{TD}/theirs");
    spire
        .cli(
            &peers,
            &[
                "entry",
                "create",
                "-spiffeID",
                &theirs_id,
                "-parentID",
                &alias,
                "-selector",
                &uid,
            ],
        )
        .ok();

    let rt = crate::common::runtime();
    let ours = eventually("our agent serves ours", Duration::from_secs(30), || {
        context(&rt, &d.agent.socket).and_then(|c| {
            if c.svids.is_empty() {
                Err("no SVID".into())
            } else {
                Ok(c)
            }
        })
    });
    let theirs = eventually(
        "the SPIRE agent serves theirs",
        Duration::from_secs(30),
        || {
            context(&rt, &agent.socket).and_then(|c| {
                if c.svids.is_empty() {
                    Err("no SVID".into())
                } else {
                    Ok(c)
                }
            })
        },
    );
    let (our_svid, their_svid) = (&ours.svids[0], &theirs.svids[0]);
    assert_eq!(our_svid.spiffe_id().as_str(), ours_id);
    assert_eq!(their_svid.spiffe_id().as_str(), theirs_id);
    // Each verifies against its own bundle and not against the other's.
    assert!(verify_chain(our_svid.chain(), &ours.bundles).is_ok());
    assert!(verify_chain(their_svid.chain(), &theirs.bundles).is_ok());
    let e = verify_chain(their_svid.chain(), &ours.bundles).unwrap_err();
    eprintln!("SPIRE's SVID against our bundle: {e}");
    let e = verify_chain(our_svid.chain(), &theirs.bundles).unwrap_err();
    eprintln!("our SVID against SPIRE's bundle: {e}");

    // In a handshake: our payment-service (our agent) calls a go-spiffe server on SPIRE's agent
    // that would admit it by ID; the handshake fails both ways.
    let port = free_port();
    let mut server = Command::new(&peers.interop)
        .args(["https-serve", &format!("127.0.0.1:{port}"), &ours_id])
        .env(
            "SPIFFE_ENDPOINT_SOCKET",
            format!("unix://{}", agent.socket.display()),
        )
        .env("SPIFFE_INTEROP_TIMEOUT", "60s")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let out = run_cmd({
        let mut c = Command::new(example_bin("payment-service"));
        c.args([
            "--url",
            &format!("https://127.0.0.1:{port}/users/42"),
            "--expect",
            &theirs_id,
        ])
        .env("SPIFFE_ENDPOINT_SOCKET", d.agent.endpoint());
        c
    });
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        !out.stdout.contains("200 OK") && out.stdout.contains("refused"),
        "a server of another CA with the same trust domain name was accepted: {out:?}"
    );
}
