//! Admission (COV-28): what `validate_module` refuses, each refusal naming its rule, and what it admits.

mod common;

use common::*;
use covenant_rules::RuleId;
use covenant_types::Role;
use covenant_vm::abi::{HOST_FUNCTIONS, HOST_MODULE};
use covenant_vm::limits::{MEMORY_PAGES_MAX, TABLE_ELEMENTS_MAX};
use covenant_vm::{
    Grant, Manifest, ManifestError, MemoryHost, Vm, VmError, VmLimits, code_hash, load_admitted, validate_module,
};

fn refuse(text: &str, manifest: &Manifest) -> VmError {
    match validate_module(&wasm(text), manifest, &VmLimits::default()) {
        Ok(_) => panic!("module was admitted but should be refused:\n{text}"),
        Err(error) => error,
    }
}

const EMPTY_RUN: &str = r#"(module (func (export "run")))"#;

// covers: COV-28-CONTRACT-LIMITS
#[test]
fn a_module_over_contract_bytes_max_is_refused() {
    // A data segment makes the module large without making it invalid.
    let filler = "x".repeat(2_000);
    let text = format!(r#"(module (memory 1) (data (i32.const 0) "{filler}") (func (export "run")))"#);
    let code = wasm(&text);
    let limits = VmLimits { contract_bytes_max: 1_024, ..VmLimits::default() };
    let error = validate_module(&code, &manifest(&["run"]), &limits).unwrap_err();
    assert_eq!(error, VmError::ModuleTooLarge { len_bytes: code.len() as u64, max_bytes: 1_024 });
    assert_eq!(error.rule(), Some(RuleId::ContractLimits));
    // The same module is admitted under the default limit.
    assert!(validate_module(&code, &manifest(&["run"]), &VmLimits::default()).is_ok());
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn a_float_instruction_is_refused_naming_the_function_and_instruction() {
    let text = r#"(module
      (func (export "run") (drop (i32.const 1)))
      (func (export "average") (drop (f64.add (f64.const 1) (f64.const 2)))))"#;
    let error = refuse(text, &manifest(&["run", "average"]));
    let VmError::FloatingPoint { location, what } = &error else { panic!("expected a float refusal, got {error}") };
    assert_eq!(location, "function 1 (export \"average\")");
    assert!(what.starts_with("instruction F64Const"), "{what}");
    assert_eq!(error.rule(), Some(RuleId::ContractAdmission));
    assert!(error.to_string().contains("floating point"), "{error}");
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn floats_in_types_locals_globals_and_conversions_are_refused() {
    let cases = [
        (r#"(module (func (export "run") (param f32)))"#, "type 0"),
        (r#"(module (func (export "run") (local f64)))"#, "function 0"),
        (r#"(module (global f32 (f32.const 0)) (func (export "run")))"#, "global 0"),
        (r#"(module (func (export "run") (drop (i32.trunc_f32_s (f32.const 1)))))"#, "function 0"),
        (r#"(module (func (export "run") (drop (f32.reinterpret_i32 (i32.const 1)))))"#, "function 0"),
        (r#"(module (memory 1) (func (export "run") (drop (f64.load (i32.const 0)))))"#, "function 0"),
        (r#"(module (func (export "run") (block (result f64) (unreachable)) (drop)))"#, "function 0"),
    ];
    for (text, location_prefix) in cases {
        let error = refuse(text, &manifest(&["run"]));
        match &error {
            VmError::FloatingPoint { location, .. } => {
                assert!(location.starts_with(location_prefix), "{text}: location {location}")
            }
            other => panic!("{text}: expected a float refusal, got {other}"),
        }
        assert_eq!(error.rule(), Some(RuleId::ContractAdmission));
    }
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn imports_from_outside_the_host_module_are_refused() {
    let text = r#"(module (import "env" "now" (func $now (result i64))) (func (export "run")))"#;
    let error = refuse(text, &manifest(&["run"]));
    assert!(
        matches!(&error, VmError::ForbiddenImport { module, name, .. } if module == "env" && name == "now"),
        "{error}"
    );
    assert_eq!(error.rule(), Some(RuleId::ContractAdmission));
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn unknown_host_functions_wrong_signatures_and_non_function_imports_are_refused() {
    let cases = [
        r#"(module (import "covenant" "random" (func (result i64))) (func (export "run")))"#,
        r#"(module (import "covenant" "block_height" (func (result i32))) (func (export "run")))"#,
        r#"(module (import "covenant" "input_len" (func (param i32) (result i32))) (func (export "run")))"#,
        r#"(module (import "covenant" "memory" (memory 1)) (func (export "run")))"#,
        r#"(module (import "covenant" "table" (table 1 funcref)) (func (export "run")))"#,
        r#"(module (import "covenant" "g" (global i32)) (func (export "run")))"#,
    ];
    for text in cases {
        let error = refuse(text, &manifest(&["run"]));
        assert!(matches!(error, VmError::ForbiddenImport { .. }), "{text}: {error}");
        assert_eq!(error.rule(), Some(RuleId::ContractAdmission), "{text}");
    }
    let error = refuse(cases[1], &manifest(&["run"]));
    assert!(error.to_string().contains("() -> (i32) differs from the host function's () -> (i64)"), "{error}");
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn exports_must_match_the_manifest_exactly() {
    let text = r#"(module (func (export "run")) (func (export "debug_dump")))"#;
    let error = refuse(text, &manifest(&["run", "settle"]));
    assert_eq!(
        error,
        VmError::ExportMismatch { missing: vec!["settle".into()], unexpected: vec!["debug_dump".into()] }
    );
    assert_eq!(error.rule(), Some(RuleId::ContractAdmission));

    let text = r#"(module (func (export "run") (param i32)))"#;
    let error = refuse(text, &manifest(&["run"]));
    assert_eq!(error, VmError::ExportSignature { function: "run".into(), found: "(i32) -> ()".into() });
    assert_eq!(error.rule(), Some(RuleId::ContractAdmission));

    let text = r#"(module (table (export "t") 1 funcref) (func (export "run")))"#;
    assert!(matches!(refuse(text, &manifest(&["run"])), VmError::ForbiddenExport { .. }));

    let text = r#"(module (memory (export "heap") 1) (func (export "run")))"#;
    assert!(matches!(refuse(text, &manifest(&["run"])), VmError::ForbiddenExport { .. }));
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn a_start_function_is_refused() {
    let text = r#"(module (func $init) (start $init) (func (export "run")))"#;
    let error = refuse(text, &manifest(&["run"]));
    assert_eq!(error, VmError::StartFunction { function: 0 });
    assert_eq!(error.rule(), Some(RuleId::ContractAdmission));
}

// covers: COV-28-CONTRACT-LIMITS
#[test]
fn memories_and_tables_beyond_their_bounds_are_refused() {
    let too_many_pages = format!(r#"(module (memory {}) (func (export "run")))"#, MEMORY_PAGES_MAX + 1);
    let declared_max = format!(r#"(module (memory 1 {}) (func (export "run")))"#, MEMORY_PAGES_MAX + 1);
    for text in [too_many_pages, declared_max] {
        let error = refuse(&text, &manifest(&["run"]));
        assert!(matches!(error, VmError::MemoryLimits { .. }), "{text}: {error}");
        assert_eq!(error.rule(), Some(RuleId::ContractLimits));
    }
    let big_table = format!(r#"(module (table {} funcref) (func (export "run")))"#, TABLE_ELEMENTS_MAX + 1);
    let error = refuse(&big_table, &manifest(&["run"]));
    assert!(matches!(error, VmError::TableLimits { .. }), "{error}");
    assert_eq!(error.rule(), Some(RuleId::ContractLimits));
    // At the bound itself both are admitted.
    let at_bound = format!(
        r#"(module (memory {MEMORY_PAGES_MAX} {MEMORY_PAGES_MAX}) (table {TABLE_ELEMENTS_MAX} funcref)
             (func (export "run")))"#
    );
    admit(&at_bound, &manifest(&["run"]));
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn a_module_using_memory_host_functions_must_export_its_memory() {
    let text = r#"(module (import "covenant" "output_write" (func $out (param i32 i32))) (memory 1)
      (func (export "run") (call $out (i32.const 0) (i32.const 0))))"#;
    let error = refuse(text, &manifest(&["run"]));
    assert_eq!(error, VmError::MemoryNotExported { function: "output_write".into() });
    // Host functions that touch no memory need no exported memory.
    let text = r#"(module (import "covenant" "block_height" (func $h (result i64)))
      (func (export "run") (drop (call $h))))"#;
    admit(text, &manifest(&["run"]));
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn garbage_and_features_outside_the_profile_are_refused_without_panicking() {
    let simd = r#"(module (func (export "run") (drop (i32x4.splat (i32.const 1)))))"#;
    let threads = r#"(module (memory 1 1 shared) (func (export "run")))"#;
    let tail_call = r#"(module (func $f (return_call $f)) (func (export "run")))"#;
    for text in [simd, threads, tail_call] {
        let error = refuse(text, &manifest(&["run"]));
        assert_eq!(error.rule(), Some(RuleId::ContractAdmission), "{text}: {error}");
    }
    let good = wasm(EMPTY_RUN);
    let inputs: Vec<Vec<u8>> = vec![
        vec![],
        b"not wasm at all".to_vec(),
        good[..good.len() - 1].to_vec(),
        [&good[..], &[0xff, 0xff]].concat(),
        vec![0, 97, 115, 109, 13, 0, 1, 0],
    ];
    for code in inputs {
        let error = validate_module(&code, &manifest(&["run"]), &VmLimits::default()).unwrap_err();
        assert_eq!(error.rule(), Some(RuleId::ContractAdmission), "{error}");
    }
    // Every truncation of a valid module and every single-byte corruption is refused or admitted, never a
    // panic.
    let code = wasm(&counter_wat());
    for len in 0..code.len() {
        let _ = validate_module(&code[..len], &manifest(&["increment", "get"]), &VmLimits::default());
    }
    for index in 0..code.len() {
        for byte in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut corrupted = code.clone();
            corrupted[index] = byte;
            let _ = validate_module(&corrupted, &manifest(&["increment", "get"]), &VmLimits::default());
        }
    }
}

// covers: COV-28-CONTRACT-ADMISSION, COV-31-FUNCTION-ACL
#[test]
fn an_invalid_manifest_is_refused_with_its_rule() {
    let mut empty_policy = manifest(&["run"]);
    empty_policy.functions[0].access.allow.clear();
    let error = refuse(EMPTY_RUN, &empty_policy);
    assert_eq!(error, VmError::Manifest(ManifestError::EmptyPolicy { function: "run".into() }));
    assert_eq!(error.rule(), Some(RuleId::FunctionAcl));

    let mut duplicate_grant = manifest(&["run"]);
    duplicate_grant.functions[0].access.allow = vec![Grant::Role(Role::Admin), Grant::Role(Role::Admin)];
    assert_eq!(refuse(EMPTY_RUN, &duplicate_grant).rule(), Some(RuleId::FunctionAcl));

    let duplicate_function = manifest(&["run", "run"]);
    assert!(matches!(
        refuse(EMPTY_RUN, &duplicate_function),
        VmError::Manifest(ManifestError::DuplicateFunction { .. })
    ));

    for bad_name in ["", "9lives", "has space", "memory", &"x".repeat(65)] {
        let error = refuse(EMPTY_RUN, &manifest(&[bad_name]));
        assert!(matches!(error, VmError::Manifest(ManifestError::FunctionName { .. })), "{bad_name:?}: {error}");
        assert_eq!(error.rule(), Some(RuleId::ContractAdmission));
    }
    let mut bad_version = manifest(&["run"]);
    bad_version.version = "1.0 beta".into();
    assert!(matches!(refuse(EMPTY_RUN, &bad_version), VmError::Manifest(ManifestError::Version { .. })));
    let mut no_functions = manifest(&["run"]);
    no_functions.functions.clear();
    assert!(matches!(refuse(EMPTY_RUN, &no_functions), VmError::Manifest(ManifestError::FunctionCount { .. })));
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn manifests_round_trip_through_their_canonical_encoding_and_refuse_bad_bytes() {
    let manifest = manifest_with(vec![
        function("settle", vec![Grant::MemberRole { member: "bank-a".parse().unwrap(), role: Role::Admin }], false),
        function("balance", vec![Grant::AnyOperator, Grant::Contract(contract("escrow"))], true),
    ]);
    let bytes = manifest.encode();
    assert_eq!(Manifest::decode(&bytes).unwrap(), manifest);
    assert_eq!(manifest.encode(), bytes, "encoding is deterministic");
    assert!(Manifest::decode(&[bytes.as_slice(), &[0]].concat()).is_err(), "trailing bytes are refused");
    assert!(Manifest::decode(&bytes[..bytes.len() - 1]).is_err());
    let error = Manifest::decode(&vec![0; covenant_vm::limits::MANIFEST_BYTES_MAX + 1]).unwrap_err();
    assert!(matches!(error, ManifestError::Decode(_)), "{error}");
    // A manifest that decodes but breaks a rule is refused by decode too.
    let mut invalid = manifest.clone();
    invalid.functions[0].access.allow.clear();
    assert!(matches!(Manifest::decode(&invalid.encode()), Err(ManifestError::EmptyPolicy { .. })));
}

// covers: COV-28-CONTRACT-ADMISSION
#[test]
fn the_code_hash_is_pinned_and_checked_on_load() {
    let code = wasm(&counter_wat());
    let manifest = manifest(&["increment", "get"]);
    let module = validate_module(&code, &manifest, &VmLimits::default()).unwrap();
    assert_eq!(module.code_hash(), code_hash(&code));
    assert_eq!(module.code_hash(), covenant_types::Hash::digest(&code));
    assert!(load_admitted(&code, &manifest, &module.code_hash()).is_ok());
    let other = wasm(&leaf_wat());
    let error = load_admitted(&other, &manifest, &module.code_hash()).unwrap_err();
    assert_eq!(error, VmError::CodeHashMismatch { expected: module.code_hash(), found: code_hash(&other) });
    assert_eq!(error.rule(), Some(RuleId::ContractAdmission));
    // Admitted under a larger limit, the module still loads after governance lowers contract_bytes_max.
    let small = VmLimits { contract_bytes_max: 64, ..VmLimits::default() };
    assert!(validate_module(&code, &manifest, &small).is_err());
    assert!(load_admitted(&code, &manifest, &module.code_hash()).is_ok());
}

#[test]
fn every_host_function_of_the_abi_can_be_imported_and_linked() {
    let vm = Vm::new(VmLimits::default());
    for host in HOST_FUNCTIONS {
        let params: Vec<&str> = host.params.iter().map(|ty| ty.name()).collect();
        let results: Vec<&str> = host.results.iter().map(|ty| ty.name()).collect();
        let text = format!(
            r#"(module (import "{HOST_MODULE}" "{name}" (func (param {params}) (result {results})))
                 (memory (export "memory") 1) (func (export "run")))"#,
            name = host.name,
            params = params.join(" "),
            results = results.join(" "),
        );
        let module = admit(&text, &manifest(&["run"]));
        let outcome = vm.call(&module, "run", &[], &context("probe", submitter()), &mut MemoryHost::new(), 100_000);
        assert!(outcome.is_ok(), "{}: {:?}", host.name, outcome);
    }
}

#[test]
fn validated_modules_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<covenant_vm::ValidatedModule>();
    shareable::<Vm>();
}
