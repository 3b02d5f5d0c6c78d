//! Fuzz target `tx`: a transaction as gossip, the API and blocks carry it: decodes only canonical bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_types::SignedTx;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTx::decode(data) {
        // Canonical encoding (ADR 0001): what decodes re-encodes to the same bytes.
        assert_eq!(tx.encode(), data);
    }
});
