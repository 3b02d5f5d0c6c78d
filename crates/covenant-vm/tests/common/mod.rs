//! Shared helpers for the covenant-vm tests: manifests, callers, contexts and WAT compilation.

#![allow(dead_code)]

use covenant_types::{ContractId, MemberId, OperatorId, PersonId, Role};
use covenant_vm::{
    AccessPolicy, BlockInfo, CallContext, Caller, FunctionSpec, Grant, Manifest, OperatorIdentity, ValidatedModule,
    VmLimits, validate_module,
};

/// Compiles WebAssembly text; a typo in a test module is a bug in the test.
pub fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|error| panic!("test module does not compile: {error}\n{text}"))
}

pub fn contract(id: &str) -> ContractId {
    ContractId::new(id).expect("valid contract id")
}

pub fn function(name: &str, grants: Vec<Grant>, read_only: bool) -> FunctionSpec {
    FunctionSpec { name: name.into(), access: AccessPolicy::allow(grants), read_only }
}

/// A manifest listing `functions`, each open to any operator.
pub fn manifest(functions: &[&str]) -> Manifest {
    manifest_with(functions.iter().map(|name| function(name, vec![Grant::AnyOperator], false)).collect())
}

pub fn manifest_with(functions: Vec<FunctionSpec>) -> Manifest {
    Manifest {
        name: "test contract".into(),
        version: "1.0.0".into(),
        owner: MemberId::new("bank-a").expect("valid member id"),
        steward: OperatorId::new("alice").expect("valid operator id"),
        functions,
    }
}

/// Validates `text` with the default limits; the test module is expected to be admissible.
pub fn admit(text: &str, manifest: &Manifest) -> ValidatedModule {
    validate_module(&wasm(text), manifest, &VmLimits::default())
        .unwrap_or_else(|error| panic!("test module refused: {error}"))
}

pub fn operator(member: &str, roles: &[Role]) -> Caller {
    Caller::Operator(OperatorIdentity {
        operator: OperatorId::new("bob").expect("valid operator id"),
        person: PersonId::new("bob-chen").expect("valid person id"),
        member: MemberId::new(member).expect("valid member id"),
        roles: roles.to_vec(),
    })
}

pub fn context(contract_id: &str, caller: Caller) -> CallContext {
    CallContext {
        contract: contract(contract_id),
        caller,
        block: BlockInfo { height: 42, timestamp_ms: 1_700_000_000_123 },
    }
}

/// The standard caller: a submitter of bank-b.
pub fn submitter() -> Caller {
    operator("bank-b", &[Role::Submitter])
}

/// Every host import a test module may need, in WAT.
pub const IMPORTS: &str = r#"
  (import "covenant" "input_len" (func $input_len (result i32)))
  (import "covenant" "input_read" (func $input_read (param i32)))
  (import "covenant" "output_write" (func $output_write (param i32 i32)))
  (import "covenant" "storage_get" (func $storage_get (param i32 i32 i32 i32) (result i32)))
  (import "covenant" "storage_set" (func $storage_set (param i32 i32 i32 i32)))
  (import "covenant" "storage_remove" (func $storage_remove (param i32 i32)))
  (import "covenant" "caller_kind" (func $caller_kind (result i32)))
  (import "covenant" "caller_operator" (func $caller_operator (param i32 i32) (result i32)))
  (import "covenant" "caller_person" (func $caller_person (param i32 i32) (result i32)))
  (import "covenant" "caller_member" (func $caller_member (param i32 i32) (result i32)))
  (import "covenant" "caller_contract" (func $caller_contract (param i32 i32) (result i32)))
  (import "covenant" "caller_has_role" (func $caller_has_role (param i32) (result i32)))
  (import "covenant" "contract_id" (func $contract_id (param i32 i32) (result i32)))
  (import "covenant" "block_height" (func $block_height (result i64)))
  (import "covenant" "block_timestamp_ms" (func $block_timestamp_ms (result i64)))
  (import "covenant" "emit_event" (func $emit_event (param i32 i32)))
  (import "covenant" "abort" (func $abort (param i32 i32)))
  (import "covenant" "call_contract"
    (func $call_contract (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
"#;

/// A module with all host imports, one page of memory exported, and `body` (functions, data).
pub fn module(body: &str) -> String {
    format!("(module {IMPORTS} (memory (export \"memory\") 1) {body})")
}

/// A counter: `increment` adds one to the u64 under key "count" and outputs it; `get` outputs it.
pub fn counter_wat() -> String {
    module(
        r#"
  (data (i32.const 0) "count")
  (func $load (result i64)
    (if (i32.eq (call $storage_get (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8)) (i32.const -1))
      (then (return (i64.const 0))))
    (i64.load (i32.const 16)))
  (func (export "increment")
    (i64.store (i32.const 16) (i64.add (call $load) (i64.const 1)))
    (call $storage_set (i32.const 0) (i32.const 5) (i32.const 16) (i32.const 8))
    (call $output_write (i32.const 16) (i32.const 8)))
  (func (export "get")
    (i64.store (i32.const 16) (call $load))
    (call $output_write (i32.const 16) (i32.const 8)))
"#,
    )
}

/// A contract whose `run` writes key "touched" in its own storage, calls `target_fn` of `target` with no
/// input, and outputs what the callee returned.
pub fn relay_wat(target: &str, target_fn: &str) -> String {
    module(&format!(
        r#"
  (data (i32.const 0) "{target}")
  (data (i32.const 64) "{target_fn}")
  (data (i32.const 128) "touched")
  (func (export "run")
    (local $n i32)
    (call $storage_set (i32.const 128) (i32.const 7) (i32.const 128) (i32.const 7))
    (local.set $n (call $call_contract
      (i32.const 0) (i32.const {id_len}) (i32.const 64) (i32.const {fn_len})
      (i32.const 0) (i32.const 0) (i32.const 256) (i32.const 1024)))
    (call $output_write (i32.const 256) (local.get $n)))
"#,
        id_len = target.len(),
        fn_len = target_fn.len(),
    ))
}

/// A contract whose `run` writes key "leaf" and outputs "leaf".
pub fn leaf_wat() -> String {
    module(
        r#"
  (data (i32.const 0) "leaf")
  (func (export "run")
    (call $storage_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
    (call $output_write (i32.const 0) (i32.const 4)))
"#,
    )
}
