//! Items 3 (Workload API part) and 7: what one local user can make the agent hold.
//!
//! Before the fix the Workload API took any number of connections and of streams per
//! connection (tonic's default: no `SETTINGS_MAX_CONCURRENT_STREAMS`), a stream whose request
//! never came was held for ever, and every `FetchJWTSVID` with a new audience (of any size)
//! had the server sign and the agent keep the token: 400 calls with 45 KB audiences grew the
//! agent from 19 MB to 96 MB for good.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use spiffe_workload::WorkloadApiClient;
use tonic::Code;

use crate::common::{Deployment, READY, ServerOpts, TD, probe_as, rss_kib, runtime, wait_until};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// A literal header field without indexing, with a literal name.
fn literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    out.push(u8::try_from(name.len()).unwrap());
    out.extend_from_slice(name.as_bytes());
    out.push(u8::try_from(value.len()).unwrap());
    out.extend_from_slice(value.as_bytes());
}

/// The header block of a `FetchX509SVID` request (`:method POST`, `:scheme http` from the
/// static table).
fn fetch_x509_headers() -> Vec<u8> {
    let mut block = vec![0x83, 0x86];
    literal(&mut block, ":path", "/SpiffeWorkloadAPI/FetchX509SVID");
    literal(&mut block, ":authority", "localhost");
    literal(&mut block, "content-type", "application/grpc");
    literal(&mut block, "te", "trailers");
    literal(&mut block, "workload.spiffe.io", "true");
    block
}

