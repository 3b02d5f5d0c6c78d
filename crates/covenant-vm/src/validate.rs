//! Admission checks (COV-28): a module runs only if it is small enough, valid WebAssembly inside the
//! deterministic profile, free of floating point, imports only host functions with their exact
//! signatures, has no start function, bounds its memory and table, and exports exactly the functions its
//! manifest lists. [`validate_module`] is the one place these checks live; it returns a
//! [`ValidatedModule`], which only it can build, so holding one proves the checks passed.
//!
//! The checks run in two layers. Our own pass over the sections (with `wasmparser`, the parser wasmi is
//! built on) produces errors that name the function, instruction or import at fault; wasmparser's
//! validator and then wasmi's own compiler, both configured with the same feature set, back it up, so a
//! float or a feature our pass overlooked is still refused.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use wasmparser::{
    CompositeInnerType, Encoding, ExternalKind, FuncType, FuncValidatorAllocations, Parser, Payload, TypeRef, ValType,
    ValidPayload, Validator, WasmFeatures,
};

use covenant_types::Hash;

use crate::abi::{self, AbiType, HOST_MODULE};
use crate::error::VmError;
use crate::limits::{MEMORY_PAGES_MAX, TABLE_ELEMENTS_MAX, VmLimits, WASM_RECURSION_DEPTH_MAX, WASM_STACK_BYTES_MAX};
use crate::manifest::{MEMORY_EXPORT, Manifest};

/// A module that passed admission, compiled and ready to run, with its manifest and pinned code hash.
/// Cheap to clone (shared); executors cache one per admitted contract.
#[derive(Clone)]
pub struct ValidatedModule(Arc<Inner>);

struct Inner {
    code_hash: Hash,
    code_len: usize,
    manifest: Manifest,
    module: wasmi::Module,
    memory_pages_initial: u32,
}

impl ValidatedModule {
    /// SHA-256 of the code bytes: what the admitting vote pins.
    pub fn code_hash(&self) -> Hash {
        self.0.code_hash
    }

    /// Length of the code, in bytes.
    pub fn code_len(&self) -> usize {
        self.0.code_len
    }

    /// The manifest the module was admitted with.
    pub fn manifest(&self) -> &Manifest {
        &self.0.manifest
    }

    /// Initial linear memory, in pages (0 if the module has no memory).
    pub fn memory_pages_initial(&self) -> u32 {
        self.0.memory_pages_initial
    }

    pub(crate) fn wasm(&self) -> &wasmi::Module {
        &self.0.module
    }
}

impl fmt::Debug for ValidatedModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatedModule")
            .field("code_hash", &self.0.code_hash)
            .field("code_len", &self.0.code_len)
            .field("manifest", &self.0.manifest)
            .field("memory_pages_initial", &self.0.memory_pages_initial)
            .finish()
    }
}

/// SHA-256 of contract code, as pinned by the admitting vote.
pub fn code_hash(code: &[u8]) -> Hash {
    Hash::digest(code)
}

/// The WebAssembly features of the deterministic profile: the MVP without floating point, plus the
/// integer-only proposals every current toolchain emits (mutable globals, sign extension, multi-value,
/// bulk memory). No SIMD, threads, reference types, tail calls, 64-bit or multiple memories.
fn features() -> WasmFeatures {
    // GC_TYPES only enables the `funcref` type of MVP tables (wasmparser's MVP set includes it).
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::GC_TYPES
}

/// wasmi's configuration: the same features as [`features`], fuel metering on, eager compilation (lazy
/// compilation would charge fuel for compiling on first use, which would depend on what this node ran
/// before), no start functions, and the stack and fuel-cost settings written out even where they equal
/// wasmi's defaults, so that the consensus-relevant values are visible here.
pub(crate) fn engine_config() -> wasmi::Config {
    let mut config = wasmi::Config::default();
    config
        .consume_fuel(true)
        .compilation_mode(wasmi::CompilationMode::Eager)
        .floats(false)
        .wasm_mutable_global(true)
        .wasm_sign_extension(true)
        .wasm_multi_value(true)
        .wasm_bulk_memory(true)
        .wasm_saturating_float_to_int(false)
        .wasm_multi_memory(false)
        .wasm_reference_types(false)
        .wasm_tail_call(false)
        .wasm_extended_const(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .allow_start_fn(false)
        .ignore_custom_sections(true)
        .set_max_recursion_depth(WASM_RECURSION_DEPTH_MAX)
        .set_max_stack_height(WASM_STACK_BYTES_MAX)
        .fuel_cost(wasmi::CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 7,
            fuel_per_bytes_validated: 2,
        })
        .enforced_limits(wasmi::EnforcedLimits::strict());
    config
}

