//! [`VmError`]: why a module was refused or a call failed, with the values that broke the limit and, where
//! one applies, the covenant rule ([`VmError::rule`]) a receipt names.

use thiserror::Error;

use covenant_rules::RuleId;
use covenant_types::{ContractId, Hash};

use crate::manifest::ManifestError;

/// Why a contract cannot run now, as the executor's [`HostState::contract`](crate::HostState::contract)
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// No executed vote admitted it (COV-28).
    NotAdmitted,
    /// Paused by governance (COV-27).
    Paused,
    /// Retired for good (COV-27).
    Retired,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unavailable::NotAdmitted => "not admitted by an executed vote",
            Unavailable::Paused => "paused",
            Unavailable::Retired => "retired",
        })
    }
}

/// Why a module was refused at admission or a call failed. Every variant is a deterministic function of
/// the code, the manifest, the input, the state and the limits, so every validator produces the same one
/// and its text can go into a receipt.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VmError {
    // --- Admission: the module and its manifest. ---
    /// The module is larger than `contract_bytes_max`.
    #[error("contract module is {len_bytes} bytes, above contract_bytes_max = {max_bytes}")]
    ModuleTooLarge {
        /// Module length.
        len_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// The bytes are not a valid WebAssembly module, or use a feature outside the deterministic profile.
    #[error("contract module is not a valid WebAssembly module for this chain: {reason}")]
    InvalidModule {
        /// The parser's or validator's explanation.
        reason: String,
    },
    /// The module uses floating point, whose results may differ between machines.
    #[error("contract module uses floating point in {location}: {what}; contracts must use integer arithmetic")]
    FloatingPoint {
        /// Where: a function (with its export name if any), a type or a global.
        location: String,
        /// What: the instruction or the value type.
        what: String,
    },
    /// An import from outside the host module, of an unknown host function, with the wrong signature, or
    /// of something other than a function.
    #[error("contract module imports {module}.{name}: {reason}")]
    ForbiddenImport {
        /// Import module.
        module: String,
        /// Import name.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// The module has a start function.
    #[error(
        "contract module declares start function {function}: nothing may run at instantiation; \
         initialise state in an exported function"
    )]
    StartFunction {
        /// Index of the start function.
        function: u32,
    },
    /// The exported functions differ from the manifest's.
    #[error(
        "exported functions do not match the manifest: missing from the module {missing:?}, \
         exported but not in the manifest {unexpected:?}"
    )]
    ExportMismatch {
        /// Listed in the manifest but not exported.
        missing: Vec<String>,
        /// Exported but not listed.
        unexpected: Vec<String>,
    },
    /// An exported function whose signature is not `() -> ()`.
    #[error(
        "exported function {function} has signature {found}; \
         contract functions take and return nothing (() -> ())"
    )]
    ExportSignature {
        /// The function.
        function: String,
        /// Its signature.
        found: String,
    },
    /// An export other than functions, the memory named `memory` and globals.
    #[error(
        "contract module exports {name:?} ({kind}): \
         only functions, globals and the memory named \"memory\" may be exported"
    )]
    ForbiddenExport {
        /// Export name.
        name: String,
        /// Export kind.
        kind: String,
    },
    /// The module calls host functions that read or write memory but exports no memory named `memory`.
    #[error(
        "contract module imports host function {function}, which uses linear memory, \
         but exports no memory named \"memory\""
    )]
    MemoryNotExported {
        /// One such host function.
        function: String,
    },
    /// A memory larger than the runtime allows (initial or declared maximum pages).
    #[error("contract memory refused: {reason}")]
    MemoryLimits {
        /// What is wrong, with the numbers.
        reason: String,
    },
    /// A table larger than the runtime allows (initial or declared maximum elements).
    #[error("contract table refused: {reason}")]
    TableLimits {
        /// What is wrong, with the numbers.
        reason: String,
    },
    /// The manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The code's hash differs from the hash pinned by the admitting vote.
    #[error("contract code hash is {found}, but the admitting vote pinned {expected}")]
    CodeHashMismatch {
        /// Pinned hash.
        expected: Hash,
        /// Hash of the code given.
        found: Hash,
    },

    // --- Calls: admission of the call, limits and access. ---
    /// The called contract cannot run (not admitted, paused or retired).
    #[error("contract {contract} cannot be called: {reason}")]
    ContractUnavailable {
        /// The contract.
        contract: ContractId,
        /// Why.
        reason: Unavailable,
    },
    /// The function is not in the contract's manifest.
    #[error("contract {contract} has no function {function:?}")]
    UnknownFunction {
        /// The contract.
        contract: ContractId,
        /// The function asked for (cut to a readable length).
        function: String,
    },
    /// The caller is outside the function's access policy (COV-31).
    #[error("{caller} may not call {contract}.{function}: the function's access policy does not allow it")]
    AccessDenied {
        /// The contract.
        contract: ContractId,
        /// The function.
        function: String,
        /// Who called.
        caller: String,
    },
    /// A read-only function tried to change something.
    #[error("{contract}.{function} is read-only and cannot {action}")]
    ReadOnly {
        /// The contract whose frame tried.
        contract: ContractId,
        /// The read-only function in force.
        function: String,
        /// What it tried.
        action: String,
    },
    /// Call input above `call_input_bytes_max`.
    #[error("call input is {len_bytes} bytes, above call_input_bytes_max = {max_bytes}")]
    InputTooLarge {
        /// Input length.
        len_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// Call output above `call_output_bytes_max`.
    #[error("call output is {len_bytes} bytes, above call_output_bytes_max = {max_bytes}")]
    OutputTooLarge {
        /// Output length.
        len_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// A storage key or value, an event, or another host argument above its limit.
    #[error("{what} is {len_bytes} bytes, above the limit of {max_bytes}")]
    HostArgumentTooLarge {
        /// What was too large (`storage key`, `storage value`, `event`, ...).
        what: &'static str,
        /// Its length.
        len_bytes: u64,
        /// The limit.
        max_bytes: u64,
    },
    /// More storage writes than `call_storage_writes_max` in one transaction.
    #[error("the call makes more than call_storage_writes_max = {max} storage writes")]
    TooManyWrites {
        /// The limit.
        max: u64,
    },
    /// More events than allowed in one transaction.
    #[error("the call emits more than {max} events")]
    TooManyEvents {
        /// The limit.
        max: u64,
    },
    /// A fuel limit above `fuel_per_tx_max`.
    #[error("fuel limit {fuel_limit} is above fuel_per_tx_max = {max}")]
    FuelLimitTooHigh {
        /// Fuel asked for.
        fuel_limit: u64,
        /// The limit.
        max: u64,
    },
    /// The block cannot take this call's fuel limit.
    #[error("block fuel: {used} already used + fuel limit {fuel_limit} exceeds fuel_per_block_max = {max}")]
    BlockFuelExhausted {
        /// Fuel already burnt in the block.
        used: u64,
        /// The call's fuel limit.
        fuel_limit: u64,
        /// The limit.
        max: u64,
    },
    /// The call burnt all its fuel (COV-29): state changes are discarded.
    #[error("out of fuel: the call burnt its whole fuel limit of {fuel_limit}")]
    OutOfFuel {
        /// The transaction's fuel limit.
        fuel_limit: u64,
    },
    /// The WebAssembly call stack of a frame overflowed (recursion too deep).
    #[error("{contract}: WebAssembly stack exhausted (more than {max_depth} nested frames or {max_bytes} bytes)")]
    StackExhausted {
        /// The contract whose frame overflowed.
        contract: ContractId,
        /// Recursion limit.
        max_depth: u64,
        /// Value stack limit.
        max_bytes: u64,
    },
    /// A contract-to-contract call deeper than the limit (COV-29).
    #[error("call to {contract} would nest {depth} contract frames, above the limit of {max}")]
    CallDepthExceeded {
        /// The contract that would have been entered.
        contract: ContractId,
        /// Frames there would be.
        depth: u64,
        /// The limit.
        max: u64,
    },
    /// A call into a contract already on the call stack (COV-29).
    #[error("re-entrant call refused: {contract} is already on the call stack {stack:?}")]
    Reentrancy {
        /// The contract called again.
        contract: ContractId,
        /// The call stack, outermost first.
        stack: Vec<String>,
    },

    // --- Calls: the contract's own failures. ---
    /// The contract called `abort` with this message.
    #[error("{contract} aborted: {message}")]
    Aborted {
        /// The contract that aborted.
        contract: ContractId,
        /// Its message (lossy UTF-8, cut to the limit).
        message: String,
    },
    /// The contract trapped (unreachable, division by zero, out-of-bounds memory access, ...).
    #[error("{contract} trapped: {trap}")]
    Trap {
        /// The contract that trapped.
        contract: ContractId,
        /// The trap.
        trap: String,
    },
    /// The contract called a host function with arguments that make no sense (a pointer outside its
    /// memory, an identifier that is not valid, an unknown role code).
    #[error("{contract} called host function {function} wrongly: {reason}")]
    BadHostCall {
        /// The contract.
        contract: ContractId,
        /// The host function.
        function: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// Instantiating the module failed (for instance an active data segment outside the memory).
    #[error("{contract} could not be instantiated: {reason}")]
    Instantiation {
        /// The contract.
        contract: ContractId,
        /// Why.
        reason: String,
    },

    // --- The node's own failures: not a property of the transaction. ---
    /// The host (the executor's state view) failed. Not deterministic: the executor must treat this as a
    /// node fault (stop), never write it into a receipt.
    #[error("host failure: {message}")]
    Host {
        /// What failed.
        message: String,
    },
}

impl VmError {
    /// The covenant rule this error enforces, if one applies. Failures of the contract's own logic (abort,
    /// trap, bad host call) and node faults break no covenant rule.
    pub fn rule(&self) -> Option<RuleId> {
        Some(match self {
            VmError::ModuleTooLarge { .. } | VmError::MemoryLimits { .. } | VmError::TableLimits { .. } => {
                RuleId::ContractLimits
            }
            VmError::InvalidModule { .. }
            | VmError::FloatingPoint { .. }
            | VmError::ForbiddenImport { .. }
            | VmError::StartFunction { .. }
            | VmError::ExportMismatch { .. }
            | VmError::ExportSignature { .. }
            | VmError::ForbiddenExport { .. }
            | VmError::MemoryNotExported { .. }
            | VmError::CodeHashMismatch { .. } => RuleId::ContractAdmission,
            VmError::Manifest(error) => error.rule(),
            VmError::ContractUnavailable { reason: Unavailable::NotAdmitted, .. } => RuleId::ContractAdmission,
            VmError::ContractUnavailable { reason: Unavailable::Paused | Unavailable::Retired, .. } => {
                RuleId::ContractLifecycle
            }
            VmError::UnknownFunction { .. } | VmError::AccessDenied { .. } | VmError::ReadOnly { .. } => {
                RuleId::FunctionAcl
            }
            VmError::InputTooLarge { .. }
            | VmError::OutputTooLarge { .. }
            | VmError::HostArgumentTooLarge { .. }
            | VmError::TooManyWrites { .. }
            | VmError::TooManyEvents { .. } => RuleId::ContractLimits,
            VmError::FuelLimitTooHigh { .. }
            | VmError::BlockFuelExhausted { .. }
            | VmError::OutOfFuel { .. }
            | VmError::StackExhausted { .. } => RuleId::Fuel,
            VmError::CallDepthExceeded { .. } | VmError::Reentrancy { .. } => RuleId::NoReentrancy,
            VmError::Aborted { .. }
            | VmError::Trap { .. }
            | VmError::BadHostCall { .. }
            | VmError::Instantiation { .. }
            | VmError::Host { .. } => return None,
        })
    }

    /// The rule id as text (`COV-29-FUEL`), or `None`.
    pub fn rule_id(&self) -> Option<&'static str> {
        self.rule().map(RuleId::id)
    }

    /// Whether this is a node fault rather than an outcome of the transaction: the executor must not
    /// record it in a receipt (it would differ between validators) but stop and report it.
    pub fn is_node_fault(&self) -> bool {
        matches!(self, VmError::Host { .. })
    }
}

/// A failed call: the error and the fuel it burnt before failing (charged to the sender and the block
/// like the fuel of a successful call). No state change of a failed call survives.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("{error} (fuel used: {fuel_used})")]
pub struct CallFailure {
    /// Why the call failed.
    pub error: VmError,
    /// Fuel burnt; the whole limit for [`VmError::OutOfFuel`], 0 for a call refused before it ran.
    pub fuel_used: u64,
}

impl CallFailure {
    /// The covenant rule the failure names, if any.
    pub fn rule(&self) -> Option<RuleId> {
        self.error.rule()
    }
}
