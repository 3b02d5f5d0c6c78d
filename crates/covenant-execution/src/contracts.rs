//! Contracts on chain (covenant articles 24 and 26–31): the contract registry, the governance checks
//! that admit, upgrade, pause, resume and retire contracts, and contract-call transactions.
//!
//! The life of a contract:
//!
//! 1. **Admission** (COV-28). An admit-contract proposal carries the code and the manifest. When it is
//!    proposed, and again when the deciding vote executes it, [`check_admission`] validates the module
//!    with the live limits ([`covenant_vm::validate_module`]: size, no floats, host imports only,
//!    exports matching the manifest) and checks the owner and steward (COV-26). The proposal pins the
//!    code hash; execution refuses code whose hash differs from the pinned one. Only then is a
//!    [`ContractState`] written, and only a contract with such a record runs.
//! 2. **Calls** (COV-28, COV-29, COV-31). [`check_call`] runs at mempool admission and in every block:
//!    the contract is admitted and neither paused nor retired, the fuel limit is within
//!    `fuel_per_tx_max`, the input within `call_input_bytes_max`, the function is in the manifest and
//!    its access policy admits the signing operator. The block then takes the call only if its fuel
//!    limit fits in what is left of `fuel_per_block_max`; [`run_call`] runs it with the VM and applies
//!    its writes, or records a failed receipt naming the rule (out of fuel, re-entrancy, a limit) with
//!    nothing applied but the nonce.
//! 3. **Life cycle** (COV-27). Pause (the emergency class, with its lower threshold), resume, upgrade
//!    (new code and manifest, same id and storage, a new pinned hash) and retire (for good) are
//!    governance actions too.
//!
//! Compiling a module is the costly part of a call, so compiled modules are kept in a small cache keyed
//! by code hash and manifest hash. A compiled module is a pure function of those two, so the cache can
//! only save time: it never changes what a call does.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};

use covenant_rules::{ChainParams, RuleId, Violation, pii};
use covenant_types::{ContractCall, ContractId, Hash, MemberStatus, Role};
use covenant_vm::{
    BlockInfo, CallContext, Caller, Event, HostState, Manifest, OperatorIdentity, Unavailable, ValidatedModule, Vm,
    VmError, VmLimits, code_hash, load_admitted, validate_module,
};

use crate::checks::{TxInvalid, check_kyc};
use crate::execute::BlockContext;
use crate::state::{MemberState, OperatorState, Overlay, StateError, StateKey, StateReader, StateView};

/// Most contracts a chain admits, ever (ids are never reused, retired ones included).
pub const CONTRACTS_MAX: usize = 1024;
/// Most compiled modules a node keeps in memory.
pub const MODULES_CACHED_MAX: usize = 64;

/// Where a contract stands (COV-27).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    /// Admitted by an executed vote: it may be called.
    Active,
    /// Paused by a vote (the emergency class): calls are refused until a vote resumes it.
    Paused,
    /// Retired by a vote, for good.
    Retired,
}

impl ContractStatus {
    /// Why a contract in this status cannot run, if it cannot.
    pub fn unavailable(self) -> Option<Unavailable> {
        match self {
            ContractStatus::Active => None,
            ContractStatus::Paused => Some(Unavailable::Paused),
            ContractStatus::Retired => Some(Unavailable::Retired),
        }
    }

    /// `active`, `paused` or `retired`.
    pub fn name(self) -> &'static str {
        match self {
            ContractStatus::Active => "active",
            ContractStatus::Paused => "paused",
            ContractStatus::Retired => "retired",
        }
    }
}

/// A contract as stored: what the members voted for, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractState {
    /// SHA-256 of the code in force, pinned by the vote that admitted or last upgraded it (COV-28).
    pub code_hash: Hash,
    /// Length of that code, in bytes.
    pub code_bytes: u64,
    /// The manifest in force: name, version, owner and steward (COV-26), functions and their access
    /// policies (COV-31).
    pub manifest: Manifest,
    /// Active, paused or retired (COV-27).
    pub status: ContractStatus,
    /// The proposal whose execution admitted it.
    pub admitted_by: Hash,
    /// Height of the block that admitted it.
    pub admitted_at_height: u64,
    /// The proposal that last changed it (admission, upgrade, pause, resume or retirement).
    pub changed_by: Hash,
    /// Height of the block where that proposal executed.
    pub changed_at_height: u64,
}

