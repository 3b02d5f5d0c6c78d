//! Calls: state, fuel, limits, access, aborts, re-entrancy and determinism, each failure naming its rule.

mod common;

use common::*;
use covenant_rules::RuleId;
use covenant_types::Role;
use covenant_vm::limits::{CALL_DEPTH_MAX, EVENTS_PER_CALL_MAX, STORAGE_KEY_BYTES_MAX};
use covenant_vm::{
    CallFailure, CallOutcome, Caller, Event, Grant, MemoryHost, StorageWrite, Unavailable, ValidatedModule, Vm,
    VmError, VmLimits,
};

const FUEL: u64 = 1_000_000;

fn vm() -> Vm {
    Vm::new(VmLimits::default())
}

fn call(
    module: &ValidatedModule,
    function: &str,
    input: &[u8],
    host: &mut MemoryHost,
) -> Result<CallOutcome, CallFailure> {
    vm().call(module, function, input, &context("counter", submitter()), host, FUEL)
}

fn counter() -> ValidatedModule {
    admit(&counter_wat(), &manifest(&["increment", "get"]))
}

fn as_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

#[test]
fn a_counter_stores_and_reads_its_value() {
    let module = counter();
    let mut host = MemoryHost::new();
    let first = call(&module, "get", &[], &mut host).unwrap();
    assert_eq!(as_u64(&first.output), 0);
    assert!(first.writes.is_empty());
    for expected in 1..=3u64 {
        let outcome = call(&module, "increment", &[], &mut host).unwrap();
        assert_eq!(as_u64(&outcome.output), expected);
        assert_eq!(
            outcome.writes,
            vec![StorageWrite {
                contract: contract("counter"),
                key: b"count".to_vec(),
                value: Some(expected.to_le_bytes().to_vec())
            }]
        );
        host.apply(&outcome);
    }
    assert_eq!(as_u64(&call(&module, "get", &[], &mut host).unwrap().output), 3);
    assert_eq!(host.get(&contract("counter"), b"count"), Some(&3u64.to_le_bytes()[..]));
}

/// Fuel costs are consensus: these numbers change only with a deliberate change of wasmi, the
/// configuration or the host fuel table (and then every validator must upgrade together).
// covers: COV-29-FUEL
#[test]
fn fuel_used_by_a_sample_call_is_pinned() {
    let module = counter();
    let mut host = MemoryHost::new();
    let first = call(&module, "increment", &[], &mut host).unwrap();
    host.apply(&first);
    let second = call(&module, "increment", &[], &mut host).unwrap();
    let get = call(&module, "get", &[], &mut host).unwrap();
    println!("fuel: first increment {}, second increment {}, get {}", first.fuel_used, second.fuel_used, get.fuel_used);
    assert_eq!((first.fuel_used, second.fuel_used, get.fuel_used), (PINNED_FIRST, PINNED_SECOND, PINNED_GET));
}

// First increment: frame 10_000 + 1 page 1_000; storage_get of an absent 5-byte key 50 + 500 + 10;
// storage_set of 5 + 8 bytes 50 + 2_000 + 260; output_write of 8 bytes 58; wasm instructions 27.
const PINNED_FIRST: u64 = 13_955;
// The second increment also reads and copies the 8-byte value (16 + 8) and runs 2 more instructions.
const PINNED_SECOND: u64 = 13_977;
const PINNED_GET: u64 = 11_660;

// covers: COV-29-FUEL
#[test]
fn an_infinite_loop_is_stopped_by_fuel_and_its_writes_discarded() {
    let text = module(
        r#"
  (data (i32.const 0) "key")
  (func (export "spin")
    (call $storage_set (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 3))
    (call $emit_event (i32.const 0) (i32.const 3))
    (loop $forever (br $forever)))
"#,
    );
    let module = admit(&text, &manifest(&["spin"]));
    let mut host = MemoryHost::new();
    let failure = vm().call(&module, "spin", &[], &context("spinner", submitter()), &mut host, 50_000).unwrap_err();
    assert_eq!(failure.error, VmError::OutOfFuel { fuel_limit: 50_000 });
    assert_eq!(failure.fuel_used, 50_000, "running out burns the whole limit");
    assert_eq!(failure.rule(), Some(RuleId::Fuel));
    // A failure carries no writes or events; the host saw none.
    assert!(host.storage().is_empty());
}

