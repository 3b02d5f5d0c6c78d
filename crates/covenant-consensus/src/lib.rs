//! # covenant-consensus
//!
//! QBFT (Moniz, "The Istanbul BFT Consensus Algorithm", 2020, in the form of Besu's QBFT) for one
//! validator, as a state machine without IO: [`Engine::handle`] takes an [`Input`] and returns the
//! [`Action`]s to execute. The engine owns no socket, disk, clock or random generator; the node and the
//! deterministic simulator (`covenant-sim`) are two drivers of the same code.
//!
//! ## The protocol, per height `h`
//! * The proposer of round `r` is validator `(h + r) mod n`. In round 0 it proposes once the parent is
//!   `block_interval_ms_min` old and transactions are pending, or an empty block once it is
//!   `block_interval_ms_max` old (COV-49: time keeps advancing).
//! * PRE-PREPARE(h, r, block) → every validator checks the header (proposer, parent, height, chain id,
//!   COV-49 size and transaction count, COV-36 timestamp ≥ parent + minimum interval, COV-35 timestamp
//!   within `clock_drift_ms_max` of its own clock when first received), has the driver execute it,
//!   compares the state root, and PREPAREs.
//! * A quorum (⌈2n/3⌉) of PREPAREs → the validator is *prepared* (it keeps the certificate as its lock)
//!   and COMMITs with a commit seal; a quorum of COMMITs → the block is final ([`Action::Commit`]).
//! * A round that does not decide in `round_timeout_ms_base · 2^r` (capped) ends with a ROUND-CHANGE
//!   carrying the validator's prepared certificate; f+1 ROUND-CHANGEs for later rounds pull laggards
//!   forward; the next proposer, holding a quorum of them, must re-propose the highest prepared block
//!   (its justification proves it), or may propose a new one if none was prepared.
//!
//! ## Messages for later heights
//! A validator still committing height `h` receives the others' messages for `h + 1` and later. The
//! engine buffers them up to [`FUTURE_HEIGHTS_MAX`](engine::FUTURE_HEIGHTS_MAX) heights ahead and
//! replays them in arrival order when their height starts, but their contents can only be checked
//! then, against that height's validator set and parameters. Before buffering a message it therefore
//! only authenticates it: the author must be a validator of the current height and the message's outer
//! signature must verify with that validator's current consensus key (a decided block, which has no
//! author, is never buffered for a later height). What is inside (a proposal's block, a round change's
//! prepared certificate) may still be as large as any message, so the buffer has byte budgets per
//! author, per height and in total besides its counts
//! ([`FUTURE_AUTHOR_BYTES_MAX`](engine::FUTURE_AUTHOR_BYTES_MAX) and the constants after it). A message
//! over a budget is refused and nothing already kept is evicted, except that an author's round change
//! for a later round replaces its earlier one at the same height. A validator that joins at a later
//! height, or whose key rotates there, loses its early messages; round changes make up for them.
//! Messages of the current height are kept only once verified, one per author and kind and round.
//! [`Engine::buffered_bytes`] reports what is held.
//!
//! ## Driving the engine
//! ```text
//!   boot:        Engine::new(chain, me, crypto, store.safety_state())
//!                handle(StartHeight { last committed + 1 })
//!   network:     handle(Message { now, Message::decode(bytes)? })
//!   timers:      on ScheduleTimeout(t) arm a timer; when due handle(Timeout { now, t })
//!   mempool:     handle(TransactionsPending { now, count }) when it changes
//!   execution:   on ValidateBlock → execute → handle(BlockValidated { .. })
//!                on BuildProposal → choose txs, execute → handle(ProposalBuilt { .. })
//!   commit:      on Commit(cert) → store block + seals + state atomically → handle(StartHeight { h + 1 })
//!   sync:        on RequestSync → fetch certificates → handle(SyncedBlock(cert)) one height at a time
//!   safety:      on PersistSafety(s) → write + fsync s BEFORE executing the next action
//! ```
//! Actions must be executed in order: a [`Action::PersistSafety`] always precedes the
//! [`Action::Broadcast`] of the vote it records (sign only after saving, as Aptos' safety rules do).
//!
//! Block building is split so that the driver stays simple: the engine decides *when* to propose and
//! assembles the header (so every header field is consistent), the driver only picks transactions and
//! executes them ([`Action::BuildProposal`] → [`Input::ProposalBuilt`]).
//!
//! ## A whole chain of one validator
//! ```
//! use covenant_consensus::*;
//! use covenant_rules::ChainParams;
//! use covenant_types::*;
//!
//! let chain = ChainId::new("demo").unwrap();
//! let me = NodeId::new("validator-0").unwrap();
//! let key = SecretKey::from_seed(&[1; 32]);
//! let validators =
//!     ValidatorSet::new(vec![Validator { id: me.clone(), consensus_key: key.public_key() }]).unwrap();
//! let params = ChainParams::default();
//! let genesis = BlockHeader {
//!     version: ENCODING_VERSION, chain_id: chain.clone(), height: 0, round: 0, parent_hash: Hash::ZERO,
//!     timestamp_ms: 1_000, proposer: me.clone(), transactions_root: merkle_root(&[]),
//!     state_root: Hash::ZERO, validator_set_hash: validators.hash(), parameters_hash: params.hash(),
//!     parent_commit_seals: vec![],
//! };
//! let mut engine = Engine::new(chain, me, Box::new(Ed25519Crypto::new(key)), None);
//!
//! // Start height 1 when the parent is older than block_interval_ms_max: an empty block is due now.
//! let start = HeightStart {
//!     height: 1, validators: validators.clone(), params: params.clone(), parent: genesis,
//!     parent_validators: validators, parent_commit_seals: vec![],
//! };
//! let now_ms = 1_000 + params.block_interval_ms_max;
//! let actions = engine.handle(Input::StartHeight { now_ms, start: Box::new(start) });
//! let request = actions.iter().find_map(|action| match action {
//!     Action::BuildProposal(request) => Some(request.clone()),
//!     _ => None,
//! }).expect("the only validator proposes");
//!
//! // The driver executes the (empty) block and reports the state root.
//! let actions = engine.handle(Input::ProposalBuilt {
//!     height: request.height, round: request.round, transactions: vec![], state_root: Hash::ZERO,
//! });
//! // Persist before every vote, then the vote; with n = 1 the quorum is 1, so it decides at once.
//! let kinds: Vec<&str> = actions.iter().map(|action| match action {
//!     Action::PersistSafety(_) => "persist",
//!     Action::Broadcast(message) => message.kind_name(),
//!     Action::Commit(_) => "commit!",
//!     _ => "other",
//! }).collect();
//! assert_eq!(kinds, ["persist", "pre-prepare", "persist", "prepare", "persist", "commit", "commit!"]);
//! assert!(engine.is_decided());
//! ```

pub mod crypto;
pub mod engine;
pub mod error;
mod future;
mod height;
pub mod io;
pub mod message;
pub mod safety;

pub use crypto::{ConsensusCrypto, Ed25519Crypto};
#[cfg(feature = "test-mutations")]
pub use engine::Mutation;
pub use engine::{BufferedBytes, Engine};
pub use error::ConsensusError;
pub use height::{ROUND_TIMEOUT_DOUBLINGS_MAX, round_timeout_ms, verify_commit_seals};
pub use io::{Action, BlockOutcome, HeightStart, Input, ProposalRequest, Rejection, Timeout, TimeoutKind};
pub use message::{
    Commit, CommitCertificate, Justification, Message, MessageBody, MessageKind, PrePrepare, Prepare,
    PreparedCertificate, PreparedRef, ProposalMessage, RoundChange, RoundChangeMessage, Signed, seal_digest,
};
pub use safety::{SafetyState, VoteRecord};

#[cfg(test)]
mod tests;
