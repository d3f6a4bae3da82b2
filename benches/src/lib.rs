//! Benchmarks and load drivers for the workspace. The criterion benches live under `benches/`;
//! each one measures a baseline (the physical floor or a peer crate) in the same run, so the
//! ratio between them is what to read, not the absolute times.

pub mod fixtures;
pub mod harness;