// covers: COV-29-FUEL
#[test]
fn fuel_limits_above_the_transaction_and_block_bounds_are_refused() {
    let module = counter();
    let limits = VmLimits::default();
    let vm = Vm::new(limits);
    let failure = vm
        .call(&module, "get", &[], &context("counter", submitter()), &mut MemoryHost::new(), limits.fuel_per_tx_max + 1)
        .unwrap_err();
    assert_eq!(
        failure.error,
        VmError::FuelLimitTooHigh { fuel_limit: limits.fuel_per_tx_max + 1, max: limits.fuel_per_tx_max }
    );
    assert_eq!((failure.fuel_used, failure.rule()), (0, Some(RuleId::Fuel)));

    assert!(vm.check_block_fuel(0, limits.fuel_per_block_max).is_ok());
    let error = vm.check_block_fuel(limits.fuel_per_block_max - 10, 11).unwrap_err();
    assert_eq!(error.rule(), Some(RuleId::Fuel));
    assert!(vm.check_block_fuel(u64::MAX, 1).is_err(), "no overflow");
    // Too little fuel even to enter the frame.
    let failure =
        vm.call(&module, "get", &[], &context("counter", submitter()), &mut MemoryHost::new(), 10).unwrap_err();
    assert_eq!((failure.error.rule(), failure.fuel_used), (Some(RuleId::Fuel), 10));
}

// covers: COV-29-FUEL
#[test]
fn unbounded_recursion_exhausts_the_stack_not_the_node() {
    let text = r#"(module (func $down (call $down)) (func (export "run") (call $down)))"#;
    let module = admit(text, &manifest(&["run"]));
    let failure =
        vm().call(&module, "run", &[], &context("deep", submitter()), &mut MemoryHost::new(), 10_000_000).unwrap_err();
    assert!(matches!(failure.error, VmError::StackExhausted { .. }), "{}", failure.error);
    assert_eq!(failure.rule(), Some(RuleId::Fuel));
}

// covers: COV-28-CONTRACT-LIMITS
#[test]
fn input_and_output_over_their_bounds_are_refused() {
    let echo = module(
        r#"
  (func (export "echo")
    (local $n i32)
    (local.set $n (call $input_len))
    (call $input_read (i32.const 0))
    (call $output_write (i32.const 0) (local.get $n)))
  (func (export "big") (call $output_write (i32.const 0) (i32.const 65536)))
"#,
    );
    let module = admit(&echo, &manifest(&["echo", "big"]));
    let limits = VmLimits { call_input_bytes_max: 100, call_output_bytes_max: 50, ..VmLimits::default() };
    let vm = Vm::new(limits);
    let ctx = context("echo", submitter());
    let mut host = MemoryHost::new();

    let outcome = vm.call(&module, "echo", &[7; 50], &ctx, &mut host, FUEL).unwrap();
    assert_eq!(outcome.output, vec![7; 50]);

    let failure = vm.call(&module, "echo", &[7; 101], &ctx, &mut host, FUEL).unwrap_err();
    assert_eq!(failure.error, VmError::InputTooLarge { len_bytes: 101, max_bytes: 100 });
    assert_eq!((failure.rule(), failure.fuel_used), (Some(RuleId::ContractLimits), 0));

    let failure = vm.call(&module, "echo", &[7; 51], &ctx, &mut host, FUEL).unwrap_err();
    assert_eq!(failure.error, VmError::OutputTooLarge { len_bytes: 51, max_bytes: 50 });
    assert_eq!(failure.rule(), Some(RuleId::ContractLimits));
    assert!(failure.fuel_used > 0);

    let failure = vm.call(&module, "big", &[], &ctx, &mut host, FUEL).unwrap_err();
    assert_eq!(failure.rule(), Some(RuleId::ContractLimits));
}

