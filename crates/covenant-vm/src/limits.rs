//! Limits: the chain parameters a call is measured against ([`VmLimits`]) and the bounds compiled into
//! the runtime. The compiled bounds are part of the contract ABI (`docs/contract-abi.md`); changing one
//! changes which modules are admitted or how a call ends, so it is a change of consensus.

use covenant_rules::{ChainParams, PARAM_BOUNDS};
use covenant_types::limits as hard;

/// Largest linear memory a contract may declare or grow to, in 64 KiB pages (2 MiB).
pub const MEMORY_PAGES_MAX: u32 = 32;
/// Bytes in one WebAssembly page.
pub const PAGE_BYTES: u32 = 64 * 1024;
/// Most elements a contract's function table may hold.
pub const TABLE_ELEMENTS_MAX: u32 = 1024;
/// Most contract frames on the call stack at once: the called contract plus nested contract-to-contract
/// calls (COV-29).
pub const CALL_DEPTH_MAX: usize = 8;
/// Deepest WebAssembly recursion (function frames) within one contract frame.
pub const WASM_RECURSION_DEPTH_MAX: usize = 1_000;
/// Largest WebAssembly value stack of one contract frame, in bytes.
pub const WASM_STACK_BYTES_MAX: usize = 1_000_000;
/// Longest storage key, in bytes.
pub const STORAGE_KEY_BYTES_MAX: u32 = 256;
/// Longest storage value, in bytes.
pub const STORAGE_VALUE_BYTES_MAX: u32 = 16 * 1024;
/// Longest event payload, in bytes.
pub const EVENT_BYTES_MAX: u32 = 1024;
/// Most events one transaction (the whole call tree) may emit.
pub const EVENTS_PER_CALL_MAX: usize = 64;
/// Longest abort message kept, in bytes; a longer message is cut to this length.
pub const ABORT_MESSAGE_BYTES_MAX: u32 = 256;
/// Longest function name, in bytes (manifest and `call_contract`).
pub const FUNCTION_NAME_BYTES_MAX: usize = 64;
/// Most functions a manifest may list.
pub const FUNCTIONS_MAX: usize = 64;
/// Most grants one function's access policy may list.
pub const GRANTS_PER_FUNCTION_MAX: usize = 16;
/// Longest contract name in a manifest, in bytes.
pub const CONTRACT_NAME_BYTES_MAX: usize = 64;
/// Longest contract version in a manifest, in bytes.
pub const CONTRACT_VERSION_BYTES_MAX: usize = 32;
/// Largest encoded manifest, in bytes.
pub const MANIFEST_BYTES_MAX: usize = 32 * 1024;

// An admit-contract proposal carries code and manifest in one transaction.
const _: () = assert!(hard::CONTRACT_BYTES_MAX + MANIFEST_BYTES_MAX < hard::TX_BYTES_MAX);
// A stored value fits in the largest call input or output any chain may allow.
const _: () = assert!((STORAGE_VALUE_BYTES_MAX as usize) <= hard::CALL_INPUT_BYTES_MAX);
const _: () = assert!((ABORT_MESSAGE_BYTES_MAX as usize) <= hard::TEXT_BYTES_MAX);
const _: () = assert!((MEMORY_PAGES_MAX as u64) * (PAGE_BYTES as u64) <= u32::MAX as u64);

/// The chain parameters (COV-28, COV-29) a validation or a call is measured against. Built from the live
/// [`ChainParams`] with [`VmLimits::from_params`], so a governance change of a parameter applies from the
/// block after the one that executed it, like every other parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmLimits {
    /// Largest contract module, in bytes (`contract_bytes_max`).
    pub contract_bytes_max: u64,
    /// Largest call input, in bytes (`call_input_bytes_max`).
    pub call_input_bytes_max: u64,
    /// Largest call output, in bytes (`call_output_bytes_max`).
    pub call_output_bytes_max: u64,
    /// Most storage writes (sets and removes) one transaction's call tree may make
    /// (`call_storage_writes_max`).
    pub call_storage_writes_max: u64,
    /// Most fuel one transaction may burn (`fuel_per_tx_max`).
    pub fuel_per_tx_max: u64,
    /// Most fuel one block may burn (`fuel_per_block_max`).
    pub fuel_per_block_max: u64,
}

impl VmLimits {
    /// The limits set by the chain parameters.
    pub fn from_params(params: &ChainParams) -> VmLimits {
        VmLimits {
            contract_bytes_max: params.contract_bytes_max,
            call_input_bytes_max: params.call_input_bytes_max,
            call_output_bytes_max: params.call_output_bytes_max,
            call_storage_writes_max: params.call_storage_writes_max,
            fuel_per_tx_max: params.fuel_per_tx_max,
            fuel_per_block_max: params.fuel_per_block_max,
        }
    }

    /// The hard maxima compiled into the node, which no chain parameter can exceed. Used to reload a
    /// contract admitted earlier: its size was checked against the parameter in force at admission, and
    /// a later, lower `contract_bytes_max` must not make already-admitted code unloadable.
    pub fn hard_max() -> VmLimits {
        VmLimits {
            contract_bytes_max: bound_max("contract_bytes_max"),
            call_input_bytes_max: bound_max("call_input_bytes_max"),
            call_output_bytes_max: bound_max("call_output_bytes_max"),
            call_storage_writes_max: bound_max("call_storage_writes_max"),
            fuel_per_tx_max: bound_max("fuel_per_tx_max"),
            fuel_per_block_max: bound_max("fuel_per_block_max"),
        }
    }
}

/// The covenant upper bound of a parameter. Every name passed here is in `PARAM_BOUNDS` (a unit test
/// checks it); the fallback is the hard limit of the contract itself, never "unlimited".
fn bound_max(name: &str) -> u64 {
    PARAM_BOUNDS.iter().find(|bound| bound.name == name).map_or(hard::CONTRACT_BYTES_MAX as u64, |bound| bound.max)
}

impl Default for VmLimits {
    /// The limits of the default chain parameters.
    fn default() -> Self {
        VmLimits::from_params(&ChainParams::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_maxima_are_the_covenant_bounds_and_admit_the_defaults() {
        for (name, _) in ChainParams::default().entries() {
            if matches!(
                name,
                "contract_bytes_max"
                    | "call_input_bytes_max"
                    | "call_output_bytes_max"
                    | "call_storage_writes_max"
                    | "fuel_per_tx_max"
                    | "fuel_per_block_max"
            ) {
                assert!(PARAM_BOUNDS.iter().any(|bound| bound.name == name), "{name} has a covenant bound");
            }
        }
        let hard = VmLimits::hard_max();
        let default = VmLimits::default();
        assert_eq!(hard.contract_bytes_max, hard::CONTRACT_BYTES_MAX as u64);
        assert!(default.contract_bytes_max <= hard.contract_bytes_max);
        assert!(default.call_input_bytes_max <= hard.call_input_bytes_max);
        assert!(default.call_output_bytes_max <= hard.call_output_bytes_max);
        assert!(default.call_storage_writes_max <= hard.call_storage_writes_max);
        assert!(default.fuel_per_tx_max <= hard.fuel_per_tx_max);
        assert!(default.fuel_per_block_max <= hard.fuel_per_block_max);
    }
}
