//! Admission: every new transaction (a client's, a peer's, or this node's own audit anchor) waits in
//! one bounded queue; the core hands what has accumulated to the shell to verify in a batch, off its
//! own thread, then runs the mempool's state checks on the verified ones. Batching is where strict
//! ed25519 gets its throughput (ADR 0002); the bounds are what keep a flood of gossip from growing
//! memory or crowding out other peers: when the queue is full clients hear "busy", and a peer's
//! copies beyond its share of the queue are dropped unverified (the node a transaction was sent to
//! proposes it anyway).

use std::collections::{BTreeMap, VecDeque};

use covenant_execution::{Overlay, StateReader};
use covenant_storage::ChainStore;
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_types::batch::encode_tx_batch;
use covenant_types::limits::{TX_BATCH_BYTES_MAX, TX_BATCH_TXS_MAX};
use covenant_types::{Hash, NodeId, Principal, RejectedTx, SignedTx, VerifiedTx};

use crate::io::{Action, BatchId, ClientTx, PeerKey, Ticket, Topic};
use crate::mempool::AdmissionError;
use crate::rate::{MemberBuckets, MemberTxLimits};
use crate::state::StoreState;
use crate::telemetry::{Counter, Stage, Telemetry};
use crate::view::CoreView;

/// Transactions waiting for verification, at most.
pub const VERIFY_QUEUE_TXS_MAX: usize = 8_192;
/// Transactions one peer's gossip may have waiting for verification: a quarter of the queue, so
/// that a peer flooding copies (or transactions with bad signatures) leaves room for clients and
/// for the other peers.
pub const VERIFY_QUEUE_TXS_PER_PEER_MAX: usize = VERIFY_QUEUE_TXS_MAX / 4;
/// Transactions verified in one batch.
pub const VERIFY_BATCH_MAX: usize = 1_024;
/// Longest wait for more transactions when a batch holding a client's transaction starts small
/// (added to the client's admission latency; well below the chain's least block interval of 200 ms).
pub const CLIENT_BATCH_WAIT_MS: u64 = 20;
/// Longest wait for more transactions when a batch of peers' copies starts small. A copy verified
/// later than its proposal is verified with the proposal's other unknown transactions.
pub const PEER_BATCH_WAIT_MS: u64 = 50;
/// Refusals of clients' transactions recorded individually in the audit log per second, at most.
pub const REFUSALS_AUDITED_PER_SECOND: u32 = 50;

/// Where a transaction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node: answered, and gossiped once admitted.
    Client(Ticket),
    /// A peer's gossip (the delivering peer): admitted or not, nobody waits.
    Peer(PeerKey),
    /// This node's own transaction (its audit anchor): gossiped once admitted.
    Local,
}

/// One transaction waiting for verification.
struct Job {
    tx: SignedTx,
    meta: Meta,
}

/// What travels with a transaction through verification.
struct Meta {
    hash: Hash,
    bytes: Vec<u8>,
    origin: Origin,
}

/// The admission queue and the batch being verified.
#[derive(Default)]
pub struct Admission {
    queue: VecDeque<Job>,
    clients_queued: usize,
    per_peer: BTreeMap<PeerKey, usize>,
    /// When the current batch window opened: the later of the first queued job's arrival and the
    /// previous batch's completion.
    window_opened_ms: u64,
    in_flight: Option<(BatchId, Vec<Meta>)>,
    next_batch: u64,
    refusal_audit: RefusalBudget,
    /// Clients' transactions per member (COV-45).
    member_buckets: MemberBuckets,
}

/// Refusals driven by outside input (a client's transaction, an API request) are recorded in the
/// audit log one by one at most [`REFUSALS_AUDITED_PER_SECOND`] a second, since each append is a
/// synced write; the rest are counted and summed up in one record the next second.
#[derive(Default)]
pub struct RefusalBudget {
    second: u64,
    written: u32,
    suppressed: u64,
}

