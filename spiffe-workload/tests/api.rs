//! The Workload API server and client over a real UNIX socket: the security header, caller
//! without identity, streams (first message, updates, only real changes, redaction), the JWT
//! profile, WIT, health, and the socket itself.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{Identity, SOON, TestProvider, TestServer, id, soon};
use futures::StreamExt;
use hyper_util::rt::TokioIo;
use spiffe_ca::testing::TestTrustDomain;
use spiffe_ca::{CaConfig, ManualClock};
use spiffe_core::TrustDomain;
use spiffe_proto::workload::spiffe_workload_api_client::SpiffeWorkloadApiClient;
use spiffe_proto::workload::{
    JwtBundlesRequest, WitBundlesRequest, WitsvidRequest, X509svidRequest,
};
use spiffe_workload::server::{ServeError, UdsEndpoint};
use spiffe_workload::{ClientError, WorkloadApiClient};

const PAYMENT: &str = "spiffe://example.org/ns/prod/sa/payment";

/// A channel on the server's socket.
async fn channel(server: &TestServer) -> tonic::transport::Channel {
    let path = server.path.clone();
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
        .unwrap()
}

/// The generated client, sending no security header.
async fn raw_client(server: &TestServer) -> SpiffeWorkloadApiClient<tonic::transport::Channel> {
    SpiffeWorkloadApiClient::new(channel(server).await)
}

type HeaderFn = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;

fn header(mut r: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    r.metadata_mut()
        .insert("workload.spiffe.io", "true".parse().unwrap());
    Ok(r)
}

/// The generated client with the security header, to see raw messages.
async fn client_raw_with_header(
    server: &TestServer,
) -> SpiffeWorkloadApiClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, HeaderFn>,
> {
    SpiffeWorkloadApiClient::with_interceptor(channel(server).await, header as HeaderFn)
}

#[tokio::test]
async fn request_without_security_header_is_invalid_argument() {
    let server = TestServer::start(TestProvider::single(PAYMENT)).await;
    let mut raw = raw_client(&server).await;
    let status = raw.fetch_x509svid(X509svidRequest {}).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("workload.spiffe.io"));
    let status = raw
        .fetch_jwt_bundles(JwtBundlesRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    // Header checked before the profile: even WIT answers InvalidArgument without it.
    let status = raw
        .fetch_witsvid(WitsvidRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);

    // With the header (our client), the same call works; the error is final for our retry rule.
    let client = WorkloadApiClient::connect(&server.address()).await.unwrap();
    client.fetch_x509_context().await.unwrap();
    let e = ClientError::Status {
        rpc: "FetchX509SVID",
        code: tonic::Code::InvalidArgument,
        message: String::new(),
    };
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn caller_without_identity_is_permission_denied() {
    let td = Arc::new(TestTrustDomain::new("example.org").unwrap());
    let provider = TestProvider::new(td, &[]);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let client = WorkloadApiClient::connect(&server.address()).await.unwrap();

    for e in [
        client.fetch_x509_context().await.map(drop).unwrap_err(),
        client.fetch_x509_bundles().await.map(drop).unwrap_err(),
        client.fetch_jwt_bundles().await.map(drop).unwrap_err(),
        client
            .fetch_jwt_svids(&["aud"], None)
            .await
            .map(drop)
            .unwrap_err(),
    ] {
        assert_eq!(e.code(), Some(tonic::Code::PermissionDenied), "{e}");
        assert!(e.is_retryable() && e.is_permission_denied());
        assert!(e.to_string().contains("pid="), "names the caller: {e}");
    }
}

#[tokio::test]
async fn fetch_x509_svid_sends_state_then_rotation_on_the_open_stream() {
    let provider = TestProvider::single(PAYMENT);
    let other = Arc::new(TestTrustDomain::new("partner.org").unwrap());
    provider.federate(Arc::clone(&other));
    let server = TestServer::start(Arc::clone(&provider)).await;
    let client = WorkloadApiClient::connect(&server.address()).await.unwrap();

    // Raw messages: the wire shape the standard asks for.
    let mut raw = client_raw_with_header(&server).await;
    let mut stream = raw
        .fetch_x509svid(X509svidRequest {})
        .await
        .unwrap()
        .into_inner();
    let first = soon(stream.message()).await.unwrap().unwrap();
    assert_eq!(first.svids.len(), 1);
    let svid = &first.svids[0];
    let expected = &provider.svids()[0];
    assert_eq!(svid.spiffe_id, PAYMENT);
    assert_eq!(svid.x509_svid, expected.chain_der());
    assert_eq!(svid.x509_svid_key, expected.private_key().pkcs8_der());
    assert_eq!(
        svid.bundle,
        provider.state().bundle.as_ref().unwrap().to_der()
    );
    let keys: Vec<&String> = first.federated_bundles.keys().collect();
    assert_eq!(keys, ["spiffe://partner.org"], "keyed by trust domain ID");

    // Typed, through our client.
    let mut typed = client.stream_x509_contexts().await.unwrap();
    let context = soon(typed.next()).await.unwrap().unwrap();
    assert_eq!(context.svids[0].spiffe_id().as_str(), PAYMENT);
    assert!(context.bundles.get("example.org").is_some());
    assert!(context.bundles.get("partner.org").is_some());

    // Rotation arrives on both open streams.
    provider.rotate();
    let rotated = provider.svids()[0].clone();
    let second = soon(stream.message()).await.unwrap().unwrap();
    assert_eq!(second.svids[0].x509_svid, rotated.chain_der());
    assert_ne!(second.svids[0].x509_svid, svid.x509_svid);
    let context = soon(typed.next()).await.unwrap().unwrap();
    assert_eq!(context.svids[0].chain(), rotated.chain());

    // An update that changes nothing is not sent.
    provider.publish((*provider.state()).clone());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), stream.message())
            .await
            .is_err(),
        "an identical state must not produce a message"
    );

    // Losing every SVID ends the stream with PermissionDenied (redaction).
    provider.set_identities(&[]);
    let status = soon(stream.message()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    let e = soon(typed.next()).await.unwrap().unwrap_err();
    assert!(e.is_permission_denied());
}

