//! The binary: `render` on the seed's files (text and JSON), render failures in the exit code,
//! `crd` printing the checked-in CRDs, and flag errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    repo().join("spiffe-controller/tests/fixtures")
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spiffe-controller"))
        .args(args)
        .env_remove("POD_NAMESPACE")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn render_prints_the_seed_entry() {
    let cluster = fixtures().join("cluster");
    let files = [
        repo().join("deploy/examples/payment-service-identity.yaml"),
        cluster.join("namespaces.yaml"),
        cluster.join("nodes.yaml"),
        cluster.join("pods.yaml"),
    ];
    let mut args = vec![
        "render",
        "-trustDomain",
        "mycompany.com",
        "-clusterName",
        "demo",
    ];
    for f in &files {
        args.push("-f");
        args.push(f.to_str().unwrap());
    }
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("Found 1 entries\n"), "{stdout}");
    assert!(
        stdout.contains("SPIFFE ID               : spiffe://mycompany.com/ns/prod/sa/payment-sa\n"),
        "{stdout}"
    );
    assert!(stdout.contains(
        "Parent ID               : spiffe://mycompany.com/spire/agent/k8s_psat/demo/7d2c5f4a-1b3e-4c5d-8e9f-0a1b2c3d4e5f\n"
    ));
    assert!(
        stdout.contains(
            "Selector                : k8s:pod-uid:0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0\n"
        )
    );
    assert!(stdout.contains("Pod                     : prod/payment-service-7d9f8b6c5-x2k4q\n"));

    args.extend(["-output", "json"]);
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["spiffe_id"],
        "spiffe://mycompany.com/ns/prod/sa/payment-sa"
    );
    assert!(
        entries[0]["entry_id"]
            .as_str()
            .unwrap()
            .starts_with("spiffe-controller.")
    );
}

#[test]
fn render_with_the_example_workload_notes_what_it_assumes() {
    // The example Deployment is not a Pod: a hand-written pod of it, without UID or node.
    let dir = tempfile::tempdir().unwrap();
    let pod = dir.path().join("pod.yaml");
    std::fs::write(
        &pod,
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: payment-service\n  namespace: prod\n  labels:\n    app: payment-service\nspec:\n  serviceAccountName: payment-sa\n  containers:\n  - name: app\n    image: x\n",
    )
    .unwrap();
    let out = run(&[
        "render",
        "-trustDomain",
        "mycompany.com",
        "-clusterName",
        "demo",
        "-f",
        repo()
            .join("deploy/examples/payment-service-identity.yaml")
            .to_str()
            .unwrap(),
        "-f",
        repo()
            .join("deploy/examples/payment-service.yaml")
            .to_str()
            .unwrap(),
        "-f",
        pod.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("kind \"Deployment\" is not used"),
        "{stderr}"
    );
    assert!(stderr.contains("has no metadata.uid"), "{stderr}");
    assert!(text(&out.stdout).contains("spiffe://mycompany.com/ns/prod/sa/payment-sa"));
}

#[test]
fn render_failures_set_the_exit_code() {
    let cluster = fixtures().join("cluster");
    let out = run(&[
        "render",
        "--trust-domain",
        "mycompany.com",
        "--cluster-name",
        "demo",
        "-f",
        fixtures()
            .join("resources/broken-template.yaml")
            .to_str()
            .unwrap(),
        "-f",
        cluster.join("namespaces.yaml").to_str().unwrap(),
        "-f",
        cluster.join("nodes.yaml").to_str().unwrap(),
        "-f",
        cluster.join("pods.yaml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "error: ClusterSPIFFEID/broken-template: pod prod/user-service-5c4b3a291-m8n7p"
        ),
        "{stderr}"
    );
    assert!(text(&out.stdout).starts_with("Found 0 entries"));
}

#[test]
fn crd_prints_the_checked_in_definitions() {
    let out = run(&["crd"]);
    assert!(out.status.success());
    let on_disk = std::fs::read_to_string(repo().join("deploy/crds.yaml")).unwrap();
    assert_eq!(text(&out.stdout), on_disk);
}

#[test]
fn bad_flags_are_one_line_errors() {
    let out = run(&[
        "render",
        "-trustDomain",
        "not a domain",
        "-clusterName",
        "demo",
        "-f",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("Error: invalid -trustDomain"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    let out = run(&["render", "-trustDomain", "mycompany.com"]);
    assert_eq!(out.status.code(), Some(2), "missing -clusterName and -f");
}

#[test]
fn render_checks_cluster_federated_trust_domains() {
    let file = fixtures().join("resources/federated-trust-domains.yaml");
    let out = run(&[
        "render",
        "-trustDomain",
        "mycompany.com",
        "-clusterName",
        "demo",
        "-f",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "the refused one fails the run");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "note: ClusterFederatedTrustDomain/partner: federation relationship with partner.org \
             at https://partner.example:8443 (https_spiffe, endpoint spiffe://partner.org/spire/server)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "error: ClusterFederatedTrustDomain/plain-http: invalid bundleEndpointURL value \
             \"http://bundle.web.example/\": scheme must be https"
        ),
        "{stderr}"
    );
    assert!(text(&out.stdout).starts_with("Found 0 entries"));
}
