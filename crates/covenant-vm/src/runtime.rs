//! Deterministic execution of admitted contracts: [`Vm::call`].
//!
//! A call runs in a fresh instance (memory initialised from the module's data segments, nothing kept
//! between calls except storage), metered by fuel, with the host API of [`crate::abi`] as its only window
//! on the world. Storage writes and events of the whole call tree are buffered by the runtime and handed
//! back in the [`CallOutcome`] only when the call succeeds; a failed call returns a [`CallFailure`] and
//! leaves nothing to roll back. Contract-to-contract calls are run by the runtime itself, which checks the
//! call stack ([`CallStack`]), the callee's access policy and the limits the same way as for the
//! top-level call.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use wasmi::{Engine, Linker, Memory, Store, StoreLimits, StoreLimitsBuilder, TrapCode};

use covenant_types::ContractId;
use covenant_types::ids::ID_BYTES_MAX;

use crate::abi::{self, CALLER_CONTRACT, CALLER_OPERATOR, HOST_MODULE, NOT_FOUND, fuel};
use crate::context::{BlockInfo, CallContext, CallStack, Caller};
use crate::error::{CallFailure, VmError};
use crate::limits::{
    ABORT_MESSAGE_BYTES_MAX, EVENT_BYTES_MAX, EVENTS_PER_CALL_MAX, FUNCTION_NAME_BYTES_MAX, MEMORY_PAGES_MAX,
    PAGE_BYTES, STORAGE_KEY_BYTES_MAX, STORAGE_VALUE_BYTES_MAX, TABLE_ELEMENTS_MAX, VmLimits, WASM_RECURSION_DEPTH_MAX,
    WASM_STACK_BYTES_MAX,
};
use crate::manifest::MEMORY_EXPORT;
use crate::validate::ValidatedModule;

/// What the runtime needs from the executor: the committed state it reads and the contracts it may
/// call. Writes never go through this trait: the runtime buffers them and returns them in the
/// [`CallOutcome`] of a successful call, for the executor to apply.
///
/// # To ensure correctness
/// - Answers must be a deterministic function of the state before the transaction (the state after the
///   block's previous transactions): every validator must read the same bytes.
/// - [`HostState::contract`] must apply the same checks the executor applies before a top-level call:
///   only a contract admitted by an executed vote runs (COV-28), a paused or retired one does not
///   (COV-27). Refuse with [`VmError::ContractUnavailable`].
/// - An error that is not a property of the state (a storage read failing) must be reported as
///   [`VmError::Host`]; the executor must then stop rather than write a receipt.
pub trait HostState {
    /// The committed value under `key` in `contract`'s own storage namespace, if any.
    fn storage_get(&mut self, contract: &ContractId, key: &[u8]) -> Result<Option<Vec<u8>>, VmError>;

    /// The admitted, runnable module of `contract`, for a contract-to-contract call.
    fn contract(&mut self, contract: &ContractId) -> Result<ValidatedModule, VmError>;
}

/// One storage change of a successful call, in `contract`'s namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageWrite {
    /// Whose namespace.
    pub contract: ContractId,
    /// The key.
    pub key: Vec<u8>,
    /// The new value; `None` removes the key.
    pub value: Option<Vec<u8>>,
}

/// An event emitted by a contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The contract that emitted it.
    pub contract: ContractId,
    /// Its payload (the contract chooses the format).
    pub data: Vec<u8>,
}

/// What a successful call produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallOutcome {
    /// The bytes the called function wrote with `output_write` (empty if it wrote none).
    pub output: Vec<u8>,
    /// Fuel burnt by the whole call tree.
    pub fuel_used: u64,
    /// Net storage changes of the whole call tree, ordered by contract then key; apply all of them.
    pub writes: Vec<StorageWrite>,
    /// Events in emission order.
    pub events: Vec<Event>,
}

/// The contract runtime: runs calls under the chain's limits.
#[derive(Clone, Debug)]
pub struct Vm {
    limits: VmLimits,
}