#[tokio::test]
async fn multiple_svids_keep_order_and_hints_and_drop_repeated_hints() {
    let td = Arc::new(TestTrustDomain::new("example.org").unwrap());
    let provider = TestProvider::new(
        td,
        &[
            Identity::from((PAYMENT, "internal")),
            Identity::from(("spiffe://example.org/b", "external")),
            Identity::from(("spiffe://example.org/c", "internal")),
        ],
    );
    let server = TestServer::start(provider).await;
    let client = WorkloadApiClient::connect(&server.address()).await.unwrap();
    let context = client.fetch_x509_context().await.unwrap();
    let got: Vec<(&str, Option<&str>)> = context
        .svids
        .iter()
        .map(|s| (s.spiffe_id().as_str(), s.hint()))
        .collect();
    assert_eq!(
        got,
        [
            (PAYMENT, Some("internal")),
            ("spiffe://example.org/b", Some("external"))
        ]
    );
}

#[tokio::test]
async fn bundle_streams_send_only_real_changes() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let client = WorkloadApiClient::connect(&server.address()).await.unwrap();

    let mut x509 = client.stream_x509_bundles().await.unwrap();
    let mut jwt = client.stream_jwt_bundles().await.unwrap();
    let first = soon(x509.next()).await.unwrap().unwrap();
    assert_eq!(first.len(), 1);
    assert!(!first.get("example.org").unwrap().x509().is_empty());
    let first_jwt = soon(jwt.next()).await.unwrap().unwrap();
    assert_eq!(first_jwt.get("example.org").unwrap().jwt().len(), 1);

    // An SVID rotation does not change bundles: neither stream sends.
    provider.rotate();
    let quiet = Duration::from_millis(200);
    assert!(tokio::time::timeout(quiet, x509.next()).await.is_err());
    assert!(tokio::time::timeout(quiet, jwt.next()).await.is_err());

    // Federation changes both.
    provider.federate(Arc::new(TestTrustDomain::new("partner.org").unwrap()));
    let second = soon(x509.next()).await.unwrap().unwrap();
    assert_eq!(
        second
            .trust_domains()
            .map(TrustDomain::name)
            .collect::<Vec<_>>(),
        ["example.org", "partner.org"]
    );
    let second_jwt = soon(jwt.next()).await.unwrap().unwrap();
    assert_eq!(second_jwt.len(), 2);
}

