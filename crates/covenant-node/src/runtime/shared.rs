//! What the event loop shares with the HTTP API: the store, the mempool, the node status, and the
//! admission path for new transactions.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

use covenant_execution::StateReader;
use covenant_network::NetworkHandle;
use covenant_types::{ChainId, Hash, NodeId, SignedTx, VerifiedTx};

use crate::mempool::{AdmissionError, Mempool};
use crate::runtime::chain::{NodeStore, StoreState, now_ms};

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
}

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
    rejections: Mutex<Rejections>,
}

#[derive(Default)]
struct Rejections {
    by_hash: BTreeMap<Hash, AdmissionError>,
    order: VecDeque<Hash>,
}

impl Shared {
    /// Shared state for a node.
    pub fn new(chain_id: ChainId, node_id: NodeId, store: NodeStore, network: NetworkHandle) -> Arc<Shared> {
        Arc::new(Shared {
            chain_id,
            node_id,
            store,
            mempool: Mutex::new(Mempool::new()),
            status: RwLock::new(NodeStatus::default()),
            network,
            mempool_changed: Notify::new(),
            rejections: Mutex::new(Rejections::default()),
        })
    }

    /// Admits transaction bytes received from a client (`gossip = true`: also sent to the other
    /// validators) or from a peer. Runs every admission check: decoding (bounded), chain id, strict
    /// signature, then the mempool's state checks. Signature verification runs off the event loop.
    pub async fn submit(self: &Arc<Shared>, bytes: Vec<u8>, gossip: bool) -> Result<Hash, AdmissionError> {
        let tx = SignedTx::decode(&bytes)?;
        let chain = self.chain_id.clone();
        let verified = tokio::task::spawn_blocking(move || VerifiedTx::verify(tx, &chain))
            .await
            .map_err(|error| AdmissionError::Malformed(format!("verification task failed: {error}")))?;
        let verified = match verified {
            Ok(verified) => verified,
            Err(rejected) => {
                let error = AdmissionError::from(rejected.error);
                self.remember_rejection(rejected.tx.body.hash(), error.clone());
                return Err(error);
            }
        };
        let hash = verified.hash();
        let result = self.admit(verified);
        match &result {
            Ok(_) => {
                self.mempool_changed.notify_one();
                if gossip {
                    // Best effort: the transaction is admitted here either way and will be proposed.
                    let _ = self.network.broadcast_tx(bytes).await;
                }
            }
            Err(AdmissionError::Duplicate(_)) => {}
            Err(error) => self.remember_rejection(hash, error.clone()),
        }
        result
    }

    fn admit(&self, tx: VerifiedTx) -> Result<Hash, AdmissionError> {
        let state = StoreState(&self.store);
        let params = state.params()?;
        let mut mempool = self.mempool.lock().expect("mempool lock poisoned");
        mempool.admit(tx, &state, &params, now_ms())
    }

    fn remember_rejection(&self, hash: Hash, error: AdmissionError) {
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

    /// Why `hash` was refused, if it was (and is still remembered).
    pub fn rejection(&self, hash: &Hash) -> Option<AdmissionError> {
        self.rejections.lock().expect("rejections lock poisoned").by_hash.get(hash).cloned()
    }

    /// A copy of the status.
    pub fn status(&self) -> NodeStatus {
        self.status.read().expect("status lock poisoned").clone()
    }
}