impl Vm {
    /// A runtime applying `limits` (build them from the live chain parameters with
    /// [`VmLimits::from_params`]).
    pub fn new(limits: VmLimits) -> Vm {
        Vm { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &VmLimits {
        &self.limits
    }

    /// Checks that a call with `fuel_limit` fits in the block, which has burnt `block_fuel_used` so far
    /// (COV-29: `fuel_per_block_max`). The limit, not the fuel a call will turn out to use, is what counts,
    /// so a block builder knows before running a call whether it fits.
    pub fn check_block_fuel(&self, block_fuel_used: u64, fuel_limit: u64) -> Result<(), VmError> {
        match block_fuel_used.checked_add(fuel_limit) {
            Some(total) if total <= self.limits.fuel_per_block_max => Ok(()),
            _ => Err(VmError::BlockFuelExhausted {
                used: block_fuel_used,
                fuel_limit,
                max: self.limits.fuel_per_block_max,
            }),
        }
    }

    /// Calls `function` of `module` (the contract `context.contract`) with `input`, burning at most
    /// `fuel_limit` fuel.
    ///
    /// Checks, in order: the fuel limit (COV-29), the call stack, the input size (COV-28), that the
    /// manifest lists the function and that its access policy admits the caller (COV-31); then runs it.
    /// The caller is expected to have checked that the contract is admitted and runnable (the same check
    /// its [`HostState::contract`] applies to nested calls).
    ///
    /// On success the outcome carries the output, the fuel used, and the storage writes and events of the
    /// whole call tree for the executor to apply. On failure nothing is to be applied; the failure carries
    /// the fuel burnt before it.
    pub fn call(
        &self,
        module: &ValidatedModule,
        function: &str,
        input: &[u8],
        context: &CallContext,
        host: &mut dyn HostState,
        fuel_limit: u64,
    ) -> Result<CallOutcome, CallFailure> {
        if fuel_limit > self.limits.fuel_per_tx_max {
            let error = VmError::FuelLimitTooHigh { fuel_limit, max: self.limits.fuel_per_tx_max };
            return Err(CallFailure { error, fuel_used: 0 });
        }
        let mut tx = TxState {
            limits: self.limits,
            block: context.block,
            fuel_limit,
            stack: CallStack::new(),
            writes: BTreeMap::new(),
            writes_count: 0,
            events: Vec::new(),
        };
        let target = Target { module, contract: &context.contract, function, input };
        let (result, fuel_used) = invoke(&mut tx, host, target, context.caller.clone(), None, fuel_limit);
        match result {
            Ok(output) => Ok(CallOutcome {
                output,
                fuel_used,
                writes: tx
                    .writes
                    .into_iter()
                    .map(|((contract, key), value)| StorageWrite { contract, key, value })
                    .collect(),
                events: tx.events,
            }),
            Err(error) => Err(CallFailure { error, fuel_used }),
        }
    }
}

/// State shared by every frame of one transaction's call tree.
struct TxState {
    limits: VmLimits,
    block: BlockInfo,
    fuel_limit: u64,
    stack: CallStack,
    /// Buffered writes: (contract, key) → new value or removal.
    writes: BTreeMap<(ContractId, Vec<u8>), Option<Vec<u8>>>,
    writes_count: u64,
    events: Vec<Event>,
}

/// The function a frame runs.
#[derive(Clone, Copy)]
struct Target<'t> {
    module: &'t ValidatedModule,
    contract: &'t ContractId,
    function: &'t str,
    input: &'t [u8],
}

/// The frame that runs read-only, forcing its callees to be read-only too.
struct ReadOnlyParent {
    contract: ContractId,
    function: String,
}

/// The data of one contract frame's wasmi store.
struct Frame<'a> {
    tx: &'a mut TxState,
    host: &'a mut dyn HostState,
    contract: ContractId,
    function: String,
    caller: Caller,
    input: Vec<u8>,
    output: Vec<u8>,
    read_only: bool,
    memory: Option<Memory>,
    /// Why a host function stopped the frame; takes precedence over the trap wasmi reports.
    failure: Option<VmError>,
    store_limits: StoreLimits,
}

/// The error a host function returns to wasmi to stop execution; the reason is in [`Frame::failure`].
#[derive(Debug)]
struct HostStop;

impl std::fmt::Display for HostStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped by a host function")
    }
}

