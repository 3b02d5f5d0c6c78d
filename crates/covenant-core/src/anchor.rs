//! Audit anchoring (article 33): every [`AUDIT_ANCHOR_INTERVAL_BLOCKS`] blocks the node puts the
//! last head of its local audit log that verified against its blocks' anchors
//! ([`crate::audit_check`]) on chain, in a transaction signed with its consensus key (the only
//! transaction a node key may sign). A log rewritten afterwards, even with every hash recomputed,
//! no longer contains the anchored entry, and `covenant audit verify` says so. The records a block
//! produces about governance go into the audit log in the same atomic batch as the block.

use std::sync::Mutex;

use covenant_execution::StateReader;
use covenant_storage::ChainStore;
use covenant_storage::audit::{Actor, AuditPosition, AuditRecord, EventType, Outcome};
use covenant_types::{
    AuditAnchor, Block, ChainId, ENCODING_VERSION, NodeId, Payload, Principal, Receipt, SecretKey, SignedTx, TxBody,
    TxOutcome,
};

use crate::audit_check::AuditCheck;
use crate::error::CoreError;
use crate::mempool::Mempool;
use crate::state::StoreState;

/// Blocks between two anchors of this node's audit head.
pub const AUDIT_ANCHOR_INTERVAL_BLOCKS: u64 = 10;

/// Whether the node anchors its audit head after committing `height`.
pub fn is_anchoring_height(height: u64) -> bool {
    height != 0 && height.is_multiple_of(AUDIT_ANCHOR_INTERVAL_BLOCKS)
}

/// What the node may anchor, given the latest verdict on its log: only a head that verified against
/// its blocks' anchors (ADR 0020). `Err` explains why nothing may be anchored now.
pub fn anchorable_head(check: &AuditCheck) -> Result<Option<AuditPosition>, String> {
    match check {
        AuditCheck::Verified { head, .. } => Ok(*head),
        AuditCheck::Pending => Err("the audit log is not verified yet (start-up verification running)".into()),
        AuditCheck::Failed(failure) => Err(format!("the audit log failed verification: {failure}")),
    }
}

/// The anchoring transaction for `head`, a verified head of `node`'s audit log, signed with `key` at
/// `now_ms`, or `None` if the anchored head is current or an anchor is still pending.
pub fn anchor_tx<S: ChainStore + ?Sized>(
    store: &S,
    head: AuditPosition,
    mempool: &Mutex<Mempool>,
    chain: &ChainId,
    node: &NodeId,
    key: &SecretKey,
    now_ms: u64,
) -> Result<Option<SignedTx>, CoreError> {
    let state = StoreState(store);
    let last = state.get::<u64>(&covenant_execution::StateKey::LastAuditAnchor(node.clone()))?;
    if last.is_some_and(|last| head.sequence <= last) {
        return Ok(None);
    }
    let sender = Principal::Node(node.clone());
    if mempool.lock().expect("mempool lock poisoned").next_nonce(&sender).is_some() {
        return Ok(None);
    }
    let body = TxBody {
        version: ENCODING_VERSION,
        chain_id: chain.clone(),
        nonce: state.next_nonce(&sender)?,
        sender,
        created_at_ms: now_ms,
        payload: Payload::AuditAnchor(AuditAnchor { sequence: head.sequence, hash: head.hash }),
    };
    Ok(Some(SignedTx::sign(body, key)))
}

/// The audit records of a committed block: each governance step, each anchor, with its outcome.
pub fn block_records(node: &NodeId, block: &Block, receipts: &[Receipt]) -> Vec<AuditRecord> {
    let mut records = Vec::new();
    for (tx, receipt) in block.transactions.iter().zip(receipts) {
        let body = &tx.body;
        let (event, subject) = match &body.payload {
            Payload::GovernancePropose(proposal) => (EventType::GovernanceAction, proposal.action.name().to_string()),
            Payload::GovernanceApprove(id) | Payload::GovernanceReject(id) | Payload::GovernanceWithdraw(id) => {
                (EventType::GovernanceAction, id.to_hex())
            }
            Payload::AuditAnchor(anchor) => (EventType::Custom("audit_anchored".into()), anchor.sequence.to_string()),
            _ => continue,
        };
        let actor = match &body.sender {
            Principal::Operator(operator) => Actor::Operator(operator.clone()),
            Principal::Node(node) => Actor::Node(node.clone()),
        };
        let outcome = match &receipt.outcome {
            TxOutcome::Success => Outcome::Success,
            TxOutcome::Failed { .. } => Outcome::Failure,
        };
        let mut record = AuditRecord::new(block.header.timestamp_ms, node.clone(), event, actor, outcome)
            .with_detail("kind", body.payload.kind())
            .with_detail("subject", subject)
            .with_detail("tx", receipt.tx_hash.to_hex())
            .with_detail("height", block.header.height.to_string());
        if let TxOutcome::Failed { rule: Some(rule), .. } = &receipt.outcome {
            record = record.with_detail("rule", rule.clone());
        }
        records.push(record);
    }
    records
}