/// What a successful call left for its sender to read: the output and the events, kept by the hash of
/// the transaction (receipts carry the fuel used and the outcome).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractCallResult {
    /// The contract called.
    pub contract: ContractId,
    /// The function called.
    pub function: String,
    /// What the function wrote with `output_write`.
    pub output: Vec<u8>,
    /// Events of the whole call tree, in emission order.
    pub events: Vec<Event>,
}

/// The proposal and block of a governance change being applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    /// The proposal that executes.
    pub proposal: Hash,
    /// The block it executes in.
    pub height: u64,
}

/// A refusal by a contract rule, as a transaction that cannot be in a block.
pub fn refused(error: &VmError) -> TxInvalid {
    refused_by(error.rule().unwrap_or(RuleId::ContractAdmission), error.to_string())
}

/// A refusal naming `rule`.
pub fn refused_by(rule: RuleId, reason: impl Into<String>) -> TxInvalid {
    TxInvalid::Violation(Violation::ContractRefused { rule, reason: reason.into() })
}

/// The stored record of `contract`, if any vote admitted it.
pub fn contract_state<S: StateReader + ?Sized>(
    state: &S,
    contract: &ContractId,
) -> Result<Option<ContractState>, StateError> {
    state.get(&StateKey::Contract(contract.clone()))
}

// ---- governance ------------------------------------------------------------------------------------

/// Checks new code and its manifest for admission or upgrade (COV-28, COV-29, COV-31 through the VM's
/// validation with the live limits) and the owner and steward the manifest names (COV-26). Returns the
/// decoded manifest.
pub fn check_admission<S: StateReader + ?Sized>(
    state: &S,
    code: &[u8],
    manifest: &[u8],
    params: &ChainParams,
) -> Result<Manifest, TxInvalid> {
    let manifest = Manifest::decode(manifest).map_err(|error| refused(&VmError::Manifest(error)))?;
    validate_module(code, &manifest, &VmLimits::from_params(params)).map_err(|error| refused(&error))?;
    check_ownership(state, &manifest)?;
    Ok(manifest)
}

/// COV-26: the owner is an active member, and the steward an operator of that member, not revoked,
/// holding the contract-steward role.
pub fn check_ownership<S: StateReader + ?Sized>(state: &S, manifest: &Manifest) -> Result<(), TxInvalid> {
    let owner = &manifest.owner;
    let ownership = |reason: String| refused_by(RuleId::ContractOwnership, reason);
    match state.get::<MemberState>(&StateKey::Member(owner.clone()))? {
        Some(member) if member.status == MemberStatus::Active => {}
        Some(member) => {
            return Err(ownership(format!(
                "contract owner {owner} is {:?}: only an active member can own a contract",
                member.status
            )));
        }
        None => return Err(ownership(format!("contract owner {owner} is not a member"))),
    }
    let steward = &manifest.steward;
    let Some(operator) = state.get::<OperatorState>(&StateKey::Operator(steward.clone()))? else {
        return Err(ownership(format!("contract steward {steward} is not a registered operator")));
    };
    if operator.revoked {
        return Err(ownership(format!("contract steward {steward} is revoked")));
    }
    if &operator.record.member != owner {
        return Err(ownership(format!(
            "contract steward {steward} works for {}, not for the owner {owner}",
            operator.record.member
        )));
    }
    if !operator.record.roles.contains(&Role::ContractSteward) {
        return Err(ownership(format!("contract steward {steward} does not hold the contract_steward role")));
    }
    Ok(())
}

/// Checks an admit-contract action against the state.
pub fn check_admit<S: StateReader + ?Sized>(
    state: &S,
    contract: &ContractId,
    code: &[u8],
    manifest: &[u8],
    params: &ChainParams,
) -> Result<(), TxInvalid> {
    if let Some(existing) = contract_state(state, contract)? {
        return Err(refused_by(
            RuleId::ContractAdmission,
            format!(
                "contract {contract} already exists ({}); contract ids are never reused, upgrade it instead",
                existing.status.name()
            ),
        ));
    }
    let admitted = state.index::<ContractId>(&StateKey::ContractIndex)?.len();
    if admitted >= CONTRACTS_MAX {
        return Err(refused_by(
            RuleId::ContractLimits,
            format!("the chain already has {admitted} contracts, the most it may ever admit ({CONTRACTS_MAX})"),
        ));
    }
    check_admission(state, code, manifest, params).map(drop)
}

