//! The engine: one validator's QBFT state machine, driven by [`Engine::handle`].

use std::collections::BTreeMap;

use covenant_types::limits::CONSENSUS_MESSAGE_BYTES_MAX;
use covenant_types::{ChainId, NodeId, ValidatorSet};

use crate::crypto::ConsensusCrypto;
use crate::error::ConsensusError;
use crate::future::FutureBuffer;
use crate::height::{Ctx, HeightState};
use crate::io::{Action, Input};
use crate::message::{CommitCertificate, Message};
use crate::safety::SafetyState;

/// Rounds ahead of the current one for which PREPAREs, COMMITs and proposals are kept.
pub const ROUNDS_AHEAD_MAX: u32 = 10;
/// Rounds behind the current one for which COMMITs are kept (a late quorum still decides).
pub const ROUNDS_BEHIND_KEPT: u32 = 4;
/// Heights ahead of the current one for which messages are buffered.
pub const FUTURE_HEIGHTS_MAX: u64 = 4;
/// Most messages buffered for future heights, from all authors.
pub const FUTURE_MESSAGES_MAX: usize = 2_048;
/// Most proposals (each carrying a block) buffered for future heights, from all authors.
pub const FUTURE_PROPOSALS_MAX: usize = 16;
/// Most messages one author may have buffered across all future heights: a PREPARE and a COMMIT in
/// each of 15 rounds, a round change (an author's latest replaces its earlier ones) and a proposal, at
/// each of the [`FUTURE_HEIGHTS_MAX`] heights: 4 × (2 × 15 + 2) = 128.
pub const FUTURE_AUTHOR_MESSAGES_MAX: usize = 128;
/// Most proposals one author may have buffered: one per future height.
pub const FUTURE_AUTHOR_PROPOSALS_MAX: usize = FUTURE_HEIGHTS_MAX as usize;
/// Largest encoded consensus message that carries no block (PREPARE, COMMIT, ROUND-CHANGE without a
/// prepared certificate): with an author id of the longest length (64 bytes), a COMMIT encodes to
/// 238 bytes (its height, round, block hash, commit seal and signature with their length prefixes).
pub const VOTE_BYTES_MAX: usize = 256;
/// Bytes one author may have buffered across all future heights: two messages as large as any
/// ([`CONSENSUS_MESSAGE_BYTES_MAX`], 16 MiB + 64 KiB: a block of up to `block_bytes_max`, whose
/// covenant bound is 16 MiB, with a justification or a quorum of PREPAREs) and
/// [`FUTURE_AUTHOR_MESSAGES_MAX`] votes: 2 × 16.0625 MiB + 128 × 256 B = 32.156 MiB
/// (33,718,272 bytes). That holds an honest validator's traffic for the next height in the worst
/// normal case: it proposes a block of the largest size allowed, then after a failed round
/// round-changes with that block prepared (however many rounds it changes, only its latest round
/// change is kept), and votes in every round.
pub const FUTURE_AUTHOR_BYTES_MAX: usize =
    2 * CONSENSUS_MESSAGE_BYTES_MAX + FUTURE_AUTHOR_MESSAGES_MAX * VOTE_BYTES_MAX;
/// Bytes buffered for one future height, from all authors: three authors' budgets, 96.5 MiB. In a
/// 4-validator consortium, a Byzantine validator's whole budget at one height leaves room there for
/// the most the three honest validators send for it: one proposal and three round changes with
/// prepared certificates (4 × 16.06 MiB) and their votes. One height never takes more than three
/// quarters of the total, so a flood at the farthest height leaves room for the next one.
pub const FUTURE_HEIGHT_BYTES_MAX: usize = 3 * FUTURE_AUTHOR_BYTES_MAX;
/// Bytes buffered for all future heights, whatever the number of validators: four authors' budgets,
/// 128.6 MiB (134,873,088 bytes), so that every validator of a 4-validator consortium has its whole
/// budget. With more validators (up to 100 in a consortium, 256 at most) the total does not grow: a
/// few validators flooding together (four, or three next to honest traffic) can fill it, and honest
/// messages for future heights are then refused; a validator that falls behind that way still learns
/// from them that it is behind and catches up by block sync.
pub const FUTURE_BYTES_MAX: usize = 4 * FUTURE_AUTHOR_BYTES_MAX;
/// Most distinct blocks remembered at one height (proposals and prepared certificates).
pub const BLOCKS_PER_HEIGHT_MAX: usize = 64;
/// Most refused proposals remembered at one height (so duplicates are dropped without re-checking).
pub const REJECTED_BLOCKS_MAX: usize = 64;
/// Most rule applications after one input; QBFT needs a handful, the bound only guards against a bug.
pub const PROGRESS_STEPS_MAX: usize = 64;

