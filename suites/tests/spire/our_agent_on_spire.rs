//! 2b: our `spiffe-agent` attests to a real `spire-server` (SQLite; a token from
//! `spire-server token generate`, entries from `spire-server entry create`), syncs by polling
//! as SPIRE agents do (SPIRE's server does not push), and serves SVIDs to our client, to the
//! go-spiffe program and to `spire-agent api fetch x509`.

use std::time::Duration;

use crate::common::{Agent, TD, runtime};
use crate::{Peers, SpireServer, context, eventually, field, ids, serial};

#[test]
fn our_agent_on_a_spire_server_serves_spire_entries() {
    let Some(peers) = Peers::find("our_agent_on_a_spire_server_serves_spire_entries") else {
        return;
    };
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let spire = SpireServer::start(&peers, &tmp.path().join("spire"), TD);
    let alias = format!("spiffe://{TD}/our-agent");
    let token = spire.cli(&peers, &["token", "generate", "-spiffeID", &alias]);
    let token = field(token.ok(), "Token").unwrap().to_owned();
    let bundle = spire.cli(&peers, &["bundle", "show"]).ok().to_owned();
    let agent = Agent::start(
        &tmp.path().join("agent"),
        "127.0.0.1",
        spire.port,
        &bundle,
        &token,
    );
    assert!(
        agent.log().contains("polling every 5 s"),
        "our agent did not fall back to polling:\n{}",
        agent.log()
    );

    let uid = format!("unix:uid:{}", nix::unistd::geteuid().as_raw());
    let a = format!("spiffe://{TD}/from-spire/a");
    let b = format!("spiffe://{TD}/from-spire/b");
    let create = |id: &str| {
        spire
            .cli(
                &peers,
                &[
                    "entry",
                    "create",
                    "-spiffeID",
                    id,
                    "-parentID",
                    &alias,
                    "-selector",
                    &uid,
                ],
            )
            .ok()
            .to_owned()
    };
    create(&a);
    let rt = runtime();
    eventually("our agent serves a", Duration::from_secs(30), || {
        let got = ids(&context(&rt, &agent.socket)?);
        if got == [a.clone()] {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    let r = peers.interop(&agent.socket, &["x509"]);
    assert!(
        r.stdout.starts_with(&format!("svid {a} ")) && r.stdout.contains("verified"),
        "{r:?}"
    );
    let r = peers.interop(&agent.socket, &["jwt", "aud"]);
    assert!(r.stdout.starts_with(&format!("jwt {a} ")), "{r:?}");
    let sock = agent.socket.to_str().unwrap();
    let r = peers.agent_cli(&["api", "fetch", "x509", "-socketPath", sock]);
    assert!(r.stdout.contains(&format!("SPIFFE ID:\t\t{a}")), "{r:?}");

    // A new entry, then a deletion, follow within a polling round or two.
    let out = create(&b);
    eventually("our agent serves a and b", Duration::from_secs(30), || {
        let got = ids(&context(&rt, &agent.socket)?);
        if got == [a.clone(), b.clone()] {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    let b_id = field(&out, "Entry ID").unwrap().to_owned();
    spire
        .cli(&peers, &["entry", "delete", "-entryID", &b_id])
        .ok();
    eventually("our agent drops b", Duration::from_secs(30), || {
        let got = ids(&context(&rt, &agent.socket)?);
        if got == [a.clone()] {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });
    // SPIRE's server lists our agent like its own.
    let list = spire.cli(&peers, &["agent", "list"]);
    assert_eq!(
        field(list.ok(), "Attestation type"),
        Some("join_token"),
        "{list:?}"
    );
}
