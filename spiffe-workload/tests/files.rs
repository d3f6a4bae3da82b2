//! The file sink: three files, the key 0600, atomic rewrites on rotation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{TestProvider, TestServer, soon, td};
use spiffe_ca::testing::TestTrustDomain;
use spiffe_core::{X509Bundle, X509Svid};
use spiffe_workload::X509Source;
use spiffe_workload::files::{FileSink, write_x509_svid};

const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read_back(dir: &Path) -> (X509Svid, X509Bundle) {
    let svid = X509Svid::parse_pem(
        &std::fs::read(dir.join("svid.pem")).unwrap(),
        &std::fs::read(dir.join("key.pem")).unwrap(),
    )
    .unwrap();
    let bundle = X509Bundle::parse_pem(
        td("example.org"),
        &std::fs::read(dir.join("bundle.pem")).unwrap(),
    )
    .unwrap();
    (svid, bundle)
}

#[test]
fn writes_three_files_with_the_key_private() {
    let ca = TestTrustDomain::new("example.org").unwrap();
    let svid = ca.x509_svid(PAYMENT).unwrap();
    let set = ca.bundle_set();
    let bundle = set.get("example.org").unwrap().x509_shared();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("certs");

    write_x509_svid(&out, &svid, &bundle).unwrap();
    assert_eq!(mode(&out.join("key.pem")), 0o600);
    assert_eq!(mode(&out.join("svid.pem")), 0o644);
    assert_eq!(mode(&out.join("bundle.pem")), 0o644);
    let (read, read_bundle) = read_back(&out);
    assert_eq!(read.chain(), svid.chain());
    assert_eq!(read_bundle, *bundle);
    // No temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bundle.pem", "key.pem", "svid.pem"]);

    // A rewrite replaces the files (and keeps the key private even if it was widened).
    std::fs::set_permissions(out.join("key.pem"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let next = ca.x509_svid(PAYMENT).unwrap();
    write_x509_svid(&out, &next, &bundle).unwrap();
    assert_eq!(read_back(&out).0.chain(), next.chain());
    assert_eq!(mode(&out.join("key.pem")), 0o600);
}

#[tokio::test]
async fn follows_a_source_and_rewrites_on_rotation() {
    let provider = TestProvider::single(PAYMENT);
    let federated = Arc::new(TestTrustDomain::new("partner.org").unwrap());
    provider.federate(federated);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let source = X509Source::builder()
        .address(server.address())
        .timeout(Duration::from_secs(5))
        .build()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::new(dir.path());
    let svid_path = sink.svid_path();
    let task = sink.follow(&source);

    let wait_for_chain = |expected: Vec<u8>| {
        let dir = dir.path().to_path_buf();
        async move {
            soon(async {
                loop {
                    if let Ok(pem) = std::fs::read(dir.join("svid.pem"))
                        && let Ok(key) = std::fs::read(dir.join("key.pem"))
                        && let Ok(svid) = X509Svid::parse_pem(&pem, &key)
                        && svid.chain_der() == expected
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
        }
    };
    wait_for_chain(provider.svids()[0].chain_der()).await;
    assert_eq!(mode(&dir.path().join("key.pem")), 0o600);
    // Only the own trust domain's bundle by default.
    let bundle = std::fs::read_to_string(dir.path().join("bundle.pem")).unwrap();
    assert_eq!(
        bundle,
        provider.state().bundle.as_ref().unwrap().to_pem(),
        "bundle.pem holds the own trust domain's CAs"
    );

    provider.rotate();
    wait_for_chain(provider.svids()[0].chain_der()).await;
    assert!(svid_path.exists());

    drop(source);
    soon(task).await.unwrap();
}