const _: () = assert!(FUTURE_AUTHOR_BYTES_MAX >= 2 * CONSENSUS_MESSAGE_BYTES_MAX);
const _: () = assert!(FUTURE_AUTHOR_BYTES_MAX < FUTURE_HEIGHT_BYTES_MAX && FUTURE_HEIGHT_BYTES_MAX < FUTURE_BYTES_MAX);
// Well under the 256 MiB of message bytes a validator may hold for heights it has not reached.
const _: () = assert!(FUTURE_BYTES_MAX <= 256 * 1024 * 1024 / 3 * 2);
const _: () = assert!(FUTURE_AUTHOR_PROPOSALS_MAX <= FUTURE_PROPOSALS_MAX);
const _: () = assert!(FUTURE_AUTHOR_MESSAGES_MAX <= FUTURE_MESSAGES_MAX);

/// Who this validator is and how it signs.
pub(crate) struct Identity {
    pub chain_id: ChainId,
    pub node_id: NodeId,
    pub crypto: Box<dyn ConsensusCrypto>,
    quorum_override: Option<usize>,
    /// Deliberate bugs for negative controls; all off except in a simulator's mutation runs.
    pub mutations: Mutations,
}

/// Deliberate bugs that a simulator switches on to prove its checkers catch what they would break.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Mutations {
    /// Never lock on a prepared block: round changes report none, so a later proposer is free to
    /// propose another block.
    pub no_locking: bool,
    /// A re-proposal is justified by the lowest prepared certificate of its round changes, and
    /// checked against the lowest, instead of the highest.
    pub wrong_highest_prepared: bool,
}

/// A deliberate bug in the engine (see [`Engine::set_mutation_for_tests`]).
#[cfg(feature = "test-mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Never lock on a prepared block.
    NoLocking,
    /// Justify and check re-proposals by the lowest prepared certificate instead of the highest.
    WrongHighestPrepared,
    /// Buffer future-height messages as before their byte budgets: bounded by count only, with a
    /// round change kept for every round rather than only an author's latest.
    UnboundedFutureBuffer,
}

impl Identity {
    /// Votes needed to decide in `validators`: ⌈2n/3⌉.
    pub(crate) fn quorum(&self, validators: &ValidatorSet) -> usize {
        self.quorum_override.unwrap_or_else(|| validators.quorum())
    }
}

/// How much the engine holds besides the current height's votes, for a memory check (metrics, the
/// simulator). Sizes are canonical encoded lengths; the same values take somewhat more memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferedBytes {
    /// Messages buffered for future heights: authenticated, their contents unchecked until their
    /// height starts.
    pub future_messages: usize,
    /// Their bytes, at most [`FUTURE_BYTES_MAX`].
    pub future_bytes: usize,
    /// The most bytes one author has buffered for future heights, at most [`FUTURE_AUTHOR_BYTES_MAX`].
    pub future_author_bytes_max: usize,
    /// Distinct verified blocks known at the current height (proposals, prepared certificates), at
    /// most [`BLOCKS_PER_HEIGHT_MAX`]; round changes carrying one share it.
    pub known_blocks: usize,
    /// Their bytes.
    pub known_blocks_bytes: usize,
}

