//! Fuzz target `key_file`: an encrypted key file's text (parsed, not opened: opening runs the KDF).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = covenant_node::keyfile::EncryptedKeyFile::parse(std::path::Path::new("/keys/node.key"), text);
    }
});