/// Checks `code` and its `manifest` for admission (COV-28) and compiles it.
///
/// Run when an admit-contract proposal is submitted (with the live limits) so a bad module never reaches
/// a vote. The code hash of the result is what the vote pins.
pub fn validate_module(code: &[u8], manifest: &Manifest, limits: &VmLimits) -> Result<ValidatedModule, VmError> {
    let len_bytes = code.len() as u64;
    if len_bytes > limits.contract_bytes_max {
        return Err(VmError::ModuleTooLarge { len_bytes, max_bytes: limits.contract_bytes_max });
    }
    manifest.validate()?;
    let scan = scan(code)?;
    scan.check_exports(manifest)?;
    let engine = wasmi::Engine::new(&engine_config());
    let module =
        wasmi::Module::new(&engine, code).map_err(|error| VmError::InvalidModule { reason: error.to_string() })?;
    Ok(ValidatedModule(Arc::new(Inner {
        code_hash: code_hash(code),
        code_len: code.len(),
        manifest: manifest.clone(),
        module,
        memory_pages_initial: scan.memory_pages_initial,
    })))
}

/// Loads a contract an executed vote admitted earlier: checks the code against the pinned hash, then
/// validates it against the hard limits compiled into the node ([`VmLimits::hard_max`]), so that a later,
/// lower `contract_bytes_max` does not make admitted code unloadable.
pub fn load_admitted(code: &[u8], manifest: &Manifest, pinned: &Hash) -> Result<ValidatedModule, VmError> {
    let found = code_hash(code);
    if found != *pinned {
        return Err(VmError::CodeHashMismatch { expected: *pinned, found });
    }
    validate_module(code, manifest, &VmLimits::hard_max())
}

fn invalid(error: wasmparser::BinaryReaderError) -> VmError {
    VmError::InvalidModule { reason: error.to_string() }
}

fn is_float(ty: ValType) -> bool {
    matches!(ty, ValType::F32 | ValType::F64)
}

/// Text of at most `max` characters.
fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

fn func_signature(ty: &FuncType) -> String {
    let params: Vec<String> = ty.params().iter().map(ToString::to_string).collect();
    let results: Vec<String> = ty.results().iter().map(ToString::to_string).collect();
    abi::signature_text(params.iter().map(String::as_str), results.iter().map(String::as_str))
}

fn abi_matches(expected: &[AbiType], found: &[ValType]) -> bool {
    expected.len() == found.len()
        && expected.iter().zip(found).all(|(want, have)| match want {
            AbiType::I32 => *have == ValType::I32,
            AbiType::I64 => *have == ValType::I64,
        })
}

/// What our own pass learnt about the module.
#[derive(Default)]
struct Scan {
    /// Function types by type index (`None` for a non-function type, which the features refuse anyway).
    types: Vec<Option<FuncType>>,
    /// Type index of every function, imported ones first.
    func_types: Vec<u32>,
    imported_funcs: u32,
    /// Exported function name → function index.
    exported_funcs: BTreeMap<String, u32>,
    /// Function index → first export name, for messages.
    export_names: BTreeMap<u32, String>,
    memory_exported: bool,
    memories: u32,
    memory_pages_initial: u32,
    tables: u32,
    /// A host function the module imports that uses linear memory, if any.
    memory_import: Option<&'static str>,
    /// Code section entries seen so far.
    bodies: u32,
}

fn scan(code: &[u8]) -> Result<Scan, VmError> {
    let mut scan = Scan::default();
    let mut validator = Validator::new_with_features(features());
    let mut allocations = FuncValidatorAllocations::default();
    for payload in Parser::new(0).parse_all(code) {
        let payload = payload.map_err(invalid)?;
        // Our checks first, so that a float or a forbidden import is named precisely.
        scan.inspect(&payload)?;
        match validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Func(to_validate, body) => {
                let mut function = to_validate.into_validator(allocations);
                function.validate(&body).map_err(invalid)?;
                allocations = function.into_allocations();
            }
            ValidPayload::Ok | ValidPayload::End(_) => {}
            ValidPayload::Parser(_) => {
                return Err(VmError::InvalidModule { reason: "nested modules are not contracts".into() });
            }
        }
    }
    Ok(scan)
}

