//! The state of one height: votes received, blocks known, and the QBFT rules that turn them into
//! votes sent and a decision.

use std::collections::{BTreeMap, BTreeSet};

use covenant_rules::ChainParams;
use covenant_rules::Violation;
use covenant_rules::checks::{
    check_block_limits, check_chain_id, check_clock_drift, check_round0_interval, check_timestamp_interval,
    check_tx_size,
};
use covenant_types::{
    Block, BlockHeader, BlockScan, CommitSeal, ENCODING_VERSION, Hash, NodeId, SignatureDomain, SignedTx, ValidatorSet,
};

use crate::engine::{BLOCKS_PER_HEIGHT_MAX, Identity, REJECTED_BLOCKS_MAX, ROUNDS_AHEAD_MAX, ROUNDS_BEHIND_KEPT};
use crate::error::ConsensusError;
use crate::io::{Action, BlockOutcome, HeightStart, ProposalRequest, Rejection, Timeout, TimeoutKind};
use crate::message::{
    Commit, CommitCertificate, Justification, Message, MessageBody, PrePrepare, Prepare, PreparedCertificate,
    PreparedRef, ProposalMessage, RoundChange, RoundChangeMessage, Signed, seal_digest,
};
use crate::safety::{SafetyState, VoteRecord};

/// Most round-timeout doublings: round `r` waits `round_timeout_ms_base * 2^min(r, 6)`.
pub const ROUND_TIMEOUT_DOUBLINGS_MAX: u32 = 6;

/// How long round `round` lasts before this validator asks for a round change.
pub fn round_timeout_ms(params: &ChainParams, round: u32) -> u64 {
    params.round_timeout_ms_base.saturating_mul(1u64 << round.min(ROUND_TIMEOUT_DOUBLINGS_MAX))
}

/// Everything a handler needs besides the height's own state.
pub(crate) struct Ctx<'a> {
    pub id: &'a Identity,
    pub safety: &'a mut SafetyState,
    pub out: &'a mut Vec<Action>,
    pub now_ms: u64,
    pub pending_txs: u64,
}

