//! The admission stage: every new transaction, from a client or a peer, waits in one bounded queue;
//! one worker takes what has accumulated (up to a batch), verifies the signatures in batches spread
//! over the cores, then runs the mempool's state checks for the whole batch under one lock. Batching
//! is where strict ed25519 gets its throughput (ADR 0002), and the bound is what keeps a flood of
//! gossip from growing memory: when the queue is full, clients hear "busy" and peers' copies are
//! dropped (the transaction still reaches the proposer from the node it was sent to).

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};
use tracing::debug;

use covenant_execution::{Overlay, StateReader};
use covenant_types::batch::encode_tx_batch;
use covenant_types::limits::{TX_BATCH_BYTES_MAX, TX_BATCH_TXS_MAX};
use covenant_types::{Hash, Principal, SignedTx, VerifiedTx};

use crate::mempool::AdmissionError;
use crate::metrics::RejectionStage;
use crate::runtime::chain::{StoreState, now_ms};
use crate::runtime::executor::verify_in_parallel;
use crate::runtime::shared::Shared;

/// Transactions waiting for verification, at most.
pub const VERIFY_QUEUE_TXS_MAX: usize = 8_192;
/// Transactions taken from the queue at once.
pub const VERIFY_BATCH_MAX: usize = 1_024;
/// Longest wait for more transactions when a batch with a client's transaction starts small (added
/// to the client's admission latency; well below the chain's least block interval of 200 ms).
const CLIENT_BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(20);
/// Longest wait for more transactions when a batch of peers' copies starts small. A copy verified
/// later than its proposal is verified with the proposal's other unknown transactions.
const PEER_BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// Where a transaction came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node's API: gossiped to the validators once admitted; the client waits for
    /// the verdict.
    Client,
    /// A peer's gossip: admitted or not, nobody waits.
    Peer,
}

/// One transaction waiting for admission.
pub struct Job {
    tx: SignedTx,
    hash: Hash,
    meta: Meta,
}

/// What travels with a transaction through verification.
struct Meta {
    bytes: Vec<u8>,
    origin: Origin,
    reply: Option<oneshot::Sender<Result<Hash, AdmissionError>>>,
}

impl Job {
    /// A job for `tx` (decoded from `bytes`, with body hash `hash`), answered on `reply` if given.
    pub fn new(
        tx: SignedTx,
        hash: Hash,
        bytes: Vec<u8>,
        origin: Origin,
        reply: Option<oneshot::Sender<Result<Hash, AdmissionError>>>,
    ) -> Job {
        Job { tx, hash, meta: Meta { bytes, origin, reply } }
    }
}

/// The queue's two ends.
pub fn queue() -> (mpsc::Sender<Job>, mpsc::Receiver<Job>) {
    mpsc::channel(VERIFY_QUEUE_TXS_MAX)
}

/// Runs the worker until the node's shared state (which holds the queue's sender) is dropped. It
/// holds only a weak reference so that it does not keep that state alive itself.
pub async fn run(shared: Weak<Shared>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(VERIFY_BATCH_MAX);
    while jobs.recv_many(&mut batch, VERIFY_BATCH_MAX).await > 0 {
        fill_batch(&mut jobs, &mut batch).await;
        let Some(shared) = shared.upgrade() else { return };
        let taken = without_known_copies(&shared, std::mem::take(&mut batch));
        let verdicts = verify(&shared, taken).await;
        admit(&shared, verdicts).await;
    }
}

