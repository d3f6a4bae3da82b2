//! The server's hot path: "authorized entries of agent X" from the in-memory index.
//!
//! - `authorized_entries/direct`: 10,000 agents and 100,000 entries, 10 per agent;
//! - `authorized_entries/aliases`: 10,000 agents in 100 clusters, 90,000 entries parented by
//!   agents (9 each) and 10,000 under 100 node aliases (each alias matching the 100 agents of a
//!   cluster through their node selectors), so an agent is authorized for 109 entries;
//! - `authorized_entries/recursive`: the direct set, plus 2 levels of entries parented by the
//!   SPIFFE IDs of the agents' entries.
//!
//! The cost must follow the answer, not the table. SPIRE measures the same operation with
//! `BenchmarkGetAuthorizedEntriesInMemory` (pkg/server/authorizedentries; 50,000 agents behind a
//! node alias); spiffe/spire PR #6034 lists 205 us/op for it before that PR's speedups. Those
//! figures come from other machines and shapes: see BENCHMARKS.md.
//!
//! Run: `cargo bench -p spiffe-benches --bench server`
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use spiffe_benches::fixtures::{AGENTS, agent, build_index as build};
use spiffe_core::SpiffeId;

fn authorized_entries(c: &mut Criterion) {
    let mut g = c.benchmark_group("authorized_entries");
    for (name, index, expected) in [
        ("direct", build(10, false, 0), 10),
        ("aliases", build(9, true, 0), 109),
        ("recursive", build(4, false, 2), 12),
    ] {
        assert_eq!(
            index.authorized_entries(&agent(4242), 0).len(),
            expected,
            "{name}"
        );
        let total = index.entry_count();
        let agents: Vec<SpiffeId> = (0..AGENTS).step_by(97).map(agent).collect();
        let mut i = 0;
        g.bench_function(format!("{name}/{total}-entries"), |b| {
            b.iter(|| {
                i = (i + 1) % agents.len();
                black_box(index.authorized_entries(black_box(&agents[i]), 0).len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, authorized_entries);
criterion_main!(benches);