impl wasmi::errors::HostError for HostStop {}

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Checks and runs one frame: the top-level call or a contract-to-contract call. Returns the output or
/// the error, and the fuel burnt (0 if refused before running).
fn invoke(
    tx: &mut TxState,
    host: &mut dyn HostState,
    target: Target<'_>,
    caller: Caller,
    read_only_parent: Option<ReadOnlyParent>,
    fuel_available: u64,
) -> (Result<Vec<u8>, VmError>, u64) {
    let contract = target.contract;
    let refuse = |error: VmError| (Err(error), 0);
    if let Err(error) = tx.stack.check_enter(contract) {
        return refuse(error);
    }
    let len_bytes = target.input.len() as u64;
    if len_bytes > tx.limits.call_input_bytes_max {
        return refuse(VmError::InputTooLarge { len_bytes, max_bytes: tx.limits.call_input_bytes_max });
    }
    let Some(spec) = target.module.manifest().function(target.function) else {
        return refuse(VmError::UnknownFunction { contract: contract.clone(), function: cut(target.function, 80) });
    };
    if !spec.access.allows(&caller) {
        return refuse(VmError::AccessDenied {
            contract: contract.clone(),
            function: spec.name.clone(),
            caller: caller.to_string(),
        });
    }
    if let Some(parent) = &read_only_parent
        && !spec.read_only
    {
        return refuse(VmError::ReadOnly {
            contract: parent.contract.clone(),
            function: parent.function.clone(),
            action: format!("call {contract}.{}, which is not read-only", spec.name),
        });
    }
    let read_only = spec.read_only || read_only_parent.is_some();
    if let Err(error) = tx.stack.enter(contract) {
        return refuse(error);
    }
    let result = run_frame(tx, host, target, caller, read_only, fuel_available);
    tx.stack.leave();
    result
}

/// Fuel to enter a frame of `module`.
fn frame_fuel(module: &ValidatedModule) -> u64 {
    fuel::FRAME_BASE
        .saturating_add(fuel::FRAME_PER_MEMORY_PAGE.saturating_mul(u64::from(module.memory_pages_initial())))
}

fn run_frame(
    tx: &mut TxState,
    host: &mut dyn HostState,
    target: Target<'_>,
    caller: Caller,
    read_only: bool,
    fuel_available: u64,
) -> (Result<Vec<u8>, VmError>, u64) {
    let entry = frame_fuel(target.module);
    let Some(fuel_after_entry) = fuel_available.checked_sub(entry) else {
        return (Err(VmError::OutOfFuel { fuel_limit: tx.fuel_limit }), fuel_available);
    };
    let contract = target.contract.clone();
    let out_of_fuel = VmError::OutOfFuel { fuel_limit: tx.fuel_limit };
    let engine = target.module.wasm().engine().clone();
    let frame = Frame {
        tx,
        host,
        contract: contract.clone(),
        function: target.function.to_string(),
        caller,
        input: target.input.to_vec(),
        output: Vec::new(),
        read_only,
        memory: None,
        failure: None,
        store_limits: StoreLimitsBuilder::new()
            .memory_size(MEMORY_PAGES_MAX as usize * PAGE_BYTES as usize)
            .table_elements(TABLE_ELEMENTS_MAX as usize)
            .instances(1)
            .tables(1)
            .memories(1)
            .trap_on_grow_failure(false)
            .build(),
    };
    let mut store = Store::new(&engine, frame);
    store.limiter(|frame| &mut frame.store_limits);
    if let Err(error) = store.set_fuel(fuel_after_entry) {
        return (Err(VmError::Host { message: format!("fuel metering: {error}") }), entry);
    }
    let linker = match host_linker(&engine) {
        Ok(linker) => linker,
        Err(error) => return (Err(VmError::Host { message: format!("host linker: {error}") }), entry),
    };
    let used = |store: &Store<Frame<'_>>| fuel_available.saturating_sub(store.get_fuel().unwrap_or(0));
    let instance = match linker.instantiate_and_start(&mut store, target.module.wasm()) {
        Ok(instance) => instance,
        Err(error) => {
            let fuel_used = used(&store);
            let frame = store.into_data();
            let error = frame.failure.unwrap_or_else(|| match classify(&error, &contract, &out_of_fuel) {
                VmError::Trap { contract, trap } => VmError::Instantiation { contract, reason: trap },
                other => other,
            });
            return finish(Err(error), fuel_used, fuel_available);
        }
    };
    let memory = instance.get_memory(&store, MEMORY_EXPORT);
    store.data_mut().memory = memory;
    let function = match instance.get_typed_func::<(), ()>(&store, target.function) {
        Ok(function) => function,
        // Admission checked that every manifest function is exported as () -> ().
        Err(error) => {
            let error = VmError::Host { message: format!("admitted export {:?} unusable: {error}", target.function) };
            return (Err(error), used(&store));
        }
    };
    let result = function.call(&mut store, ());
    let fuel_used = used(&store);
    let frame = store.into_data();
    match result {
        Ok(()) => (Ok(frame.output), fuel_used),
        Err(error) => {
            let error = frame.failure.unwrap_or_else(|| classify(&error, &contract, &out_of_fuel));
            finish(Err(error), fuel_used, fuel_available)
        }
    }
}