// covers: COV-28-CONTRACT-LIMITS
#[test]
fn storage_keys_values_writes_and_events_are_bounded() {
    let text = module(&format!(
        r#"
  (func (export "long_key")
    (call $storage_set (i32.const 0) (i32.const {long_key}) (i32.const 0) (i32.const 1)))
  (func (export "many_writes")
    (local $i i32)
    (loop $again
      (i32.store (i32.const 0) (local.get $i))
      (call $storage_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000)))))
  (func (export "many_events")
    (local $i i32)
    (loop $again
      (call $emit_event (i32.const 0) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 1000)))))
"#,
        long_key = STORAGE_KEY_BYTES_MAX + 1
    ));
    let module = admit(&text, &manifest(&["long_key", "many_writes", "many_events"]));
    let limits = VmLimits { call_storage_writes_max: 10, ..VmLimits::default() };
    let vm = Vm::new(limits);
    let ctx = context("bounded", submitter());
    let run = |function: &str| vm.call(&module, function, &[], &ctx, &mut MemoryHost::new(), 10_000_000).unwrap_err();

    let failure = run("long_key");
    assert!(matches!(failure.error, VmError::HostArgumentTooLarge { what: "storage key", .. }), "{}", failure.error);
    assert_eq!(failure.rule(), Some(RuleId::ContractLimits));
    assert_eq!(run("many_writes").error, VmError::TooManyWrites { max: 10 });
    assert_eq!(run("many_writes").rule(), Some(RuleId::ContractLimits));
    assert_eq!(run("many_events").error, VmError::TooManyEvents { max: EVENTS_PER_CALL_MAX as u64 });
}

#[test]
fn abort_returns_its_message_and_discards_writes() {
    let text = module(
        r#"
  (data (i32.const 0) "insufficient escrow balance")
  (func (export "withdraw")
    (call $storage_set (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 4))
    (call $abort (i32.const 0) (i32.const 27))
    (call $storage_set (i32.const 4) (i32.const 4) (i32.const 0) (i32.const 4)))
  (func (export "shout") (call $abort (i32.const 0) (i32.const 100000)))
"#,
    );
    let module = admit(&text, &manifest(&["withdraw", "shout"]));
    let mut host = MemoryHost::new();
    let failure = vm().call(&module, "withdraw", &[], &context("escrow", submitter()), &mut host, FUEL).unwrap_err();
    assert_eq!(
        failure.error,
        VmError::Aborted { contract: contract("escrow"), message: "insufficient escrow balance".into() }
    );
    assert_eq!(failure.rule(), None, "an abort is the contract's own decision, not a covenant rule");
    assert!(host.storage().is_empty());
    // An over-long message is cut to the bound, not turned into another error.
    let failure = vm().call(&module, "shout", &[], &context("escrow", submitter()), &mut host, FUEL).unwrap_err();
    let VmError::Aborted { message, .. } = failure.error else { panic!("expected an abort") };
    assert_eq!(message.len(), covenant_vm::limits::ABORT_MESSAGE_BYTES_MAX as usize);
}

