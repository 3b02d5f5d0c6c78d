//! What goes into the engine ([`Input`]) and what comes out ([`Action`]).

use covenant_rules::ChainParams;
use covenant_types::{Block, BlockHeader, CommitSeal, Hash, NodeId, SignedTx, ValidatorSet};

use crate::error::ConsensusError;
use crate::message::{CommitCertificate, Message};
use crate::safety::SafetyState;

/// Everything the engine needs to decide one height. The driver builds it from its store after the
/// previous block was committed and executed (validator-set and parameter changes executed in block
/// `h - 1` take effect here, at `h`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeightStart {
    /// Height to decide (at least 1; genesis is height 0).
    pub height: u64,
    /// The validators deciding this height.
    pub validators: ValidatorSet,
    /// The chain parameters in force at this height.
    pub params: ChainParams,
    /// Header of the last committed block (height - 1).
    pub parent: BlockHeader,
    /// The validators that decided the parent, to check the seals a proposal carries for it.
    pub parent_validators: ValidatorSet,
    /// The commit seals that finalised the parent; a block proposed by this validator carries them.
    /// Empty when the parent is the genesis block.
    pub parent_commit_seals: Vec<CommitSeal>,
}

/// When a timer is due, in this validator's local clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timeout {
    /// Height the timer belongs to.
    pub height: u64,
    /// Round the timer belongs to.
    pub round: u32,
    /// What the timer is for.
    pub kind: TimeoutKind,
    /// Local clock time at which to deliver [`Input::Timeout`].
    pub at_ms: u64,
}

/// The two timers of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TimeoutKind {
    /// The round gave no decision in time: move to the next round.
    Round,
    /// The proposer may now propose (minimum interval reached, or maximum interval for an empty block).
    Propose,
}

/// What the driver's executor concluded about a block it was asked to validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BlockOutcome {
    /// Every transaction executed; this is the state root after the block.
    Valid {
        /// State root computed by this validator.
        state_root: Hash,
    },
    /// The block cannot be executed (e.g. a transaction that must not be in a block).
    Invalid {
        /// The executor's reason, for the log.
        reason: String,
    },
}

/// Something that happened, for the engine to react to. Inputs that depend on time carry this
/// validator's local clock reading (`now_ms`); the engine never reads a clock itself.
// Inputs are consumed immediately; boxing the large variants would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// Begin deciding a height (after the previous one was committed, or at boot).
    StartHeight {
        /// Local clock.
        now_ms: u64,
        /// The height's context.
        start: Box<HeightStart>,
    },
    /// A message from another validator, decoded with [`Message::decode`].
    Message {
        /// Local clock when the message was received (used for the COV-35 drift check).
        now_ms: u64,
        /// The message.
        message: Message,
    },
    /// A timer asked for with [`Action::ScheduleTimeout`] is due.
    Timeout {
        /// Local clock.
        now_ms: u64,
        /// The timer.
        timeout: Timeout,
    },
    /// The mempool holds this many transactions ready for a block (send whenever it changes between
    /// zero and non-zero, or more often). A proposer waits for the maximum block interval only when
    /// there is nothing to propose.
    TransactionsPending {
        /// Local clock.
        now_ms: u64,
        /// Transactions ready.
        count: u64,
    },
    /// Answer to [`Action::ValidateBlock`].
    BlockValidated {
        /// Height of the block.
        height: u64,
        /// The block.
        block_hash: Hash,
        /// The executor's result.
        outcome: BlockOutcome,
    },
    /// Answer to [`Action::BuildProposal`]: the transactions chosen and the state root after executing
    /// them on top of the parent in the context of the request.
    ProposalBuilt {
        /// Height of the request.
        height: u64,
        /// Round of the request.
        round: u32,
        /// Transactions, in execution order.
        transactions: Vec<SignedTx>,
        /// State root after executing them.
        state_root: Hash,
    },
    /// A committed block fetched by block sync (answer to [`Action::RequestSync`], fed one height at
    /// a time, the next after the driver started its height).
    SyncedBlock(CommitCertificate),
}

/// What the engine asks for. Executing each action completely, in order, is the driver's job.
// Actions are consumed immediately; boxing the large variants would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Make this safety state durable (write and fsync) **before executing any later action**: a vote
    /// that follows in the same list must not leave before the state that records it is safe on disk.
    PersistSafety(SafetyState),
    /// Send to every other validator of the height.
    Broadcast(Message),
    /// Send to one validator.
    Send {
        /// Recipient.
        to: NodeId,
        /// The message.
        message: Message,
    },
    /// Deliver [`Input::Timeout`] with this timer once the local clock reaches `at_ms`. A later timer
    /// of the same kind replaces an earlier one; stale timers are harmless (the engine ignores them).
    ScheduleTimeout(Timeout),
    /// Execute `block` on top of the parent and answer with [`Input::BlockValidated`]. The header
    /// already passed every consensus and covenant header check.
    ValidateBlock {
        /// Height.
        height: u64,
        /// Round in which it was proposed to this validator.
        round: u32,
        /// The block.
        block: Block,
    },
    /// This validator is the proposer: pick transactions, execute them and answer with
    /// [`Input::ProposalBuilt`].
    BuildProposal(ProposalRequest),
    /// The block is final: store it with its seals atomically (and execute it first if it was never
    /// validated here, e.g. after sync; a state root different from the header's means this node is
    /// non-deterministic and must halt), then call [`Input::StartHeight`] for the next height.
    Commit(CommitCertificate),
    /// Other validators are ahead: fetch committed blocks from `from_height` on and feed them back as
    /// [`Input::SyncedBlock`].
    RequestSync {
        /// First height missing here.
        from_height: u64,
    },
    /// Something was refused; for the log, the audit trail and metrics labelled by rule.
    Rejected(Rejection),
}

/// A refused message, proposal or block, with who sent it and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The validator (claimed) responsible, if known.
    pub from: Option<NodeId>,
    /// Height concerned.
    pub height: u64,
    /// Round concerned.
    pub round: u32,
    /// Why.
    pub error: ConsensusError,
}

/// What the proposer's driver needs to build a block. The engine assembles the header itself (so
/// header fields are always consistent) from the driver's transactions and state root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalRequest {
    /// Height of the block.
    pub height: u64,
    /// Round.
    pub round: u32,
    /// Hash of the parent block.
    pub parent_hash: Hash,
    /// State root of the parent, to execute on.
    pub parent_state_root: Hash,
    /// The block's timestamp (this validator's clock; at least parent + `block_interval_ms_min`).
    pub timestamp_ms: u64,
    /// This validator, the block's proposer.
    pub proposer: NodeId,
    /// Most transactions the block may carry (`block_txs_max`).
    pub transactions_max: u64,
    /// Most bytes the encoded transactions may take (`block_bytes_max` less the header).
    pub transactions_bytes_max: u64,
}
