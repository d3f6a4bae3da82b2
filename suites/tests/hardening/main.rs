//! The hardening suite: regression tests for the holes an outside review found (issue 11), each
//! against the daemons as real processes or the libraries over real sockets. Every test here
//! failed on the code before its fix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

/// Tests that fork processes with chosen PIDs, stop daemons or measure memory run one at a
/// time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

mod ca_and_files;
mod hpack;
mod pidfd;
mod server_limits;
mod sockets;
mod workload_limits;