#[test]
fn traps_and_bad_host_calls_fail_the_call_without_panicking() {
    let text = module(
        r#"
  (func (export "unreachable") unreachable)
  (func (export "divide") (drop (i32.div_u (i32.const 1) (i32.const 0))))
  (func (export "wild_pointer") (call $output_write (i32.const 65530) (i32.const 100)))
  (func (export "negative_length") (call $output_write (i32.const 0) (i32.const -1)))
  (func (export "bad_role") (drop (call $caller_has_role (i32.const 9))))
  (func (export "bad_callee")
    (drop (call $call_contract (i32.const 0) (i32.const 3) (i32.const 0) (i32.const 0)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
  (data (i32.const 0) "B@D")
"#,
    );
    let functions = ["unreachable", "divide", "wild_pointer", "negative_length", "bad_role", "bad_callee"];
    let module = admit(&text, &manifest(&functions));
    for function in functions {
        let failure = vm()
            .call(&module, function, &[], &context("buggy", submitter()), &mut MemoryHost::new(), FUEL)
            .unwrap_err();
        match (function, &failure.error) {
            ("unreachable" | "divide", VmError::Trap { .. }) => {}
            ("wild_pointer" | "bad_role" | "bad_callee", VmError::BadHostCall { .. }) => {}
            ("negative_length", VmError::OutputTooLarge { .. }) => {}
            (_, other) => panic!("{function}: unexpected {other}"),
        }
    }
}

#[test]
fn memory_grows_only_up_to_its_bound() {
    let text = r#"(module (import "covenant" "output_write" (func $out (param i32 i32)))
      (memory (export "memory") 1)
      (func (export "grow")
        (i32.store (i32.const 0) (memory.grow (i32.const 31)))
        (i32.store (i32.const 4) (memory.grow (i32.const 1)))
        (call $out (i32.const 0) (i32.const 8))))"#;
    let module = admit(text, &manifest(&["grow"]));
    let outcome =
        vm().call(&module, "grow", &[], &context("grower", submitter()), &mut MemoryHost::new(), FUEL).unwrap();
    let old_size = i32::from_le_bytes(outcome.output[0..4].try_into().unwrap());
    let refused = i32::from_le_bytes(outcome.output[4..8].try_into().unwrap());
    assert_eq!((old_size, refused), (1, -1), "growing to 32 pages works, to 33 returns -1");
}

// covers: COV-31-FUNCTION-ACL
#[test]
fn a_caller_outside_the_function_policy_is_refused() {
    let text = counter_wat();
    let manifest = manifest_with(vec![
        function(
            "increment",
            vec![Grant::MemberRole { member: "bank-a".parse().unwrap(), role: Role::Submitter }],
            false,
        ),
        function("get", vec![Grant::Role(Role::Auditor), Grant::Member("bank-c".parse().unwrap())], true),
    ]);
    let module = admit(&text, &manifest);
    let mut host = MemoryHost::new();
    let as_caller = |caller: Caller, function: &str, host: &mut MemoryHost| {
        vm().call(&module, function, &[], &context("counter", caller), host, FUEL)
    };
    let failure = as_caller(operator("bank-b", &[Role::Submitter]), "increment", &mut host).unwrap_err();
    assert!(matches!(failure.error, VmError::AccessDenied { .. }), "{}", failure.error);
    assert_eq!((failure.rule(), failure.fuel_used), (Some(RuleId::FunctionAcl), 0));
    assert!(as_caller(operator("bank-a", &[Role::Auditor]), "increment", &mut host).is_err());
    assert!(as_caller(operator("bank-a", &[Role::Submitter]), "increment", &mut host).is_ok());
    assert!(as_caller(operator("bank-b", &[Role::Auditor]), "get", &mut host).is_ok());
    assert!(as_caller(operator("bank-c", &[]), "get", &mut host).is_ok());
    assert!(as_caller(operator("bank-b", &[Role::Admin]), "get", &mut host).is_err());
    assert!(as_caller(Caller::Contract(contract("other")), "get", &mut host).is_err());

    let failure = as_caller(operator("bank-a", &[Role::Submitter]), "drain", &mut host).unwrap_err();
    assert_eq!(failure.error, VmError::UnknownFunction { contract: contract("counter"), function: "drain".into() });
    assert_eq!(failure.rule(), Some(RuleId::FunctionAcl));
}

// covers: COV-31-FUNCTION-ACL
#[test]
fn a_read_only_function_cannot_write_emit_or_call_a_writer() {
    let text = module(
        r#"
  (data (i32.const 0) "leaf")
  (data (i32.const 16) "run")
  (func (export "write") (call $storage_set (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 1)))
  (func (export "emit") (call $emit_event (i32.const 0) (i32.const 1)))
  (func (export "call_writer")
    (drop (call $call_contract (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 3)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))))
"#,
    );
    let read_only = |name: &str| function(name, vec![Grant::AnyOperator], true);
    let module = admit(&text, &manifest_with(vec![read_only("write"), read_only("emit"), read_only("call_writer")]));
    let mut host = MemoryHost::new();
    let leaf = manifest_with(vec![function("run", vec![Grant::Contract(contract("viewer"))], false)]);
    host.admit(contract("leaf"), admit(&leaf_wat(), &leaf));
    for function in ["write", "emit", "call_writer"] {
        let failure = vm().call(&module, function, &[], &context("viewer", submitter()), &mut host, FUEL).unwrap_err();
        assert!(matches!(failure.error, VmError::ReadOnly { .. }), "{function}: {}", failure.error);
        assert_eq!(failure.rule(), Some(RuleId::FunctionAcl));
    }
}

/// Admits relays and a leaf into a host: `chain[i]` calls `chain[i + 1]`, the last calls `leaf`.
fn host_with_chain(chain: &[&str]) -> MemoryHost {
    let mut host = MemoryHost::new();
    for (index, id) in chain.iter().enumerate() {
        let next = chain.get(index + 1).copied().unwrap_or("leaf");
        let grants =
            vec![Grant::AnyOperator, Grant::Contract(contract(if index == 0 { "none" } else { chain[index - 1] }))];
        host.admit(contract(id), admit(&relay_wat(next, "run"), &manifest_with(vec![function("run", grants, false)])));
    }
    let last = chain.last().copied().unwrap_or("none");
    let leaf = manifest_with(vec![function("run", vec![Grant::Contract(contract(last))], false)]);
    host.admit(contract("leaf"), admit(&leaf_wat(), &leaf));
    host
}

fn call_chain(host: &mut MemoryHost, first: &str) -> Result<CallOutcome, CallFailure> {
    let module = host.module(&contract(first)).unwrap().clone();
    vm().call(&module, "run", &[], &context(first, submitter()), host, 10_000_000)
}

#[test]
fn contracts_call_contracts_and_all_writes_commit_together() {
    let mut host = host_with_chain(&["a", "b"]);
    let outcome = call_chain(&mut host, "a").unwrap();
    assert_eq!(outcome.output, b"leaf");
    let written: Vec<(String, Vec<u8>)> =
        outcome.writes.iter().map(|write| (write.contract.to_string(), write.key.clone())).collect();
    assert_eq!(
        written,
        vec![("a".into(), b"touched".to_vec()), ("b".into(), b"touched".to_vec()), ("leaf".into(), b"leaf".to_vec())]
    );
    // Three frames of one page each and two nested calls, at least.
    assert!(outcome.fuel_used > 3 * 11_000 + 2 * 5_050, "callee fuel is charged to the caller: {}", outcome.fuel_used);
    host.apply(&outcome);
    assert_eq!(host.get(&contract("leaf"), b"leaf"), Some(&b"leaf"[..]));
}

// covers: COV-29-FUEL
#[test]
fn a_callee_running_out_of_fuel_fails_the_whole_call() {
    let mut host = host_with_chain(&["a", "b"]);
    let module = host.module(&contract("a")).unwrap().clone();
    // Enough for a to write and call b, not for the whole chain.
    let failure = vm().call(&module, "run", &[], &context("a", submitter()), &mut host, 30_000).unwrap_err();
    assert_eq!(failure.error, VmError::OutOfFuel { fuel_limit: 30_000 });
    assert_eq!(failure.fuel_used, 30_000);
    assert!(host.storage().is_empty());
}

// covers: COV-29-NO-REENTRANCY
#[test]
fn a_re_entrant_call_is_refused_and_nothing_is_written() {
    // a → b → a: b calls back into a, which is still running.
    let mut host = MemoryHost::new();
    let a = manifest_with(vec![function("run", vec![Grant::AnyOperator, Grant::Contract(contract("b"))], false)]);
    let b = manifest_with(vec![function("run", vec![Grant::Contract(contract("a"))], false)]);
    host.admit(contract("a"), admit(&relay_wat("b", "run"), &a));
    host.admit(contract("b"), admit(&relay_wat("a", "run"), &b));
    let failure = call_chain(&mut host, "a").unwrap_err();
    assert_eq!(failure.error, VmError::Reentrancy { contract: contract("a"), stack: vec!["a".into(), "b".into()] });
    assert_eq!(failure.rule(), Some(RuleId::NoReentrancy));
    assert!(failure.fuel_used > 0);
    assert!(host.storage().is_empty());

    // A contract calling itself is re-entrancy too.
    let selfish = manifest_with(vec![function("run", vec![Grant::AnyOperator, Grant::Contract(contract("s"))], false)]);
    host.admit(contract("s"), admit(&relay_wat("s", "run"), &selfish));
    let failure = call_chain(&mut host, "s").unwrap_err();
    assert_eq!(failure.rule(), Some(RuleId::NoReentrancy));
}

// covers: COV-29-NO-REENTRANCY
#[test]
fn contract_calls_nest_only_up_to_the_depth_limit() {
    let names: Vec<String> = (0..CALL_DEPTH_MAX + 1).map(|index| format!("c{index}")).collect();
    let ids: Vec<&str> = names.iter().map(String::as_str).collect();
    // CALL_DEPTH_MAX - 1 relays and the leaf: exactly CALL_DEPTH_MAX frames.
    let mut host = host_with_chain(&ids[..CALL_DEPTH_MAX - 1]);
    assert_eq!(call_chain(&mut host, "c0").unwrap().output, b"leaf");
    // One relay more: the leaf would be frame CALL_DEPTH_MAX + 1.
    let mut host = host_with_chain(&ids[..CALL_DEPTH_MAX]);
    let failure = call_chain(&mut host, "c0").unwrap_err();
    assert_eq!(
        failure.error,
        VmError::CallDepthExceeded {
            contract: contract("leaf"),
            depth: CALL_DEPTH_MAX as u64 + 1,
            max: CALL_DEPTH_MAX as u64
        }
    );
    assert_eq!(failure.rule(), Some(RuleId::NoReentrancy));
}

// covers: COV-28-CONTRACT-ADMISSION, COV-31-FUNCTION-ACL
#[test]
fn nested_calls_face_admission_pause_and_access_like_top_level_calls() {
    let mut host = host_with_chain(&["a"]);
    host.set_unavailable(&contract("leaf"), Some(Unavailable::Paused));
    let failure = call_chain(&mut host, "a").unwrap_err();
    assert_eq!(failure.error, VmError::ContractUnavailable { contract: contract("leaf"), reason: Unavailable::Paused });
    assert_eq!(failure.rule(), Some(RuleId::ContractLifecycle));

    let mut host = host_with_chain(&["a"]);
    let stranger = manifest(&["run"]);
    host.admit(contract("x"), admit(&relay_wat("nobody", "run"), &stranger));
    let failure = call_chain(&mut host, "x").unwrap_err();
    assert_eq!(failure.error.rule(), Some(RuleId::ContractAdmission));

    // The leaf admits only contract "a"; called from "z" it refuses.
    host.admit(contract("z"), admit(&relay_wat("leaf", "run"), &manifest(&["run"])));
    let failure = call_chain(&mut host, "z").unwrap_err();
    assert!(matches!(failure.error, VmError::AccessDenied { .. }), "{}", failure.error);
    assert_eq!(failure.rule(), Some(RuleId::FunctionAcl));
}

#[test]
fn caller_identity_block_and_events_reach_the_contract() {
    let text = module(
        r#"
  (func (export "whoami")
    (local $p i32)
    ;; caller_kind, has_role(submitter), has_role(admin) as three bytes, then member, then height and time.
    (i32.store8 (i32.const 0) (call $caller_kind))
    (i32.store8 (i32.const 1) (call $caller_has_role (i32.const 1)))
    (i32.store8 (i32.const 2) (call $caller_has_role (i32.const 0)))
    (i32.store8 (i32.const 3) (call $caller_member (i32.const 100) (i32.const 64)))
    (i32.store8 (i32.const 4) (call $caller_contract (i32.const 200) (i32.const 64)))
    (i64.store (i32.const 8) (call $block_height))
    (i64.store (i32.const 16) (call $block_timestamp_ms))
    (call $emit_event (i32.const 100) (i32.const 6))
    (call $output_write (i32.const 0) (i32.const 24)))
"#,
    );
    let module = admit(&text, &manifest(&["whoami"]));
    let outcome =
        vm().call(&module, "whoami", &[], &context("who", submitter()), &mut MemoryHost::new(), FUEL).unwrap();
    let out = &outcome.output;
    assert_eq!(out[0..5], [0, 1, 0, 6, 0xff], "operator, submitter, not admin, member \"bank-b\", no contract");
    assert_eq!(u64::from_le_bytes(out[8..16].try_into().unwrap()), 42);
    assert_eq!(u64::from_le_bytes(out[16..24].try_into().unwrap()), 1_700_000_000_123);
    assert_eq!(outcome.events, vec![Event { contract: contract("who"), data: b"bank-b".to_vec() }]);
}

#[test]
fn the_same_call_twice_gives_the_same_outcome_fuel_and_writes() {
    let text = module(
        r#"
  (func (export "work")
    (local $i i32)
    (call $input_read (i32.const 0))
    (loop $again
      (i32.store (i32.const 64) (i32.mul (i32.load (i32.const 64)) (i32.const 31)))
      (i32.store (i32.const 64) (i32.add (i32.load (i32.const 64)) (local.get $i)))
      (call $storage_set (i32.const 64) (i32.const 4) (i32.const 0) (i32.const 8))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const 50))))
    (call $emit_event (i32.const 64) (i32.const 4))
    (call $output_write (i32.const 64) (i32.const 4)))
