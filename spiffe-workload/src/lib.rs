//! The SPIFFE Workload API: server, client and sources.
#![forbid(unsafe_code)]
