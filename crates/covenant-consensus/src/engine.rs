//! The engine: one validator's QBFT state machine, driven by [`Engine::handle`].

use std::collections::BTreeMap;

use covenant_types::{ChainId, NodeId, ValidatorSet};

use crate::crypto::ConsensusCrypto;
use crate::error::ConsensusError;
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
/// Most messages buffered for future heights.
pub const FUTURE_MESSAGES_MAX: usize = 2_048;
/// Most proposals (each carrying a block) buffered for future heights.
pub const FUTURE_PROPOSALS_MAX: usize = 16;
/// Most distinct blocks remembered at one height (proposals and prepared certificates).
pub const BLOCKS_PER_HEIGHT_MAX: usize = 64;
/// Most refused proposals remembered at one height (so duplicates are dropped without re-checking).
pub const REJECTED_BLOCKS_MAX: usize = 64;
/// Most rule applications after one input; QBFT needs a handful, the bound only guards against a bug.
pub const PROGRESS_STEPS_MAX: usize = 64;

/// Who this validator is and how it signs.
pub(crate) struct Identity {
    pub chain_id: ChainId,
    pub node_id: NodeId,
    pub crypto: Box<dyn ConsensusCrypto>,
    quorum_override: Option<usize>,
}

impl Identity {
    /// Votes needed to decide in `validators`: ⌈2n/3⌉.
    pub(crate) fn quorum(&self, validators: &ValidatorSet) -> usize {
        self.quorum_override.unwrap_or_else(|| validators.quorum())
    }
}

/// Messages for heights this validator has not reached yet.
#[derive(Default)]
struct FutureBuffer {
    by_height: BTreeMap<u64, Vec<(u64, Message)>>,
    messages: usize,
    proposals: usize,
    /// Highest future height each (claimed) validator sent something for: evidence of falling behind.
    authors: BTreeMap<NodeId, u64>,
}

impl FutureBuffer {
    fn push(&mut self, current: u64, received_ms: u64, message: Message) -> Result<(), ConsensusError> {
        let height = message.height();
        if height > current.saturating_add(FUTURE_HEIGHTS_MAX) {
            return Err(ConsensusError::HeightTooFarAhead { found: height, current, window: FUTURE_HEIGHTS_MAX });
        }
        let is_proposal = matches!(message, Message::Proposal(_) | Message::Decided(_));
        if self.messages >= FUTURE_MESSAGES_MAX {
            return Err(ConsensusError::BufferFull { buffer: "future messages", capacity: FUTURE_MESSAGES_MAX });
        }
        if is_proposal && self.proposals >= FUTURE_PROPOSALS_MAX {
            return Err(ConsensusError::BufferFull { buffer: "future proposals", capacity: FUTURE_PROPOSALS_MAX });
        }
        let queue = self.by_height.entry(height).or_default();
        if queue.iter().any(|(_, buffered)| *buffered == message) {
            return Ok(());
        }
        queue.push((received_ms, message));
        self.messages += 1;
        self.proposals += usize::from(is_proposal);
        Ok(())
    }

    /// Takes the messages for `height`, dropping those for lower heights.
    fn take(&mut self, height: u64) -> Vec<(u64, Message)> {
        let mut later = self.by_height.split_off(&height);
        let taken = later.remove(&height).unwrap_or_default();
        self.by_height = later;
        self.messages = self.by_height.values().map(Vec::len).sum();
        self.proposals = self
            .by_height
            .values()
            .flatten()
            .filter(|(_, message)| matches!(message, Message::Proposal(_) | Message::Decided(_)))
            .count();
        self.authors.retain(|_, author_height| *author_height > height);
        taken
    }
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
            id: Identity { chain_id, node_id, crypto, quorum_override: None },
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
            let is_validator = author.as_ref().is_some_and(|author| state.validators.get(author).is_some());
            let result = self.future.push(current, received_ms, message);
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
