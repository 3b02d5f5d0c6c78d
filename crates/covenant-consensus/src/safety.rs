//! What this validator has signed at the current height: the record that keeps it from ever signing
//! two conflicting votes, also across a crash.
//!
//! The engine updates its [`SafetyState`] *before* it signs a vote and hands a copy to the driver in
//! an [`Action::PersistSafety`](crate::Action::PersistSafety) that comes before the vote's
//! [`Action::Broadcast`](crate::Action::Broadcast) in the same action list. On restart the driver
//! passes the last persisted copy to [`Engine::new`](crate::Engine::new).
//!
//! # To ensure correctness
//! The driver must make the state durable (write and fsync) before it executes any later action of the
//! same list. If a crash loses a persisted state, the validator may sign a PREPARE or COMMIT that
//! conflicts with one it already sent, which makes it Byzantine in the protocol's eyes.

use serde::{Deserialize, Serialize};

use covenant_types::{DecodeError, Hash, decode, encode};

use crate::message::PreparedCertificate;

/// Largest encoded safety state accepted on restart: a prepared certificate holds at most a block and
/// one PREPARE per validator.
pub const SAFETY_STATE_BYTES_MAX: usize = covenant_types::limits::CONSENSUS_MESSAGE_BYTES_MAX;

/// One signed vote: in which round, for which block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRecord {
    /// Round of the vote.
    pub round: u32,
    /// Block voted for.
    pub block_hash: Hash,
}

/// Everything this validator must remember about its own votes at `height`.
///
/// Votes only ever move forward in rounds, so the last vote of each kind is enough: a new vote is
/// allowed in a later round, or in the same round for the same block (re-sending after a restart).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SafetyState {
    /// Height the record is for.
    pub height: u64,
    /// Highest round this validator entered at `height` (it resumes there after a restart).
    pub round: u32,
    /// Last PRE-PREPARE signed (as proposer).
    pub proposed: Option<VoteRecord>,
    /// Last PREPARE signed.
    pub prepare: Option<VoteRecord>,
    /// Last COMMIT signed.
    pub commit: Option<VoteRecord>,
    /// Highest prepared certificate seen: the validator's lock, reported in its ROUND-CHANGEs. Losing
    /// it would let a later round decide another block after this one was possibly decided.
    pub prepared: Option<PreparedCertificate>,
}

impl SafetyState {
    /// Nothing signed yet at `height`.
    pub fn new(height: u64) -> SafetyState {
        SafetyState { height, round: 0, proposed: None, prepare: None, commit: None, prepared: None }
    }

    /// Whether a vote in `round` for `block_hash` is consistent with the `last` vote of its kind.
    pub fn allows(last: Option<VoteRecord>, round: u32, block_hash: Hash) -> bool {
        match last {
            None => true,
            Some(last) => round > last.round || (round == last.round && block_hash == last.block_hash),
        }
    }

    /// Canonical bytes, for the driver's store.
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes a stored state.
    pub fn decode(bytes: &[u8]) -> Result<SafetyState, DecodeError> {
        decode("consensus safety state", bytes, SAFETY_STATE_BYTES_MAX)
    }
}
