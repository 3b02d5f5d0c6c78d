//! Messages for heights this validator has not reached yet.
//!
//! Such a message cannot be checked against the height it is for: that height's validator set and
//! parameters are only known once the block before it is committed. What can be checked is that its
//! author is a validator of the *current* height and that its outer signature verifies with that
//! validator's current consensus key (the engine does this before [`FutureBuffer::push`]); its inner
//! parts (a proposal's block and justification, a round change's prepared certificate) stay unchecked
//! until the height starts. Since authenticated but otherwise unchecked messages can still be as large
//! as any message, the buffer keeps byte budgets per author, per height and in total, besides its
//! counts: see the `FUTURE_*` constants in [`crate::engine`] for the numbers and their arithmetic.
//!
//! A message that does not fit a budget is refused and nothing already buffered is evicted: no author
//! can make room for itself by pushing out another's messages, and a message is never dropped once
//! kept because of what arrived after it. The one exception is an author's own ROUND-CHANGE: each
//! author has one slot per height for it, and a round change for a later round replaces the author's
//! earlier one (the height keeps only an author's latest round change anyway). That is what lets an
//! honest validator's round changes for several rounds, each possibly carrying a whole block in its
//! prepared certificate, fit its budget.

use std::collections::BTreeMap;

use covenant_types::NodeId;

use crate::engine::{
    FUTURE_AUTHOR_BYTES_MAX, FUTURE_AUTHOR_MESSAGES_MAX, FUTURE_AUTHOR_PROPOSALS_MAX, FUTURE_BYTES_MAX,
    FUTURE_HEIGHT_BYTES_MAX, FUTURE_HEIGHTS_MAX, FUTURE_MESSAGES_MAX, FUTURE_PROPOSALS_MAX,
};
use crate::error::ConsensusError;
use crate::message::{Message, MessageKind};

/// The bounds of a [`FutureBuffer`]; [`Budgets::ENGINE`] in the engine, smaller ones in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budgets {
    pub author_bytes: usize,
    pub height_bytes: usize,
    pub total_bytes: usize,
    pub author_messages: usize,
    pub messages: usize,
    pub author_proposals: usize,
    pub proposals: usize,
}

impl Budgets {
    /// The engine's bounds, from the `FUTURE_*` constants.
    pub const ENGINE: Budgets = Budgets {
        author_bytes: FUTURE_AUTHOR_BYTES_MAX,
        height_bytes: FUTURE_HEIGHT_BYTES_MAX,
        total_bytes: FUTURE_BYTES_MAX,
        author_messages: FUTURE_AUTHOR_MESSAGES_MAX,
        messages: FUTURE_MESSAGES_MAX,
        author_proposals: FUTURE_AUTHOR_PROPOSALS_MAX,
        proposals: FUTURE_PROPOSALS_MAX,
    };
}

/// Where an author's message is kept at one height: one slot per kind and round, except round
/// changes, which have one slot per author (the latest round wins).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Slot {
    author: NodeId,
    kind: MessageKind,
    /// The message's round; 0 for every round change.
    round: u32,
}

struct Buffered {
    /// Arrival order: messages are replayed in it when their height starts.
    sequence: u64,
    received_ms: u64,
    message: Message,
    /// Canonical encoded length, what the budgets count.
    bytes: usize,
}

impl Buffered {
    fn is_proposal(&self) -> bool {
        matches!(self.message, Message::Proposal(_))
    }
}

#[derive(Default)]
struct HeightMessages {
    slots: BTreeMap<Slot, Buffered>,
    bytes: usize,
}

/// What one author has buffered across all future heights.
#[derive(Clone, Copy, Default)]
struct AuthorUsage {
    bytes: usize,
    messages: usize,
    proposals: usize,
}

/// Messages for future heights, authenticated against the current height's validators, with byte
/// budgets. See the [module documentation](self).
pub(crate) struct FutureBuffer {
    budgets: Budgets,
    by_height: BTreeMap<u64, HeightMessages>,
    by_author: BTreeMap<NodeId, AuthorUsage>,
    bytes: usize,
    messages: usize,
    proposals: usize,
    next_sequence: u64,
    /// Highest future height each (claimed) validator sent something for: evidence of falling behind.
    pub authors: BTreeMap<NodeId, u64>,
    /// A round change is kept per round instead of only an author's latest (a deliberate bug).
    round_change_per_round: bool,
}

