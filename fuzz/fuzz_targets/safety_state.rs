//! Fuzz target `safety_state`: the consensus safety state read from disk at start-up.
#![no_main]

use libfuzzer_sys::fuzz_target;

use covenant_consensus::SafetyState;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = SafetyState::decode(data) {
        assert_eq!(state.encode(), data);
    }
});