/// Checks an upgrade: the contract exists and is not retired, the new code and manifest pass admission,
/// and something changes.
pub fn check_upgrade<S: StateReader + ?Sized>(
    state: &S,
    contract: &ContractId,
    code: &[u8],
    manifest: &[u8],
    params: &ChainParams,
) -> Result<(), TxInvalid> {
    let existing = existing(state, contract)?;
    if existing.status == ContractStatus::Retired {
        return Err(refused_by(RuleId::ContractLifecycle, format!("contract {contract} is retired for good")));
    }
    let manifest = check_admission(state, code, manifest, params)?;
    if code_hash(code) == existing.code_hash && manifest == existing.manifest {
        return Err(refused_by(
            RuleId::ContractLifecycle,
            format!("the upgrade of {contract} changes neither its code nor its manifest"),
        ));
    }
    Ok(())
}

/// Checks a status change: pause needs an active contract, resume a paused one, retirement one that is
/// not retired yet.
pub fn check_status_change<S: StateReader + ?Sized>(
    state: &S,
    contract: &ContractId,
    to: ContractStatus,
) -> Result<(), TxInvalid> {
    let existing = existing(state, contract)?;
    let allowed = match to {
        ContractStatus::Paused => existing.status == ContractStatus::Active,
        ContractStatus::Active => existing.status == ContractStatus::Paused,
        ContractStatus::Retired => existing.status != ContractStatus::Retired,
    };
    if !allowed {
        let verb = match to {
            ContractStatus::Paused => "paused",
            ContractStatus::Active => "resumed",
            ContractStatus::Retired => "retired",
        };
        return Err(refused_by(
            RuleId::ContractLifecycle,
            format!("contract {contract} is {} and cannot be {verb}", existing.status.name()),
        ));
    }
    Ok(())
}

fn existing<S: StateReader + ?Sized>(state: &S, contract: &ContractId) -> Result<ContractState, TxInvalid> {
    contract_state(state, contract)?
        .ok_or_else(|| refused_by(RuleId::ContractAdmission, format!("no contract {contract} was ever admitted")))
}

/// Admits a checked contract: stores its code by hash and its record, and lists it.
pub fn apply_admit<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    contract: &ContractId,
    code: &[u8],
    manifest: &[u8],
    change: Change,
) -> Result<(), TxInvalid> {
    let manifest = Manifest::decode(manifest).map_err(|error| refused(&VmError::Manifest(error)))?;
    let hash = code_hash(code);
    overlay.put(&StateKey::ContractCode(hash), &code.to_vec());
    let record = ContractState {
        code_hash: hash,
        code_bytes: code.len() as u64,
        manifest,
        status: ContractStatus::Active,
        admitted_by: change.proposal,
        admitted_at_height: change.height,
        changed_by: change.proposal,
        changed_at_height: change.height,
    };
    overlay.put(&StateKey::Contract(contract.clone()), &record);
    let mut index: Vec<ContractId> = overlay.index(&StateKey::ContractIndex)?;
    index.push(contract.clone());
    overlay.put(&StateKey::ContractIndex, &index);
    Ok(())
}

/// Upgrades a checked contract: new code hash and manifest; id, storage and status stay.
pub fn apply_upgrade<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    contract: &ContractId,
    code: &[u8],
    manifest: &[u8],
    change: Change,
) -> Result<(), TxInvalid> {
    let mut record = existing(&*overlay, contract)?;
    record.manifest = Manifest::decode(manifest).map_err(|error| refused(&VmError::Manifest(error)))?;
    record.code_hash = code_hash(code);
    record.code_bytes = code.len() as u64;
    record.changed_by = change.proposal;
    record.changed_at_height = change.height;
    overlay.put(&StateKey::ContractCode(record.code_hash), &code.to_vec());
    overlay.put(&StateKey::Contract(contract.clone()), &record);
    Ok(())
}

/// Pauses, resumes or retires a checked contract.
pub fn apply_status<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    contract: &ContractId,
    status: ContractStatus,
    change: Change,
) -> Result<(), TxInvalid> {
    let mut record = existing(&*overlay, contract)?;
    record.status = status;
    record.changed_by = change.proposal;
    record.changed_at_height = change.height;
    overlay.put(&StateKey::Contract(contract.clone()), &record);
    Ok(())
}