impl Ctx<'_> {
    fn persist(&mut self) {
        self.out.push(Action::PersistSafety(self.safety.clone()));
    }

    pub(crate) fn reject(&mut self, from: Option<&NodeId>, height: u64, round: u32, error: ConsensusError) {
        self.out.push(Action::Rejected(Rejection { from: from.cloned(), height, round, error }));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Validation {
    NotRequested,
    Pending,
    Valid,
    Invalid,
}

struct KnownBlock {
    block: Block,
    /// Canonical encoded length.
    bytes: usize,
    validation: Validation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SealCheck {
    Unchecked,
    Valid,
    Invalid,
}

struct CommitEntry {
    commit: Signed<Commit>,
    seal: SealCheck,
}

/// One height being decided.
pub(crate) struct HeightState {
    pub height: u64,
    pub validators: ValidatorSet,
    validators_hash: Hash,
    params: ChainParams,
    params_hash: Hash,
    parent: BlockHeader,
    parent_hash: Hash,
    parent_validators: ValidatorSet,
    parent_seals: Vec<CommitSeal>,
    quorum: usize,
    pub started_ms: u64,
    pub round: u32,
    round_deadline_ms: u64,
    /// Set once the height is decided; nothing more happens at this height.
    pub decision: Option<CommitCertificate>,
    // Per-round progress (reset when the round changes).
    proposal: Option<Hash>,
    proposal_requested: Option<u64>,
    proposed: bool,
    sent_prepare: bool,
    sent_commit: bool,
    propose_timer_at: Option<u64>,
    // What has been received at this height. Nothing is kept before it is verified, and each author
    // has a bounded share, so no byte budget is needed here (unlike the buffer of future heights):
    /// Verified blocks (see [`HeightState::remember_block`]): at most [`BLOCKS_PER_HEIGHT_MAX`], no
    /// more than one per round from its proposer or from a quorum's certificate.
    blocks: BTreeMap<Hash, KnownBlock>,
    /// Round and hash of refused proposals, at most [`REJECTED_BLOCKS_MAX`]: no block is kept.
    rejected_proposals: BTreeSet<(u32, Hash)>,
    /// PREPAREs with verified signatures, one per validator and round, for the current round and the
    /// [`ROUNDS_AHEAD_MAX`] after it; each of fixed size.
    prepares: BTreeMap<u32, BTreeMap<NodeId, Signed<Prepare>>>,
    /// COMMITs with verified signatures (their seals checked once their block is known), one per
    /// validator and round, from [`ROUNDS_BEHIND_KEPT`] rounds back to [`ROUNDS_AHEAD_MAX`] ahead.
    commits: BTreeMap<u32, BTreeMap<NodeId, CommitEntry>>,
    /// One ROUND-CHANGE per validator (its latest round), kept only with a verified signature and
    /// prepared certificate; a certificate's block is shared with `blocks`.
    round_changes: BTreeMap<NodeId, RoundChangeMessage>,
    pub sync_requested_ms: Option<u64>,
    /// This node is a validator at this height. An observer follows the height (validates
    /// proposals, collects commits, decides on a quorum of validators' seals) but never votes,
    /// so it can never count itself towards a quorum.
    voter: bool,
}

impl HeightState {
    pub(crate) fn new(start: HeightStart, quorum: usize, ctx: &mut Ctx<'_>) -> HeightState {
        let round = if ctx.safety.height == start.height { ctx.safety.round } else { 0 };
        let mut state = HeightState {
            height: start.height,
            validators_hash: start.validators.hash(),
            validators: start.validators,
            params_hash: start.params.hash(),
            params: start.params,
            parent_hash: start.parent.hash(),
            parent: start.parent,
            parent_validators: start.parent_validators,
            parent_seals: start.parent_commit_seals,
            quorum,
            started_ms: ctx.now_ms,
            round,
            round_deadline_ms: 0,
            decision: None,
            proposal: None,
            proposal_requested: None,
            proposed: false,
            sent_prepare: false,
            sent_commit: false,
            propose_timer_at: None,
            blocks: BTreeMap::new(),
            rejected_proposals: BTreeSet::new(),
            prepares: BTreeMap::new(),
            commits: BTreeMap::new(),
            round_changes: BTreeMap::new(),
            sync_requested_ms: None,
            voter: false,
        };
        state.voter = state.validators.get(&ctx.id.node_id).is_some();
        // A restart inside a round above 0 re-announces the round change, which peers may have missed.
        state.enter_round(ctx, round, round > 0);
        state
    }

    pub(crate) fn params(&self) -> &ChainParams {
        &self.params
    }

    fn max_faulty(&self) -> usize {
        self.validators.max_faulty()
    }

    fn proposer(&self, round: u32) -> &NodeId {
        &self.validators.proposer(self.height, round).id
    }

    /// The author is a validator of this height and the signature verifies with its consensus key.
    fn verify_signed<T: MessageBody>(&self, id: &Identity, signed: &Signed<T>) -> Result<(), ConsensusError> {
        let validator = self
            .validators
            .get(&signed.author)
            .ok_or_else(|| ConsensusError::NotValidator { author: signed.author.clone(), height: self.height })?;
        signed.verify(&validator.consensus_key, id.crypto.as_ref(), &id.chain_id).map_err(|error| {
            ConsensusError::BadSignature { author: signed.author.clone(), kind: T::KIND, reason: error.to_string() }
        })
    }

    /// Authenticates a message for a later height with this height's validators: its author is one of
    /// them and its outer signature (the PRE-PREPARE of a proposal, the signed body of a vote or round
    /// change) verifies with that validator's consensus key here. Nothing inside is checked: a
    /// proposal's block and justification and a round change's prepared certificate can only be
    /// judged with the validators and parameters of their own height, once it starts. A validator
    /// that joins at a later height, or whose key rotates there, is refused until then; its early
    /// messages are lost, and it is heard again once this validator reaches its height (round changes
    /// resend what a round needs).
    pub(crate) fn authenticate(&self, id: &Identity, message: &Message) -> Result<(), ConsensusError> {
        match message {
            Message::Proposal(proposal) => self.verify_signed(id, &proposal.pre_prepare),
            Message::Prepare(prepare) => self.verify_signed(id, prepare),
            Message::Commit(commit) => self.verify_signed(id, commit),
            Message::RoundChange(round_change) => self.verify_signed(id, &round_change.round_change),
            Message::Decided(certificate) => Err(ConsensusError::UnsolicitedDecision {
                height: certificate.block.header.height,
                current: self.height,
            }),
        }
    }

    fn check_round_window(&self, round: u32) -> Result<(), ConsensusError> {
        if round < self.round {
            return Err(ConsensusError::StaleRound { found: round, current: self.round });
        }
        if round > self.round.saturating_add(ROUNDS_AHEAD_MAX) {
            return Err(ConsensusError::RoundTooFarAhead {
                found: round,
                current: self.round,
                window: ROUNDS_AHEAD_MAX,
            });
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------------------
    // Rounds and timers.

    /// Moves to `round`: resets per-round progress, arms the round timer, and (when this validator
    /// times out or follows f+1 others) broadcasts its ROUND-CHANGE.
    fn enter_round(&mut self, ctx: &mut Ctx<'_>, round: u32, announce: bool) {
        self.round = round;
        let timeout = round_timeout_ms(&self.params, round);
        self.round_deadline_ms = if round == 0 {
            // The round-0 proposer may wait up to block_interval_ms_max for transactions, and its clock
            // may differ from ours by up to clock_drift_ms_max.
            let proposal_due = self
                .parent
                .timestamp_ms
                .saturating_add(self.params.block_interval_ms_max)
                .saturating_add(self.params.clock_drift_ms_max);
            ctx.now_ms.max(proposal_due).saturating_add(timeout)
        } else {
            ctx.now_ms.saturating_add(timeout)
        };
        self.proposal = None;
        self.proposal_requested = None;
        self.proposed = false;
        self.sent_prepare = false;
        self.sent_commit = false;
        self.propose_timer_at = None;
        self.prepares.retain(|r, _| *r >= round);
        self.commits.retain(|r, _| r.saturating_add(ROUNDS_BEHIND_KEPT) >= round);
        if ctx.safety.round < round {
            ctx.safety.round = round;
        }
        if announce && self.voter {
            let prepared = ctx.safety.prepared.clone();
            let body = RoundChange {
                height: self.height,
                round,
                prepared: prepared.as_ref().map(PreparedCertificate::reference),
            };
            let signed = Signed::sign(ctx.id.node_id.clone(), body, ctx.id.crypto.as_ref(), &ctx.id.chain_id);
            let message = RoundChangeMessage { round_change: signed, prepared };
            ctx.persist();
            ctx.out.push(Action::Broadcast(Message::RoundChange(Box::new(message.clone()))));
            self.round_changes.insert(ctx.id.node_id.clone(), message);
        }
        ctx.out.push(Action::ScheduleTimeout(Timeout {
            height: self.height,
            round,
            kind: TimeoutKind::Round,
            at_ms: self.round_deadline_ms,
        }));
    }

    pub(crate) fn on_timeout(&mut self, ctx: &mut Ctx<'_>, timeout: Timeout) {
        if self.decision.is_some() || timeout.height != self.height || timeout.round != self.round {
            return;
        }
        match timeout.kind {
            TimeoutKind::Round if ctx.now_ms >= self.round_deadline_ms => {
                if let Some(next) = self.round.checked_add(1) {
                    self.enter_round(ctx, next, true);
                }
            }
            TimeoutKind::Round => {
                ctx.out.push(Action::ScheduleTimeout(Timeout { at_ms: self.round_deadline_ms, ..timeout }))
            }
            // The proposer duty is re-evaluated by `progress` after every input.
            TimeoutKind::Propose => self.propose_timer_at = None,
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Receiving messages.

    pub(crate) fn on_prepare(&mut self, ctx: &mut Ctx<'_>, signed: Signed<Prepare>) -> Result<(), ConsensusError> {
        self.check_round_window(signed.body.round)?;
        if let Some(existing) = self.prepares.get(&signed.body.round).and_then(|by| by.get(&signed.author)) {
            if *existing == signed {
                return Ok(());
            }
            self.verify_signed(ctx.id, &signed)?;
            return Err(self.equivocation(&signed));
        }
        self.verify_signed(ctx.id, &signed)?;
        self.prepares.entry(signed.body.round).or_default().insert(signed.author.clone(), signed);
        Ok(())
    }

    pub(crate) fn on_commit(&mut self, ctx: &mut Ctx<'_>, signed: Signed<Commit>) -> Result<(), ConsensusError> {
        let round = signed.body.round;
        if round.saturating_add(ROUNDS_BEHIND_KEPT) < self.round {
            return Err(ConsensusError::StaleRound { found: round, current: self.round });
        }
        if round > self.round.saturating_add(ROUNDS_AHEAD_MAX) {
            return Err(ConsensusError::RoundTooFarAhead {
                found: round,
                current: self.round,
                window: ROUNDS_AHEAD_MAX,
            });
        }
        if let Some(existing) = self.commits.get(&round).and_then(|by| by.get(&signed.author)) {
            if existing.commit == signed {
                return Ok(());
            }
            self.verify_signed(ctx.id, &signed)?;
            return Err(self.equivocation(&signed));
        }
        self.verify_signed(ctx.id, &signed)?;
        self.commits
            .entry(round)
            .or_default()
            .insert(signed.author.clone(), CommitEntry { commit: signed, seal: SealCheck::Unchecked });
        Ok(())
    }

    fn equivocation<T: MessageBody>(&self, signed: &Signed<T>) -> ConsensusError {
        ConsensusError::Equivocation {
            author: signed.author.clone(),
            kind: T::KIND,
            height: signed.body.height(),
            round: signed.body.round(),
        }
    }

    /// A ROUND-CHANGE is kept (one per validator, its latest round) only once its signature and its
    /// prepared certificate are verified: the certificate's block hash is the one signed, and a quorum
    /// of valid PREPAREs prepared it. Its block is kept once, shared with the known blocks, however
    /// many round changes carry it.
    pub(crate) fn on_round_change(
        &mut self,
        ctx: &mut Ctx<'_>,
        mut message: RoundChangeMessage,
    ) -> Result<(), ConsensusError> {
        let body = &message.round_change.body;
        let author = &message.round_change.author;
        if body.round == 0 {
            return Err(ConsensusError::Malformed {
                what: "round change",
                reason: "round 0 cannot be changed to".into(),
            });
        }
        if body.round < self.round {
            return Err(ConsensusError::StaleRound { found: body.round, current: self.round });
        }
        if let Some(existing) = self.round_changes.get(author) {
            let existing_round = existing.round_change.body.round;
            if *existing == message {
                return Ok(());
            }
            if existing_round > body.round {
                return Err(ConsensusError::StaleRound { found: body.round, current: existing_round });
            }
            if existing_round == body.round {
                self.verify_signed(ctx.id, &message.round_change)?;
                return Err(self.equivocation(&message.round_change));
            }
        }
        self.verify_signed(ctx.id, &message.round_change)?;
        match (&body.prepared, &message.prepared) {
            (None, None) => {}
            (Some(reference), Some(certificate)) => {
                if reference.round >= body.round {
                    return Err(ConsensusError::Malformed {
                        what: "round change",
                        reason: format!("prepared round {} is not below round {}", reference.round, body.round),
                    });
                }
                self.check_prepared_certificate(ctx, certificate, reference)?;
            }
            _ => {
                return Err(ConsensusError::Malformed {
                    what: "round change",
                    reason: "prepared reference and certificate disagree".into(),
                });
            }
        }
        if let Some(certificate) = &mut message.prepared {
            // Known blocks are bounded; if full, this round change still counts (with its own copy of
            // the block), but its block cannot be re-proposed by us until an older one is gone (not in
            // this height).
            let block_hash = certificate.block.hash();
            if self.remember_block(certificate.block.clone(), None)
                && let Some(known) = self.blocks.get(&block_hash)
            {
                // A decoded certificate holds its own copy of the transactions; keep the known one.
                certificate.block = known.block.clone();
            }
        }
        self.round_changes.insert(author.clone(), message);
        Ok(())
    }

    fn check_prepared_certificate(
        &self,
        ctx: &Ctx<'_>,
        certificate: &PreparedCertificate,
        reference: &PreparedRef,
    ) -> Result<(), ConsensusError> {
        let found = certificate.block.hash();
        if found != reference.block_hash {
            return Err(ConsensusError::BlockHashMismatch { found, signed: reference.block_hash });
        }
        if certificate.block.header.height != self.height {
            return Err(ConsensusError::WrongHeight { found: certificate.block.header.height, expected: self.height });
        }
        self.check_prepare_quorum(ctx, &certificate.prepares, reference.round, reference.block_hash)
    }

    /// `prepares` are a quorum of valid PREPAREs from distinct validators for `(height, round, hash)`.
    fn check_prepare_quorum(
        &self,
        ctx: &Ctx<'_>,
        prepares: &[Signed<Prepare>],
        round: u32,
        block_hash: Hash,
    ) -> Result<(), ConsensusError> {
        if prepares.len() > self.validators.len() {
            return Err(ConsensusError::Malformed {
                what: "prepared certificate",
                reason: format!("{} prepares for {} validators", prepares.len(), self.validators.len()),
            });
        }
        let expected = Prepare { height: self.height, round, block_hash };
        let mut authors = BTreeSet::new();
        for prepare in prepares {
            if prepare.body != expected {
                return Err(ConsensusError::InvalidJustification {
                    reason: format!(
                        "prepare from {} is for height {} round {} block {}, expected round {round} block {block_hash}",
                        prepare.author, prepare.body.height, prepare.body.round, prepare.body.block_hash
                    ),
                });
            }
            if !authors.insert(&prepare.author) {
                return Err(ConsensusError::InvalidJustification {
                    reason: format!("two prepares from {}", prepare.author),
                });
            }
            self.verify_signed(ctx.id, prepare)?;
        }
        if authors.len() < self.quorum {
            return Err(ConsensusError::InvalidJustification {
                reason: format!("{} prepares, quorum is {}", authors.len(), self.quorum),
            });
        }
        Ok(())
    }

    /// Checks the justification of a proposal for `round` (above 0). Returns the prepared round the
    /// proposal re-proposes, or `None` when the proposer was free to propose a new block.
    fn check_justification(
        &self,
        ctx: &Ctx<'_>,
        round: u32,
        block_hash: Hash,
        justification: &Justification,
    ) -> Result<Option<u32>, ConsensusError> {
        if justification.round_changes.len() > self.validators.len() {
            return Err(ConsensusError::Malformed {
                what: "justification",
                reason: format!(
                    "{} round changes for {} validators",
                    justification.round_changes.len(),
                    self.validators.len()
                ),
            });
        }
        let mut authors = BTreeSet::new();
        let mut highest: Option<PreparedRef> = None;
        for round_change in &justification.round_changes {
            let body = &round_change.body;
            if body.height != self.height || body.round != round {
                return Err(ConsensusError::InvalidJustification {
                    reason: format!(
                        "round change from {} is for height {} round {}, expected round {round}",
                        round_change.author, body.height, body.round
                    ),
                });
            }
            if !authors.insert(&round_change.author) {
                return Err(ConsensusError::InvalidJustification {
                    reason: format!("two round changes from {}", round_change.author),
                });
            }
            self.verify_signed(ctx.id, round_change)?;
            if let Some(prepared) = body.prepared {
                let wrong = ctx.id.mutations.wrong_highest_prepared;
                highest = match highest {
                    Some(current) if (current.round > prepared.round) != wrong && current.round != prepared.round => {
                        Some(current)
                    }
                    Some(current) if current.round == prepared.round && current.block_hash != prepared.block_hash => {
                        return Err(ConsensusError::InvalidJustification {
                            reason: format!("two different blocks prepared in round {}", prepared.round),
                        });
                    }
                    _ => Some(prepared),
                };
            }
        }
        if authors.len() < self.quorum {
            return Err(ConsensusError::InvalidJustification {
                reason: format!("{} round changes for round {round}, quorum is {}", authors.len(), self.quorum),
            });
        }
        match highest {
            None if justification.prepares.is_empty() => Ok(None),
            None => Err(ConsensusError::Malformed {
                what: "justification",
                reason: "prepares given but no round change reports a prepared block".into(),
            }),
            Some(prepared) => {
                if prepared.block_hash != block_hash {
                    return Err(ConsensusError::InvalidJustification {
                        reason: format!(
                            "block {block_hash} is not the highest prepared block {} (round {})",
                            prepared.block_hash, prepared.round
                        ),
                    });
                }
                if prepared.round >= round {
                    return Err(ConsensusError::InvalidJustification {
                        reason: format!("prepared round {} is not below round {round}", prepared.round),
                    });
                }
                self.check_prepare_quorum(ctx, &justification.prepares, prepared.round, prepared.block_hash)?;
                Ok(Some(prepared.round))
            }
        }
    }

    pub(crate) fn on_proposal(
        &mut self,
        ctx: &mut Ctx<'_>,
        proposal: ProposalMessage,
        received_ms: u64,
    ) -> Result<(), ConsensusError> {
        let ProposalMessage { pre_prepare, block, justification } = proposal;
        let round = pre_prepare.body.round;
        self.check_round_window(round)?;
        let expected = self.proposer(round);
        if pre_prepare.author != *expected {
            return Err(ConsensusError::WrongProposer {
                found: pre_prepare.author.clone(),
                expected: expected.clone(),
                height: self.height,
                round,
            });
        }
        if round == self.round
            && let Some(accepted) = self.proposal
        {
            if accepted == pre_prepare.body.block_hash {
                return Ok(());
            }
            self.verify_signed(ctx.id, &pre_prepare)?;
            return Err(self.equivocation(&pre_prepare));
        }
        if self.rejected_proposals.contains(&(round, pre_prepare.body.block_hash)) {
            return Ok(());
        }
        self.verify_signed(ctx.id, &pre_prepare)?;
        let block_hash = block.hash();
        if block_hash != pre_prepare.body.block_hash {
            return Err(ConsensusError::BlockHashMismatch { found: block_hash, signed: pre_prepare.body.block_hash });
        }
        let reproposed_round = match (&justification, round) {
            (None, 0) => None,
            (Some(_), 0) => {
                return Err(ConsensusError::Malformed {
                    what: "proposal",
                    reason: "a round-0 proposal carries no justification".into(),
                });
            }
            (None, _) => {
                return Err(ConsensusError::InvalidJustification {
                    reason: format!("proposal for round {round} without round changes"),
                });
            }
            (Some(justification), _) => self.check_justification(ctx, round, block_hash, justification)?,
        };
        // A justified proposal for a later round proves a quorum moved there: follow it.
        if round > self.round {
            self.enter_round(ctx, round, false);
        }
        let block_bytes = match self.check_block(ctx, &block, round, reproposed_round.is_none(), received_ms) {
            Ok(block_bytes) => block_bytes,
            Err(error) => {
                if self.rejected_proposals.len() < REJECTED_BLOCKS_MAX {
                    self.rejected_proposals.insert((round, block_hash));
                }
                return Err(error);
            }
        };
        if !self.remember_block(block, Some(block_bytes)) {
            return Err(ConsensusError::BufferFull { buffer: "known blocks", capacity: BLOCKS_PER_HEIGHT_MAX });
        }
        self.proposal = Some(block_hash);
        self.request_validation(ctx, block_hash);
        Ok(())
    }

    /// Consensus and covenant header checks of a proposed block; returns its encoded length. `fresh`
    /// is false for the re-proposal of a prepared block, whose timestamp was checked against the
    /// clocks of the quorum that prepared it when it was new, and would now fail COV-35 only because
    /// rounds have passed.
    fn check_block(
        &self,
        ctx: &Ctx<'_>,
        block: &Block,
        round: u32,
        fresh: bool,
        received_ms: u64,
    ) -> Result<usize, ConsensusError> {
        let header = &block.header;
        if header.version != ENCODING_VERSION {
            return Err(ConsensusError::WrongVersion { found: header.version, expected: ENCODING_VERSION });
        }
        check_chain_id(&header.chain_id, &ctx.id.chain_id)?;
        if header.height != self.height {
            return Err(ConsensusError::WrongHeight { found: header.height, expected: self.height });
        }
        if header.parent_hash != self.parent_hash {
            return Err(ConsensusError::WrongParent { found: header.parent_hash, expected: self.parent_hash });
        }
        if fresh && header.round != round {
            return Err(ConsensusError::WrongHeaderRound { found: header.round, expected: round });
        }
        if !fresh && header.round >= round {
            return Err(ConsensusError::WrongHeaderRound { found: header.round, expected: round.saturating_sub(1) });
        }
        let expected_proposer = self.proposer(header.round);
        if header.proposer != *expected_proposer {
            return Err(ConsensusError::WrongProposer {
                found: header.proposer.clone(),
                expected: expected_proposer.clone(),
                height: self.height,
                round: header.round,
            });
        }
        let scan = block.scan();
        let fields = [
            ("validator_set_hash", header.validator_set_hash, self.validators_hash),
            ("parameters_hash", header.parameters_hash, self.params_hash),
            ("transactions_root", header.transactions_root, scan.transactions_root),
        ];
        for (field, found, expected) in fields {
            if found != expected {
                return Err(ConsensusError::WrongHeaderField { field, found, expected });
            }
        }
        self.check_parent_seals(ctx, &header.parent_commit_seals)?;
        // A timestamp far from this validator's clock is first of all that (COV-35), whatever else
        // it also breaks.
        if fresh {
            check_clock_drift(header.timestamp_ms, received_ms, &self.params)?;
        }
        self.check_covenant_limits(&scan, block.transactions.len(), header.timestamp_ms, header.round)?;
        Ok(scan.encoded_len)
    }

    /// The covenant's limits on a block, the same for this validator's own proposal as for
    /// another's: bytes and count (COV-49), each transaction's bytes (COV-45, since a proposer's
    /// transactions need not have passed anybody's mempool), the minimum interval (COV-36), and for a
    /// block of round 0 the maximum interval with the drift allowance (COV-49, ADR 0019).
    fn check_covenant_limits(
        &self,
        scan: &BlockScan,
        tx_count: usize,
        timestamp_ms: u64,
        header_round: u32,
    ) -> Result<(), Violation> {
        check_block_limits(scan.encoded_len as u64, tx_count as u64, &self.params)?;
        if let Some((_, bytes)) = scan.largest_transaction {
            check_tx_size(bytes as u64, &self.params)?;
        }
        check_timestamp_interval(timestamp_ms, self.parent.timestamp_ms, &self.params)?;
        if header_round == 0 {
            check_round0_interval(timestamp_ms, self.parent.timestamp_ms, &self.params)?;
        }
        Ok(())
    }

    /// The seals a block carries for its parent are a quorum of valid seals of the parent's validators
    /// (none for a child of genesis).
    fn check_parent_seals(&self, ctx: &Ctx<'_>, seals: &[CommitSeal]) -> Result<(), ConsensusError> {
        if self.parent.height == 0 {
            if !seals.is_empty() {
                return Err(ConsensusError::BadParentSeals { reason: "the genesis block has no commit seals".into() });
            }
            return Ok(());
        }
        let digest = seal_digest(self.parent.height, self.parent.round, self.parent_hash);
        let quorum = ctx.id.quorum(&self.parent_validators);
        check_seals(ctx.id, &self.parent_validators, quorum, &digest, seals)
            .map_err(|reason| ConsensusError::BadParentSeals { reason })
    }

    /// Keeps a verified block (a proposal that passed the header checks, a block a quorum prepared, or
    /// this validator's own), measuring it unless its `encoded_bytes` are known. Returns whether it is
    /// known now.
    ///
    /// Blocks stay for the whole height, at most [`BLOCKS_PER_HEIGHT_MAX`]. No author can add blocks
    /// faster than rounds pass: a proposal is kept only from the proposer of its round, one per round
    /// (a second is equivocation), and a round above the current one only with a justification signed
    /// by a quorum; a certificate's block needs a quorum of PREPAREs of one round, and honest
    /// validators prepare one block per round.
    fn remember_block(&mut self, block: Block, encoded_bytes: Option<usize>) -> bool {
        let hash = block.hash();
        if self.blocks.contains_key(&hash) {
            return true;
        }
        if self.blocks.len() >= BLOCKS_PER_HEIGHT_MAX {
            return false;
        }
        let bytes = encoded_bytes.unwrap_or_else(|| bcs::serialized_size(&block).unwrap_or(usize::MAX));
        self.blocks.insert(hash, KnownBlock { block, bytes, validation: Validation::NotRequested });
        true
    }

    /// Distinct blocks known at this height and their encoded bytes.
    pub(crate) fn known_blocks(&self) -> (usize, usize) {
        (self.blocks.len(), self.blocks.values().fold(0, |sum, known| sum.saturating_add(known.bytes)))
    }

    fn request_validation(&mut self, ctx: &mut Ctx<'_>, block_hash: Hash) {
        if let Some(known) = self.blocks.get_mut(&block_hash)
            && known.validation == Validation::NotRequested
        {
            known.validation = Validation::Pending;
            ctx.out.push(Action::ValidateBlock { height: self.height, round: self.round, block: known.block.clone() });
        }
    }

    pub(crate) fn on_block_validated(&mut self, ctx: &mut Ctx<'_>, block_hash: Hash, outcome: BlockOutcome) {
        let round = self.round;
        let height = self.height;
        let Some(known) = self.blocks.get_mut(&block_hash) else { return };
        if known.validation != Validation::Pending {
            return;
        }
        let proposer = known.block.header.proposer.clone();
        match outcome {
            BlockOutcome::Valid { state_root } if state_root == known.block.header.state_root => {
                known.validation = Validation::Valid;
            }
            BlockOutcome::Valid { state_root } => {
                known.validation = Validation::Invalid;
                let claimed = known.block.header.state_root;
                let error = ConsensusError::StateRootMismatch { block_hash, claimed, computed: state_root };
                ctx.reject(Some(&proposer), height, round, error);
            }
            BlockOutcome::Invalid { reason } => {
                known.validation = Validation::Invalid;
                ctx.reject(Some(&proposer), height, round, ConsensusError::ExecutionFailed { block_hash, reason });
            }
        }
    }

    /// A committed block from sync or from a peer's [`Message::Decided`].
    pub(crate) fn on_certificate(
        &mut self,
        ctx: &mut Ctx<'_>,
        certificate: CommitCertificate,
    ) -> Result<(), ConsensusError> {
        if self.decision.is_some() {
            return Ok(());
        }
        let header = &certificate.block.header;
        if header.height != self.height {
            return Err(ConsensusError::WrongHeight { found: header.height, expected: self.height });
        }
        if header.parent_hash != self.parent_hash {
            return Err(ConsensusError::WrongParent { found: header.parent_hash, expected: self.parent_hash });
        }
        let block_hash = certificate.block.hash();
        let digest = seal_digest(self.height, header.round, block_hash);
        check_seals(ctx.id, &self.validators, self.quorum, &digest, &certificate.seals).map_err(|reason| {
            ConsensusError::InvalidJustification { reason: format!("commit certificate: {reason}") }
        })?;
        self.decide(ctx, certificate);
        Ok(())
    }

    fn decide(&mut self, ctx: &mut Ctx<'_>, certificate: CommitCertificate) {
        ctx.out.push(Action::Commit(certificate.clone()));
        self.decision = Some(certificate);
    }

    // ---------------------------------------------------------------------------------------------
    // The proposer.

    pub(crate) fn on_proposal_built(
        &mut self,
        ctx: &mut Ctx<'_>,
        round: u32,
        transactions: Vec<SignedTx>,
        state_root: Hash,
    ) {
        let Some(timestamp_ms) = self.proposal_requested else { return };
        if round != self.round || self.proposed || self.decision.is_some() {
            return;
        }
        self.proposal_requested = None;
        // Round changes may have arrived while the block was built; one with a prepared block forces
        // a re-proposal instead.
        let justification = if round == 0 {
            None
        } else {
            match self.round_change_quorum(ctx.id, round) {
                Some((justification, None)) => Some(justification),
                _ => return,
            }
        };
        let header = BlockHeader {
            version: ENCODING_VERSION,
            chain_id: ctx.id.chain_id.clone(),
            height: self.height,
            round,
            parent_hash: self.parent_hash,
            timestamp_ms,
            proposer: ctx.id.node_id.clone(),
            // Set below, from the same pass that measures the block.
            transactions_root: Hash::ZERO,
            state_root,
            validator_set_hash: self.validators_hash,
            parameters_hash: self.params_hash,
            parent_commit_seals: self.parent_seals.clone(),
        };
        let mut block = Block { header, transactions: transactions.into() };
        // A root is a fixed-size field: the length measured with the placeholder is the block's.
        let scan = block.scan();
        block.header.transactions_root = scan.transactions_root;
        let block_bytes = scan.encoded_len;
        if let Err(error) = self.check_covenant_limits(&scan, block.transactions.len(), timestamp_ms, round) {
            // Give up this round rather than propose a block every peer would refuse.
            self.proposed = true;
            let node = ctx.id.node_id.clone();
            ctx.reject(Some(&node), self.height, round, ConsensusError::OwnProposal(Box::new(error.into())));
            return;
        }
        self.propose(ctx, block, justification, Some(block_bytes));
    }

    /// Signs and broadcasts a PRE-PREPARE for `block` in the current round. `built_bytes` is the
    /// encoded length of a block this validator's driver built (and so executed), `None` for the
    /// re-proposal of a prepared block.
    fn propose(
        &mut self,
        ctx: &mut Ctx<'_>,
        block: Block,
        justification: Option<Justification>,
        built_bytes: Option<usize>,
    ) {
        let round = self.round;
        let block_hash = block.hash();
        self.proposed = true;
        if !SafetyState::allows(ctx.safety.proposed, round, block_hash) {
            // Proposed something else in this round before a restart: stay silent until the round ends.
            return;
        }
        if !self.remember_block(block.clone(), built_bytes) {
            return;
        }
        ctx.safety.proposed = Some(VoteRecord { round, block_hash });
        ctx.persist();
        let body = PrePrepare { height: self.height, round, block_hash };
        let pre_prepare = Signed::sign(ctx.id.node_id.clone(), body, ctx.id.crypto.as_ref(), &ctx.id.chain_id);
        let message = ProposalMessage { pre_prepare, block, justification };
        ctx.out.push(Action::Broadcast(Message::Proposal(Box::new(message))));
        self.proposal = Some(block_hash);
        if built_bytes.is_some()
            && let Some(known) = self.blocks.get_mut(&block_hash)
            && known.validation == Validation::NotRequested
        {
            // The driver executed it to build it.
            known.validation = Validation::Valid;
        }
        self.request_validation(ctx, block_hash);
    }

    /// The quorum of ROUND-CHANGEs for `round`, as a justification, with the highest prepared
    /// certificate among them.
    fn round_change_quorum(&self, id: &Identity, round: u32) -> Option<(Justification, Option<PreparedCertificate>)> {
        let messages: Vec<&RoundChangeMessage> =
            self.round_changes.values().filter(|message| message.round_change.body.round == round).collect();
        if messages.len() < self.quorum {
            return None;
        }
        let highest = messages
            .iter()
            .filter_map(|message| message.prepared.as_ref())
            .fold(None::<&PreparedCertificate>, |best, certificate| match best {
                Some(best) if (best.round() >= certificate.round()) != id.mutations.wrong_highest_prepared => {
                    Some(best)
                }
                _ => Some(certificate),
            })
            .cloned();
        let justification = Justification {
            round_changes: messages.iter().map(|message| message.round_change.clone()).collect(),
            prepares: highest.as_ref().map(|certificate| certificate.prepares.clone()).unwrap_or_default(),
        };
        Some((justification, highest))
    }

    fn try_propose(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let round = self.round;
        if self.proposed || self.proposal_requested.is_some() || self.proposer(round) != &ctx.id.node_id {
            return false;
        }
        if ctx.safety.proposed.is_some_and(|proposed| proposed.round >= round) {
            // Already proposed in this round before a restart.
            self.proposed = true;
            return false;
        }
        let earliest = self.parent.timestamp_ms.saturating_add(self.params.block_interval_ms_min);
        let due = if round == 0 {
            if ctx.pending_txs > 0 {
                earliest
            } else {
                self.parent.timestamp_ms.saturating_add(self.params.block_interval_ms_max)
            }
        } else {
            match self.round_change_quorum(ctx.id, round) {
                None => return false,
                Some((justification, Some(certificate))) => {
                    self.propose(ctx, certificate.block, Some(justification), None);
                    return true;
                }
                Some((_, None)) => earliest,
            }
        };
        if ctx.now_ms < due {
            if self.propose_timer_at != Some(due) {
                self.propose_timer_at = Some(due);
                ctx.out.push(Action::ScheduleTimeout(Timeout {
                    height: self.height,
                    round,
                    kind: TimeoutKind::Propose,
                    at_ms: due,
                }));
            }
            return false;
        }
        let header_bytes = bcs::serialized_size(&self.parent).unwrap_or(0) as u64
            + bcs::serialized_size(&self.parent_seals).unwrap_or(0) as u64;
        self.proposal_requested = Some(ctx.now_ms);
        ctx.out.push(Action::BuildProposal(ProposalRequest {
            height: self.height,
            round,
            parent_hash: self.parent_hash,
            parent_state_root: self.parent.state_root,
            timestamp_ms: ctx.now_ms,
            proposer: ctx.id.node_id.clone(),
            transactions_max: self.params.block_txs_max,
            transactions_bytes_max: self.params.block_bytes_max.saturating_sub(header_bytes),
        }));
        true
    }

    // ---------------------------------------------------------------------------------------------
    // Voting and deciding.

    /// Applies every rule whose condition holds, once; returns whether anything changed.
    pub(crate) fn step(&mut self, ctx: &mut Ctx<'_>) -> bool {
        if self.decision.is_some() {
            return false;
        }
        self.try_decide(ctx)
            || self.try_round_skip(ctx)
            || self.try_prepare(ctx)
            || self.try_commit(ctx)
            || self.try_propose(ctx)
    }

    /// PREPARE the current round's proposal once it is validated.
    fn try_prepare(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let round = self.round;
        let Some(block_hash) = self.proposal else { return false };
        if !self.voter
            || self.sent_prepare
            || self.blocks.get(&block_hash).map(|known| known.validation) != Some(Validation::Valid)
        {
            return false;
        }
        self.sent_prepare = true;
        if !SafetyState::allows(ctx.safety.prepare, round, block_hash) {
            return false;
        }
        ctx.safety.prepare = Some(VoteRecord { round, block_hash });
        ctx.persist();
        let body = Prepare { height: self.height, round, block_hash };
        let signed = Signed::sign(ctx.id.node_id.clone(), body, ctx.id.crypto.as_ref(), &ctx.id.chain_id);
        ctx.out.push(Action::Broadcast(Message::Prepare(signed.clone())));
        self.prepares.entry(round).or_default().entry(ctx.id.node_id.clone()).or_insert(signed);
        true
    }

    /// On a quorum of PREPAREs in the current round: lock on the block (prepared certificate) and
    /// COMMIT it if this validator validated it.
    fn try_commit(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let round = self.round;
        let Some(prepares) = self.prepares.get(&round) else { return false };
        let mut counts: BTreeMap<Hash, usize> = BTreeMap::new();
        for prepare in prepares.values() {
            *counts.entry(prepare.body.block_hash).or_default() += 1;
        }
        let Some(block_hash) = counts.into_iter().find(|(_, count)| *count >= self.quorum).map(|(hash, _)| hash) else {
            return false;
        };
        let Some(known) = self.blocks.get(&block_hash) else { return false };
        let lock = ctx.safety.prepared.as_ref().is_none_or(|certificate| certificate.round() < round);
        let commit = self.voter
            && !self.sent_commit
            && known.validation == Validation::Valid
            && SafetyState::allows(ctx.safety.commit, round, block_hash);
        if !lock && !commit {
            return false;
        }
        if lock && !ctx.id.mutations.no_locking {
            let prepares = prepares.values().filter(|prepare| prepare.body.block_hash == block_hash).cloned().collect();
            ctx.safety.prepared = Some(PreparedCertificate { block: known.block.clone(), prepares });
        }
        let block_round = known.block.header.round;
        if commit {
            self.sent_commit = true;
            ctx.safety.commit = Some(VoteRecord { round, block_hash });
        }
        ctx.persist();
        if commit {
            let seal = ctx.id.crypto.sign(
                SignatureDomain::CommitSeal,
                &ctx.id.chain_id,
                &seal_digest(self.height, block_round, block_hash),
            );
            let body = Commit { height: self.height, round, block_hash, seal };
            let signed = Signed::sign(ctx.id.node_id.clone(), body, ctx.id.crypto.as_ref(), &ctx.id.chain_id);
            ctx.out.push(Action::Broadcast(Message::Commit(signed.clone())));
            self.commits
                .entry(round)
                .or_default()
                .entry(ctx.id.node_id.clone())
                .or_insert(CommitEntry { commit: signed, seal: SealCheck::Valid });
        }
        true
    }

    /// Decide on a quorum of COMMITs with valid seals, in any round, for a block known here.
    fn try_decide(&mut self, ctx: &mut Ctx<'_>) -> bool {
        // Check seals of COMMITs whose block is now known.
        let mut bad_seals = Vec::new();
        for (round, entries) in self.commits.iter_mut() {
            for entry in entries.values_mut().filter(|entry| entry.seal == SealCheck::Unchecked) {
                let Some(known) = self.blocks.get(&entry.commit.body.block_hash) else { continue };
                let Some(validator) = self.validators.get(&entry.commit.author) else { continue };
                let digest = seal_digest(self.height, known.block.header.round, entry.commit.body.block_hash);
                let verified = ctx.id.crypto.verify(
                    &validator.consensus_key,
                    SignatureDomain::CommitSeal,
                    &ctx.id.chain_id,
                    &digest,
                    &entry.commit.body.seal,
                );
                entry.seal = if verified.is_ok() { SealCheck::Valid } else { SealCheck::Invalid };
                if verified.is_err() {
                    bad_seals.push((*round, entry.commit.author.clone(), entry.commit.body.block_hash));
                }
            }
        }
        for (round, validator, block_hash) in bad_seals {
            ctx.reject(Some(&validator.clone()), self.height, round, ConsensusError::BadSeal { validator, block_hash });
        }
        let mut missing_block = false;
        let mut decision = None;
        'rounds: for entries in self.commits.values() {
            let mut by_block: BTreeMap<Hash, Vec<&CommitEntry>> = BTreeMap::new();
            for entry in entries.values().filter(|entry| entry.seal != SealCheck::Invalid) {
                by_block.entry(entry.commit.body.block_hash).or_default().push(entry);
            }
            for (block_hash, entries) in by_block {
                if entries.len() < self.quorum {
                    continue;
                }
                let Some(known) = self.blocks.get(&block_hash) else {
                    missing_block = true;
                    continue;
                };
                let seals: Vec<CommitSeal> = entries
                    .iter()
                    .filter(|entry| entry.seal == SealCheck::Valid)
                    .map(|entry| CommitSeal {
                        validator: entry.commit.author.clone(),
                        signature: entry.commit.body.seal,
                    })
                    .collect();
                if seals.len() >= self.quorum {
                    decision = Some(CommitCertificate { block: known.block.clone(), seals });
                    break 'rounds;
                }
            }
        }
        if let Some(certificate) = decision {
            self.decide(ctx, certificate);
            return true;
        }
        if missing_block {
            // A quorum committed a block this validator never received: fetch it.
            self.request_sync(ctx);
        }
        false
    }

    /// Asks the driver for block sync, at most once per base round timeout.
    pub(crate) fn request_sync(&mut self, ctx: &mut Ctx<'_>) {
        let interval = self.params.round_timeout_ms_base;
        let due =
            self.sync_requested_ms.map_or(self.started_ms.saturating_add(interval), |at| at.saturating_add(interval));
        if ctx.now_ms < due {
            return;
        }
        self.sync_requested_ms = Some(ctx.now_ms);
        ctx.out.push(Action::RequestSync { from_height: self.height });
    }

    /// f+1 validators are in later rounds: at least one honest validator is, so follow to the highest
    /// round f+1 of them have reached.
    fn try_round_skip(&mut self, ctx: &mut Ctx<'_>) -> bool {
        let mut rounds: Vec<u32> = self
            .round_changes
            .values()
            .map(|message| message.round_change.body.round)
            .filter(|round| *round > self.round)
            .collect();
        let needed = self.max_faulty() + 1;
        if rounds.len() < needed {
            return false;
        }
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        let target = rounds[needed - 1];
        self.enter_round(ctx, target, true);
        true
    }
}

/// Checks that `seals` are a quorum of valid seals from distinct members of `validators` over `digest`.
pub(crate) fn check_seals(
    id: &Identity,
    validators: &ValidatorSet,
    quorum: usize,
    digest: &Hash,
    seals: &[CommitSeal],
) -> Result<(), String> {
    check_seals_with(Some(id.crypto.as_ref()), &id.chain_id, validators, quorum, digest, seals)
}

/// Proof of finality that anyone holding the validator set can check, without a store or an engine:
/// `validators` is the set the header names (its hash is `header.validator_set_hash`), and `seals`
/// are a quorum of its members' valid commit seals over the block at its height and round. This is
/// the check a validator makes of the seals a block carries for its parent; an auditor outside the
/// consortium makes it of a block it fetched.
pub fn verify_commit_seals(
    chain: &covenant_types::ChainId,
    validators: &ValidatorSet,
    header: &BlockHeader,
    seals: &[CommitSeal],
) -> Result<(), String> {
    if validators.hash() != header.validator_set_hash {
        return Err(format!(
            "the validator set given hashes to {}, block {} names the set {}",
            validators.hash(),
            header.height,
            header.validator_set_hash
        ));
    }
    let digest = seal_digest(header.height, header.round, header.hash());
    check_seals_with(None, chain, validators, validators.quorum(), &digest, seals)
}

/// [`check_seals`] through the engine's `crypto`, or with plain strict ed25519 verification (`None`).
fn check_seals_with(
    crypto: Option<&dyn crate::ConsensusCrypto>,
    chain: &covenant_types::ChainId,
    validators: &ValidatorSet,
    quorum: usize,
    digest: &Hash,
    seals: &[CommitSeal],
) -> Result<(), String> {
    if seals.len() > validators.len() {
        return Err(format!("{} seals for {} validators", seals.len(), validators.len()));
    }
    let mut signers = BTreeSet::new();
    for seal in seals {
        let Some(validator) = validators.get(&seal.validator) else {
            return Err(format!("{} is not a validator", seal.validator));
        };
        if !signers.insert(&seal.validator) {
            return Err(format!("two seals from {}", seal.validator));
        }
        match crypto {
            Some(crypto) => {
                crypto.verify(&validator.consensus_key, SignatureDomain::CommitSeal, chain, digest, &seal.signature)
            }
            None => validator.consensus_key.verify(SignatureDomain::CommitSeal, chain, digest, &seal.signature),
        }
        .map_err(|error| format!("seal from {}: {error}", seal.validator))?;
    }
    if signers.len() < quorum {
        return Err(format!("{} seals, quorum is {quorum}", signers.len()));
    }
    Ok(())
}
