//! Fuzz target `consensus_message`: a consensus message from a peer.
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_consensus::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::decode(data) {
        assert_eq!(message.encode(), data);
        let _ = message.height();
    }
});