#[tokio::test]
async fn jwt_bundles_are_jwks_keyed_by_trust_domain_id() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let mut raw = client_raw_with_header(&server).await;
    let message = raw
        .fetch_jwt_bundles(JwtBundlesRequest {})
        .await
        .unwrap()
        .into_inner()
        .message()
        .await
        .unwrap()
        .unwrap();
    let jwks = &message.bundles["spiffe://example.org"];
    let doc: serde_json::Value = serde_json::from_slice(jwks).unwrap();
    let keys = doc["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0]["kid"].is_string());
    assert_eq!(keys[0]["kty"], "EC");
}

fn unix_now() -> SystemTime {
    SystemTime::now()
}

#[tokio::test]
async fn jwt_svids_are_fetched_and_validated() {
    let provider = TestProvider::single(PAYMENT);
    let server = TestServer::start(Arc::clone(&provider)).await;
    let client = WorkloadApiClient::connect(&server.address()).await.unwrap();

    // Fetch: audience required; the token is for the caller's identity and audience.
    let e = client.fetch_jwt_svids::<&str>(&[], None).await.unwrap_err();
    assert!(matches!(e, ClientError::InvalidRequest(_)), "{e}");
    let mut raw = client_raw_with_header(&server).await;
    let status = raw
        .fetch_jwtsvid(spiffe_proto::workload::JwtsvidRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("audience"));

    let svid = client
        .fetch_jwt_svid(&["user-service"], None)
        .await
        .unwrap();
    assert_eq!(svid.spiffe_id().as_str(), PAYMENT);
    assert_eq!(svid.audience(), ["user-service"]);
    let by_id = client
        .fetch_jwt_svids(&["a", "b"], Some(&id(PAYMENT)))
        .await
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(by_id[0].audience(), ["a", "b"]);
    let e = client
        .fetch_jwt_svids(&["a"], Some(&id("spiffe://example.org/not-mine")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(tonic::Code::PermissionDenied), "{e}");

    // Validate: accepted, with claims.
    let validated = client
        .validate_jwt_svid("user-service", svid.token())
        .await
        .unwrap();
    assert_eq!(validated.spiffe_id.as_str(), PAYMENT);
    assert_eq!(validated.claims["sub"], PAYMENT);
    assert_eq!(validated.claims["aud"], serde_json::json!(["user-service"]));
    assert!(validated.claims["exp"].is_i64());

    // Wrong audience.
    let e = client
        .validate_jwt_svid("other-service", svid.token())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(tonic::Code::InvalidArgument), "{e}");
    assert!(e.to_string().contains("audience"), "{e}");

    // Expired: minted by the same authority an hour ago.
    let clock = Arc::new(ManualClock::new(unix_now() - Duration::from_secs(3600)));
    let past = TestTrustDomain::with_config(
        CaConfig::new(TrustDomain::parse("example.org").unwrap()),
        clock,
    )
    .unwrap();
    // Its keys are another authority's; serve them so only expiry can refuse the token.
    let expired = past.jwt_svid(PAYMENT, &["user-service"]).unwrap();
    let mut state = (*provider.state()).clone();
    let past_set = past.bundle_set();
    let past_bundle = past_set.iter().next().unwrap();
    state
        .jwt_bundles
        .insert(past_bundle.trust_domain().clone(), past_bundle.jwt_shared());
    provider.publish(state);
    let e = client
        .validate_jwt_svid("user-service", expired.token())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(tonic::Code::InvalidArgument), "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
    provider.rotate();

    // Another trust domain, not federated: refused, naming it.
    let other = TestTrustDomain::new("evil.org").unwrap();
    let foreign = other
        .jwt_svid("spiffe://evil.org/ns/prod/sa/payment", &["user-service"])
        .unwrap();
    let e = client
        .validate_jwt_svid("user-service", foreign.token())
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(tonic::Code::InvalidArgument), "{e}");
    assert!(e.to_string().contains("evil.org"), "{e}");

    // Mandatory request fields.
    for (aud, token) in [("", svid.token()), ("user-service", "")] {
        let e = client.validate_jwt_svid(aud, token).await.unwrap_err();
        assert_eq!(e.code(), Some(tonic::Code::InvalidArgument), "{e}");
    }
}