impl RefusalBudget {
    /// The records to append for `record` at `time_ms` (its own time): it, a summary of the last
    /// second's suppressed refusals, both, or nothing.
    pub fn records(&mut self, record: AuditRecord) -> Vec<AuditRecord> {
        let now_ms = record.time_ms;
        let mut records = Vec::new();
        if self.second != now_ms / 1000 {
            if self.suppressed > 0 {
                records.push(
                    AuditRecord::new(
                        now_ms,
                        record.node.clone(),
                        EventType::Custom("refusals_suppressed".into()),
                        Actor::System,
                        Outcome::Refused,
                    )
                    .with_detail("suppressed_refusals", self.suppressed.to_string()),
                );
            }
            *self = RefusalBudget { second: now_ms / 1000, written: 0, suppressed: 0 };
        }
        if self.written >= REFUSALS_AUDITED_PER_SECOND {
            self.suppressed += 1;
        } else {
            self.written += 1;
            records.push(record);
        }
        records
    }
}

impl Admission {
    /// An empty admission queue limiting each member's clients to `member_tx_limits`.
    pub fn new(member_tx_limits: MemberTxLimits) -> Admission {
        Admission { member_buckets: MemberBuckets::new(member_tx_limits), ..Admission::default() }
    }

    /// Transactions queued or being verified.
    pub fn queued(&self) -> usize {
        self.queue.len() + self.in_flight.as_ref().map_or(0, |(_, metas)| metas.len())
    }

    fn push(&mut self, job: Job, now_ms: u64) {
        if self.queue.is_empty() {
            self.window_opened_ms = self.window_opened_ms.max(now_ms);
        }
        match job.meta.origin {
            Origin::Client(_) => self.clients_queued += 1,
            Origin::Peer(peer) => *self.per_peer.entry(peer).or_default() += 1,
            Origin::Local => {}
        }
        self.queue.push_back(job);
    }

    fn has_room(&self) -> bool {
        self.queued() < VERIFY_QUEUE_TXS_MAX
    }

    /// Queues a client's transaction, or says why not (the queue is full: busy).
    pub fn queue_client(&mut self, tx: ClientTx, now_ms: u64) -> Result<(), AdmissionError> {
        if !self.has_room() {
            return Err(AdmissionError::Busy { queued: self.queued() });
        }
        let meta = Meta { hash: tx.hash, bytes: tx.bytes, origin: Origin::Client(tx.ticket) };
        self.push(Job { tx: tx.tx, meta }, now_ms);
        Ok(())
    }

    /// Queues this node's own transaction (never refused for room: one per anchoring interval).
    pub fn queue_local(&mut self, tx: SignedTx, now_ms: u64) {
        let meta = Meta { hash: tx.body.hash(), bytes: tx.encode(), origin: Origin::Local };
        self.push(Job { tx, meta }, now_ms);
    }

    /// Queues copies gossiped by `peer` within its share of the queue; returns how many were
    /// dropped for want of room.
    pub fn queue_from_peer(&mut self, peer: PeerKey, txs: Vec<(SignedTx, Hash)>, now_ms: u64) -> usize {
        let mut dropped = 0;
        for (tx, hash) in txs {
            let share = self.per_peer.get(&peer).copied().unwrap_or(0);
            if !self.has_room() || share >= VERIFY_QUEUE_TXS_PER_PEER_MAX {
                dropped += 1;
                continue;
            }
            let meta = Meta { hash, bytes: Vec::new(), origin: Origin::Peer(peer) };
            self.push(Job { tx, meta }, now_ms);
        }
        dropped
    }

    /// When the next batch is due if nothing more arrives (`None`: nothing waits, or a batch is
    /// being verified).
    pub fn deadline_ms(&self) -> Option<u64> {
        if self.in_flight.is_some() || self.queue.is_empty() {
            return None;
        }
        let wait = if self.clients_queued > 0 { CLIENT_BATCH_WAIT_MS } else { PEER_BATCH_WAIT_MS };
        Some(self.window_opened_ms.saturating_add(wait))
    }