impl Scan {
    fn describe_function(&self, index: u32) -> String {
        match self.export_names.get(&index) {
            Some(name) => format!("function {index} (export {name:?})"),
            None => format!("function {index}"),
        }
    }

    fn inspect(&mut self, payload: &Payload<'_>) -> Result<(), VmError> {
        match payload {
            Payload::Version { encoding, .. } if *encoding != Encoding::Module => {
                return Err(VmError::InvalidModule { reason: "a component is not a contract module".into() });
            }
            Payload::TypeSection(reader) => {
                for group in reader.clone() {
                    let group = group.map_err(invalid)?;
                    for sub_type in group.types() {
                        let index = self.types.len();
                        match &sub_type.composite_type.inner {
                            CompositeInnerType::Func(ty) => {
                                let float = ty.params().iter().chain(ty.results()).find(|ty| is_float(**ty));
                                if let Some(float) = float {
                                    return Err(VmError::FloatingPoint {
                                        location: format!("type {index} {}", func_signature(ty)),
                                        what: format!("{float} value type"),
                                    });
                                }
                                self.types.push(Some(ty.clone()));
                            }
                            _ => self.types.push(None),
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.clone() {
                    let import = import.map_err(invalid)?;
                    self.inspect_import(import.module, import.name, import.ty)?;
                }
            }
            Payload::FunctionSection(reader) => {
                for type_index in reader.clone() {
                    self.func_types.push(type_index.map_err(invalid)?);
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.clone() {
                    let table = table.map_err(invalid)?;
                    self.tables += 1;
                    let ty = table.ty;
                    if self.tables > 1 || ty.table64 || ty.shared {
                        let reason = "a contract has at most one table, neither 64-bit nor shared".into();
                        return Err(VmError::InvalidModule { reason });
                    }
                    let reason = if ty.initial > u64::from(TABLE_ELEMENTS_MAX) {
                        Some(format!("{} initial elements, above the limit of {TABLE_ELEMENTS_MAX}", ty.initial))
                    } else {
                        ty.maximum
                            .filter(|max| *max > u64::from(TABLE_ELEMENTS_MAX))
                            .map(|max| format!("a maximum of {max} elements, above the limit of {TABLE_ELEMENTS_MAX}"))
                    };
                    if let Some(reason) = reason {
                        return Err(VmError::TableLimits { reason });
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone() {
                    let memory = memory.map_err(invalid)?;
                    self.memories += 1;
                    if self.memories > 1 || memory.memory64 || memory.shared {
                        let reason = "a contract has at most one memory, neither 64-bit nor shared".into();
                        return Err(VmError::InvalidModule { reason });
                    }
                    let reason = if memory.initial > u64::from(MEMORY_PAGES_MAX) {
                        Some(format!("{} initial pages, above the limit of {MEMORY_PAGES_MAX}", memory.initial))
                    } else {
                        memory.maximum.filter(|max| *max > u64::from(MEMORY_PAGES_MAX)).map(|max| {
                            format!("a declared maximum of {max} pages, above the limit of {MEMORY_PAGES_MAX}")
                        })
                    };
                    if let Some(reason) = reason {
                        return Err(VmError::MemoryLimits { reason });
                    }
                    // Checked against MEMORY_PAGES_MAX just above, so it fits.
                    self.memory_pages_initial = u32::try_from(memory.initial).unwrap_or(MEMORY_PAGES_MAX);
                }
            }
            Payload::GlobalSection(reader) => {
                for (index, global) in reader.clone().into_iter().enumerate() {
                    let global = global.map_err(invalid)?;
                    if is_float(global.ty.content_type) {
                        return Err(VmError::FloatingPoint {
                            location: format!("global {index}"),
                            what: format!("{} value type", global.ty.content_type),
                        });
                    }
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader.clone() {
                    let export = export.map_err(invalid)?;
                    match export.kind {
                        ExternalKind::Func => {
                            self.exported_funcs.insert(export.name.to_string(), export.index);
                            self.export_names.entry(export.index).or_insert_with(|| export.name.to_string());
                        }
                        ExternalKind::Memory if export.name == MEMORY_EXPORT => self.memory_exported = true,
                        ExternalKind::Global => {}
                        kind => {
                            return Err(VmError::ForbiddenExport {
                                name: cut(export.name, 80),
                                kind: format!("{kind:?}").to_lowercase(),
                            });
                        }
                    }
                }
            }
            Payload::StartSection { func, .. } => return Err(VmError::StartFunction { function: *func }),
            Payload::CodeSectionEntry(body) => {
                let index = self.imported_funcs.saturating_add(self.bodies);
                self.bodies = self.bodies.saturating_add(1);
                for local in body.get_locals_reader().map_err(invalid)? {
                    let (_count, ty) = local.map_err(invalid)?;
                    if is_float(ty) {
                        return Err(VmError::FloatingPoint {
                            location: self.describe_function(index),
                            what: format!("{ty} local"),
                        });
                    }
                }
                let mut operators = body.get_operators_reader().map_err(invalid)?;
                while !operators.eof() {
                    let operator = operators.read().map_err(invalid)?;
                    // Every floating-point instruction of wasmparser's operator set has F32 or F64 in its
                    // name (F64Add, I32TruncF32S, F32Const, ...), and a block or typed select of float type
                    // shows the type; no integer instruction does. The validator below backs this up.
                    let text = format!("{operator:?}");
                    if text.contains("F32") || text.contains("F64") {
                        return Err(VmError::FloatingPoint {
                            location: self.describe_function(index),
                            what: format!("instruction {}", cut(&text, 80)),
                        });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn inspect_import(&mut self, module: &str, name: &str, ty: TypeRef) -> Result<(), VmError> {
        let refuse =
            |reason: String| Err(VmError::ForbiddenImport { module: cut(module, 80), name: cut(name, 80), reason });
        if module != HOST_MODULE {
            return refuse(format!("contracts import only from the host module {HOST_MODULE:?}"));
        }
        let TypeRef::Func(type_index) = ty else {
            return refuse("only functions may be imported; tables, memories, globals and tags are refused".into());
        };
        let Some(host) = abi::host_function(name) else {
            return refuse("there is no such host function".into());
        };
        let Some(Some(found)) = self.types.get(type_index as usize) else {
            return refuse(format!("type index {type_index} is not a function type"));
        };
        if !abi_matches(host.params, found.params()) || !abi_matches(host.results, found.results()) {
            return refuse(format!(
                "signature {} differs from the host function's {}",
                func_signature(found),
                host.signature()
            ));
        }
        if host.uses_memory && self.memory_import.is_none() {
            self.memory_import = Some(host.name);
        }
        self.func_types.push(type_index);
        self.imported_funcs = self.imported_funcs.saturating_add(1);
        Ok(())
    }

    /// The exported functions are exactly the manifest's, each `() -> ()`; memory is exported if a host
    /// function that needs it is imported.
    fn check_exports(&self, manifest: &Manifest) -> Result<(), VmError> {
        let listed: BTreeSet<&str> = manifest.functions.iter().map(|function| function.name.as_str()).collect();
        let exported: BTreeSet<&str> = self.exported_funcs.keys().map(String::as_str).collect();
        let missing: Vec<String> = listed.difference(&exported).map(|name| name.to_string()).collect();
        let unexpected: Vec<String> = exported.difference(&listed).map(|name| cut(name, 80)).collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            return Err(VmError::ExportMismatch { missing, unexpected });
        }
        for (name, index) in &self.exported_funcs {
            let ty = self.func_types.get(*index as usize).and_then(|type_index| self.types.get(*type_index as usize));
            let Some(Some(ty)) = ty else {
                return Err(VmError::InvalidModule { reason: format!("export {name:?} names no function") });
            };
            if !ty.params().is_empty() || !ty.results().is_empty() {
                return Err(VmError::ExportSignature { function: name.clone(), found: func_signature(ty) });
            }
        }
        if let Some(function) = self.memory_import
            && !self.memory_exported
        {
            return Err(VmError::MemoryNotExported { function: function.to_string() });
        }
        Ok(())
    }
}
