//! 2a: a real `spire-agent` attests to our `spiffe-server` with a join token, syncs its
//! entries as SPIRE 1.13 agents do (`AttestAgent`, `SyncAuthorizedEntries`, `GetBundle`,
//! `BatchNewX509SVID`, `NewJWTSVID`, `RenewAgent`), and serves SVIDs for entries made with our
//! CLI to our client and to go-spiffe; it follows a new entry, a deletion and a CA rotation.

use std::time::Duration;

use spiffe_core::x509::CertificateDer;
use spiffe_core::{BundleSet, SpiffeId};
use spiffe_workload::X509Context;

use crate::common::{Server, ServerOpts, TD, runtime};
use crate::{Peers, SpireAgent, context, eventually, ids, serial};

fn roots(ctx: &X509Context) -> Vec<Vec<u8>> {
    ctx.bundles
        .iter()
        .flat_map(|b| b.x509().authorities().iter().map(|a| a.as_ref().to_vec()))
        .collect()
}

#[test]
fn a_spire_agent_on_our_server_serves_follows_and_rotates() {
    let Some(peers) = Peers::find("a_spire_agent_on_our_server_serves_follows_and_rotates") else {
        return;
    };
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    // A short CA lifetime: the CA is prepared after 45 s and activated after 75 s, and the
    // agent SVID (capped at the CA's life) is renewed on the way.
    let server = Server::start(
        &tmp.path().join("server"),
        &ServerOpts {
            ca_ttl: Some("90s"),
            ..ServerOpts::default()
        },
    );
    let token = server.token();
    let agent = SpireAgent::start(
        &peers,
        &tmp.path().join("spire-agent"),
        TD,
        server.port,
        &server.bundle_pem(),
        &token,
    );
    let uid = nix::unistd::geteuid().as_raw();
    let a = format!("spiffe://{TD}/spire-interop/a");
    let b = format!("spiffe://{TD}/spire-interop/b");
    server
        .create_entry(&a, &[&format!("unix:uid:{uid}")], &[])
        .ok();
    let rt = runtime();

    // Our client, through the SPIRE agent.
    let first = eventually(
        "the SPIRE agent serves entry a",
        Duration::from_secs(30),
        || {
            let ctx = context(&rt, &agent.socket)?;
            if ids(&ctx) == [a.clone()] {
                Ok(ctx)
            } else {
                Err(format!("{:?}", ids(&ctx)))
            }
        },
    );
    let first_roots = roots(&first);
    assert_eq!(first_roots.len(), 1);

    // go-spiffe, through the SPIRE agent: X509Source, chain checked against the bundle.
    let r = peers.interop(&agent.socket, &["x509"]);
    assert!(
        r.stdout.starts_with(&format!("svid {a} ")) && r.stdout.contains("verified"),
        "{r:?}"
    );
    // JWT-SVID from our server's keys, validated by go-spiffe with the JWT bundle, by the SPIRE
    // agent's ValidateJWTSVID, and by our client.
    let r = peers.interop(&agent.socket, &["jwt", "spire-interop"]);
    let token_line = r.stdout.lines().next().unwrap_or_default().to_owned();
    let jwt = token_line
        .strip_prefix(&format!("jwt {a} "))
        .unwrap_or_else(|| panic!("{r:?}"))
        .to_owned();
    let sock = agent.socket.to_str().unwrap();
    let v = peers.agent_cli(&[
        "api",
        "validate",
        "jwt",
        "-audience",
        "spire-interop",
        "-svid",
        &jwt,
        "-socketPath",
        sock,
    ]);
    assert!(v.stdout.contains("SVID is valid."), "{v:?}");
    let r = peers.interop(&agent.socket, &["validate", "spire-interop", &jwt]);
    assert_eq!(r.stdout.trim(), format!("valid {a}"), "{r:?}");

    // A new entry reaches the workload; a deleted one leaves it.
    server
        .create_entry(&b, &[&format!("unix:uid:{uid}")], &[])
        .ok();
    eventually(
        "the SPIRE agent serves a and b",
        Duration::from_secs(30),
        || {
            let ctx = context(&rt, &agent.socket)?;
            let got = ids(&ctx);
            if got == [a.clone(), b.clone()] {
                Ok(())
            } else {
                Err(format!("{got:?}"))
            }
        },
    );
    let show = server.cli(&["entry", "show", "-spiffeID", &a, "-output", "json"]);
    let json: serde_json::Value = serde_json::from_str(show.ok()).unwrap();
    let a_id = json["entries"][0]["id"].as_str().unwrap().to_owned();
    server.cli(&["entry", "delete", "-entryID", &a_id]).ok();
    eventually("the SPIRE agent drops a", Duration::from_secs(30), || {
        let ctx = context(&rt, &agent.socket)?;
        let got = ids(&ctx);
        if got == [b.clone()] {
            Ok(())
        } else {
            Err(format!("{got:?}"))
        }
    });

    // The CA rotates: the prepared CA reaches the bundle first, then SVIDs are signed by it.
    let rotated = eventually(
        "the SPIRE agent holds an SVID from the next CA",
        Duration::from_secs(150),
        || {
            let ctx = context(&rt, &agent.socket)?;
            let roots_now = roots(&ctx);
            let svid = ctx.svids.first().ok_or("no SVID")?;
            let issuer_is_new = roots_now
                .iter()
                .filter(|r| !first_roots.contains(r))
                .any(|r| {
                    let set: BundleSet = [spiffe_core::Bundle::from(
                        spiffe_core::X509Bundle::from_authorities(
                            svid.spiffe_id().trust_domain().clone(),
                            [CertificateDer::from(r.clone())],
                        )
                        .unwrap(),
                    )]
                    .into_iter()
                    .collect();
                    spiffe_core::x509::verify_chain(svid.chain(), &set).is_ok()
                });
            if roots_now.len() >= 2 && issuer_is_new {
                Ok(ctx)
            } else {
                Err(format!(
                    "{} roots, SVID from the new CA: {issuer_is_new}",
                    roots_now.len()
                ))
            }
        },
    );
    assert_eq!(ids(&rotated), std::slice::from_ref(&b));
    // The agent renewed its own SVID (capped at the first CA's life) on the way, and kept
    // serving.
    let log = agent.daemon.log();
    assert!(
        log.contains("Successfully rotated agent SVID"),
        "no agent SVID renewal in the SPIRE agent's log:\n{}",
        log.lines()
            .filter(|l| l.contains("otat") || l.contains("level=error") || l.contains("level=warn"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let r = peers.interop(&agent.socket, &["x509"]);
    assert!(r.stdout.starts_with(&format!("svid {b} ")), "{r:?}");
    let _ = SpiffeId::parse(&b).unwrap();
}