impl Default for FutureBuffer {
    fn default() -> Self {
        FutureBuffer::new(Budgets::ENGINE)
    }
}

/// Buffered messages and bytes, for [`crate::Engine::buffered_bytes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FutureUsage {
    pub messages: usize,
    pub bytes: usize,
    pub author_bytes_max: usize,
}

impl FutureBuffer {
    pub(crate) fn new(budgets: Budgets) -> FutureBuffer {
        FutureBuffer {
            budgets,
            by_height: BTreeMap::new(),
            by_author: BTreeMap::new(),
            bytes: 0,
            messages: 0,
            proposals: 0,
            next_sequence: 0,
            authors: BTreeMap::new(),
            round_change_per_round: false,
        }
    }

    /// The buffer as it was before its byte budgets (a negative control for the simulator): bounded
    /// by the total count only, one round change kept per author and round.
    #[cfg(feature = "test-mutations")]
    pub(crate) fn without_byte_budgets() -> FutureBuffer {
        let mut buffer = FutureBuffer::new(Budgets {
            author_bytes: usize::MAX / 4,
            height_bytes: usize::MAX / 4,
            total_bytes: usize::MAX / 4,
            author_messages: FUTURE_MESSAGES_MAX,
            ..Budgets::ENGINE
        });
        buffer.round_change_per_round = true;
        buffer
    }

    pub(crate) fn usage(&self) -> FutureUsage {
        FutureUsage {
            messages: self.messages,
            bytes: self.bytes,
            author_bytes_max: self.by_author.values().map(|usage| usage.bytes).max().unwrap_or(0),
        }
    }

    /// Checks that `message` (for a height above `current`) may be kept and keeps it. `authenticate`
    /// checks its author and outer signature; it runs only for a message that is not an exact
    /// duplicate of one already kept, and before any budget is looked at, so that a refusal for a
    /// full budget always names the real author.
    pub(crate) fn push(
        &mut self,
        current: u64,
        received_ms: u64,
        message: Message,
        authenticate: impl FnOnce(&Message) -> Result<(), ConsensusError>,
    ) -> Result<(), ConsensusError> {
        let height = message.height();
        if height > current.saturating_add(FUTURE_HEIGHTS_MAX) {
            return Err(ConsensusError::HeightTooFarAhead { found: height, current, window: FUTURE_HEIGHTS_MAX });
        }
        let Some(slot) = slot_of(&message, self.round_change_per_round) else {
            // A decision names no author to authenticate, and none is ever due for a later height: a
            // validator sends one only to a validator still voting at the decided height.
            return Err(ConsensusError::UnsolicitedDecision { height, current });
        };
        let existing = self.by_height.get(&height).and_then(|messages| messages.slots.get(&slot));
        if existing.is_some_and(|existing| existing.message == message) {
            return Ok(());
        }
        authenticate(&message)?;
        let replaced_bytes = match existing {
            None => 0,
            Some(existing) => match (&existing.message, &message) {
                (Message::RoundChange(kept), Message::RoundChange(new))
                    if new.round_change.body.round > kept.round_change.body.round =>
                {
                    existing.bytes
                }
                (Message::RoundChange(kept), Message::RoundChange(new))
                    if new.round_change.body.round < kept.round_change.body.round =>
                {
                    let (found, current) = (new.round_change.body.round, kept.round_change.body.round);
                    return Err(ConsensusError::StaleRound { found, current });
                }
                _ => {
                    return Err(ConsensusError::Equivocation {
                        author: slot.author,
                        kind: slot.kind,
                        height,
                        round: message.round(),
                    });
                }
            },
        };
        let bytes = message.encoded_len();
        let is_proposal = matches!(message, Message::Proposal(_));
        let replaces = existing.is_some();
        self.check_budgets(&slot.author, height, bytes, replaced_bytes, replaces, is_proposal)?;

        let entry = Buffered { sequence: self.next_sequence, received_ms, message, bytes };
        self.next_sequence += 1;
        let author = slot.author.clone();
        let messages = self.by_height.entry(height).or_default();
        let removed = messages.slots.insert(slot, entry);
        messages.bytes = messages.bytes - replaced_bytes + bytes;
        if let Some(removed) = &removed {
            self.forget(&author, removed);
        }
        let usage = self.by_author.entry(author).or_default();
        usage.bytes += bytes;
        usage.messages += 1;
        usage.proposals += usize::from(is_proposal);
        self.bytes += bytes;
        self.messages += 1;
        self.proposals += usize::from(is_proposal);
        Ok(())
    }

