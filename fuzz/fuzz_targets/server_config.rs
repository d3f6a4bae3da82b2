//! `spiffe-server run -config` files (TOML with SPIRE's server.conf keys, plugins, limits):
//! parsed and resolved into the server's configuration without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        spiffe_server_bin::fuzzing::config_file(text);
    }
});