/// A call that ran out of fuel burnt all the fuel it had, whatever wasmi had left when it noticed.
fn finish(result: Result<Vec<u8>, VmError>, fuel_used: u64, fuel_available: u64) -> (Result<Vec<u8>, VmError>, u64) {
    match result {
        Err(error @ VmError::OutOfFuel { .. }) => (Err(error), fuel_available),
        other => (other, fuel_used),
    }
}

/// The VmError of a wasmi error that no host function explained.
fn classify(error: &wasmi::Error, contract: &ContractId, out_of_fuel: &VmError) -> VmError {
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => out_of_fuel.clone(),
        Some(TrapCode::StackOverflow) => VmError::StackExhausted {
            contract: contract.clone(),
            max_depth: WASM_RECURSION_DEPTH_MAX as u64,
            max_bytes: WASM_STACK_BYTES_MAX as u64,
        },
        Some(code) => VmError::Trap { contract: contract.clone(), trap: code.to_string() },
        None => VmError::Trap { contract: contract.clone(), trap: error.to_string() },
    }
}

type HostCaller<'c, 'a> = wasmi::Caller<'c, Frame<'a>>;
type HostResult<T> = Result<T, wasmi::Error>;

/// Records why the frame stops and returns the error that makes wasmi stop.
fn stop(caller: &mut HostCaller<'_, '_>, error: VmError) -> wasmi::Error {
    caller.data_mut().failure = Some(error);
    wasmi::Error::host(HostStop)
}

fn bad_call(caller: &mut HostCaller<'_, '_>, function: &'static str, reason: String) -> wasmi::Error {
    let contract = caller.data().contract.clone();
    stop(caller, VmError::BadHostCall { contract, function, reason })
}

/// Burns `amount` fuel, or stops the frame out of fuel.
fn charge(caller: &mut HostCaller<'_, '_>, amount: u64) -> HostResult<()> {
    let remaining = caller.get_fuel().unwrap_or(0);
    match remaining.checked_sub(amount) {
        Some(left) => {
            let _ = caller.set_fuel(left);
            Ok(())
        }
        None => {
            let _ = caller.set_fuel(0);
            let fuel_limit = caller.data().tx.fuel_limit;
            Err(stop(caller, VmError::OutOfFuel { fuel_limit }))
        }
    }
}

fn memory(caller: &mut HostCaller<'_, '_>, function: &'static str) -> HostResult<Memory> {
    match caller.data().memory {
        Some(memory) => Ok(memory),
        None => Err(bad_call(caller, function, "the contract exports no memory".into())),
    }
}

/// Copies `len` bytes at `ptr` out of the contract's memory. `len` must already be checked against its
/// limit (the buffer is allocated first).
fn read_memory(caller: &mut HostCaller<'_, '_>, function: &'static str, ptr: i32, len: u32) -> HostResult<Vec<u8>> {
    let memory = memory(caller, function)?;
    let mut buffer = vec![0u8; len as usize];
    if memory.read(&*caller, ptr as u32 as usize, &mut buffer).is_err() {
        let size = memory.data_size(&*caller);
        return Err(bad_call(
            caller,
            function,
            format!("{len} bytes at {} lie outside the contract's memory of {size} bytes", ptr as u32),
        ));
    }
    Ok(buffer)
}