    /// Refuses a message of `bytes` from `author` for `height` if any count or byte budget would be
    /// exceeded, counting the `replaced_bytes` of the author's message it replaces as freed.
    fn check_budgets(
        &self,
        author: &NodeId,
        height: u64,
        bytes: usize,
        replaced_bytes: usize,
        replaces: bool,
        is_proposal: bool,
    ) -> Result<(), ConsensusError> {
        let usage = self.by_author.get(author).copied().unwrap_or_default();
        let height_bytes = self.by_height.get(&height).map_or(0, |messages| messages.bytes);
        let added_messages = usize::from(!replaces);
        let added_proposals = usize::from(is_proposal);
        // (budget, unit, in use without the replaced message, needed, capacity)
        let checks = [
            ("future messages per author", "messages", usage.messages, added_messages, self.budgets.author_messages),
            ("future messages", "messages", self.messages, added_messages, self.budgets.messages),
            (
                "future proposals per author",
                "proposals",
                usage.proposals,
                added_proposals,
                self.budgets.author_proposals,
            ),
            ("future proposals", "proposals", self.proposals, added_proposals, self.budgets.proposals),
            ("future bytes per author", "bytes", usage.bytes - replaced_bytes, bytes, self.budgets.author_bytes),
            ("future bytes per height", "bytes", height_bytes - replaced_bytes, bytes, self.budgets.height_bytes),
            ("future bytes", "bytes", self.bytes - replaced_bytes, bytes, self.budgets.total_bytes),
        ];
        for (budget, unit, used, needed, capacity) in checks {
            if needed > 0 && used.saturating_add(needed) > capacity {
                return Err(ConsensusError::BudgetFull {
                    budget,
                    author: author.clone(),
                    height,
                    needed,
                    used,
                    capacity,
                    unit,
                });
            }
        }
        Ok(())
    }

    /// Returns a removed message's share of the author's and the total counts.
    fn forget(&mut self, author: &NodeId, removed: &Buffered) {
        let proposal = usize::from(removed.is_proposal());
        if let Some(usage) = self.by_author.get_mut(author) {
            usage.bytes -= removed.bytes;
            usage.messages -= 1;
            usage.proposals -= proposal;
            if usage.messages == 0 {
                self.by_author.remove(author);
            }
        }
        self.bytes -= removed.bytes;
        self.messages -= 1;
        self.proposals -= proposal;
    }

    /// Takes the messages for `height` in arrival order (with their receipt times), dropping those for
    /// lower heights; their bytes go back to the budgets.
    pub(crate) fn take(&mut self, height: u64) -> Vec<(u64, Message)> {
        let later = self.by_height.split_off(&height.saturating_add(1));
        let released = std::mem::replace(&mut self.by_height, later);
        let mut taken = Vec::new();
        for (buffered_height, messages) in released {
            for (slot, buffered) in messages.slots {
                self.forget(&slot.author, &buffered);
                if buffered_height == height {
                    taken.push(buffered);
                }
            }
        }
        taken.sort_by_key(|buffered| buffered.sequence);
        self.authors.retain(|_, author_height| *author_height > height);
        taken.into_iter().map(|buffered| (buffered.received_ms, buffered.message)).collect()
    }
}

/// The slot of an authored message; `None` for a decision, which has no author.
fn slot_of(message: &Message, round_change_per_round: bool) -> Option<Slot> {
    let (kind, round) = match message {
        Message::Proposal(proposal) => (MessageKind::PrePrepare, proposal.pre_prepare.body.round),
        Message::Prepare(prepare) => (MessageKind::Prepare, prepare.body.round),
        Message::Commit(commit) => (MessageKind::Commit, commit.body.round),
        Message::RoundChange(change) if round_change_per_round => {
            (MessageKind::RoundChange, change.round_change.body.round)
        }
        Message::RoundChange(_) => (MessageKind::RoundChange, 0),
        Message::Decided(_) => return None,
    };
    Some(Slot { author: message.author()?.clone(), kind, round })
}