#[tokio::test]
async fn wit_profile_is_unimplemented() {
    let server = TestServer::start(TestProvider::single(PAYMENT)).await;
    let mut raw = client_raw_with_header(&server).await;
    let status = raw
        .fetch_witsvid(WitsvidRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
    let status = raw
        .fetch_wit_bundles(WitBundlesRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn health_is_served_on_the_same_socket() {
    let server = TestServer::start(TestProvider::single(PAYMENT)).await;
    let channel = channel(&server).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "SpiffeWorkloadAPI"] {
        let response = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service:?}"
        );
    }
}

#[tokio::test]
async fn socket_is_0777_stale_sockets_are_replaced_and_other_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/agent.sock");
    let provider = TestProvider::single(PAYMENT);
    let mut server = TestServer::start_at(&path, Arc::clone(&provider)).await;
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o777);
    let dir_mode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o755);

    // A live socket is not stolen.
    let e = UdsEndpoint::bind(&path).await.unwrap_err();
    assert!(
        matches!(e, ServeError::Socket(spiffe_fs::FsError::InUse { .. })),
        "{e}"
    );

    // Shutdown removes the socket; a stale one (bound, nobody listening) is replaced.
    server.stop().await;
    assert!(!path.exists());
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let endpoint = UdsEndpoint::bind(&path).await.unwrap();
    drop(endpoint);

    // A regular file is never removed.
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, b"keep me").unwrap();
    let e = UdsEndpoint::bind(&file).await.unwrap_err();
    assert!(
        matches!(e, ServeError::Socket(spiffe_fs::FsError::NotASocket { .. })),
        "{e}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[tokio::test]
async fn shutdown_ends_open_streams_with_unavailable() {
    let provider = TestProvider::single(PAYMENT);
    let mut server = TestServer::start(Arc::clone(&provider)).await;
    let client = WorkloadApiClient::connect(&server.address()).await.unwrap();
    let mut stream = client.stream_x509_contexts().await.unwrap();
    soon(stream.next()).await.unwrap().unwrap();
    tokio::time::timeout(SOON, server.stop()).await.unwrap();
    let e = soon(stream.next()).await.unwrap().unwrap_err();
    assert_eq!(e.code(), Some(tonic::Code::Unavailable), "{e}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn endpoint_address_forms() {
    let server = TestServer::start(TestProvider::single(PAYMENT)).await;
    // A plain path and the unix:/path form both work.
    let plain = WorkloadApiClient::connect(server.path.to_str().unwrap())
        .await
        .unwrap();
    plain.fetch_x509_svid().await.unwrap();
    let single_slash = format!("unix:{}", server.path.display());
    WorkloadApiClient::connect(&single_slash)
        .await
        .unwrap()
        .fetch_x509_svid()
        .await
        .unwrap();
    let e = WorkloadApiClient::connect("unix://host/agent.sock")
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
}

/// What the server answered to a hand-made HTTP/2 request.
#[derive(Debug, PartialEq)]
enum H2Answer {
    Headers,
    Reset(u32),
}

/// Sends a gRPC health check whose `:authority` is what gRPC C-core sends on a UNIX socket (the
/// percent-encoded path), frame by frame, and reports how the server answers stream 1.
async fn request_with_socket_path_authority(path: &std::path::Path) -> H2Answer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
        out.push(0x00);
        out.push(u8::try_from(name.len()).unwrap());
        out.extend_from_slice(name.as_bytes());
        out.push(u8::try_from(value.len()).unwrap());
        out.extend_from_slice(value.as_bytes());
    }
    fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u8, payload: &[u8]) {
        let len = payload.len();
        out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
        out.extend_from_slice(&[0, 0, 0, stream]);
        out.extend_from_slice(payload);
    }
    let mut block = Vec::new();
    literal(&mut block, ":method", "POST");
    literal(&mut block, ":scheme", "http");
    literal(&mut block, ":path", "/grpc.health.v1.Health/Check");
    literal(&mut block, ":authority", "tmp%2Fdir%2Fagent.sock");
    literal(&mut block, "content-type", "application/grpc");
    literal(&mut block, "te", "trailers");
    let mut bytes = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut bytes, 0x4, 0, 0, &[]);
    frame(&mut bytes, 0x1, 0x4, 1, &block);
    frame(&mut bytes, 0x0, 0x1, 1, &[0, 0, 0, 0, 0]);

    let mut stream = tokio::net::UnixStream::connect(path).await.unwrap();
    stream.write_all(&bytes).await.unwrap();
    soon(async {
        loop {
            let mut header = [0u8; 9];
            stream.read_exact(&mut header).await.unwrap();
            let len =
                usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
            let mut payload = vec![0; len];
            stream.read_exact(&mut payload).await.unwrap();
            let stream_id = u32::from_be_bytes([header[5] & 0x7f, header[6], header[7], header[8]]);
            match (header[3], stream_id) {
                (0x1, 1) => return H2Answer::Headers,
                (0x3, 1) => {
                    return H2Answer::Reset(u32::from_be_bytes(payload[..4].try_into().unwrap()));
                }
                _ => {}
            }
        }
    })
    .await
}