    /// The next batch to verify, if one is due: a full one, or what waited long enough. A batch
    /// with a client's transaction is due at half the size, since the client waits for it.
    /// `known` says which peers' copies need no verification any more (a proposal or a commit
    /// made them known while they waited).
    pub fn next_batch(&mut self, now_ms: u64, known: impl Fn(&Hash) -> bool) -> Option<(BatchId, Vec<SignedTx>)> {
        let deadline = self.deadline_ms()?;
        let target = if self.clients_queued > 0 { VERIFY_BATCH_MAX / 2 } else { VERIFY_BATCH_MAX };
        if self.queue.len() < target && now_ms < deadline {
            return None;
        }
        let mut txs = Vec::new();
        let mut metas = Vec::new();
        while txs.len() < VERIFY_BATCH_MAX {
            let Some(job) = self.queue.pop_front() else { break };
            match job.meta.origin {
                Origin::Client(_) => self.clients_queued -= 1,
                Origin::Peer(peer) => {
                    if let Some(share) = self.per_peer.get_mut(&peer) {
                        *share -= 1;
                        if *share == 0 {
                            self.per_peer.remove(&peer);
                        }
                    }
                    if known(&job.meta.hash) {
                        continue;
                    }
                }
                Origin::Local => {}
            }
            txs.push(job.tx);
            metas.push(job.meta);
        }
        if txs.is_empty() {
            self.window_opened_ms = now_ms;
            return None;
        }
        let batch = BatchId(self.next_batch);
        self.next_batch += 1;
        self.in_flight = Some((batch, metas));
        Some((batch, txs))
    }

    /// The batch's metadata, when `batch` is the one being verified.
    fn finish(&mut self, batch: BatchId, now_ms: u64) -> Option<Vec<Meta>> {
        match &self.in_flight {
            Some((current, _)) if *current == batch => {
                self.window_opened_ms = now_ms;
                self.in_flight.take().map(|(_, metas)| metas)
            }
            _ => None,
        }
    }
}

/// Everything admission needs from the core for one verified batch.
pub(crate) struct AdmitContext<'a, S: ?Sized> {
    pub store: &'a S,
    pub view: &'a CoreView,
    pub telemetry: &'a mut dyn Telemetry,
    pub node_id: &'a NodeId,
    pub now_ms: u64,
}

