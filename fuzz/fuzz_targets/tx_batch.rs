//! Fuzz target `tx_batch`: a gossiped transaction batch and each transaction in it.
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_types::SignedTx;
use covenant_types::batch::{decode_tx_batch, encode_tx_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(items) = decode_tx_batch(data) {
        assert_eq!(encode_tx_batch(items.iter().copied()), data);
        for item in items {
            let _ = SignedTx::decode(item);
        }
    }
});
