//! Fuzz target `sync_response`: a sync answer frame (status and blocks).
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_network::protocol::{decode_response, encode_response};

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = decode_response(data) {
        assert_eq!(encode_response(&response), data);
    }
});