/// Reads what the server sends until it closes the connection or `within` passes; returns
/// (RST_STREAM frames, whether a GOAWAY came, whether the server closed).
fn drain(stream: &mut UnixStream, within: Duration) -> (usize, bool, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut closed = false;
    while Instant::now() < deadline {
        match stream.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    let (mut resets, mut goaway, mut rest) = (0, false, buf.as_slice());
    while rest.len() >= 9 {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        if rest.len() < 9 + len {
            break;
        }
        match rest[3] {
            0x3 => resets += 1,
            0x7 => goaway = true,
            _ => {}
        }
        rest = &rest[9 + len..];
    }
    (resets, goaway, closed)
}

/// An entry for this test process's uid (root) and a client that sees it.
fn deployment_serving_this_uid(agent_config: Option<&str>) -> (Deployment, String) {
    let d = Deployment::start_with_agent_config(&ServerOpts::default(), agent_config);
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    let id = format!("spiffe://{TD}/limits/uid-{uid}");
    d.server
        .create_entry(&id, &[&format!("unix:uid:{uid}")], &[])
        .ok();
    let endpoint = d.agent.endpoint();
    wait_until(&format!("uid {uid} sees {id}"), READY, || {
        let r = probe_as(uid, gid, &["fetch", &endpoint, "1"]);
        if r.stdout.trim() == format!("x509 1 {id}") {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    });
    (d, id)
}

fn agent_healthy(d: &Deployment) {
    let r = crate::common::run_cmd(crate::common::command(
        &crate::common::agent_bin(),
        &[
            "healthcheck",
            "-socketPath",
            d.agent.socket.to_str().unwrap(),
        ],
    ));
    assert_eq!(r.code, 0, "agent unhealthy: {}", r.stderr);
}

#[test]
fn connections_and_streams_of_one_user_are_bounded() {
    let _serial = crate::serial();
    let (d, id) = deployment_serving_this_uid(None);
    let pid = d.agent.daemon.as_ref().unwrap().child.id();
    let before = rss_kib(pid);

    // 1. Connections: past 1024 of one uid, new ones are closed at once.
    let mut held = Vec::new();
    for _ in 0..1024 {
        held.push(UnixStream::connect(&d.agent.socket).unwrap());
    }
    // Let the agent accept them all before the extra ones arrive.
    std::thread::sleep(Duration::from_millis(500));
    let mut extra: Vec<UnixStream> = (0..16)
        .map(|_| UnixStream::connect(&d.agent.socket).unwrap())
        .collect();
    let closed = extra
        .iter_mut()
        .map(|s| drain(s, Duration::from_secs(2)).2)
        .filter(|closed| *closed)
        .count();
    assert_eq!(
        closed, 16,
        "connections past the per-uid limit were kept open"
    );
    drop(extra);
    drop(held);
    std::thread::sleep(Duration::from_millis(500));

    // 2. Streams: 20,000 requests opened on one connection, none ever sending its body.
    let mut conn = UnixStream::connect(&d.agent.socket).unwrap();
    let block = fetch_x509_headers();
    let mut out = PREFACE.to_vec();
    frame(&mut out, 0x4, 0, 0, &[]);
    for i in 0..20_000u32 {
        frame(&mut out, 0x1, 0x4, 2 * i + 1, &block);
    }
    let writer = {
        let mut conn = conn.try_clone().unwrap();
        std::thread::spawn(move || {
            let _ = conn.write_all(&out);
        })
    };
    let (resets, goaway, closed) = drain(&mut conn, Duration::from_secs(15));
    let _ = writer.join();
    let after = rss_kib(pid);
    eprintln!(
        "Workload API flood (1,040 connections, then 20,000 streams on one): agent RSS {before} KiB \
         -> {after} KiB; {resets} streams refused, GOAWAY {goaway}, closed {closed}"
    );
    assert!(
        resets > 0 || goaway,
        "no stream was refused: SETTINGS_MAX_CONCURRENT_STREAMS is not enforced"
    );
    assert!(
        after.saturating_sub(before) < 64 * 1024,
        "agent RSS grew from {before} KiB to {after} KiB"
    );
    drop(conn);

    // Still serving.
    agent_healthy(&d);
    let endpoint = d.agent.endpoint();
    let rt = runtime();
    rt.block_on(async {
        let client = WorkloadApiClient::connect(&endpoint).await.unwrap();
        let svid = client.fetch_x509_svid().await.unwrap();
        assert_eq!(svid.spiffe_id().as_str(), id);
    });
}

#[test]
fn jwt_audiences_are_bounded_and_signing_is_rate_limited() {
    let _serial = crate::serial();
    let (d, _) = deployment_serving_this_uid(Some("jwt_svid_cache_max_size = 2\n"));
    let pid = d.agent.daemon.as_ref().unwrap().child.id();
    let endpoint = d.agent.endpoint();
    let rt = runtime();
    rt.block_on(async {
        let client = WorkloadApiClient::connect(&endpoint).await.unwrap();

        // Audiences too large or too many: refused before anything is signed or kept.
        let before = rss_kib(pid);
        let huge = "a".repeat(45_000);
        for i in 0..400 {
            let aud = format!("{i}{huge}");
            let err = client.fetch_jwt_svids(&[aud], None).await.unwrap_err();
            assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
        }
        let after = rss_kib(pid);
        eprintln!("400 FetchJWTSVID with 45 KB audiences: agent RSS {before} KiB -> {after} KiB");
        assert!(
            after.saturating_sub(before) < 16 * 1024,
            "agent RSS grew from {before} KiB to {after} KiB"
        );
        let many: Vec<String> = (0..17).map(|i| format!("aud-{i}")).collect();
        let err = client.fetch_jwt_svids(&many, None).await.unwrap_err();
        assert_eq!(err.code(), Some(Code::InvalidArgument), "{err}");
        assert!(err.to_string().contains("at most 16"), "{err}");

        // The cache keeps the 2 most recently used tokens (jwt_svid_cache_max_size = 2).
        let token = |aud: &'static str| {
            let client = &client;
            async move {
                client.fetch_jwt_svids(&[aud], None).await.unwrap()[0]
                    .token()
                    .to_owned()
            }
        };
        let a = token("a").await;
        let b = token("b").await;
        assert_eq!(token("b").await, b, "a cached token is served again");
        let c = token("c").await;
        assert_eq!(token("c").await, c);
        assert_eq!(token("b").await, b, "b is still among the 2 most recent");
        assert_ne!(token("a").await, a, "a was evicted (least recently used)");

        // New tokens for one uid are rate limited (burst 100, 50 a second).
        let started = Instant::now();
        let mut limited = 0;
        for i in 0..300 {
            match client.fetch_jwt_svids(&[format!("burst-{i}")], None).await {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.code(), Some(Code::ResourceExhausted), "{e}");
                    assert!(e.to_string().contains("retry in"), "{e}");
                    limited += 1;
                }
            }
        }
        eprintln!(
            "300 new JWT-SVIDs asked by one uid in {:?}: {limited} refused with ResourceExhausted",
            started.elapsed()
        );
        assert!(limited > 0, "no JWT-SVID request was rate limited");
    });
    agent_healthy(&d);
}
