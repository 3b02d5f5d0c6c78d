//! What the event loop shares with the HTTP API: the store, the core's view (mempool, status,
//! refusals), the metrics, and the queue by which clients' transactions reach the core.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use covenant_core::admission::RefusalBudget;
use covenant_core::{AdmissionError, CoreView, MempoolRead, NodeStatus};
use covenant_network::NetworkHandle;
use covenant_types::{ChainId, Hash, NodeId, SignedTx};

use crate::metrics::Metrics;
use crate::runtime::chain::NodeStore;

/// Pending and queued transactions beyond which this node answers clients "busy": about half a
/// second of work at the bench's saturation rate (docs/benchmarking.md, steps 11 and 12). A larger
/// backlog only makes what is admitted wait longer: with twice this bound, the median latency of
/// what was admitted above saturation doubled, for the same throughput.
pub const CLIENT_BACKLOG_TXS_MAX: usize = 15_000;

/// Clients' transactions on their way to the core, at most (the core's own admission queue bounds
/// what it takes in; this only bounds what waits for the event loop).
pub const SUBMISSIONS_CAPACITY: usize = covenant_core::admission::VERIFY_QUEUE_TXS_MAX;

/// A client's transaction, decoded, and where its verdict goes.
pub struct Submission {
    /// The transaction.
    pub tx: SignedTx,
    /// Its body hash.
    pub hash: Hash,
    /// Its bytes as the client sent them.
    pub bytes: Vec<u8>,
    /// Where the verdict goes.
    pub reply: oneshot::Sender<Result<Hash, AdmissionError>>,
}

/// Where a client's verdict will arrive.
type Verdict = oneshot::Receiver<Result<Hash, AdmissionError>>;

/// State shared between the event loop and the API.
pub struct Shared {
    /// This chain.
    pub chain_id: ChainId,
    /// This node.
    pub node_id: NodeId,
    /// The store.
    pub store: NodeStore,
    /// The core's mempool, status and refusals.
    pub view: Arc<CoreView>,
    /// The network.
    pub network: NetworkHandle,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Operators' API sessions.
    pub sessions: crate::auth::Sessions,
    submissions: mpsc::Sender<Submission>,
    refusal_audit: Mutex<RefusalBudget>,
}

impl Shared {
    /// Shared state for a node whose core publishes `view`; clients' transactions go to
    /// `submissions`, which the event loop reads.
    pub fn new(
        chain_id: ChainId,
        node_id: NodeId,
        store: NodeStore,
        network: NetworkHandle,
        view: Arc<CoreView>,
        metrics: Arc<Metrics>,
        submissions: mpsc::Sender<Submission>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            chain_id,
            node_id,
            store,
            view,
            network,
            metrics,
            sessions: crate::auth::Sessions::default(),
            submissions,
            refusal_audit: Mutex::new(RefusalBudget::default()),
        })
    }

    /// Admits transaction bytes from a client of the API: decoding (bounded), then the core's
    /// admission (chain id, strict signature in a batch, the mempool's state checks). Once admitted
    /// the transaction is gossiped to the other validators.
    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Hash, AdmissionError> {
        let verdict = self.queue_from_client(bytes).1?;
        verdict.await.map_err(|_| AdmissionError::Malformed("the node stopped before answering".into()))?
    }

    /// Admits many transactions from a client at once (`POST /v1/txs/batch`): each is queued as
    /// [`Shared::submit`] would, and the verdicts come back in order. A transaction that does not
    /// fit in the queue is answered "busy" without affecting the others.
    ///
    /// Each verdict comes with the transaction's hash when its bytes decoded.
    pub async fn submit_batch(&self, txs: Vec<Vec<u8>>) -> Vec<(Option<Hash>, Result<Hash, AdmissionError>)> {
        let pending: Vec<_> = txs.into_iter().map(|bytes| self.queue_from_client(bytes)).collect();
        let mut verdicts = Vec::with_capacity(pending.len());
        for (hash, queued) in pending {
            let verdict = match queued {
                Ok(verdict) => verdict
                    .await
                    .unwrap_or_else(|_| Err(AdmissionError::Malformed("the node stopped before answering".into()))),
                Err(error) => Err(error),
            };
            verdicts.push((hash, verdict));
        }
        verdicts
    }

    /// Decodes a client's transaction and queues it for the core: its hash if the bytes decoded,
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
        let backlog = self.view.pending_txs() + self.view.verification_queue() + self.queued_for_core();
        if backlog >= CLIENT_BACKLOG_TXS_MAX {
            return (Some(hash), Err(AdmissionError::Busy { queued: backlog }));
        }
        let (reply, verdict) = oneshot::channel();
        let queued = self.submissions.try_send(Submission { tx, hash, bytes, reply });
        (
            Some(hash),
            queued.map(|()| verdict).map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => AdmissionError::Busy { queued: SUBMISSIONS_CAPACITY },
                mpsc::error::TrySendError::Closed(_) => AdmissionError::Malformed("the node is shutting down".into()),
            }),
        )
    }

    /// Clients' transactions waiting for the event loop.
    fn queued_for_core(&self) -> usize {
        SUBMISSIONS_CAPACITY - self.submissions.capacity()
    }

    /// Transactions waiting for verification or for the event loop.
    pub fn verification_queue(&self) -> usize {
        self.view.verification_queue() + self.queued_for_core()
    }

    /// The mempool, to read.
    pub fn mempool(&self) -> MempoolRead<'_> {
        self.view.mempool()
    }

    /// Why `hash` was refused, if it was (and is still remembered).
    pub fn rejection(&self, hash: &Hash) -> Option<AdmissionError> {
        self.view.rejection(hash)
    }

    /// A copy of the status.
    pub fn status(&self) -> NodeStatus {
        self.view.status()
    }

    /// Appends a refusal of an API request to the audit log, within the [`RefusalBudget`].
    pub(crate) fn audit_refusal(&self, record: covenant_storage::audit::AuditRecord) {
        use covenant_storage::AuditLog;
        let records = self.refusal_audit.lock().expect("refusal audit lock poisoned").records(record);
        for record in records {
            if let Err(failure) = self.store.append(record) {
                tracing::warn!(%failure, "a refusal could not be audited");
            }
        }
    }
}