#[cfg(test)]
mod tests {
    //! The buffer alone, with budgets a few messages large so that every bound is reached exactly;
    //! authentication is the engine's and is stood in for by a closure here.

    use covenant_types::{Block, BlockHeader, ChainId, ENCODING_VERSION, Hash, Signature, merkle_root};

    use super::*;
    use crate::message::{
        CommitCertificate, PrePrepare, Prepare, PreparedRef, ProposalMessage, RoundChange, RoundChangeMessage, Signed,
    };

    fn node(name: &str) -> NodeId {
        NodeId::new(name).unwrap()
    }

    /// A PREPARE by `author` (ids of equal length give messages of equal length).
    fn prepare(author: &str, height: u64, round: u32) -> Message {
        let body = Prepare { height, round, block_hash: Hash::digest(b"block") };
        Message::Prepare(Signed { author: node(author), body, signature: Signature([7; 64]) })
    }

    /// A ROUND-CHANGE by `author` without a certificate, its signature varied by `variant`.
    fn round_change(author: &str, height: u64, round: u32, variant: u8) -> Message {
        let prepared = Some(PreparedRef { round: 0, block_hash: Hash::digest(b"block") });
        let body = RoundChange { height, round, prepared };
        let round_change = Signed { author: node(author), body, signature: Signature([variant; 64]) };
        Message::RoundChange(Box::new(RoundChangeMessage { round_change, prepared: None }))
    }

    fn block(height: u64) -> Block {
        let header = BlockHeader {
            version: ENCODING_VERSION,
            chain_id: ChainId::new("future-test").unwrap(),
            height,
            round: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: 0,
            proposer: node("v1"),
            transactions_root: merkle_root(&[]),
            state_root: Hash::ZERO,
            validator_set_hash: Hash::ZERO,
            parameters_hash: Hash::ZERO,
            parent_commit_seals: vec![],
        };
        Block { header, transactions: Default::default() }
    }

    /// A proposal by `author` (unchecked here: any author may send one for any round).
    fn proposal(author: &str, height: u64, round: u32) -> Message {
        let block = block(height);
        let body = PrePrepare { height, round, block_hash: block.hash() };
        let pre_prepare = Signed { author: node(author), body, signature: Signature([7; 64]) };
        Message::Proposal(Box::new(ProposalMessage { pre_prepare, block, justification: None }))
    }

    fn ok(_: &Message) -> Result<(), ConsensusError> {
        Ok(())
    }

    /// Budgets that never bind, to change one at a time.
    fn loose() -> Budgets {
        Budgets {
            author_bytes: usize::MAX,
            height_bytes: usize::MAX,
            total_bytes: usize::MAX,
            author_messages: usize::MAX,
            messages: usize::MAX,
            author_proposals: usize::MAX,
            proposals: usize::MAX,
        }
    }

    fn full(result: Result<(), ConsensusError>) -> (&'static str, usize, usize, usize) {
        match result {
            Err(ConsensusError::BudgetFull { budget, needed, used, capacity, .. }) => (budget, needed, used, capacity),
            other => panic!("expected a full budget, got {other:?}"),
        }
    }

    const CURRENT: u64 = 1;

    #[test]
    fn an_author_budget_admits_exactly_its_bytes() {
        let size = prepare("v1", 2, 0).encoded_len();
        for (capacity, admitted) in [(3 * size, 3), (3 * size - 1, 2)] {
            let mut buffer = FutureBuffer::new(Budgets { author_bytes: capacity, ..loose() });
            for round in 0..admitted {
                buffer.push(CURRENT, 0, prepare("v1", 2, round), ok).unwrap();
            }
            let refused = buffer.push(CURRENT, 0, prepare("v1", 3, 9), ok);
            assert_eq!(full(refused), ("future bytes per author", size, admitted as usize * size, capacity));
            // Another author has a budget of its own.
            buffer.push(CURRENT, 0, prepare("v2", 2, 0), ok).unwrap();
            assert_eq!(buffer.usage().bytes, (admitted as usize + 1) * size);
            assert_eq!(buffer.usage().author_bytes_max, admitted as usize * size);
        }
    }