/// One validator's QBFT consensus, as a state machine without IO.
///
/// See the [crate documentation](crate) for how a driver runs it.
pub struct Engine {
    id: Identity,
    now_ms: u64,
    pending_txs: u64,
    safety: SafetyState,
    current: Option<HeightState>,
    future: FutureBuffer,
    /// The last decided block, sent to a validator still voting at its height (see
    /// [`Engine::answer_laggard`]).
    last_decided: Option<LastDecided>,
}

/// The last decided block and whom it was sent to.
struct LastDecided {
    certificate: CommitCertificate,
    /// Local time of the decision.
    decided_at_ms: u64,
    /// Local time of the last answer, per validator.
    answered: BTreeMap<NodeId, u64>,
}

impl Engine {
    /// A validator `node_id` on `chain_id`, signing with `crypto`. `restored` is the last state the
    /// driver persisted from [`Action::PersistSafety`], if any: with it the engine resumes the round
    /// it was in and never signs a vote that conflicts with one it signed before a crash.
    pub fn new(
        chain_id: ChainId,
        node_id: NodeId,
        crypto: Box<dyn ConsensusCrypto>,
        restored: Option<SafetyState>,
    ) -> Engine {
        Engine {
            id: Identity { chain_id, node_id, crypto, quorum_override: None, mutations: Mutations::default() },
            now_ms: 0,
            pending_txs: 0,
            safety: restored.unwrap_or_else(|| SafetyState::new(0)),
            current: None,
            future: FutureBuffer::default(),
            last_decided: None,
        }
    }

    /// Lowers (or raises) the quorum below ⌈2n/3⌉, breaking safety on purpose. Only for negative
    /// controls that prove the simulator's checkers catch a fork.
    #[cfg(feature = "unsafe-quorum-for-tests")]
    pub fn set_unsafe_quorum_for_tests(&mut self, quorum: usize) {
        self.id.quorum_override = Some(quorum.max(1));
    }

    /// Switches on a deliberate bug, breaking safety on purpose. Only for the negative controls that
    /// prove the simulator's checkers catch what the bug breaks.
    #[cfg(feature = "test-mutations")]
    pub fn set_mutation_for_tests(&mut self, mutation: Mutation) {
        match mutation {
            Mutation::NoLocking => self.id.mutations.no_locking = true,
            Mutation::WrongHighestPrepared => self.id.mutations.wrong_highest_prepared = true,
            Mutation::UnboundedFutureBuffer => self.future = FutureBuffer::without_byte_budgets(),
        }
    }

    /// This validator.
    pub fn node_id(&self) -> &NodeId {
        &self.id.node_id
    }

    /// Height being decided (0 before the first [`Input::StartHeight`]).
    pub fn height(&self) -> u64 {
        self.current.as_ref().map_or(0, |state| state.height)
    }

    /// Current round at the current height.
    pub fn round(&self) -> u32 {
        self.current.as_ref().map_or(0, |state| state.round)
    }

    /// Whether the current height is decided (the driver owes an [`Input::StartHeight`]).
    pub fn is_decided(&self) -> bool {
        self.current.as_ref().is_some_and(|state| state.decision.is_some())
    }

    /// What this validator has signed at the current height.
    pub fn safety(&self) -> &SafetyState {
        &self.safety
    }

    /// Bytes of messages buffered for future heights and of blocks known at the current height.
    pub fn buffered_bytes(&self) -> BufferedBytes {
        let future = self.future.usage();
        let (known_blocks, known_blocks_bytes) = self.current.as_ref().map_or((0, 0), HeightState::known_blocks);
        BufferedBytes {
            future_messages: future.messages,
            future_bytes: future.bytes,
            future_author_bytes_max: future.author_bytes_max,
            known_blocks,
            known_blocks_bytes,
        }
    }

