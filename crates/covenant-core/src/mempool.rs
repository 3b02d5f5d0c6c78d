//! The mempool: transactions admitted by every covenant check that does not need a block, kept per
//! sender in nonce order and globally in arrival order, bounded by count, bytes and per-sender count
//! (COV-45). Signatures are verified before a transaction gets here ([`VerifiedTx`] proves it), so
//! block validation never verifies them again.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use covenant_execution::{BlockContext, StateError, StateReader, TxInvalid, check_payload, check_sender};
use covenant_rules::{ChainParams, RuleId, Violation};
use covenant_types::{DecodeError, Hash, Principal, TxError, VerifiedTx};

use crate::rate::MemberBuckets;

/// Why a transaction was not admitted. Each variant that a covenant rule explains names it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AdmissionError {
    /// The bytes are not a transaction.
    #[error("transaction does not decode: {0}")]
    Malformed(String),
    /// A covenant rule refuses it.
    #[error(transparent)]
    Violation(#[from] Violation),
    /// This node version does not execute the payload kind.
    #[error("{kind} transactions are not executed by this node version")]
    Unsupported {
        /// Payload kind.
        kind: &'static str,
    },
    /// Already pending.
    #[error("transaction {0} is already pending")]
    Duplicate(Hash),
    /// The node could not read its state.
    #[error("node state unavailable: {0}")]
    State(#[from] StateError),
    /// The node has more than it can work off soon (its verification queue is full, or its backlog
    /// of pending transactions is at the node's bound): it is receiving more than it can commit.
    #[error("the node is busy: {queued} transactions are pending or waiting for verification; retry later")]
    Busy {
        /// Transactions pending and queued.
        queued: usize,
    },
}

impl AdmissionError {
    /// The covenant rule that refused the transaction, if one did.
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            AdmissionError::Violation(violation) => Some(violation.rule()),
            _ => None,
        }
    }
}

impl From<DecodeError> for AdmissionError {
    fn from(error: DecodeError) -> AdmissionError {
        match error {
            DecodeError::TooLarge { len_bytes, max_bytes, .. } => {
                AdmissionError::Violation(Violation::TxTooLarge { bytes: len_bytes as u64, max: max_bytes as u64 })
            }
            other => AdmissionError::Malformed(other.to_string()),
        }
    }
}

impl From<TxError> for AdmissionError {
    fn from(error: TxError) -> AdmissionError {
        match error {
            TxError::Decode(error) => error.into(),
            TxError::WrongChain { found, expected } => Violation::WrongChain { found, expected }.into(),
            TxError::Signature(error) => Violation::BadSignature { reason: error.to_string() }.into(),
        }
    }
}

impl From<TxInvalid> for AdmissionError {
    fn from(error: TxInvalid) -> AdmissionError {
        match error {
            TxInvalid::Violation(violation) => AdmissionError::Violation(violation),
            TxInvalid::Unsupported { kind } => AdmissionError::Unsupported { kind },
            TxInvalid::State(error) => AdmissionError::State(error),
        }
    }
}

/// Where a pending transaction sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    arrival: u64,
    bytes: usize,
}

#[derive(Default)]
struct SenderQueue {
    /// Nonce of the first queued transaction.
    first_nonce: u64,
    /// Transactions with consecutive nonces from `first_nonce`.
    txs: VecDeque<(VerifiedTx, Slot)>,
}

/// Pending transactions.
#[derive(Default)]
pub struct Mempool {
    senders: BTreeMap<Principal, SenderQueue>,
    /// Arrival order: sequence -> (sender, nonce). Proposals take transactions in this order.
    arrivals: BTreeMap<u64, (Principal, u64)>,
    /// Lookup by hash (never iterated, so its order cannot leak anywhere).
    by_hash: HashMap<Hash, (Principal, u64)>,
    next_arrival: u64,
    total_bytes: usize,
    /// Hashes of the latest transactions seen in blocks (committed, or verified in a valid
    /// proposal), oldest first, at most [`RECENTLY_IN_BLOCKS_MAX`]: a peer's gossiped copy of one of
    /// them is not worth verifying.
    recently_in_blocks: VecDeque<Hash>,
    recently_in_blocks_set: HashSet<Hash>,
}