fn write_memory(caller: &mut HostCaller<'_, '_>, function: &'static str, ptr: i32, bytes: &[u8]) -> HostResult<()> {
    let memory = memory(caller, function)?;
    if memory.write(&mut *caller, ptr as u32 as usize, bytes).is_err() {
        let size = memory.data_size(&*caller);
        return Err(bad_call(
            caller,
            function,
            format!("{} bytes at {} lie outside the contract's memory of {size} bytes", bytes.len(), ptr as u32),
        ));
    }
    Ok(())
}

/// Writes as much of `value` as fits in `cap` bytes at `ptr` and returns its full length: the contract
/// sees it was cut when the length exceeds its buffer.
fn return_bytes(
    caller: &mut HostCaller<'_, '_>,
    function: &'static str,
    ptr: i32,
    cap: i32,
    value: &[u8],
) -> HostResult<i32> {
    let copied = value.len().min(cap as u32 as usize);
    charge(caller, fuel::PER_BYTE_COPIED.saturating_mul(copied as u64))?;
    write_memory(caller, function, ptr, &value[..copied])?;
    Ok(i32::try_from(value.len()).unwrap_or(i32::MAX))
}

fn too_large(what: &'static str, len: u32, max: u32) -> VmError {
    VmError::HostArgumentTooLarge { what, len_bytes: u64::from(len), max_bytes: u64::from(max) }
}

fn refuse_if_read_only(caller: &mut HostCaller<'_, '_>, action: &str) -> HostResult<()> {
    let frame = caller.data();
    if !frame.read_only {
        return Ok(());
    }
    let error =
        VmError::ReadOnly { contract: frame.contract.clone(), function: frame.function.clone(), action: action.into() };
    Err(stop(caller, error))
}

fn input_len(caller: &mut HostCaller<'_, '_>) -> HostResult<i32> {
    charge(caller, fuel::HOST_CALL_BASE)?;
    Ok(i32::try_from(caller.data().input.len()).unwrap_or(i32::MAX))
}

fn input_read(caller: &mut HostCaller<'_, '_>, ptr: i32) -> HostResult<()> {
    let input = caller.data().input.clone();
    charge(caller, fuel::HOST_CALL_BASE.saturating_add(fuel::PER_BYTE_COPIED.saturating_mul(input.len() as u64)))?;
    write_memory(caller, "input_read", ptr, &input)
}

fn output_write(caller: &mut HostCaller<'_, '_>, ptr: i32, len: i32) -> HostResult<()> {
    let len = len as u32;
    let max_bytes = caller.data().tx.limits.call_output_bytes_max;
    if u64::from(len) > max_bytes {
        return Err(stop(caller, VmError::OutputTooLarge { len_bytes: u64::from(len), max_bytes }));
    }
    charge(caller, fuel::HOST_CALL_BASE.saturating_add(fuel::PER_BYTE_COPIED.saturating_mul(u64::from(len))))?;
    let output = read_memory(caller, "output_write", ptr, len)?;
    caller.data_mut().output = output;
    Ok(())
}

fn storage_get(
    caller: &mut HostCaller<'_, '_>,
    key_ptr: i32,
    key_len: i32,
    out_ptr: i32,
    out_cap: i32,
) -> HostResult<i32> {
    let key_len = key_len as u32;
    if key_len > STORAGE_KEY_BYTES_MAX {
        return Err(stop(caller, too_large("storage key", key_len, STORAGE_KEY_BYTES_MAX)));
    }
    let per_byte = fuel::STORAGE_READ_PER_BYTE.saturating_mul(u64::from(key_len));
    charge(caller, fuel::HOST_CALL_BASE.saturating_add(fuel::STORAGE_READ).saturating_add(per_byte))?;
    let key = read_memory(caller, "storage_get", key_ptr, key_len)?;
    let frame = caller.data_mut();
    let slot = (frame.contract.clone(), key);
    let value = match frame.tx.writes.get(&slot) {
        Some(buffered) => Ok(buffered.clone()),
        None => frame.host.storage_get(&slot.0, &slot.1),
    };
    let value = match value {
        Ok(value) => value,
        Err(error) => return Err(stop(caller, error)),
    };
    let Some(value) = value else {
        return Ok(NOT_FOUND);
    };
    charge(caller, fuel::STORAGE_READ_PER_BYTE.saturating_mul(value.len() as u64))?;
    return_bytes(caller, "storage_get", out_ptr, out_cap, &value)
}