// ---- calls -----------------------------------------------------------------------------------------

/// The identity a contract sees for an operator.
pub fn identity(operator: &OperatorState) -> OperatorIdentity {
    OperatorIdentity {
        operator: operator.record.id.clone(),
        person: operator.record.person.clone(),
        member: operator.record.member.clone(),
        roles: operator.record.roles.clone(),
    }
}

/// Checks a contract call before it runs, against the state (mempool admission and block execution
/// alike): the contract is admitted and runnable (COV-28, COV-27), the fuel limit within
/// `fuel_per_tx_max` (COV-29), the input within `call_input_bytes_max` (COV-28), the function in
/// the manifest with an access policy that admits the signing operator (COV-31), and the input itself
/// ([`check_call_data`]: KYC of every customer account it names, COV-07; no plaintext national id,
/// COV-37). `now_ms` is the block time (the node's clock at admission).
pub fn check_call<S: StateReader + ?Sized>(
    state: &S,
    operator: &OperatorState,
    call: &ContractCall,
    now_ms: u64,
) -> Result<(), TxInvalid> {
    let params = state.params()?;
    if call.fuel_limit > params.fuel_per_tx_max {
        return Err(refused(&VmError::FuelLimitTooHigh { fuel_limit: call.fuel_limit, max: params.fuel_per_tx_max }));
    }
    let len_bytes = call.input.len() as u64;
    if len_bytes > params.call_input_bytes_max {
        return Err(refused(&VmError::InputTooLarge { len_bytes, max_bytes: params.call_input_bytes_max }));
    }
    let record = runnable(state, &call.contract)?;
    let Some(function) = record.manifest.function(&call.function) else {
        return Err(refused(&VmError::UnknownFunction {
            contract: call.contract.clone(),
            function: call.function.chars().take(80).collect(),
        }));
    };
    let caller = Caller::Operator(identity(operator));
    if !function.access.allows(&caller) {
        return Err(refused(&VmError::AccessDenied {
            contract: call.contract.clone(),
            function: function.name.clone(),
            caller: caller.to_string(),
        }));
    }
    check_call_data(state, "contract call input", &call.input, now_ms)
}

/// COV-07 and COV-37 for bytes a contract call brings on chain (its input, and what it writes, emits
/// and returns): every customer account named in them ([`pii::customer_accounts_named`]) needs an
/// unexpired KYC attestation by its member, exactly as a transfer's accounts do, and bytes that are
/// not an encrypted envelope carry no plaintext national id. The chain cannot know what a contract's
/// bytes mean (ADR 0024); it can insist that customers it can recognise are KYC'd and that personal
/// data it can recognise is sealed.
pub fn check_call_data<S: StateReader + ?Sized>(
    state: &S,
    what: &str,
    bytes: &[u8],
    now_ms: u64,
) -> Result<(), TxInvalid> {
    for account in pii::customer_accounts_named(bytes) {
        check_kyc(state, &account, now_ms).map_err(|error| match error {
            TxInvalid::Violation(violation) => TxInvalid::Violation(Violation::ContractRefused {
                rule: violation.rule(),
                reason: format!("{what}: {violation}"),
            }),
            other => other,
        })?;
    }
    if pii::envelope_defect(bytes).is_none() {
        return Ok(());
    }
    pii::check_plaintext(what, bytes)?;
    Ok(())
}

/// [`check_call_data`] over everything a finished call would put on chain: each storage write's key
/// and value, each event and the output. A removal puts nothing on chain, so it is never refused:
/// data about a customer whose KYC lapsed can always be deleted. The first refusal, if any, as the
/// rule and reason of a failed receipt; a state failure is a node fault.
fn check_call_effects<S: StateReader + ?Sized>(
    state: &S,
    outcome: &covenant_vm::CallOutcome,
    now_ms: u64,
) -> Result<Option<(RuleId, String)>, TxInvalid> {
    let mut pieces: Vec<(String, &[u8])> = Vec::new();
    for write in &outcome.writes {
        if let Some(value) = &write.value {
            pieces.push((format!("storage key written by contract {}", write.contract), &write.key));
            pieces.push((format!("storage value written by contract {}", write.contract), value));
        }
    }
    for event in &outcome.events {
        pieces.push((format!("event emitted by contract {}", event.contract), &event.data));
    }
    pieces.push(("call output".to_string(), &outcome.output));
    for (what, bytes) in pieces {
        match check_call_data(state, &what, bytes, now_ms) {
            Ok(()) => {}
            Err(TxInvalid::Violation(violation)) => return Ok(Some((violation.rule(), violation.to_string()))),
            Err(other) => return Err(other),
        }
    }
    Ok(None)
}

