//! # covenant-vm
//!
//! The deterministic WebAssembly runtime for contracts the members admitted by vote (covenant articles
//! 24 and 26–31). No IO: the runtime sees the chain only through the [`HostState`] the executor gives it,
//! and time only through the block header.
//!
//! A contract's life here has two steps.
//!
//! 1. **Admission** (COV-28). [`validate_module`] checks the code and its [`Manifest`] when an
//!    admit-contract proposal is submitted: size within `contract_bytes_max`, valid WebAssembly in the
//!    deterministic profile, no floating point, imports only from the host module `covenant` with the
//!    exact signatures of [`abi::HOST_FUNCTIONS`], no start function, bounded memory and table, and
//!    exports exactly the manifest's functions. The result, a [`ValidatedModule`], carries the code hash
//!    the vote pins; only this function builds one.
//! 2. **Calls** (COV-28, COV-29, COV-31). [`Vm::call`] runs one function of a validated module: fuel
//!    limit within `fuel_per_tx_max`, input within `call_input_bytes_max`, caller admitted by the
//!    function's access policy, then execution metered by fuel. Writes and events are buffered and
//!    returned only by a successful call, so a failed call (out of fuel, abort, trap, a broken limit)
//!    leaves nothing to roll back. Contract-to-contract calls stay within [`limits::CALL_DEPTH_MAX`] frames
//!    and never re-enter a contract already on the [`CallStack`].
//!
//! Every refusal and failure is a [`VmError`] that names its covenant rule ([`VmError::rule`]) where one
//! applies, so receipts can say why. The ABI contracts are written against is documented in
//! `docs/contract-abi.md`.
//!
//! ```
//! use covenant_types::{ContractId, MemberId, OperatorId, PersonId, Role};
//! use covenant_vm::*;
//!
//! // A contract in WebAssembly text (tests compile it with the `wat` crate; here it is pre-built bytes).
//! // (module (import "covenant" "output_write" (func $out (param i32 i32)))
//! //   (memory (export "memory") 1) (data (i32.const 0) "hi")
//! //   (func (export "hello") (call $out (i32.const 0) (i32.const 2))))
//! let code: &[u8] = &[
//!     0, 97, 115, 109, 1, 0, 0, 0, 1, 9, 2, 96, 2, 127, 127, 0, 96, 0, 0, 2, 25, 1, 8, 99, 111, 118, 101,
//!     110, 97, 110, 116, 12, 111, 117, 116, 112, 117, 116, 95, 119, 114, 105, 116, 101, 0, 0, 3, 2, 1, 1,
//!     5, 3, 1, 0, 1, 7, 18, 2, 6, 109, 101, 109, 111, 114, 121, 2, 0, 5, 104, 101, 108, 108, 111, 0, 1,
//!     10, 10, 1, 8, 0, 65, 0, 65, 2, 16, 0, 11, 11, 8, 1, 0, 65, 0, 11, 2, 104, 105,
//! ];
//! let manifest = Manifest {
//!     name: "greeter".into(),
//!     version: "1.0.0".into(),
//!     owner: MemberId::new("bank-a").unwrap(),
//!     steward: OperatorId::new("alice").unwrap(),
//!     functions: vec![FunctionSpec {
//!         name: "hello".into(),
//!         access: AccessPolicy::allow([Grant::Role(Role::Submitter)]),
//!         read_only: true,
//!     }],
//! };
//! let limits = VmLimits::default();
//! let module = validate_module(code, &manifest, &limits).unwrap();
//!
//! let context = CallContext {
//!     contract: ContractId::new("greeter").unwrap(),
//!     caller: Caller::Operator(OperatorIdentity {
//!         operator: OperatorId::new("bob").unwrap(),
//!         person: PersonId::new("bob-chen").unwrap(),
//!         member: MemberId::new("bank-b").unwrap(),
//!         roles: vec![Role::Submitter],
//!     }),
//!     block: BlockInfo { height: 7, timestamp_ms: 1_700_000_000_000 },
//! };
//! let mut host = MemoryHost::new();
//! let outcome = Vm::new(limits).call(&module, "hello", &[], &context, &mut host, 100_000).unwrap();
//! assert_eq!(outcome.output, b"hi");
//! assert!(outcome.writes.is_empty());
//! ```

pub mod abi;
mod context;
mod error;
pub mod limits;
mod manifest;
mod memory_host;
mod runtime;
mod validate;

pub use context::{BlockInfo, CallContext, CallStack, Caller, OperatorIdentity};
pub use error::{CallFailure, Unavailable, VmError};
pub use limits::VmLimits;
pub use manifest::{AccessPolicy, FunctionSpec, Grant, MEMORY_EXPORT, Manifest, ManifestError};
pub use memory_host::MemoryHost;
pub use runtime::{CallOutcome, Event, HostState, StorageWrite, Vm};
pub use validate::{ValidatedModule, code_hash, load_admitted, validate_module};
