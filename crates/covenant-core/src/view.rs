//! What the core lets others read while it runs (the node's HTTP API): the mempool, the node's
//! status, and the transactions it refused. Only the core changes them, except the verdict on the
//! audit log, which the shell's audit watch sets and the core reads before anchoring (ADR 0020).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use covenant_types::{Hash, Principal};

use crate::audit_check::AuditCheck;
use crate::mempool::{AdmissionError, Mempool};

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

#[derive(Default)]
struct Rejections {
    by_hash: BTreeMap<Hash, AdmissionError>,
    order: VecDeque<Hash>,
}

/// The core's state that others may read.
#[derive(Default)]
pub struct CoreView {
    mempool: Mutex<Mempool>,
    status: RwLock<NodeStatus>,
    rejections: Mutex<Rejections>,
    pending_txs: AtomicUsize,
    verification_queue: AtomicUsize,
    audit_check: RwLock<AuditCheck>,
}

/// Read access to the mempool.
pub struct MempoolRead<'a>(MutexGuard<'a, Mempool>);

impl MempoolRead<'_> {
    /// Pending transactions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Encoded bytes pending.
    pub fn bytes(&self) -> usize {
        self.0.bytes()
    }

    /// Whether `hash` is pending.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.0.contains(hash)
    }

    /// The nonce after `sender`'s last pending transaction, if it has any pending.
    pub fn next_nonce(&self, sender: &Principal) -> Option<u64> {
        self.0.next_nonce(sender)
    }
}

impl CoreView {
    /// The mempool, to read.
    pub fn mempool(&self) -> MempoolRead<'_> {
        MempoolRead(self.mempool.lock().expect("mempool lock poisoned"))
    }

    /// The mempool, for the core to change.
    pub(crate) fn mempool_cell(&self) -> &Mutex<Mempool> {
        &self.mempool
    }

    /// A copy of the status.
    pub fn status(&self) -> NodeStatus {
        self.status.read().expect("status lock poisoned").clone()
    }

    pub(crate) fn update_status(&self, change: impl FnOnce(&mut NodeStatus)) {
        change(&mut self.status.write().expect("status lock poisoned"));
    }

    /// Pending transactions as of the mempool's last change (read without its lock).
    pub fn pending_txs(&self) -> usize {
        self.pending_txs.load(Ordering::Relaxed)
    }

    pub(crate) fn set_pending_txs(&self, count: usize) {
        self.pending_txs.store(count, Ordering::Relaxed);
    }

    /// Transactions waiting for signature verification.
    pub fn verification_queue(&self) -> usize {
        self.verification_queue.load(Ordering::Relaxed)
    }

    pub(crate) fn set_verification_queue(&self, count: usize) {
        self.verification_queue.store(count, Ordering::Relaxed);
    }

    /// The latest verdict on this node's audit log.
    pub fn audit_check(&self) -> AuditCheck {
        self.audit_check.read().expect("audit check lock poisoned").clone()
    }

    /// Records a verification of this node's audit log (see [`crate::AuditVerifier`]).
    pub fn set_audit_check(&self, check: AuditCheck) {
        *self.audit_check.write().expect("audit check lock poisoned") = check;
    }

    /// Why `hash` was refused, if it was (and is still remembered).
    pub fn rejection(&self, hash: &Hash) -> Option<AdmissionError> {
        self.rejections.lock().expect("rejections lock poisoned").by_hash.get(hash).cloned()
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
}
