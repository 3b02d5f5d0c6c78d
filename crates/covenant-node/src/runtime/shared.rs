//! What the event loop shares with the HTTP API: the store, the mempool, the node status, and the
//! admission path for new transactions.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{Notify, mpsc, oneshot};

use covenant_network::NetworkHandle;
use covenant_types::batch::decode_tx_batch;
use covenant_types::{ChainId, Hash, NodeId, SignedTx};

use crate::mempool::{AdmissionError, Mempool};
use crate::metrics::Metrics;
use crate::runtime::admission::{self, Job, Origin};
use crate::runtime::chain::NodeStore;

/// Pending and queued transactions beyond which this node answers clients "busy": about half a
/// second of work at the bench's saturation rate (docs/benchmarking.md, steps 11 and 12). A larger
/// backlog only makes what is admitted wait longer: with twice this bound, the median latency of
/// what was admitted above saturation doubled, for the same throughput.
pub const CLIENT_BACKLOG_TXS_MAX: usize = 15_000;

/// How many refused transaction hashes are remembered for status queries.
pub const REJECTIONS_REMEMBERED_MAX: usize = 10_000;

/// A snapshot of the node's progress, for `/v1/status` and the testnet status line.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeStatus {
    /// Last committed height.
    pub height: u64,
    /// Hash of the last committed block.
    pub last_block_hash: Option<Hash>,
    /// Consensus round at the height being decided.
    pub round: u32,
    /// Connected peers.
    pub peers: usize,
    /// Transactions committed since start.
    pub committed_txs: u64,
    /// Round changes since start.
    pub round_changes: u64,
    /// Median offset of the peers' clocks against this node's, in ms (positive: peers ahead);
    /// `None` until a peer answered a status request.
    pub clock_offset_ms: Option<i64>,
}

/// Where the admission stage answers a client's transaction.
type Verdict = oneshot::Receiver<Result<Hash, AdmissionError>>;

/// State shared between the event loop and the API.
pub struct Shared {
    /// This chain.
    pub chain_id: ChainId,
    /// This node.
    pub node_id: NodeId,
    /// The store.
    pub store: NodeStore,
    /// Pending transactions.
    pub mempool: Mutex<Mempool>,
    /// Progress, updated by the event loop.
    pub status: RwLock<NodeStatus>,
    /// The network.
    pub network: NetworkHandle,
    /// Wakes the event loop when the mempool changed.
    pub mempool_changed: Notify,
    /// Counters and histograms for `/metrics`.
    pub metrics: Metrics,
    /// Operators' API sessions.
    pub sessions: crate::auth::Sessions,
    /// Pending transactions as of the mempool's last change (read without its lock).
    pub pending_txs: std::sync::atomic::AtomicUsize,
    admission: mpsc::Sender<Job>,
    rejections: Mutex<Rejections>,
    refusal_audit: Mutex<RefusalAudit>,
}

/// Refusals written to the audit log this second (see [`Shared::audit_refusal`]).
#[derive(Default)]
struct RefusalAudit {
    second: u64,
    written: u32,
    suppressed: u64,
}

/// Refusals (transactions, API requests) recorded individually per second, at most.
pub const REFUSALS_AUDITED_PER_SECOND: u32 = 50;

#[derive(Default)]
struct Rejections {
    by_hash: BTreeMap<Hash, AdmissionError>,
    order: VecDeque<Hash>,
}

impl Shared {
    /// Shared state for a node, with its admission stage running (on the current tokio runtime).
    pub fn new(chain_id: ChainId, node_id: NodeId, store: NodeStore, network: NetworkHandle) -> Arc<Shared> {
        let (admission, jobs) = admission::queue();
        let shared = Arc::new(Shared {
            chain_id,
            node_id,
            store,
            mempool: Mutex::new(Mempool::new()),
            status: RwLock::new(NodeStatus::default()),
            network,
            mempool_changed: Notify::new(),
            metrics: Metrics::new(),
            sessions: crate::auth::Sessions::default(),
            pending_txs: std::sync::atomic::AtomicUsize::new(0),
            admission,
            rejections: Mutex::new(Rejections::default()),
            refusal_audit: Mutex::new(RefusalAudit::default()),
        });
        tokio::spawn(admission::run(Arc::downgrade(&shared), jobs));
        shared
    }