/// Checks a write (size, read-only, write count), charges it and buffers it.
fn buffer_write(
    caller: &mut HostCaller<'_, '_>,
    function: &'static str,
    key_ptr: i32,
    key_len: i32,
    value: Option<(i32, i32)>,
) -> HostResult<()> {
    let key_len = key_len as u32;
    if key_len > STORAGE_KEY_BYTES_MAX {
        return Err(stop(caller, too_large("storage key", key_len, STORAGE_KEY_BYTES_MAX)));
    }
    let value_len = value.map_or(0, |(_, len)| len as u32);
    if value_len > STORAGE_VALUE_BYTES_MAX {
        return Err(stop(caller, too_large("storage value", value_len, STORAGE_VALUE_BYTES_MAX)));
    }
    refuse_if_read_only(caller, "write storage")?;
    let max = caller.data().tx.limits.call_storage_writes_max;
    if caller.data().tx.writes_count >= max {
        return Err(stop(caller, VmError::TooManyWrites { max }));
    }
    let bytes = u64::from(key_len).saturating_add(u64::from(value_len));
    let cost = fuel::HOST_CALL_BASE
        .saturating_add(fuel::STORAGE_WRITE)
        .saturating_add(fuel::STORAGE_WRITE_PER_BYTE.saturating_mul(bytes));
    charge(caller, cost)?;
    let key = read_memory(caller, function, key_ptr, key_len)?;
    let value = match value {
        Some((value_ptr, _)) => Some(read_memory(caller, function, value_ptr, value_len)?),
        None => None,
    };
    let frame = caller.data_mut();
    frame.tx.writes.insert((frame.contract.clone(), key), value);
    frame.tx.writes_count = frame.tx.writes_count.saturating_add(1);
    Ok(())
}

fn caller_kind(caller: &mut HostCaller<'_, '_>) -> HostResult<i32> {
    charge(caller, fuel::HOST_CALL_BASE)?;
    Ok(match caller.data().caller {
        Caller::Operator(_) => CALLER_OPERATOR,
        Caller::Contract(_) => CALLER_CONTRACT,
    })
}

/// Which text field a `caller_*` or `contract_id` getter returns.
#[derive(Clone, Copy)]
enum Field {
    Operator,
    Person,
    Member,
    CallerContract,
    SelfContract,
}

fn text_field(
    caller: &mut HostCaller<'_, '_>,
    function: &'static str,
    field: Field,
    ptr: i32,
    cap: i32,
) -> HostResult<i32> {
    charge(caller, fuel::HOST_CALL_BASE)?;
    let frame = caller.data();
    let text = match (field, &frame.caller) {
        (Field::Operator, Caller::Operator(identity)) => Some(identity.operator.to_string()),
        (Field::Person, Caller::Operator(identity)) => Some(identity.person.to_string()),
        (Field::Member, Caller::Operator(identity)) => Some(identity.member.to_string()),
        (Field::CallerContract, Caller::Contract(contract)) => Some(contract.to_string()),
        (Field::SelfContract, _) => Some(frame.contract.to_string()),
        _ => None,
    };
    match text {
        Some(text) => return_bytes(caller, function, ptr, cap, text.as_bytes()),
        None => Ok(NOT_FOUND),
    }
}

fn caller_has_role(caller: &mut HostCaller<'_, '_>, code: i32) -> HostResult<i32> {
    charge(caller, fuel::HOST_CALL_BASE)?;
    let Some(role) = abi::role_from_code(code) else {
        return Err(bad_call(caller, "caller_has_role", format!("{code} is not a role code (0 to 3)")));
    };
    Ok(match &caller.data().caller {
        Caller::Operator(identity) => i32::from(identity.roles.contains(&role)),
        Caller::Contract(_) => 0,
    })
}

fn block_value(caller: &mut HostCaller<'_, '_>, value: fn(&BlockInfo) -> u64) -> HostResult<i64> {
    charge(caller, fuel::HOST_CALL_BASE)?;
    Ok(i64::try_from(value(&caller.data().tx.block)).unwrap_or(i64::MAX))
}

