//! Fuzz target `sync_request`: a sync request frame (status exchange and block requests).
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_network::protocol::{decode_request, encode_request};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = decode_request(data) {
        assert_eq!(encode_request(&request), data);
    }
});
