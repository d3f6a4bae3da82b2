//! Federation with the real SPIRE: our server and a `spire-server` each serve a SPIFFE bundle
//! endpoint (`https_spiffe`) and federate with the other (`federates_with`, configured in each
//! one's own file format with SPIRE's names). After the operator bootstrap SPIFFE_Federation.md
//! asks for (`bundle set` of the other's bundle), each fetches the other's bundle from its
//! endpoint, authenticating it by its server SPIFFE ID: SPIRE's client reads our endpoint, ours
//! reads SPIRE's.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use spiffe_testkit::spire::KeyManager;

use crate::common::{Server, ServerOpts, TD, free_port};
use crate::{Peers, SpireServer, eventually, serial};

const SPIRE_TD: &str = "spire.test";

/// A bundle document with `spiffe_refresh_hint` removed (so that a stored copy carrying the
/// endpoint's hint shows it was fetched, not bootstrapped).
fn without_hint(document: &str, path: &Path) {
    let mut v: serde_json::Value = serde_json::from_str(document).unwrap();
    v.as_object_mut().unwrap().remove("spiffe_refresh_hint");
    std::fs::write(path, serde_json::to_string(&v).unwrap()).unwrap();
}

/// The `x509_authorities` of a bundle in `-output json` form, as a set of base64 DER.
fn authorities(v: &serde_json::Value) -> BTreeSet<String> {
    v["x509_authorities"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["asn1"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `refresh_hint` of a bundle in `-output json` form (protojson writes int64 as a string).
fn hint(v: &serde_json::Value) -> String {
    v["refresh_hint"].to_string().trim_matches('"').to_owned()
}

fn json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{e}: {text}"))
}

#[test]
fn our_server_and_spire_fetch_each_others_bundle_endpoint() {
    let Some(peers) = Peers::find("our_server_and_spire_fetch_each_others_bundle_endpoint") else {
        return;
    };
    let _serial = serial();
    let tmp = tempfile::tempdir().unwrap();
    let our_endpoint = free_port();
    let spire_endpoint = free_port();
    let spire_port = free_port();
    let spire_dir = tmp.path().join("spire");

    // Our server and SPIRE (keys on disk, so its CA outlives the restart below) exchange
    // bundles by hand: the bootstrap of an https_spiffe relationship.
    let mut ours = Server::start(&tmp.path().join("ours"), &ServerOpts::default());
    let our_doc = ours
        .cli(&["bundle", "show", "-format", "spiffe"])
        .ok()
        .to_owned();
    let spire = SpireServer::start_with(
        &peers,
        &spire_dir,
        SPIRE_TD,
        KeyManager::Disk,
        "",
        Some(spire_port),
    );
    let ours_file = tmp.path().join("ours.json");
    without_hint(&our_doc, &ours_file);
    spire
        .cli(
            &peers,
            &[
                "bundle",
                "set",
                "-id",
                &format!("spiffe://{TD}"),
                "-path",
                ours_file.to_str().unwrap(),
                "-format",
                "spiffe",
            ],
        )
        .ok();
    let spire_doc = spire
        .cli(&peers, &["bundle", "show", "-format", "spiffe"])
        .ok()
        .to_owned();
    spire.stop();
    let spire_file = tmp.path().join("spire.json");
    without_hint(&spire_doc, &spire_file);
    ours.cli(&[
        "bundle",
        "set",
        "-id",
        &format!("spiffe://{SPIRE_TD}"),
        "-path",
        spire_file.to_str().unwrap(),
        "-format",
        "spiffe",
    ])
    .ok();

    // Ours: a bundle endpoint and a relationship with SPIRE's, in our TOML with SPIRE's names.
    ours.stop();
    let mut config = std::fs::read_to_string(&ours.config).unwrap();
    config.push_str(&format!(
        "[server.federation.bundle_endpoint]\n\
         address = \"127.0.0.1\"\n\
         port = {our_endpoint}\n\
         refresh_hint = \"77s\"\n\
         [server.federation.bundle_endpoint.profile.https_spiffe]\n\
         [server.federation.federates_with.\"{SPIRE_TD}\"]\n\
         bundle_endpoint_url = \"https://127.0.0.1:{spire_endpoint}\"\n\
         [server.federation.federates_with.\"{SPIRE_TD}\".bundle_endpoint_profile.https_spiffe]\n\
         endpoint_spiffe_id = \"spiffe://{SPIRE_TD}/spire/server\"\n"
    ));
    std::fs::write(&ours.config, config).unwrap();
    ours.restart();

    // SPIRE: the same, in its HCL.
    let block = format!(
        "    federation {{\n\
         \x20       bundle_endpoint {{\n\
         \x20           address = \"127.0.0.1\"\n\
         \x20           port = {spire_endpoint}\n\
         \x20           refresh_hint = \"2m\"\n\
         \x20           profile \"https_spiffe\" {{}}\n\
         \x20       }}\n\
         \x20       federates_with \"{TD}\" {{\n\
         \x20           bundle_endpoint_url = \"https://127.0.0.1:{our_endpoint}\"\n\
         \x20           bundle_endpoint_profile \"https_spiffe\" {{\n\
         \x20               endpoint_spiffe_id = \"spiffe://{TD}/spire/server\"\n\
         \x20           }}\n\
         \x20       }}\n\
         \x20   }}\n"
    );
    let spire = SpireServer::start_with(
        &peers,
        &spire_dir,
        SPIRE_TD,
        KeyManager::Disk,
        &block,
        Some(spire_port),
    );

    // SPIRE's client fetched our endpoint: its copy has our endpoint's hint and our roots.
    let our_bundle = json(ours.cli(&["bundle", "show", "-output", "json"]).ok()).unwrap();
    let theirs_of_ours = eventually(
        "SPIRE stores the bundle our endpoint serves",
        Duration::from_secs(60),
        || {
            let r = spire.cli(
                &peers,
                &[
                    "bundle",
                    "list",
                    "-id",
                    &format!("spiffe://{TD}"),
                    "-output",
                    "json",
                ],
            );
            let v = json(&r.stdout)?;
            if hint(&v) == "77" {
                Ok(v)
            } else {
                Err(format!("not fetched yet: {}{}", r.stdout, r.stderr))
            }
        },
    );
    assert_eq!(authorities(&theirs_of_ours), authorities(&our_bundle));
    assert!(!authorities(&our_bundle).is_empty());

    // Ours fetched SPIRE's endpoint, authenticating spiffe://spire.test/spire/server.
    let spire_bundle = json(
        spire
            .cli(&peers, &["bundle", "show", "-output", "json"])
            .ok(),
    )
    .unwrap();
    let ours_of_theirs = eventually(
        "our server stores the bundle SPIRE's endpoint serves",
        Duration::from_secs(60),
        || {
            let r = ours.cli(&[
                "bundle",
                "list",
                "-id",
                &format!("spiffe://{SPIRE_TD}"),
                "-output",
                "json",
            ]);
            let v = json(&r.stdout)?;
            if hint(&v) == "120" {
                Ok(v)
            } else {
                Err(format!("not fetched yet: {}{}", r.stdout, r.stderr))
            }
        },
    );
    assert_eq!(authorities(&ours_of_theirs), authorities(&spire_bundle));
    assert!(!authorities(&spire_bundle).is_empty());
    spire.stop();
    ours.stop();
}