#[tokio::test]
async fn grpc_core_style_authority_is_accepted() {
    // On by default: the request is served.
    let server = TestServer::start(TestProvider::single(PAYMENT)).await;
    assert_eq!(
        request_with_socket_path_authority(&server.path).await,
        H2Answer::Headers
    );

    // Without the fix h2 refuses it (PROTOCOL_ERROR), which is what those clients hit.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strict.sock");
    let endpoint = UdsEndpoint::bind(&path).await.unwrap().authority_fix(false);
    let service = spiffe_workload::server::WorkloadApiService::new(TestProvider::single(PAYMENT));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(endpoint.serve(service, async move {
        let _ = stopped.await;
    }));
    assert_eq!(
        request_with_socket_path_authority(&path).await,
        H2Answer::Reset(1)
    );
    stop.send(()).unwrap();
    soon(task).await.unwrap().unwrap();
}

/// The process a pidfd names, from `/proc/self/fdinfo` (`Pid:`; -1 once it is gone).
fn pidfd_pid(fd: &std::os::fd::OwnedFd) -> i64 {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn every_caller_is_pinned_by_a_pidfd_with_or_without_the_authority_rewriter() {
    // Before: the caller's process was captured only inside the `:authority` rewriter, so with
    // the rewriter off a provider got nothing to tie a request to the process that connected.
    for fix in [true, false] {
        let provider = TestProvider::single(PAYMENT);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.sock");
        let endpoint = UdsEndpoint::bind(&path).await.unwrap().authority_fix(fix);
        let service = spiffe_workload::server::WorkloadApiService::new(Arc::clone(&provider));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(endpoint.serve(service, async move {
            let _ = stopped.await;
        }));
        let client = WorkloadApiClient::connect(&format!("unix://{}", path.display()))
            .await
            .unwrap();
        client.fetch_x509_context().await.unwrap();
        let caller = provider.last_caller.lock().unwrap().clone().unwrap();
        assert_eq!(caller.pid, i32::try_from(std::process::id()).unwrap());
        let pidfd = caller.pidfd.expect("a pidfd for the caller");
        assert_eq!(
            pidfd_pid(&pidfd),
            i64::from(std::process::id()),
            "rewriter {fix}"
        );
        stop.send(()).unwrap();
        soon(task).await.unwrap().unwrap();
    }
}
