//! # covenant-execution
//!
//! The deterministic state transition. A block's verified transactions are applied in order to a
//! read-only [`StateView`] of the committed state; the result is the block's sorted write set, one
//! receipt per transaction and the new state root ([`root`], ADR 0004). Execution reads no clock (time
//! is the block timestamp), iterates no hash map and uses checked integer arithmetic only, so every
//! validator computes the same root, and a validator that does not refuses the block.
//!
//! A transaction either cannot be in a block at all ([`TxInvalid`]: unknown or revoked sender,
//! expired key, nonce out of order, ...; the whole block is then invalid) or is included with a
//! receipt: success, or failure with the rule that refused it, its writes rolled back and its nonce
//! still consumed. The same sender checks ([`checks`]) run at mempool admission.
//!
//! Contracts admitted by a vote of the members run here too ([`contracts`], covenant articles 24 and
//! 26–31) on the deterministic runtime of `covenant-vm`, re-exported as [`vm`] so that tools can read
//! manifests and validate modules with the very code the validators run.

pub mod checks;
pub mod contracts;
pub mod execute;
pub mod genesis;
pub mod governance;
pub mod root;
pub mod state;

pub use covenant_vm as vm;

pub use checks::{
    SenderRecord, TxInvalid, check_kyc, check_nonce_in_state, check_payload, check_sender, is_customer_account,
};
pub use contracts::{CONTRACTS_MAX, ContractCallResult, ContractState, ContractStatus};
pub use execute::{BlockContext, BlockError, BlockOutcome, BuiltBlock, account_owner, build_block, execute_block};
pub use genesis::{GenesisOutcome, genesis_outcome};
pub use governance::{ProposalState, ProposalStatus, Vote};
pub use root::next_state_root;
pub use state::{
    AnchorRecord, ChainInfo, KycState, MemberState, NodeState, OperatorState, Overlay, StateError, StateKey,
    StateReader, StateView,
};