    /// Admits transaction bytes from a client of the API: decoding (bounded), then the admission
    /// stage (chain id, strict signature in a batch, the mempool's state checks). Once admitted the
    /// transaction is gossiped to the other validators.
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Hash, AdmissionError> {
        let verdict = self.queue_from_client(bytes).1?;
        verdict.await.map_err(|_| AdmissionError::Malformed("transaction verification failed".into()))?
    }

    /// Admits many transactions from a client at once (`POST /v1/txs/batch`): each is queued as
    /// [`Shared::submit`] would, and the verdicts come back in order. A transaction that does not
    /// fit in the admission queue is answered "busy" without affecting the others.
    ///
    /// Each verdict comes with the transaction's hash when its bytes decoded.
    pub async fn submit_batch(&self, txs: Vec<Vec<u8>>) -> Vec<(Option<Hash>, Result<Hash, AdmissionError>)> {
        let pending: Vec<_> = txs.into_iter().map(|bytes| self.queue_from_client(bytes)).collect();
        let mut verdicts = Vec::with_capacity(pending.len());
        for (hash, queued) in pending {
            let verdict = match queued {
                Ok(verdict) => verdict
                    .await
                    .unwrap_or_else(|_| Err(AdmissionError::Malformed("transaction verification failed".into()))),
                Err(error) => Err(error),
            };
            verdicts.push((hash, verdict));
        }
        verdicts
    }

