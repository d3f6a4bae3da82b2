//! Fault and security suites for the spiffe-rs daemons; the tests live under `tests/`.
//!
//! They run `spiffe-server run` and `spiffe-agent run` as real processes (built on demand into
//! the shared target directory, or `$SPIFFE_SERVER_BIN` / `$SPIFFE_AGENT_BIN`), against real
//! SQLite files and the PostgreSQL of `./scripts/test` (127.0.0.1:5432, trust auth; override
//! with `$SPIFFE_TEST_POSTGRES`):
//!
//! ```sh
//! cargo test --all-features -p spiffe-suites                    # bounded form, under 3 minutes
//! SPIFFE_SUITES_LONG=1 cargo test --all-features -p spiffe-suites  # more rounds, longer outages
//! ```
//!
//! - `tests/fault.rs`: `kill -9` of the server during entry writes (SQLite, PostgreSQL); a
//!   private PostgreSQL crashed and restarted under a running server; a server outage longer
//!   than an SVID's half-life; two servers on one PostgreSQL with one killed; agent restarts.
//! - `tests/security.rs`: randomized cross-workload attestation with many users; a caller that
//!   exits (and whose PID is reused) while its connection is used; hostile gRPC callers of the
//!   server; forged JWTs at the agent; the admin socket against a non-root user.
//!
//! Tests that run workloads as other users (or steer PIDs) need root and print `SKIP` without
//! it. `SPIFFE_SUITES_SEED` replays the randomized test. The workload they run is the
//! `suite-probe` binary of this package.
