//! Fuzz target `genesis_toml`: a genesis file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = covenant_rules::Genesis::from_toml_str(text);
    }
});