    /// Feeds one input and returns the actions to execute, in order.
    pub fn handle(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::StartHeight { now_ms, start } => {
                self.observe(now_ms);
                self.start_height(*start, &mut out);
            }
            Input::Message { now_ms, message } => {
                self.observe(now_ms);
                self.on_message(message, now_ms, &mut out);
            }
            Input::Timeout { now_ms, timeout } => {
                self.observe(now_ms);
                self.with_height(&mut out, |state, ctx| state.on_timeout(ctx, timeout));
                // A sync request can go unanswered (a peer without the blocks, a lost reply) while the
                // validator ahead sends little; retry on this node's own timers too (rate-limited).
                self.check_behind(&mut out);
            }
            Input::TransactionsPending { now_ms, count } => {
                self.observe(now_ms);
                self.pending_txs = count;
            }
            Input::BlockValidated { height, block_hash, outcome } => {
                self.with_height(&mut out, |state, ctx| {
                    if state.height == height {
                        state.on_block_validated(ctx, block_hash, outcome);
                    }
                });
            }
            Input::ProposalBuilt { height, round, transactions, state_root } => {
                self.with_height(&mut out, |state, ctx| {
                    if state.height == height {
                        state.on_proposal_built(ctx, round, transactions, state_root);
                    }
                });
            }
            Input::SyncedBlock(certificate) => {
                let (height, round) = (certificate.block.header.height, certificate.block.header.round);
                let result = self.with_height(&mut out, |state, ctx| {
                    if height == state.height { state.on_certificate(ctx, certificate) } else { Ok(()) }
                });
                self.report(result, None, height, round, &mut out);
            }
        }
        self.progress(&mut out);
        out
    }

    fn observe(&mut self, now_ms: u64) {
        // Local clocks can step backwards; timers only ever move forward.
        self.now_ms = self.now_ms.max(now_ms);
    }

    fn with_height<R>(
        &mut self,
        out: &mut Vec<Action>,
        f: impl FnOnce(&mut HeightState, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let state = self.current.as_mut()?;
        let mut ctx =
            Ctx { id: &self.id, safety: &mut self.safety, out, now_ms: self.now_ms, pending_txs: self.pending_txs };
        Some(f(state, &mut ctx))
    }

    fn report(
        &self,
        result: Option<Result<(), ConsensusError>>,
        from: Option<&NodeId>,
        height: u64,
        round: u32,
        out: &mut Vec<Action>,
    ) {
        let error = match result {
            None => ConsensusError::NotStarted,
            Some(Ok(())) => return,
            Some(Err(error)) => error,
        };
        out.push(Action::Rejected(crate::io::Rejection { from: from.cloned(), height, round, error }));
    }

    fn progress(&mut self, out: &mut Vec<Action>) {
        for _ in 0..PROGRESS_STEPS_MAX {
            if !self.with_height(out, |state, ctx| state.step(ctx)).unwrap_or(false) {
                break;
            }
        }
        if let Some(state) = &self.current
            && let Some(decision) = &state.decision
            && self.last_decided.as_ref().is_none_or(|last| last.certificate.block.header.height < state.height)
        {
            self.last_decided = Some(LastDecided {
                certificate: decision.clone(),
                decided_at_ms: self.now_ms,
                answered: BTreeMap::new(),
            });
        }
    }

    fn start_height(&mut self, start: crate::io::HeightStart, out: &mut Vec<Action>) {
        let height = start.height;
        if height == 0 {
            let error = ConsensusError::Malformed { what: "height start", reason: "height 0 is genesis".into() };
            out.push(Action::Rejected(crate::io::Rejection { from: None, height, round: 0, error }));
            return;
        }
        if self.safety.height != height {
            // A record for another height says nothing about this one. (One for a *later* height means
            // the driver's store lost committed blocks; the driver checks that before starting.)
            self.safety = SafetyState::new(height);
        }
        let quorum = self.id.quorum(&start.validators);
        let mut ctx =
            Ctx { id: &self.id, safety: &mut self.safety, out, now_ms: self.now_ms, pending_txs: self.pending_txs };
        self.current = Some(HeightState::new(start, quorum, &mut ctx));
        for (received_ms, message) in self.future.take(height) {
            self.on_message(message, received_ms, out);
        }
    }

    fn on_message(&mut self, message: Message, received_ms: u64, out: &mut Vec<Action>) {
        let height = message.height();
        let round = message.round();
        let author = message.author().cloned();
        let Some(state) = &self.current else {
            self.report(None, author.as_ref(), height, round, out);
            return;
        };
        let current = state.height;
        if height > current {
            // Only authenticated messages are buffered (see `HeightState::authenticate`), but a
            // message naming a validator is enough to suspect this validator fell behind: the sync
            // it triggers is rate-limited and checked.
            let is_validator = author.as_ref().is_some_and(|author| state.validators.get(author).is_some());
            let id = &self.id;
            let result = self.future.push(current, received_ms, message, |message| {
                state.authenticate(id, message).map_err(|cause| match cause {
                    ConsensusError::NotValidator { .. } | ConsensusError::BadSignature { .. } => {
                        ConsensusError::Unauthenticated { height, current, cause: Box::new(cause) }
                    }
                    other => other,
                })
            });
            if is_validator && let Some(author) = &author {
                let highest = self.future.authors.entry(author.clone()).or_insert(height);
                *highest = (*highest).max(height);
            }
            self.report(Some(result), author.as_ref(), height, round, out);
            self.check_behind(out);
            return;
        }
        if height < current || state.decision.is_some() {
            self.answer_laggard(author.as_ref(), height, round, current, out);
            return;
        }
        let result = self.with_height(out, |state, ctx| match message {
            Message::Proposal(proposal) => state.on_proposal(ctx, *proposal, received_ms),
            Message::Prepare(prepare) => state.on_prepare(ctx, prepare),
            Message::Commit(commit) => state.on_commit(ctx, commit),
            Message::RoundChange(round_change) => state.on_round_change(ctx, *round_change),
            Message::Decided(certificate) => state.on_certificate(ctx, *certificate),
        });
        self.report(result, author.as_ref(), height, round, out);
    }

    /// A validator still voting at a height this validator decided gets the decision, but only once
    /// half a base round timeout has passed since the decision, and again at most once per base
    /// round timeout, since the answer itself can be lost. Right after a decision the other
    /// validators' late votes are the normal case: they are deciding from the same votes this
    /// validator saw, and a decision carries the whole block (every validator used to receive each
    /// block once more this way). A validator that really missed the votes is still at the height
    /// when its round times out, and its round change is answered then.
    fn answer_laggard(
        &mut self,
        author: Option<&NodeId>,
        height: u64,
        round: u32,
        current: u64,
        out: &mut Vec<Action>,
    ) {
        let Some(state) = &self.current else { return };
        let is_validator = author.is_some_and(|author| state.validators.get(author).is_some());
        let interval = state.params().round_timeout_ms_base;
        let now_ms = self.now_ms;
        if let (Some(author), Some(last)) = (author, &mut self.last_decided)
            && is_validator
            && last.certificate.block.header.height == height
            && author != &self.id.node_id
        {
            let due = now_ms >= last.decided_at_ms.saturating_add(interval / 2)
                && last.answered.get(author).is_none_or(|answered| now_ms >= answered.saturating_add(interval));
            if due {
                last.answered.insert(author.clone(), now_ms);
                let certificate = Box::new(last.certificate.clone());
                out.push(Action::Send { to: author.clone(), message: Message::Decided(certificate) });
            }
            return;
        }
        if height < current {
            let error = ConsensusError::StaleHeight { found: height, current };
            out.push(Action::Rejected(crate::io::Rejection { from: author.cloned(), height, round, error }));
        }
    }

    /// A validator sent messages for a later height: ask for sync. One validator is enough (an honest
    /// one alone may be ahead while the rest wait for this one); a Byzantine one can only cost a
    /// rate-limited request.
    fn check_behind(&mut self, out: &mut Vec<Action>) {
        let Some(state) = &self.current else { return };
        if state.decision.is_some() {
            return;
        }
        let current = state.height;
        if self.future.authors.values().any(|height| *height > current) {
            self.with_height(out, |state, ctx| state.request_sync(ctx));
        }
    }
}