fn emit_event(caller: &mut HostCaller<'_, '_>, ptr: i32, len: i32) -> HostResult<()> {
    let len = len as u32;
    if len > EVENT_BYTES_MAX {
        return Err(stop(caller, too_large("event", len, EVENT_BYTES_MAX)));
    }
    refuse_if_read_only(caller, "emit events")?;
    if caller.data().tx.events.len() >= EVENTS_PER_CALL_MAX {
        return Err(stop(caller, VmError::TooManyEvents { max: EVENTS_PER_CALL_MAX as u64 }));
    }
    let cost = fuel::HOST_CALL_BASE
        .saturating_add(fuel::EVENT)
        .saturating_add(fuel::EVENT_PER_BYTE.saturating_mul(u64::from(len)));
    charge(caller, cost)?;
    let data = read_memory(caller, "emit_event", ptr, len)?;
    let frame = caller.data_mut();
    frame.tx.events.push(Event { contract: frame.contract.clone(), data });
    Ok(())
}

fn abort(caller: &mut HostCaller<'_, '_>, ptr: i32, len: i32) -> HostResult<()> {
    // A longer message is cut, not refused: the abort must not turn into a different error.
    let len = (len as u32).min(ABORT_MESSAGE_BYTES_MAX);
    charge(caller, fuel::HOST_CALL_BASE.saturating_add(fuel::PER_BYTE_COPIED.saturating_mul(u64::from(len))))?;
    let bytes = read_memory(caller, "abort", ptr, len)?;
    let contract = caller.data().contract.clone();
    let message = String::from_utf8_lossy(&bytes).into_owned();
    Err(stop(caller, VmError::Aborted { contract, message }))
}

/// Arguments of `call_contract`, as passed by the contract.
struct CallArgs {
    id: (i32, i32),
    function: (i32, i32),
    input: (i32, i32),
    out: (i32, i32),
}

fn call_contract(caller: &mut HostCaller<'_, '_>, args: CallArgs) -> HostResult<i32> {
    const NAME: &str = "call_contract";
    let id_len = args.id.1 as u32;
    let function_len = args.function.1 as u32;
    let input_len = args.input.1 as u32;
    if id_len as usize > ID_BYTES_MAX {
        return Err(stop(caller, too_large("contract id", id_len, ID_BYTES_MAX as u32)));
    }
    if function_len as usize > FUNCTION_NAME_BYTES_MAX {
        return Err(stop(caller, too_large("function name", function_len, FUNCTION_NAME_BYTES_MAX as u32)));
    }
    let max_bytes = caller.data().tx.limits.call_input_bytes_max;
    if u64::from(input_len) > max_bytes {
        return Err(stop(caller, VmError::InputTooLarge { len_bytes: u64::from(input_len), max_bytes }));
    }
    let copied = u64::from(id_len) + u64::from(function_len) + u64::from(input_len);
    let cost = fuel::HOST_CALL_BASE
        .saturating_add(fuel::CALL_CONTRACT)
        .saturating_add(fuel::PER_BYTE_COPIED.saturating_mul(copied));
    charge(caller, cost)?;
    let id = read_memory(caller, NAME, args.id.0, id_len)?;
    let callee = match String::from_utf8(id)
        .map_err(|error| error.to_string())
        .and_then(|id| ContractId::new(id).map_err(|error| error.to_string()))
    {
        Ok(callee) => callee,
        Err(reason) => return Err(bad_call(caller, NAME, format!("not a contract id: {reason}"))),
    };
    let function = read_memory(caller, NAME, args.function.0, function_len)?;
    let Ok(function) = String::from_utf8(function) else {
        return Err(bad_call(caller, NAME, "the function name is not UTF-8".into()));
    };
    let input = read_memory(caller, NAME, args.input.0, input_len)?;
    let available = caller.get_fuel().unwrap_or(0);
    let frame = caller.data_mut();
    // The stack is checked before the host is asked for the callee, so a re-entrant call is refused as
    // such even when the callee could not run anyway.
    if let Err(error) = frame.tx.stack.check_enter(&callee) {
        return Err(stop(caller, error));
    }
    let module = match frame.host.contract(&callee) {
        Ok(module) => module,
        Err(error) => return Err(stop(caller, error)),
    };
    let read_only_parent =
        frame.read_only.then(|| ReadOnlyParent { contract: frame.contract.clone(), function: frame.function.clone() });
    let calling = Caller::Contract(frame.contract.clone());
    let target = Target { module: &module, contract: &callee, function: &function, input: &input };
    let (result, used) = invoke(&mut *frame.tx, &mut *frame.host, target, calling, read_only_parent, available);
    let _ = caller.set_fuel(available.saturating_sub(used));
    match result {
        Ok(output) => return_bytes(caller, NAME, args.out.0, args.out.1, &output),
        Err(error) => Err(stop(caller, error)),
    }
}

