//! Fuzz target `node_toml`: a node config file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = covenant_node::config::NodeConfig::from_toml_str(text, std::path::Path::new("/etc/covenant/node.toml"));
    }
});
