//! Blocks, transactions and batches for the tests: deterministic, so a test (or the crash test's
//! parent process) can recompute what a block wrote.

use std::collections::BTreeMap;

use covenant_types::{
    AccountId, AssetId, Block, BlockHeader, ChainId, CommitSeal, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload,
    Principal, Receipt, SealedVote, SecretKey, SignedTx, Transfer, TxBody, TxOutcome, merkle_root,
};

use crate::audit::{Actor, AuditRecord, EventType, Outcome};
use crate::store::{ChainTip, CommitBatch};

/// Milliseconds of block 0.
pub const GENESIS_TIME_MS: u64 = 1_700_000_000_000;

pub fn chain_id() -> ChainId {
    ChainId::new("covenant-test").expect("valid chain id")
}

pub fn node() -> NodeId {
    NodeId::new("validator-a").expect("valid node id")
}

fn key() -> SecretKey {
    SecretKey::from_seed(&[7; 32])
}

/// A signed transfer; distinct nonces give distinct transactions.
pub fn transaction(nonce: u64) -> SignedTx {
    let body = TxBody {
        version: ENCODING_VERSION,
        chain_id: chain_id(),
        sender: Principal::Operator(OperatorId::new("alice").expect("valid operator id")),
        nonce,
        created_at_ms: GENESIS_TIME_MS + nonce,
        payload: Payload::Transfer(Transfer {
            from: AccountId::new("bank-a/treasury").expect("valid account"),
            to: AccountId::new("bank-b/treasury").expect("valid account"),
            asset: AssetId::new("twd").expect("valid asset"),
            amount: nonce + 1,
            memo: String::new(),
        }),
    };
    SignedTx::sign(body, &key())
}

/// A block at `height` after `parent` carrying `transactions`.
pub fn block(height: u64, parent: Hash, transactions: Vec<SignedTx>) -> Block {
    let hashes: Vec<Hash> = transactions.iter().map(|tx| tx.body.hash()).collect();
    let header = BlockHeader {
        version: ENCODING_VERSION,
        chain_id: chain_id(),
        height,
        round: 0,
        parent_hash: parent,
        timestamp_ms: GENESIS_TIME_MS + height * 1000,
        proposer: node(),
        transactions_root: merkle_root(&hashes),
        state_root: Hash::digest(&height.to_be_bytes()),
        validator_set_hash: Hash::ZERO,
        parameters_hash: Hash::ZERO,
        parent_commit_seals: Vec::new(),
    };
    Block { header, transactions: transactions.into() }
}

/// One seal by the test validator.
pub fn seals(block: &Block) -> Vec<CommitSeal> {
    let vote = SealedVote { height: block.header.height, round: block.header.round, block_hash: block.hash() };
    vec![CommitSeal::sign(node(), &key(), &chain_id(), &vote)]
}

/// Transactions of the standard block at `height` (nonces unique across heights).
pub fn transactions_at(height: u64, count: u64) -> Vec<SignedTx> {
    (0..count).map(|index| transaction(height * 1000 + index)).collect()
}

/// State key written by the standard block at `height`.
pub fn state_key(height: u64, index: u64) -> Vec<u8> {
    format!("block/{height:010}/{index}").into_bytes()
}

/// State value written under [`state_key`].
pub fn state_value(height: u64, index: u64) -> Vec<u8> {
    let mut value = format!("value of {height}/{index}:").into_bytes();
    value.resize(256, (height % 251) as u8);
    value
}

/// Number of state keys the standard block writes.
pub const STATE_KEYS_PER_BLOCK: u64 = 4;

/// The standard batch for the block after `tip`: `tx_count` transactions with receipts,
/// [`STATE_KEYS_PER_BLOCK`] state writes, `latest` set to the height, the previous block's first
/// key deleted, and one audit record.
pub fn standard_batch(tip: Option<ChainTip>, tx_count: u64) -> CommitBatch {
    let height = tip.map_or(0, |tip| tip.height + 1);
    let parent = tip.map_or(Hash::ZERO, |tip| tip.hash);
    let transactions = transactions_at(height, tx_count);
    let receipts = transactions
        .iter()
        .enumerate()
        .map(|(index, tx)| Receipt {
            tx_hash: tx.body.hash(),
            outcome: if index % 2 == 0 {
                TxOutcome::Success
            } else {
                TxOutcome::Failed { rule: Some("COV-34-ORDERED-NONCES".into()), reason: "test".into() }
            },
            fuel_used: index as u64,
        })
        .collect();
    let block = block(height, parent, transactions);
    let mut state_writes = BTreeMap::new();
    for index in 0..STATE_KEYS_PER_BLOCK {
        state_writes.insert(state_key(height, index), Some(state_value(height, index)));
    }
    state_writes.insert(b"latest".to_vec(), Some(height.to_be_bytes().to_vec()));
    if let Some(previous) = height.checked_sub(1) {
        state_writes.insert(state_key(previous, 0), None);
    }
    let audit = vec![
        AuditRecord::new(block.header.timestamp_ms, node(), EventType::BlockCommitted, Actor::System, Outcome::Success)
            .with_detail("height", height.to_string()),
    ];
    CommitBatch { seals: seals(&block), block, receipts, state_writes, audit }
}

/// An audit record at `time_ms`.
pub fn audit_record(time_ms: u64, index: u64) -> AuditRecord {
    AuditRecord::new(
        time_ms,
        node(),
        EventType::CustomerDataRead,
        Actor::Operator(OperatorId::new("auditor-1").expect("valid operator id")),
        Outcome::Success,
    )
    .with_detail("record", format!("bank-a/cust-{index}"))
}