impl Admission {
    /// Runs the mempool's checks on a verified batch, answers the clients, and returns the actions
    /// (answers, gossip of what clients and this node sent) and whether anything was admitted.
    pub(crate) fn admit<S: ChainStore + ?Sized>(
        &mut self,
        cx: AdmitContext<'_, S>,
        batch: BatchId,
        results: Vec<Result<VerifiedTx, RejectedTx>>,
        actions: &mut Vec<Action>,
    ) -> bool {
        let Some(metas) = self.finish(batch, cx.now_ms) else { return false };
        cx.telemetry.count(Counter::VerifiedAtAdmission, metas.len() as u64);
        cx.telemetry.count(Counter::AdmissionBatches, 1);
        let mut answers = Vec::with_capacity(metas.len());
        {
            // One overlay for the batch: its transactions read the same senders and members again
            // and again, and it remembers what it read from the store. (Nothing is written to it.)
            let store = StoreState(cx.store);
            let state = Overlay::new(&store);
            let params = state.params();
            let mut mempool = cx.view.mempool_cell().lock().expect("mempool lock poisoned");
            for (meta, result) in metas.into_iter().zip(results) {
                let (sender, verdict) = match result {
                    Ok(verified) => {
                        let sender = verified.tx().body.sender.clone();
                        let verdict = match (&params, meta.origin) {
                            (Ok(params), Origin::Client(_)) => {
                                mempool.admit_from_client(verified, &state, params, cx.now_ms, &mut self.member_buckets)
                            }
                            (Ok(params), _) => mempool.admit(verified, &state, params, cx.now_ms),
                            (Err(error), _) => Err(AdmissionError::State(error.clone())),
                        };
                        (sender, verdict)
                    }
                    Err(rejected) => (rejected.tx.body.sender.clone(), Err(AdmissionError::from(rejected.error))),
                };
                answers.push((meta, sender, verdict));
            }
            cx.view.set_pending_txs(mempool.len());
        }
        let mut admitted_any = false;
        let mut to_gossip = Vec::new();
        for (meta, sender, verdict) in answers {
            match &verdict {
                Ok(_) => {
                    admitted_any = true;
                    if !matches!(meta.origin, Origin::Peer(_)) {
                        to_gossip.push(meta.bytes);
                    }
                }
                Err(AdmissionError::Duplicate(_)) => {}
                Err(error) => {
                    cx.view.remember_rejection(meta.hash, error.clone());
                    if let Some(rule) = error.rule() {
                        cx.telemetry.rejected(Stage::Admission, rule);
                    }
                    match meta.origin {
                        Origin::Peer(_) => tracing::debug!(%error, "peer transaction not admitted"),
                        // The node a client sent it to records the refusal (peers' copies are echoes).
                        Origin::Client(_) | Origin::Local => {
                            self.audit_refusal(cx.store, cx.node_id, &meta.hash, &sender, error, cx.now_ms)
                        }
                    }
                }
            }
            if let Origin::Client(ticket) = meta.origin {
                actions.push(Action::Answer { ticket, result: verdict });
            }
        }
        for bytes in gossip_batches(&to_gossip) {
            actions.push(Action::Broadcast { topic: Topic::Transactions, bytes });
        }
        admitted_any
    }

    /// Records a refused transaction in the audit log (COV-33), within the [`RefusalBudget`].
    fn audit_refusal<S: ChainStore + ?Sized>(
        &mut self,
        store: &S,
        node_id: &NodeId,
        hash: &Hash,
        sender: &Principal,
        error: &AdmissionError,
        now_ms: u64,
    ) {
        let actor = match sender {
            Principal::Operator(operator) => Actor::Operator(operator.clone()),
            Principal::Node(node) => Actor::Node(node.clone()),
        };
        let mut record = AuditRecord::new(now_ms, node_id.clone(), EventType::TxRejected, actor, Outcome::Refused)
            .with_detail("tx", hash.to_hex())
            .with_detail("reason", error.to_string().chars().take(300).collect::<String>());
        if let Some(rule) = error.rule() {
            record = record.with_detail("rule", rule.id());
        }
        let records = self.refusal_audit.records(record);
        for record in records {
            if let Err(failure) = store.append(record) {
                tracing::warn!(%failure, "a refusal could not be audited");
            }
        }
    }
}

/// Encoded transactions grouped into as few gossip batches as the batch limits allow.
pub fn gossip_batches(txs: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < txs.len() {
        let mut end = start;
        let mut bytes = BATCH_FRAMING_BYTES_MAX;
        while end < txs.len()
            && end - start < TX_BATCH_TXS_MAX
            && bytes + txs[end].len() + BATCH_FRAMING_BYTES_MAX <= TX_BATCH_BYTES_MAX
        {
            bytes += txs[end].len() + BATCH_FRAMING_BYTES_MAX;
            end += 1;
        }
        // Never empty: one transaction (at most `TX_BYTES_MAX`) always fits in a batch.
        let end = end.max(start + 1);
        batches.push(encode_tx_batch(txs[start..end].iter().map(Vec::as_slice)));
        start = end;
    }
    batches
}

/// Most bytes a batch spends on one length (ULEB128 of a 32-bit length).
const BATCH_FRAMING_BYTES_MAX: usize = 5;
