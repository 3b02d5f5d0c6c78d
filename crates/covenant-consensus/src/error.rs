//! Why the engine refused a message, a proposal or a block. Every refusal is reported to the driver
//! in an [`Action::Rejected`](crate::Action::Rejected) with the values that failed; nothing a peer sends
//! can make the engine panic.

use thiserror::Error;

use covenant_rules::{RuleId, Violation};
use covenant_types::{Hash, NodeId};

use crate::message::MessageKind;

/// A refused input, with the numbers that broke the rule.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConsensusError {
    /// A covenant rule is broken (COV-49 block limits, COV-36 timestamp interval, COV-35 clock drift,
    /// COV-19 chain id).
    #[error("covenant rule {rule}: {violation}", rule = .0.rule().id(), violation = .0)]
    Rule(#[from] Violation),
    /// The engine has not been given a height yet.
    #[error("no height started yet")]
    NotStarted,
    /// A message or block for a height this validator has left behind.
    #[error("height {found} is below the current height {current}")]
    StaleHeight {
        /// Height in the message.
        found: u64,
        /// This validator's height.
        current: u64,
    },
    /// A message for a round this validator has left behind.
    #[error("round {found} is below the current round {current}")]
    StaleRound {
        /// Round in the message.
        found: u32,
        /// This validator's round.
        current: u32,
    },
    /// A message for a round too far ahead to buffer.
    #[error("round {found} is more than {window} rounds ahead of the current round {current}")]
    RoundTooFarAhead {
        /// Round in the message.
        found: u32,
        /// This validator's round.
        current: u32,
        /// How far ahead messages are kept.
        window: u32,
    },
    /// A message for a height too far ahead to buffer.
    #[error("height {found} is more than {window} heights ahead of the current height {current}")]
    HeightTooFarAhead {
        /// Height in the message.
        found: u64,
        /// This validator's height.
        current: u64,
        /// How far ahead messages are kept.
        window: u64,
    },
    /// A bounded buffer is full; the message was dropped.
    #[error("{buffer} is full ({capacity} entries)")]
    BufferFull {
        /// Which buffer.
        buffer: &'static str,
        /// Its capacity.
        capacity: usize,
    },
    /// A budget of a buffer of messages not yet fully verified is spent; the message was dropped and
    /// nothing already kept was evicted.
    #[error(
        "{budget} budget is full: {author}'s message for height {height} needs {needed} {unit}, {used} of {capacity} in use"
    )]
    BudgetFull {
        /// Which budget.
        budget: &'static str,
        /// The (authenticated) author of the refused message.
        author: NodeId,
        /// Height of the refused message.
        height: u64,
        /// What the message needs.
        needed: usize,
        /// What is in use.
        used: usize,
        /// The budget.
        capacity: usize,
        /// What is counted: bytes (canonical encoding), messages or proposals.
        unit: &'static str,
    },
    /// A message for a later height whose author or outer signature does not check out against the
    /// validators of the current height; it is not buffered.
    #[error(
        "message for height {height} not buffered: not authenticated by the validators of height {current}: {cause}"
    )]
    Unauthenticated {
        /// Height of the message.
        height: u64,
        /// This validator's height, whose validator set was used.
        current: u64,
        /// Why: [`ConsensusError::NotValidator`] or [`ConsensusError::BadSignature`].
        cause: Box<ConsensusError>,
    },
    /// A decided block for a height this validator has not reached: decisions are sent only to a
    /// validator still voting at the decided height, and one for a later height has no author to
    /// authenticate, so it is not buffered.
    #[error("decided block for height {height} sent to a validator at height {current}")]
    UnsolicitedDecision {
        /// Height of the decided block.
        height: u64,
        /// This validator's height.
        current: u64,
    },
    /// The author is not in the validator set of this height.
    #[error("{author} is not a validator at height {height}")]
    NotValidator {
        /// Claimed author.
        author: NodeId,
        /// Height.
        height: u64,
    },
    /// The signature does not verify under the author's consensus key.
    #[error("bad {} signature from {author}: {reason}", .kind.name())]
    BadSignature {
        /// Claimed author.
        author: NodeId,
        /// Message kind.
        kind: MessageKind,
        /// What failed.
        reason: String,
    },
    /// A commit seal does not verify.
    #[error("bad commit seal from {validator} for block {block_hash}")]
    BadSeal {
        /// Validator named in the seal.
        validator: NodeId,
        /// Block.
        block_hash: Hash,
    },
    /// The same validator signed two different votes of one kind for one height and round.
    #[error("{author} equivocated: two different {} messages at height {height} round {round}", .kind.name())]
    Equivocation {
        /// The validator.
        author: NodeId,
        /// Message kind.
        kind: MessageKind,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// A PRE-PREPARE from a validator that is not the proposer of its round, or a header that names the
    /// wrong proposer.
    #[error("{found} is not the proposer of height {height} round {round}; {expected} is")]
    WrongProposer {
        /// Who proposed.
        found: NodeId,
        /// Who should have.
        expected: NodeId,
        /// Height.
        height: u64,
        /// Round.
        round: u32,
    },
    /// A header at the wrong height.
    #[error("block is at height {found}, expected {expected}")]
    WrongHeight {
        /// Header height.
        found: u64,
        /// Expected height.
        expected: u64,
    },
    /// A header whose parent is not this validator's last committed block.
    #[error("block's parent is {found}, expected {expected}")]
    WrongParent {
        /// Parent named in the header.
        found: Hash,
        /// Last committed block.
        expected: Hash,
    },
    /// A header whose round does not fit the proposal (a fresh proposal must carry its own round).
    #[error("block header names round {found}, expected {expected}")]
    WrongHeaderRound {
        /// Round in the header.
        found: u32,
        /// Expected round.
        expected: u32,
    },
    /// A header with an unsupported encoding version.
    #[error("block header version {found}, this node speaks {expected}")]
    WrongVersion {
        /// Version in the header.
        found: u16,
        /// Version this node speaks.
        expected: u16,
    },
    /// A header field that must equal a value every validator knows does not.
    #[error("block header field {field} is {found}, expected {expected}")]
    WrongHeaderField {
        /// Which field.
        field: &'static str,
        /// Value in the header.
        found: Hash,
        /// Expected value.
        expected: Hash,
    },
    /// The parent commit seals in a header are not a quorum of valid seals over the parent.
    #[error("parent commit seals invalid: {reason}")]
    BadParentSeals {
        /// What is wrong.
        reason: String,
    },
    /// A block whose hash is not the one the signed message names.
    #[error("block hash {found} does not match the signed hash {signed}")]
    BlockHashMismatch {
        /// Hash of the block carried.
        found: Hash,
        /// Hash in the signed body.
        signed: Hash,
    },
    /// A proposal above round 0 without a valid justification, or a certificate that proves nothing.
    #[error("invalid justification: {reason}")]
    InvalidJustification {
        /// What is wrong.
        reason: String,
    },
    /// A message whose parts contradict each other or exceed their bounds.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Executing the block gave another state root than its header claims.
    #[error("state root mismatch for block {block_hash}: header says {claimed}, execution gave {computed}")]
    StateRootMismatch {
        /// The block.
        block_hash: Hash,
        /// Root in the header.
        claimed: Hash,
        /// Root computed by this validator.
        computed: Hash,
    },
    /// Execution refused the block.
    #[error("block {block_hash} failed execution: {reason}")]
    ExecutionFailed {
        /// The block.
        block_hash: Hash,
        /// The executor's reason.
        reason: String,
    },
    /// The block this validator's own driver built breaks a rule (a driver bug; nothing is proposed).
    #[error("own proposal refused: {0}")]
    OwnProposal(Box<ConsensusError>),
}

impl ConsensusError {
    /// The covenant rule broken, if the refusal is a covenant rule (for metrics labelled by rule).
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            ConsensusError::Rule(violation) => Some(violation.rule()),
            ConsensusError::OwnProposal(inner) => inner.rule(),
            _ => None,
        }
    }

    /// True for refusals that honest peers cause in normal operation (late or early messages), which a
    /// driver may count without logging. An early message from a validator that joins at a later
    /// height is one: it is not a validator of this height yet.
    pub fn is_benign(&self) -> bool {
        match self {
            ConsensusError::StaleHeight { .. }
            | ConsensusError::StaleRound { .. }
            | ConsensusError::RoundTooFarAhead { .. }
            | ConsensusError::HeightTooFarAhead { .. }
            | ConsensusError::NotStarted => true,
            ConsensusError::Unauthenticated { cause, .. } => matches!(**cause, ConsensusError::NotValidator { .. }),
            _ => false,
        }
    }
}
