//! `spiffe-agent run -config` files (TOML with SPIRE's agent.conf keys, plugins and sinks):
//! parsed and resolved into the agent's configuration without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        spiffe_agent_bin::fuzzing::config_file(text);
    }
});