    #[test]
    fn height_and_total_budgets_bind_across_authors() {
        let size = prepare("v1", 2, 0).encoded_len();
        let mut buffer = FutureBuffer::new(Budgets { height_bytes: 2 * size, total_bytes: 3 * size, ..loose() });
        buffer.push(CURRENT, 0, prepare("v1", 2, 0), ok).unwrap();
        buffer.push(CURRENT, 0, prepare("v2", 2, 0), ok).unwrap();
        assert_eq!(
            full(buffer.push(CURRENT, 0, prepare("v3", 2, 0), ok)),
            ("future bytes per height", size, 2 * size, 2 * size)
        );
        buffer.push(CURRENT, 0, prepare("v3", 3, 0), ok).unwrap();
        assert_eq!(full(buffer.push(CURRENT, 0, prepare("v4", 4, 0), ok)), ("future bytes", size, 3 * size, 3 * size));
        assert_eq!(buffer.usage(), FutureUsage { messages: 3, bytes: 3 * size, author_bytes_max: size });
    }

    #[test]
    fn count_budgets_bind_per_author_and_in_total() {
        let mut buffer = FutureBuffer::new(Budgets { author_messages: 2, messages: 3, ..loose() });
        buffer.push(CURRENT, 0, prepare("v1", 2, 0), ok).unwrap();
        buffer.push(CURRENT, 0, prepare("v1", 2, 1), ok).unwrap();
        assert_eq!(full(buffer.push(CURRENT, 0, prepare("v1", 2, 2), ok)), ("future messages per author", 1, 2, 2));
        buffer.push(CURRENT, 0, prepare("v2", 2, 0), ok).unwrap();
        assert_eq!(full(buffer.push(CURRENT, 0, prepare("v3", 2, 0), ok)), ("future messages", 1, 3, 3));

        let mut buffer = FutureBuffer::new(Budgets { author_proposals: 2, proposals: 3, ..loose() });
        buffer.push(CURRENT, 0, proposal("v1", 2, 0), ok).unwrap();
        buffer.push(CURRENT, 0, proposal("v1", 3, 0), ok).unwrap();
        assert_eq!(full(buffer.push(CURRENT, 0, proposal("v1", 4, 0), ok)), ("future proposals per author", 1, 2, 2));
        // Votes do not count as proposals.
        buffer.push(CURRENT, 0, prepare("v1", 4, 0), ok).unwrap();
        buffer.push(CURRENT, 0, proposal("v2", 2, 1), ok).unwrap();
        assert_eq!(full(buffer.push(CURRENT, 0, proposal("v3", 2, 2), ok)), ("future proposals", 1, 3, 3));
        // Proposals released give their count back.
        buffer.take(2);
        buffer.push(CURRENT + 1, 0, proposal("v3", 3, 2), ok).unwrap();
    }

    #[test]
    fn an_authors_later_round_change_replaces_its_earlier_one() {
        let size = round_change("v1", 2, 1, 0).encoded_len();
        // Room for one round change only: a later one fits because the earlier one's bytes are freed.
        let mut buffer = FutureBuffer::new(Budgets { author_bytes: size, author_messages: 1, ..loose() });
        buffer.push(CURRENT, 0, round_change("v1", 2, 1, 0), ok).unwrap();
        buffer.push(CURRENT, 0, round_change("v1", 2, 3, 0), ok).unwrap();
        assert_eq!(buffer.usage(), FutureUsage { messages: 1, bytes: size, author_bytes_max: size });
        // An exact duplicate is accepted again without a change; an earlier round is stale; another
        // message for the same round is an equivocation, and the first is kept.
        buffer.push(CURRENT, 0, round_change("v1", 2, 3, 0), ok).unwrap();
        assert!(matches!(
            buffer.push(CURRENT, 0, round_change("v1", 2, 2, 0), ok),
            Err(ConsensusError::StaleRound { found: 2, current: 3 })
        ));
        assert!(matches!(
            buffer.push(CURRENT, 0, round_change("v1", 2, 3, 1), ok),
            Err(ConsensusError::Equivocation { kind: MessageKind::RoundChange, height: 2, round: 3, .. })
        ));
        // One round change per author and height: at another height it needs room of its own.
        assert_eq!(full(buffer.push(CURRENT, 0, round_change("v1", 3, 1, 0), ok)).0, "future messages per author");
        let taken = buffer.take(2);
        assert_eq!(taken, vec![(0, round_change("v1", 2, 3, 0))]);
    }

