//! Fuzz target `backup_manifest`: a backup's manifest.json.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = covenant_node::commands::backup::parse_manifest(data);
});
