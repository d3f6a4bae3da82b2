//! Item 2: HPACK amplification on the Workload API socket.
//!
//! Before the fix the agent's `:authority` rewriter decoded every header block with a dynamic
//! table of up to 64 KiB and re-encoded every field as a literal: one 64 KiB table entry
//! referenced 16 times by 25-byte HEADERS frames turned a 16 KiB read into 686 MB handed to h2,
//! and the agent grew from 14 MB to 687 MB (1.18 GB with 4 connections). Now a table larger
//! than the 4096 bytes h2 allows is refused at once, and within that size each header block is
//! copied through, so what h2 gets is at most 4 times what the client sent.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spiffe_workload::WorkloadApiClient;

use crate::common::{
    Deployment, READY, ServerOpts, TD, agent_bin, command, rss_kib, run_cmd, runtime, wait_until,
};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const SETTINGS: u8 = 0x4;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// How many 25-byte HEADERS frames follow the big entry on each connection (50 KB).
const SMALL_FRAMES: u32 = 2000;
/// The largest RSS growth allowed (KiB); the code before the fix grew by over 600 MB.
const MAX_GROWTH_KIB: u64 = 64 * 1024;

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len();
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK integer of `prefix` bits after the bits `flags` (RFC 7541 5.1).
fn integer(out: &mut Vec<u8>, value: usize, prefix: u8, flags: u8) {
    let mask = (1usize << prefix) - 1;
    if value < mask {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | mask as u8);
    let mut rest = value - mask;
    while rest >= 0x80 {
        out.push((rest & 0x7f) as u8 | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// The attack: a dynamic table size update to `table`, a table entry filling it (a literal
/// with incremental indexing, name `x-big`), then [`SMALL_FRAMES`] HEADERS frames of 25 bytes
/// that each reference that entry 16 times.
fn amplification_input(table: usize) -> Vec<u8> {
    let mut input = PREFACE.to_vec();
    frame(&mut input, SETTINGS, 0, 0, &[]);
    let mut block = Vec::new();
    integer(&mut block, table, 5, 0x20);
    block.extend_from_slice(&[0x40, 0x05]);
    block.extend_from_slice(b"x-big");
    let value = table - 32 - 5;
    integer(&mut block, value, 7, 0x00);
    block.resize(block.len() + value, b'v');
    // In frames of 16 KiB, the protocol's default maximum.
    let mut chunks = block.chunks(16 * 1024).peekable();
    let mut kind = HEADERS;
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        frame(&mut input, kind, flags, 1, chunk);
        kind = CONTINUATION;
    }
    for i in 0..SMALL_FRAMES {
        frame(
            &mut input,
            HEADERS,
            END_HEADERS | END_STREAM,
            2 * i + 3,
            &[0xbe; 16],
        );
    }
    input
}

/// VmRSS of `pid` in KiB, or `None` once the process is gone.
fn vm_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Sends `input` on a new connection to `socket` and reads until the server closes it or
/// `within` passes; returns (bytes sent, bytes read, whether the server closed).
fn attack(socket: &std::path::Path, input: &[u8], within: Duration) -> (usize, usize, bool) {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream.set_write_timeout(Some(within)).unwrap();
    let mut sent = 0;
    // The server may close while we write: that is its answer.
    for chunk in input.chunks(4096) {
        match stream.write_all(chunk) {
            Ok(()) => sent += chunk.len(),
            Err(_) => break,
        }
    }
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + within;
    let (mut read, mut closed) = (0, false);
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => read += n,
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
    (sent, read, closed)
}

#[test]
fn hpack_amplification_leaves_the_agent_small_and_serving() {
    let d = Deployment::start(&ServerOpts::default());
    let uid = nix::unistd::getuid().as_raw();
    let id = format!("spiffe://{TD}/hardening/hpack");
    d.server
        .create_entry(&id, &[&format!("unix:uid:{uid}")], &[])
        .ok();
    let pid = u32::try_from(d.agent.daemon.as_ref().unwrap().pid().as_raw()).unwrap();
    let socket = d.agent.socket.clone();

    let before = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = vm_rss(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    // As reported: a 64 KiB table and entry, on 4 connections at once. And the same within
    // the 4096 bytes h2 allows (each small frame then names 64 KiB of headers, which h2
    // refuses, but no longer after we multiplied it), on 4 more.
    let reported = Arc::new(amplification_input(64 * 1024));
    let within = Arc::new(amplification_input(4096));
    assert!(reported.len() > 16 * 1024 && within.len() > 16 * 1024);
    let started = Instant::now();
    let attackers: Vec<_> = (0..8)
        .map(|i| {
            let input = Arc::clone(if i % 2 == 0 { &reported } else { &within });
            let socket = socket.clone();
            std::thread::spawn(move || {
                (i % 2 == 0, attack(&socket, &input, Duration::from_secs(5)))
            })
        })
        .collect();
    for attacker in attackers {
        let (is_reported, (sent, read, closed)) = attacker.join().unwrap();
        eprintln!(
            "{} input: sent {sent} bytes, read {read}, closed by the agent: {closed}",
            if is_reported {
                "64 KiB table"
            } else {
                "4 KiB table"
            }
        );
        if is_reported {
            assert!(
                closed,
                "the agent kept a connection with a 64 KiB table open"
            );
        }
    }
    // Let the agent finish whatever it still holds.
    std::thread::sleep(Duration::from_millis(500));
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let after = rss_kib(pid);
    let peak = peak.load(Ordering::Relaxed).max(after);
    eprintln!(
        "agent RSS: {before} KiB before, {peak} KiB at peak, {after} KiB after ({} KiB growth, \
         attack took {:?})",
        peak.saturating_sub(before),
        started.elapsed()
    );
    assert!(
        peak.saturating_sub(before) < MAX_GROWTH_KIB,
        "the agent grew from {before} KiB to {peak} KiB"
    );

    // Still healthy, and still serving a real client.
    let health = run_cmd(command(
        &agent_bin(),
        &["healthcheck", "-socketPath", socket.to_str().unwrap()],
    ));
    assert_eq!(health.code, 0, "{health:?}\n{}", d.agent.log());
    let rt = runtime();
    let client = rt
        .block_on(WorkloadApiClient::connect(&d.agent.endpoint()))
        .unwrap();
    wait_until("an X.509-SVID after the attack", READY, || {
        let svid = rt
            .block_on(client.fetch_x509_svid())
            .map_err(|e| e.to_string())?;
        if svid.spiffe_id().to_string() == id {
            Ok(())
        } else {
            Err(format!("got {}", svid.spiffe_id()))
        }
    });
}
