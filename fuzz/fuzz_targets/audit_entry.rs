//! Fuzz target `audit_entry`: an audit log entry read from disk.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = covenant_storage::audit::decode_entry(data);
});