"#,
    );
    let code = wasm(&text);
    let run = || {
        // A fresh validation and a fresh host each time, as in two separate validator processes.
        let module = covenant_vm::validate_module(&code, &manifest(&["work"]), &VmLimits::default()).unwrap();
        let mut host = MemoryHost::new();
        vm().call(&module, "work", b"seed1234", &context("det", submitter()), &mut host, FUEL).unwrap()
    };
    let first = run();
    let second = run();
    assert_eq!(first, second);
    assert_eq!(first.writes.len(), 50);
    // Failures are deterministic too, including the fuel they burn.
    let module = counter();
    let fail =
        || vm().call(&module, "increment", &[], &context("counter", submitter()), &mut MemoryHost::new(), 12_000);
    assert_eq!(fail(), fail());
}

#[test]
fn reads_see_earlier_writes_of_the_same_call_and_removes() {
    let text = module(
        r#"
  (data (i32.const 0) "k")
  (data (i32.const 8) "v1")
  (func (export "run")
    (call $storage_set (i32.const 0) (i32.const 1) (i32.const 8) (i32.const 2))
    (i32.store8 (i32.const 32) (call $storage_get (i32.const 0) (i32.const 1) (i32.const 40) (i32.const 1)))
    (call $storage_remove (i32.const 0) (i32.const 1))
    (i32.store8 (i32.const 33) (call $storage_get (i32.const 0) (i32.const 1) (i32.const 48) (i32.const 8)))
    (call $output_write (i32.const 32) (i32.const 10)))
"#,
    );
    let module = admit(&text, &manifest(&["run"]));
    let mut host = MemoryHost::new();
    let outcome = vm().call(&module, "run", &[], &context("rw", submitter()), &mut host, FUEL).unwrap();
    // Length 2 returned though only 1 byte fitted; then not found (-1) after the remove.
    assert_eq!(outcome.output[0..2], [2, 0xff]);
    assert_eq!(outcome.output[8], b'v', "one byte copied into the one-byte buffer");
    assert_eq!(outcome.writes, vec![StorageWrite { contract: contract("rw"), key: b"k".to_vec(), value: None }]);
}
