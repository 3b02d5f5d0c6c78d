//! Fuzz target `block`: a block in a sync answer.
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_types::Block;

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::decode(data) {
        assert_eq!(block.encode(), data);
        let _ = block.hash();
    }
});