    #[test]
    fn votes_other_than_round_changes_are_never_replaced() {
        let mut buffer = FutureBuffer::new(loose());
        buffer.push(CURRENT, 0, prepare("v1", 2, 0), ok).unwrap();
        let Message::Prepare(mut other) = prepare("v1", 2, 0) else { unreachable!() };
        other.body.block_hash = Hash::digest(b"another block");
        assert!(matches!(
            buffer.push(CURRENT, 0, Message::Prepare(other), ok),
            Err(ConsensusError::Equivocation { kind: MessageKind::Prepare, .. })
        ));
        assert_eq!(buffer.take(2), vec![(0, prepare("v1", 2, 0))]);
    }

    #[test]
    fn taking_a_height_releases_it_in_arrival_order_and_frees_the_budgets() {
        let size = prepare("v1", 2, 0).encoded_len();
        let mut buffer = FutureBuffer::new(Budgets { author_bytes: 3 * size, total_bytes: 3 * size, ..loose() });
        buffer.push(CURRENT, 10, prepare("v1", 2, 5), ok).unwrap();
        buffer.push(CURRENT, 11, prepare("v1", 3, 0), ok).unwrap();
        buffer.push(CURRENT, 12, prepare("v1", 2, 1), ok).unwrap();
        assert_eq!(full(buffer.push(CURRENT, 13, prepare("v1", 4, 0), ok)).0, "future bytes per author");
        // Height 2 starts: its messages come out in the order they arrived, with their receipt times.
        let taken = buffer.take(2);
        assert_eq!(taken, vec![(10, prepare("v1", 2, 5)), (12, prepare("v1", 2, 1))]);
        assert_eq!(buffer.usage(), FutureUsage { messages: 1, bytes: size, author_bytes_max: size });
        // Height 3 is passed (a sync went to 4): its message is dropped, and the budgets are whole again.
        assert_eq!(buffer.take(4), vec![]);
        assert_eq!(buffer.usage(), FutureUsage::default());
        for round in 0..3 {
            buffer.push(4, 0, prepare("v1", 5, round), ok).unwrap();
        }
    }

    #[test]
    fn authentication_comes_before_the_budgets_and_is_skipped_for_exact_duplicates() {
        let mut buffer = FutureBuffer::new(Budgets { author_messages: 1, ..loose() });
        buffer.push(CURRENT, 0, prepare("v1", 2, 0), ok).unwrap();
        let forged = |_: &Message| Err(ConsensusError::NotStarted);
        assert_eq!(buffer.push(CURRENT, 0, prepare("v1", 2, 1), forged), Err(ConsensusError::NotStarted));
        let mut calls = 0;
        buffer
            .push(CURRENT, 0, prepare("v1", 2, 0), |_| {
                calls += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(calls, 0);
        assert_eq!(buffer.usage().messages, 1);
    }

    #[test]
    fn heights_beyond_the_window_and_decisions_are_never_buffered() {
        let mut buffer = FutureBuffer::new(loose());
        assert!(matches!(
            buffer.push(CURRENT, 0, prepare("v1", CURRENT + FUTURE_HEIGHTS_MAX + 1, 0), ok),
            Err(ConsensusError::HeightTooFarAhead { .. })
        ));
        buffer.push(CURRENT, 0, prepare("v1", CURRENT + FUTURE_HEIGHTS_MAX, 0), ok).unwrap();
        let decided = Message::Decided(Box::new(CommitCertificate { block: block(2), seals: vec![] }));
        assert_eq!(
            buffer.push(CURRENT, 0, decided, ok),
            Err(ConsensusError::UnsolicitedDecision { height: 2, current: CURRENT })
        );
        assert_eq!(buffer.usage().messages, 1);
    }
}