/// Hashes of transactions seen in blocks remembered (a few large blocks' worth).
pub const RECENTLY_IN_BLOCKS_MAX: usize = 65_536;

impl Mempool {
    /// An empty mempool.
    pub fn new() -> Mempool {
        Mempool::default()
    }

    /// Pending transaction count.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Encoded bytes pending.
    pub fn bytes(&self) -> usize {
        self.total_bytes
    }

    /// `sender`'s pending transaction with this nonce, already verified.
    pub fn pending(&self, sender: &Principal, nonce: u64) -> Option<VerifiedTx> {
        self.get(sender, nonce).map(|(tx, _)| tx.clone())
    }

    /// The nonce after `sender`'s last pending transaction, if it has any pending.
    pub fn next_nonce(&self, sender: &Principal) -> Option<u64> {
        let queue = self.senders.get(sender)?;
        (!queue.txs.is_empty()).then(|| queue.first_nonce + queue.txs.len() as u64)
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Whether `hash` is pending or among the latest transactions seen in blocks: a copy of it needs
    /// no verification. It would be refused as a duplicate or a stale nonce, or it was verified in a
    /// valid proposal; if that proposal is not decided, the validators that hold the transaction
    /// pending propose it again.
    pub fn knows(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash) || self.recently_in_blocks_set.contains(hash)
    }

    /// Remembers the hashes of a committed block's, or a validated proposal's, transactions (see
    /// [`Mempool::knows`]).
    pub fn note_in_block(&mut self, hashes: impl IntoIterator<Item = Hash>) {
        for hash in hashes {
            if self.recently_in_blocks_set.insert(hash) {
                self.recently_in_blocks.push_back(hash);
            }
        }
        while self.recently_in_blocks.len() > RECENTLY_IN_BLOCKS_MAX {
            if let Some(oldest) = self.recently_in_blocks.pop_front() {
                self.recently_in_blocks_set.remove(&oldest);
            }
        }
    }

    /// Admits a verified transaction against the latest committed `state` at time `now_ms`: sender
    /// registered, active and unexpired (COV-11, COV-17), size (COV-45), nonce exactly the next one
    /// after the sender's committed and pending transactions (COV-34), and the load limits (COV-45).
    /// Nothing is stored unless every check passes.
    pub fn admit<S: StateReader + ?Sized>(
        &mut self,
        tx: VerifiedTx,
        state: &S,
        params: &ChainParams,
        now_ms: u64,
    ) -> Result<Hash, AdmissionError> {
        self.admit_limited(tx, state, params, now_ms, None)
    }

    /// [`Mempool::admit`] for a client's transaction: once the sender is known to be a registered
    /// operator of an active member, signing with its registered key, one token of its member's
    /// bucket is taken, and a member over its rate is refused as overloading the node (COV-45).
    pub fn admit_from_client<S: StateReader + ?Sized>(
        &mut self,
        tx: VerifiedTx,
        state: &S,
        params: &ChainParams,
        now_ms: u64,
        member_buckets: &mut MemberBuckets,
    ) -> Result<Hash, AdmissionError> {
        self.admit_limited(tx, state, params, now_ms, Some(member_buckets))
    }

