//! Shared test support: real SQLite files and real PostgreSQL databases.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

pub mod pg;
pub mod server;