/// A moment's wait fills the batch. A batch verification costs about 0.7 ms on top of about 10.5 µs
/// per signature (`signature/verify_batch` in benches/benches/types.rs: 21.6 µs per signature in a
/// batch of 64, 11.4 µs in one of 1,024), and every batch is also one mempool pass and one gossip
/// message, so fewer, fuller batches save CPU on every node. A client waits for its answer, so a
/// batch holding a client's transaction waits at most [`CLIENT_BATCH_WAIT`] for half a batch; a
/// batch of peers' copies, which nobody waits for, waits up to [`PEER_BATCH_WAIT`] for a full one.
async fn fill_batch(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) {
    let started = tokio::time::Instant::now();
    let mut has_client = false;
    let mut seen = 0;
    loop {
        has_client |= batch[seen..].iter().any(|job| job.meta.origin == Origin::Client);
        seen = batch.len();
        let (target, wait) =
            if has_client { (VERIFY_BATCH_MAX / 2, CLIENT_BATCH_WAIT) } else { (VERIFY_BATCH_MAX, PEER_BATCH_WAIT) };
        if batch.len() >= target {
            return;
        }
        let Some(left) = wait.checked_sub(started.elapsed()) else { return };
        let room = VERIFY_BATCH_MAX - batch.len();
        match tokio::time::timeout(left, jobs.recv_many(batch, room)).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Drops peers' copies of transactions the node has come to know while they waited: a proposal
/// holding them was validated (verifying them) or committed meanwhile.
fn without_known_copies(shared: &Shared, mut jobs: Vec<Job>) -> Vec<Job> {
    let mempool = shared.mempool.lock().expect("mempool lock poisoned");
    jobs.retain(|job| job.meta.origin == Origin::Client || !mempool.knows(&job.hash));
    jobs
}

/// A transaction's metadata, hash, sender and verification result.
type Verdict = (Meta, Hash, Principal, Result<VerifiedTx, AdmissionError>);

/// Verifies the batch's signatures, spread over the cores, off the async workers.
async fn verify(shared: &Arc<Shared>, jobs: Vec<Job>) -> Vec<Verdict> {
    let chain = shared.chain_id.clone();
    shared.metrics.verified_at_admission.fetch_add(jobs.len() as u64, std::sync::atomic::Ordering::Relaxed);
    if !jobs.is_empty() {
        shared.metrics.admission_batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let task = tokio::task::spawn_blocking(move || {
        let (txs, metas): (Vec<SignedTx>, Vec<(Meta, Hash)>) =
            jobs.into_iter().map(|job| (job.tx, (job.meta, job.hash))).unzip();
        metas
            .into_iter()
            .zip(verify_in_parallel(txs, &chain))
            .map(|((meta, queued_hash), result)| match result {
                Ok(verified) => (meta, verified.hash(), verified.tx().body.sender.clone(), Ok(verified)),
                Err(rejected) => {
                    // The hash taken when the transaction was queued: it names the refusal.
                    let sender = rejected.tx.body.sender.clone();
                    (meta, queued_hash, sender, Err(AdmissionError::from(rejected.error)))
                }
            })
            .collect::<Vec<Verdict>>()
    });
    match task.await {
        Ok(verdicts) => verdicts,
        // Verification does not panic on any input; if it ever did, those clients hear it (their
        // reply channels were dropped with the task) and the stage goes on.
        Err(error) => {
            tracing::error!(%error, "signature verification task failed");
            Vec::new()
        }
    }
}

/// Runs the mempool's checks on the verified transactions, answers the clients, gossips what
/// clients sent, and wakes the event loop once.
async fn admit(shared: &Arc<Shared>, verdicts: Vec<Verdict>) {
    let mut answers = Vec::with_capacity(verdicts.len());
    {
        // One overlay for the batch: its transactions read the same senders and members again and
        // again, and it remembers what it read from the store. (Nothing is written to it.)
        let store = StoreState(&shared.store);
        let state = Overlay::new(&store);
        let params = state.params();
        let mut mempool = shared.mempool.lock().expect("mempool lock poisoned");
        let now = now_ms();
        for (meta, hash, sender, verdict) in verdicts {
            let result = verdict.and_then(|verified| {
                let params = params.as_ref().map_err(|error| AdmissionError::State(error.clone()))?;
                mempool.admit(verified, &state, params, now)
            });
            answers.push((meta, hash, sender, result));
        }
        shared.pending_txs.store(mempool.len(), std::sync::atomic::Ordering::Relaxed);
    }
    let mut admitted_any = false;
    let mut to_gossip = Vec::new();
    for (meta, hash, sender, result) in answers {
        match &result {
            Ok(_) => {
                admitted_any = true;
                if meta.origin == Origin::Client {
                    to_gossip.push(meta.bytes);
                }
            }
            Err(AdmissionError::Duplicate(_)) => {}
            Err(error) => {
                shared.remember_rejection(hash, error.clone());
                if let Some(rule) = error.rule() {
                    shared.metrics.rejected(RejectionStage::Admission, rule);
                }
                match meta.origin {
                    Origin::Peer => debug!(%error, "peer transaction not admitted"),
                    // The node a client sent it to records the refusal (peers' copies are echoes).
                    Origin::Client => shared.audit_tx_refusal(&hash, &sender, error),
                }
            }
        }
        if let Some(reply) = meta.reply {
            // The client may have gone away; its transaction is admitted (or not) all the same.
            let _ = reply.send(result);
        }
    }
    if admitted_any {
        shared.mempool_changed.notify_one();
    }
    gossip(shared, &to_gossip).await;
}

/// Gossips what clients sent, in as few batches as the batch limits allow. Best effort: the
/// transactions are admitted here either way and will be proposed.
async fn gossip(shared: &Shared, txs: &[Vec<u8>]) {
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
        let batch = encode_tx_batch(txs[start..end].iter().map(Vec::as_slice));
        if let Err(error) = shared.network.broadcast_tx(batch).await {
            debug!(%error, "transaction gossip not sent");
        }
        start = end;
    }
}

/// Most bytes a batch spends on one length (ULEB128 of a 32-bit length).
const BATCH_FRAMING_BYTES_MAX: usize = 5;