    /// Decodes a client's transaction and queues it for admission: its hash if the bytes decoded,
    /// and the receiver that gets the verdict (or why it was not queued).
    fn queue_from_client(&self, bytes: Vec<u8>) -> (Option<Hash>, Result<Verdict, AdmissionError>) {
        let tx = match SignedTx::decode(&bytes) {
            Ok(tx) => tx,
            Err(error) => {
                let error = AdmissionError::from(error);
                if let Some(rule) = error.rule() {
                    self.metrics.rejected(crate::metrics::RejectionStage::Admission, rule);
                }
                return (None, Err(error));
            }
        };
        let hash = tx.body.hash();
        // Load shedding: a backlog of more than a few seconds' worth of blocks would only grow
        // latency (and cost the work of admitting what waits); the client hears "busy" instead.
        let backlog = self.pending_txs.load(std::sync::atomic::Ordering::Relaxed) + self.verification_queue();
        if backlog >= CLIENT_BACKLOG_TXS_MAX {
            return (Some(hash), Err(AdmissionError::Busy { queued: backlog }));
        }
        let (reply, verdict) = oneshot::channel();
        let queued = self.admission.try_send(Job::new(tx, hash, bytes, Origin::Client, Some(reply)));
        (
            Some(hash),
            queued.map(|()| verdict).map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => AdmissionError::Busy { queued: admission::VERIFY_QUEUE_TXS_MAX },
                mpsc::error::TrySendError::Closed(_) => AdmissionError::Malformed("the node is shutting down".into()),
            }),
        )
    }

    /// Queues the transactions of a batch gossiped by a peer. A batch that does not decode, or holds
    /// a transaction that does not, is refused here (the peer sent garbage); when the queue is full
    /// the remaining copies are dropped and counted (the node they were sent to proposes them anyway).
    /// Copies of transactions this node already has (pending or just committed, e.g. from a proposal
    /// that arrived before the gossip) are dropped before verification.
    pub fn submit_from_peer(&self, batch: &[u8]) -> Result<(), AdmissionError> {
        let txs = decode_tx_batch(batch)?.into_iter().map(SignedTx::decode).collect::<Result<Vec<_>, _>>()?;
        let hashes: Vec<Hash> = txs.iter().map(|tx| tx.body.hash()).collect();
        let new: Vec<(SignedTx, Hash)> = {
            let mempool = self.mempool.lock().expect("mempool lock poisoned");
            txs.into_iter().zip(hashes).filter(|(_, hash)| !mempool.knows(hash)).collect()
        };
        for (tx, hash) in new {
            if self.admission.try_send(Job::new(tx, hash, Vec::new(), Origin::Peer, None)).is_err() {
                self.metrics.gossip_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// Transactions waiting for verification.
    pub fn verification_queue(&self) -> usize {
        admission::VERIFY_QUEUE_TXS_MAX - self.admission.capacity()
    }

    pub(crate) fn remember_rejection(&self, hash: Hash, error: AdmissionError) {
        let mut rejections = self.rejections.lock().expect("rejections lock poisoned");
        if rejections.by_hash.insert(hash, error).is_none() {
            rejections.order.push_back(hash);
        }
        while rejections.order.len() > REJECTIONS_REMEMBERED_MAX {
            if let Some(oldest) = rejections.order.pop_front() {
                rejections.by_hash.remove(&oldest);
            }
        }
    }

    /// Records a client's refused transaction in the audit log (COV-33), within the rate bound.
    pub(crate) fn audit_tx_refusal(&self, hash: &Hash, sender: &covenant_types::Principal, error: &AdmissionError) {
        use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
        let actor = match sender {
            covenant_types::Principal::Operator(operator) => Actor::Operator(operator.clone()),
            covenant_types::Principal::Node(node) => Actor::Node(node.clone()),
        };
        let now = crate::runtime::chain::now_ms();
        let mut record = AuditRecord::new(now, self.node_id.clone(), EventType::TxRejected, actor, Outcome::Refused)
            .with_detail("tx", hash.to_hex())
            .with_detail("reason", error.to_string().chars().take(300).collect::<String>());
        if let Some(rule) = error.rule() {
            record = record.with_detail("rule", rule.id());
        }
        self.audit_refusal(record);
    }

    /// Appends a refusal (a transaction, an API request) to the audit log, at most
    /// [`REFUSALS_AUDITED_PER_SECOND`] a second: refusals are driven by outside input, and each append
    /// is a synced write. The rest are counted and summed up in one record the next second.
    pub(crate) fn audit_refusal(&self, record: covenant_storage::audit::AuditRecord) {
        use covenant_storage::AuditLog;
        use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
        let now = record.time_ms;
        let mut records = Vec::new();
        {
            let mut budget = self.refusal_audit.lock().expect("refusal audit lock poisoned");
            if budget.second != now / 1000 {
                if budget.suppressed > 0 {
                    records.push(
                        AuditRecord::new(
                            now,
                            self.node_id.clone(),
                            EventType::Custom("refusals_suppressed".into()),
                            Actor::System,
                            Outcome::Refused,
                        )
                        .with_detail("suppressed_refusals", budget.suppressed.to_string()),
                    );
                }
                *budget = RefusalAudit { second: now / 1000, written: 0, suppressed: 0 };
            }
            if budget.written >= REFUSALS_AUDITED_PER_SECOND {
                budget.suppressed += 1;
            } else {
                budget.written += 1;
                records.push(record);
            }
        }
        for record in records {
            if let Err(failure) = self.store.append(record) {
                tracing::warn!(%failure, "a refusal could not be audited");
            }
        }
    }

    /// Why `hash` was refused, if it was (and is still remembered).
    pub fn rejection(&self, hash: &Hash) -> Option<AdmissionError> {
        self.rejections.lock().expect("rejections lock poisoned").by_hash.get(hash).cloned()
    }

    /// A copy of the status.
    pub fn status(&self) -> NodeStatus {
        self.status.read().expect("status lock poisoned").clone()
    }
}