    fn admit_limited<S: StateReader + ?Sized>(
        &mut self,
        tx: VerifiedTx,
        state: &S,
        params: &ChainParams,
        now_ms: u64,
        member_buckets: Option<&mut MemberBuckets>,
    ) -> Result<Hash, AdmissionError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(AdmissionError::Duplicate(hash));
        }
        covenant_rules::checks::check_tx_size(tx.encoded_bytes() as u64, params)?;
        let sender_record = check_sender(state, &tx, now_ms)?;
        if let Some(buckets) = member_buckets {
            buckets.take(sender_record.member(), now_ms)?;
        }
        // The payload's own checks see the committed state and the node's clock; only the block
        // time matters to them (the height is recorded with votes, not compared).
        check_payload(state, &tx, &sender_record, &BlockContext { height: 0, timestamp_ms: now_ms })?;
        let sender = tx.tx().body.sender.clone();
        let committed_next = state.next_nonce(&sender)?;
        let (pending, expected) = match self.senders.get(&sender) {
            Some(queue) if !queue.txs.is_empty() => (queue.txs.len(), queue.first_nonce + queue.txs.len() as u64),
            _ => (0, committed_next),
        };
        covenant_rules::checks::check_nonce(tx.tx().body.nonce, expected)?;
        if pending as u64 >= params.mempool_sender_txs_max {
            return Err(
                Violation::SenderQueueFull { pending: pending as u64, max: params.mempool_sender_txs_max }.into()
            );
        }
        let bytes = tx.encoded_bytes();
        if self.len() as u64 >= params.mempool_txs_max || (self.total_bytes + bytes) as u64 > params.mempool_bytes_max {
            return Err(Violation::MempoolFull {
                txs: self.len() as u64,
                txs_max: params.mempool_txs_max,
                bytes: self.total_bytes as u64,
                bytes_max: params.mempool_bytes_max,
            }
            .into());
        }
        let nonce = tx.tx().body.nonce;
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let queue = self.senders.entry(sender.clone()).or_default();
        if queue.txs.is_empty() {
            queue.first_nonce = nonce;
        }
        queue.txs.push_back((tx, Slot { arrival, bytes }));
        self.arrivals.insert(arrival, (sender.clone(), nonce));
        self.by_hash.insert(hash, (sender, nonce));
        self.total_bytes += bytes;
        Ok(hash)
    }

    /// Up to `txs_max` transactions of at most `bytes_max` encoded bytes in all, in arrival order
    /// (which is nonce order per sender). They stay pending until committed or evicted.
    pub fn select(&self, txs_max: usize, bytes_max: usize) -> Vec<VerifiedTx> {
        let mut selected = Vec::new();
        let mut bytes = 0usize;
        // A sender whose transaction did not fit is skipped from then on, to keep its nonces in order.
        let mut blocked: Vec<&Principal> = Vec::new();
        for (sender, nonce) in self.arrivals.values() {
            if selected.len() >= txs_max {
                break;
            }
            if blocked.contains(&sender) {
                continue;
            }
            let Some((tx, slot)) = self.get(sender, *nonce) else { continue };
            if bytes + slot.bytes > bytes_max {
                blocked.push(sender);
                continue;
            }
            bytes += slot.bytes;
            selected.push(tx.clone());
        }
        selected
    }

    fn get(&self, sender: &Principal, nonce: u64) -> Option<&(VerifiedTx, Slot)> {
        let queue = self.senders.get(sender)?;
        let index = nonce.checked_sub(queue.first_nonce)?;
        queue.txs.get(usize::try_from(index).ok()?)
    }

    /// Drops every pending transaction of `sender` with a nonce below `next_nonce` (they were
    /// committed, or can never be), e.g. after a block commits.
    pub fn advance_sender(&mut self, sender: &Principal, next_nonce: u64) {
        let Some(queue) = self.senders.get_mut(sender) else { return };
        while queue.first_nonce < next_nonce {
            let Some((tx, slot)) = queue.txs.pop_front() else { break };
            queue.first_nonce += 1;
            self.arrivals.remove(&slot.arrival);
            self.by_hash.remove(&tx.hash());
            self.total_bytes -= slot.bytes;
        }
        if queue.txs.is_empty() {
            self.senders.remove(sender);
        }
    }

    /// Evicts a transaction that can no longer be included (its sender's key expired, say) and every
    /// later one of the same sender, whose nonces would now have a gap. Returns the evicted hashes.
    pub fn evict_from(&mut self, hash: &Hash) -> Vec<Hash> {
        let Some((sender, nonce)) = self.by_hash.get(hash).cloned() else { return Vec::new() };
        let Some(queue) = self.senders.get_mut(&sender) else { return Vec::new() };
        let keep = usize::try_from(nonce - queue.first_nonce).unwrap_or(usize::MAX);
        let mut evicted = Vec::new();
        while queue.txs.len() > keep {
            let Some((tx, slot)) = queue.txs.pop_back() else { break };
            self.arrivals.remove(&slot.arrival);
            self.by_hash.remove(&tx.hash());
            self.total_bytes -= slot.bytes;
            evicted.push(tx.hash());
        }
        if queue.txs.is_empty() {
            self.senders.remove(&sender);
        }
        evicted
    }
}