/// The record of a contract that may run now, or the refusal naming COV-28 (never admitted) or COV-27
/// (paused, retired).
fn runnable<S: StateReader + ?Sized>(state: &S, contract: &ContractId) -> Result<ContractState, TxInvalid> {
    let unavailable = |reason| refused(&VmError::ContractUnavailable { contract: contract.clone(), reason });
    let record = contract_state(state, contract)?.ok_or_else(|| unavailable(Unavailable::NotAdmitted))?;
    match record.status.unavailable() {
        Some(reason) => Err(unavailable(reason)),
        None => Ok(record),
    }
}

/// The fuel limit of a contract-call payload (`None` for other payloads).
pub fn fuel_limit(payload: &covenant_types::Payload) -> Option<u64> {
    match payload {
        covenant_types::Payload::ContractCall(call) => Some(call.fuel_limit),
        _ => None,
    }
}

/// COV-29: whether a call with `fuel_limit` fits in a block that has burnt `block_fuel_used`, under the
/// `fuel_per_block_max` of `params`.
pub fn check_block_fuel(params: &ChainParams, block_fuel_used: u64, fuel_limit: u64) -> Result<(), TxInvalid> {
    Vm::new(VmLimits::from_params(params))
        .check_block_fuel(block_fuel_used, fuel_limit)
        .map_err(|error| refused(&error))
}

/// How a call that could run ended: applied, or failed with a receipt. Either way it burnt `fuel_used`.
pub struct CallEnd {
    /// Fuel burnt (charged to the block).
    pub fuel_used: u64,
    /// `None` when the call succeeded and its writes were applied; else the rule (if one applies) and
    /// the reason for the failed receipt.
    pub failure: Option<(Option<RuleId>, String)>,
}

/// Runs a checked call ([`check_call`]) of `operator`'s transaction `tx_hash` and applies a successful
/// call's writes and result to `overlay`. A node fault (the state view failed, stored code that does
/// not match its pinned hash) is an `Err`, never a receipt.
pub fn run_call<V: StateView + ?Sized>(
    overlay: &mut Overlay<'_, V>,
    context: &BlockContext,
    tx_hash: Hash,
    operator: &OperatorState,
    call: &ContractCall,
) -> Result<CallEnd, TxInvalid> {
    let params = overlay.params()?;
    let record = runnable(&*overlay, &call.contract)?;
    let module = module_of(&*overlay, &call.contract, &record)?;
    let call_context = CallContext {
        contract: call.contract.clone(),
        caller: Caller::Operator(identity(operator)),
        block: BlockInfo { height: context.height, timestamp_ms: context.timestamp_ms },
    };
    let vm = Vm::new(VmLimits::from_params(&params));
    let mut host = ChainHost { state: &*overlay, fault: None };
    let result = vm.call(&module, &call.function, &call.input, &call_context, &mut host, call.fuel_limit);
    if let Some(fault) = host.fault {
        return Err(TxInvalid::State(fault));
    }
    match result {
        Ok(outcome) => {
            // COV-07 and COV-37 on what the call would leave on chain: refused, nothing is applied.
            if let Some((rule, reason)) = check_call_effects(&*overlay, &outcome, context.timestamp_ms)? {
                return Ok(CallEnd { fuel_used: outcome.fuel_used, failure: Some((Some(rule), reason)) });
            }
            for write in &outcome.writes {
                let key = StateKey::ContractStorage(write.contract.clone(), write.key.clone());
                match &write.value {
                    Some(value) => overlay.put(&key, value),
                    None => overlay.delete(&key),
                }
            }
            let result = ContractCallResult {
                contract: call.contract.clone(),
                function: call.function.clone(),
                output: outcome.output,
                events: outcome.events,
            };
            overlay.put(&StateKey::ContractResult(tx_hash), &result);
            Ok(CallEnd { fuel_used: outcome.fuel_used, failure: None })
        }
        Err(failure) if failure.error.is_node_fault() => {
            Err(TxInvalid::State(StateError::Store(failure.error.to_string())))
        }
        Err(failure) => Ok(CallEnd {
            fuel_used: failure.fuel_used,
            failure: Some((failure.error.rule(), failure.error.to_string())),
        }),
    }
}

