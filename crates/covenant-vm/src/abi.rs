//! The host ABI: what a contract may import, with which signatures, what the return codes mean and what
//! each host call costs in fuel. `docs/contract-abi.md` documents the same table for contract authors;
//! everything here is consensus (a change is a fork).
//!
//! Pointers and lengths are `i32` values read as unsigned 32-bit offsets into the contract's linear
//! memory, exported as `memory`. Host functions return a negative code only for conditions a contract is
//! expected to handle ([`NOT_FOUND`]); every misuse (a pointer outside memory, an argument above its
//! limit, a write in a read-only function) ends the whole call with a [`VmError`](crate::VmError) that
//! names the rule, so a contract cannot ignore it.

use covenant_types::Role;

/// The one module name contracts may import from.
pub const HOST_MODULE: &str = "covenant";

/// Returned by `storage_get` for an absent key and by the `caller_*` getters for a field the caller does
/// not have (an operator field when a contract called, a contract field when an operator called).
pub const NOT_FOUND: i32 = -1;

/// `caller_kind` result: an operator's transaction called.
pub const CALLER_OPERATOR: i32 = 0;
/// `caller_kind` result: another contract called.
pub const CALLER_CONTRACT: i32 = 1;

/// A WebAssembly value type in a host function signature (the ABI uses integers only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiType {
    /// 32-bit integer (pointers, lengths, codes).
    I32,
    /// 64-bit integer (block height and time).
    I64,
}

impl AbiType {
    /// The WebAssembly text name.
    pub fn name(self) -> &'static str {
        match self {
            AbiType::I32 => "i32",
            AbiType::I64 => "i64",
        }
    }
}

/// One host function of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFunction {
    /// Import name within [`HOST_MODULE`].
    pub name: &'static str,
    /// Parameter types.
    pub params: &'static [AbiType],
    /// Result types.
    pub results: &'static [AbiType],
    /// Whether it reads or writes the contract's linear memory (a module importing it must export
    /// `memory`).
    pub uses_memory: bool,
}

impl HostFunction {
    /// The signature as text, e.g. `(i32, i32) -> i32`.
    pub fn signature(&self) -> String {
        signature_text(self.params.iter().map(|ty| ty.name()), self.results.iter().map(|ty| ty.name()))
    }
}

/// Formats a signature the way errors and the ABI document write it.
pub(crate) fn signature_text<'a>(
    params: impl Iterator<Item = &'a str>,
    results: impl Iterator<Item = &'a str>,
) -> String {
    let params: Vec<&str> = params.collect();
    let results: Vec<&str> = results.collect();
    format!("({}) -> ({})", params.join(", "), results.join(", "))
}

use AbiType::{I32, I64};

/// Every host function, in the order of `docs/contract-abi.md`.
pub const HOST_FUNCTIONS: &[HostFunction] = &[
    HostFunction { name: "input_len", params: &[], results: &[I32], uses_memory: false },
    HostFunction { name: "input_read", params: &[I32], results: &[], uses_memory: true },
    HostFunction { name: "output_write", params: &[I32, I32], results: &[], uses_memory: true },
    HostFunction { name: "storage_get", params: &[I32, I32, I32, I32], results: &[I32], uses_memory: true },
    HostFunction { name: "storage_set", params: &[I32, I32, I32, I32], results: &[], uses_memory: true },
    HostFunction { name: "storage_remove", params: &[I32, I32], results: &[], uses_memory: true },
    HostFunction { name: "caller_kind", params: &[], results: &[I32], uses_memory: false },
    HostFunction { name: "caller_operator", params: &[I32, I32], results: &[I32], uses_memory: true },
    HostFunction { name: "caller_person", params: &[I32, I32], results: &[I32], uses_memory: true },
    HostFunction { name: "caller_member", params: &[I32, I32], results: &[I32], uses_memory: true },
    HostFunction { name: "caller_contract", params: &[I32, I32], results: &[I32], uses_memory: true },
    HostFunction { name: "caller_has_role", params: &[I32], results: &[I32], uses_memory: false },
    HostFunction { name: "contract_id", params: &[I32, I32], results: &[I32], uses_memory: true },
    HostFunction { name: "block_height", params: &[], results: &[I64], uses_memory: false },
    HostFunction { name: "block_timestamp_ms", params: &[], results: &[I64], uses_memory: false },
    HostFunction { name: "emit_event", params: &[I32, I32], results: &[], uses_memory: true },
    HostFunction { name: "abort", params: &[I32, I32], results: &[], uses_memory: true },
    HostFunction {
        name: "call_contract",
        params: &[I32, I32, I32, I32, I32, I32, I32, I32],
        results: &[I32],
        uses_memory: true,
    },
];

/// The host function named `name`, if there is one.
pub fn host_function(name: &str) -> Option<&'static HostFunction> {
    HOST_FUNCTIONS.iter().find(|function| function.name == name)
}

/// The ABI code of a role (`caller_has_role`).
pub fn role_code(role: Role) -> i32 {
    match role {
        Role::Admin => 0,
        Role::Submitter => 1,
        Role::Auditor => 2,
        Role::ContractSteward => 3,
    }
}

/// The role of an ABI code, if the code names one.
pub fn role_from_code(code: i32) -> Option<Role> {
    Some(match code {
        0 => Role::Admin,
        1 => Role::Submitter,
        2 => Role::Auditor,
        3 => Role::ContractSteward,
        _ => return None,
    })
}

/// Fuel the host charges, on top of what wasmi charges for executing instructions (about one unit per
/// instruction, with wasmi 2.0.0's default operator costs, and one unit per 64 bytes copied by
/// `memory.grow`/`copy`/`fill`/`init`). Host calls are charged in proportion to the bytes they move, so
/// storage writes are never free.
pub mod fuel {
    /// Entering a contract frame: instantiating the module (per call, including nested calls).
    pub const FRAME_BASE: u64 = 10_000;
    /// Entering a contract frame: per page of initial linear memory.
    pub const FRAME_PER_MEMORY_PAGE: u64 = 1_000;
    /// Every host call.
    pub const HOST_CALL_BASE: u64 = 50;
    /// Every byte copied between the contract's memory and the host (input, output, ids, events, abort
    /// messages, call_contract arguments and results).
    pub const PER_BYTE_COPIED: u64 = 1;
    /// `storage_get`, on top of the base.
    pub const STORAGE_READ: u64 = 500;
    /// `storage_get`, per byte of key and of value found.
    pub const STORAGE_READ_PER_BYTE: u64 = 2;
    /// `storage_set` and `storage_remove`, on top of the base.
    pub const STORAGE_WRITE: u64 = 2_000;
    /// `storage_set` and `storage_remove`, per byte of key and value written.
    pub const STORAGE_WRITE_PER_BYTE: u64 = 20;
    /// `emit_event`, on top of the base.
    pub const EVENT: u64 = 500;
    /// `emit_event`, per byte of payload.
    pub const EVENT_PER_BYTE: u64 = 10;
    /// `call_contract`, on top of the base and of the callee's own fuel (which includes its
    /// [`FRAME_BASE`]).
    pub const CALL_CONTRACT: u64 = 5_000;
}