/// The host functions of [`abi::HOST_FUNCTIONS`], for one frame's store.
fn host_linker<'a>(engine: &Engine) -> Result<Linker<Frame<'a>>, wasmi::errors::LinkerError> {
    type C<'c, 'a> = HostCaller<'c, 'a>;
    let mut linker = Linker::<Frame<'a>>::new(engine);
    let m = HOST_MODULE;
    linker.func_wrap(m, "input_len", |mut c: C<'_, 'a>| input_len(&mut c))?;
    linker.func_wrap(m, "input_read", |mut c: C<'_, 'a>, ptr: i32| input_read(&mut c, ptr))?;
    linker.func_wrap(m, "output_write", |mut c: C<'_, 'a>, ptr: i32, len: i32| output_write(&mut c, ptr, len))?;
    linker.func_wrap(m, "storage_get", |mut c: C<'_, 'a>, kp: i32, kl: i32, op: i32, oc: i32| {
        storage_get(&mut c, kp, kl, op, oc)
    })?;
    linker.func_wrap(m, "storage_set", |mut c: C<'_, 'a>, kp: i32, kl: i32, vp: i32, vl: i32| {
        buffer_write(&mut c, "storage_set", kp, kl, Some((vp, vl)))
    })?;
    linker.func_wrap(m, "storage_remove", |mut c: C<'_, 'a>, kp: i32, kl: i32| {
        buffer_write(&mut c, "storage_remove", kp, kl, None)
    })?;
    linker.func_wrap(m, "caller_kind", |mut c: C<'_, 'a>| caller_kind(&mut c))?;
    linker.func_wrap(m, "caller_operator", |mut c: C<'_, 'a>, p: i32, n: i32| {
        text_field(&mut c, "caller_operator", Field::Operator, p, n)
    })?;
    linker.func_wrap(m, "caller_person", |mut c: C<'_, 'a>, p: i32, n: i32| {
        text_field(&mut c, "caller_person", Field::Person, p, n)
    })?;
    linker.func_wrap(m, "caller_member", |mut c: C<'_, 'a>, p: i32, n: i32| {
        text_field(&mut c, "caller_member", Field::Member, p, n)
    })?;
    linker.func_wrap(m, "caller_contract", |mut c: C<'_, 'a>, p: i32, n: i32| {
        text_field(&mut c, "caller_contract", Field::CallerContract, p, n)
    })?;
    linker.func_wrap(m, "caller_has_role", |mut c: C<'_, 'a>, role: i32| caller_has_role(&mut c, role))?;
    linker.func_wrap(m, "contract_id", |mut c: C<'_, 'a>, p: i32, n: i32| {
        text_field(&mut c, "contract_id", Field::SelfContract, p, n)
    })?;
    linker.func_wrap(m, "block_height", |mut c: C<'_, 'a>| block_value(&mut c, |block| block.height))?;
    linker.func_wrap(m, "block_timestamp_ms", |mut c: C<'_, 'a>| block_value(&mut c, |block| block.timestamp_ms))?;
    linker.func_wrap(m, "emit_event", |mut c: C<'_, 'a>, ptr: i32, len: i32| emit_event(&mut c, ptr, len))?;
    linker.func_wrap(m, "abort", |mut c: C<'_, 'a>, ptr: i32, len: i32| abort(&mut c, ptr, len))?;
    linker.func_wrap(
        m,
        "call_contract",
        |mut c: C<'_, 'a>, ip: i32, il: i32, fp: i32, fl: i32, np: i32, nl: i32, op: i32, oc: i32| {
            let args = CallArgs { id: (ip, il), function: (fp, fl), input: (np, nl), out: (op, oc) };
            call_contract(&mut c, args)
        },
    )?;
    Ok(linker)
}