/// The [`HostState`] of a call: reads the state as the block's earlier transactions left it.
struct ChainHost<'s, S: StateView + ?Sized> {
    state: &'s S,
    /// The first state failure seen: the call's result is then discarded and the node stops.
    fault: Option<StateError>,
}

impl<S: StateView + ?Sized> ChainHost<'_, S> {
    fn fail(&mut self, error: StateError) -> VmError {
        let message = error.to_string();
        self.fault.get_or_insert(error);
        VmError::Host { message }
    }
}

impl<S: StateView + ?Sized> HostState for ChainHost<'_, S> {
    fn storage_get(&mut self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, VmError> {
        self.state.get::<Vec<u8>>(&StateKey::ContractStorage(contract.clone(), key.to_vec())).map_err(|e| self.fail(e))
    }

    fn contract(&mut self, contract: &ContractId) -> Result<ValidatedModule, VmError> {
        let record = match contract_state(self.state, contract) {
            Ok(Some(record)) => record,
            Ok(None) => {
                return Err(VmError::ContractUnavailable {
                    contract: contract.clone(),
                    reason: Unavailable::NotAdmitted,
                });
            }
            Err(error) => return Err(self.fail(error)),
        };
        if let Some(reason) = record.status.unavailable() {
            return Err(VmError::ContractUnavailable { contract: contract.clone(), reason });
        }
        match module_of(self.state, contract, &record) {
            Ok(module) => Ok(module),
            Err(TxInvalid::State(error)) => Err(self.fail(error)),
            Err(other) => Err(self.fail(StateError::Store(other.to_string()))),
        }
    }
}

// ---- module cache ----------------------------------------------------------------------------------

/// Compiled modules by (code hash, manifest hash), with the tick of their last use.
struct ModuleCache {
    modules: BTreeMap<(Hash, Hash), (u64, ValidatedModule)>,
    tick: u64,
}

fn cache() -> &'static Mutex<ModuleCache> {
    static CACHE: OnceLock<Mutex<ModuleCache>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(ModuleCache { modules: BTreeMap::new(), tick: 0 }))
}

/// Empties the module cache, so that the next call of every contract compiles it again. Only tests and
/// tools need this (to show that a compiled module and a freshly compiled one behave alike).
pub fn forget_compiled_modules() {
    cache().lock().unwrap_or_else(|poisoned| poisoned.into_inner()).modules.clear();
}

/// The compiled module of an admitted contract: from the cache, or loaded from the stored code, which
/// must hash to the pinned hash (COV-28; a mismatch means a corrupt store, a node fault).
pub fn module_of<S: StateReader + ?Sized>(
    state: &S,
    contract: &ContractId,
    record: &ContractState,
) -> Result<ValidatedModule, TxInvalid> {
    let key = (record.code_hash, Hash::digest(&record.manifest.encode()));
    {
        // A poisoned lock only means another thread panicked while holding it; the map is still whole.
        let mut cache = cache().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.tick = cache.tick.wrapping_add(1);
        let tick = cache.tick;
        if let Some((used, module)) = cache.modules.get_mut(&key) {
            *used = tick;
            return Ok(module.clone());
        }
    }
    let code: Vec<u8> = state.get(&StateKey::ContractCode(record.code_hash))?.ok_or_else(|| {
        TxInvalid::State(StateError::Corrupt {
            key_hex: record.code_hash.to_hex(),
            reason: format!("the code of contract {contract} is missing"),
        })
    })?;
    let module = load_admitted(&code, &record.manifest, &record.code_hash).map_err(|error| {
        TxInvalid::State(StateError::Corrupt {
            key_hex: record.code_hash.to_hex(),
            reason: format!("admitted contract {contract} no longer loads: {error}"),
        })
    })?;
    let mut cache = cache().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    cache.tick = cache.tick.wrapping_add(1);
    let tick = cache.tick;
    cache.modules.insert(key, (tick, module.clone()));
    while cache.modules.len() > MODULES_CACHED_MAX {
        let oldest = cache.modules.iter().min_by_key(|(_, (used, _))| *used).map(|(key, _)| *key);
        match oldest {
            Some(oldest) => cache.modules.remove(&oldest),
            None => break,
        };
    }
    Ok(module)
}
