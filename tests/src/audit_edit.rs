//! Test-only edits of a stopped node's store that an operator with access to its disk could make:
//! rewrite the tail of the audit log with every hash recomputed and the head moved, and rewrite (or
//! delete) that node's own anchor records in the chain state so that they agree with the rewritten
//! log. The blocks are left alone: changing them would break their header hashes and seals.

use std::path::Path;

use covenant_execution::{AnchorRecord, StateKey};
use covenant_storage::{AuditEntry, Backend, Column, KvBatch, RocksBackend};
use covenant_types::{Hash, NodeId, decode, encode};

/// Most entries or records read by these helpers (test logs are small).
const READ_MAX: usize = 100_000;

/// What a rewrite changed.
#[derive(Debug)]
pub struct Rewrite {
    /// The first entry changed.
    pub first_edited: u64,
    /// The anchored entries whose records now carry the rewritten hashes: (sequence, old hash, new hash).
    pub anchors_rewritten: Vec<(u64, Hash, Hash)>,
    /// The new head.
    pub head: u64,
}

/// The audit entries stored in `db`, in order.
pub fn audit_entries(backend: &RocksBackend) -> Vec<AuditEntry> {
    backend
        .scan(Column::Audit, &[], &[], READ_MAX)
        .expect("audit entries read")
        .into_iter()
        .map(|(_, value)| decode("audit entry", &value, value.len()).expect("an audit entry"))
        .collect()
}

/// `node`'s anchor records in `db`'s state: (sequence, record).
pub fn anchor_records(backend: &RocksBackend, node: &NodeId) -> Vec<(u64, AnchorRecord)> {
    let prefix = anchor_prefix(node);
    backend
        .scan(Column::State, &prefix, &prefix, READ_MAX)
        .expect("anchor records read")
        .into_iter()
        .map(|(key, value)| {
            let sequence = u64::from_be_bytes(key[prefix.len()..].try_into().expect("an 8-byte sequence"));
            // The store keeps each state value as the canonical encoding of its bytes.
            let bytes: Vec<u8> = decode("state value", &value, value.len()).expect("a state value");
            (sequence, decode("anchor record", &bytes, bytes.len()).expect("an anchor record"))
        })
        .collect()
}

fn anchor_prefix(node: &NodeId) -> Vec<u8> {
    let mut prefix = StateKey::AuditAnchor(node.clone(), 0).encode();
    prefix.truncate(prefix.len() - 8);
    prefix
}

/// Edits entry `from` of the log in `db` (a forged detail), re-hashes it and every later entry, moves
/// the head, and rewrites `node`'s anchor records of the re-hashed entries to the new hashes: the
/// local hash chain and the node's own records then agree with each other.
pub fn rewrite_tail_and_anchor_records(db: &Path, node: &NodeId, from: u64) -> Rewrite {
    let backend = RocksBackend::open(db).expect("the stopped node's store opens");
    let mut entries = audit_entries(&backend);
    let start = entries.iter().position(|entry| entry.sequence == from).expect("the entry to edit exists");
    entries[start].details.insert("forged".into(), "yes".into());
    let mut previous = entries[start].prev_hash;
    let mut batch = KvBatch::new();
    let mut new_hashes = std::collections::BTreeMap::new();
    for entry in &mut entries[start..] {
        let old = entry.hash;
        entry.prev_hash = previous;
        entry.hash = entry.compute_hash();
        previous = entry.hash;
        new_hashes.insert(entry.sequence, (old, entry.hash));
        batch.put(Column::Audit, entry.sequence.to_be_bytes().to_vec(), encode(entry));
    }
    let head = entries.last().expect("entries").clone();
    batch.put(Column::Meta, b"audit_head".to_vec(), encode(&head.position()));
    let mut anchors_rewritten = Vec::new();
    for (sequence, mut record) in anchor_records(&backend, node) {
        let Some((old, new)) = new_hashes.get(&sequence).copied() else { continue };
        assert_eq!(record.hash, old, "the record of anchor {sequence} held the original hash");
        record.hash = new;
        let key = StateKey::AuditAnchor(node.clone(), sequence).encode();
        batch.put(Column::State, key, encode(&encode(&record)));
        anchors_rewritten.push((sequence, old, new));
    }
    backend.write(batch).expect("the edits are written");
    Rewrite { first_edited: from, anchors_rewritten, head: head.sequence }
}

/// Deletes `node`'s anchor records of entries at or after `from` from the chain state in `db` (the
/// blocks still carry the anchors).
pub fn delete_anchor_records_from(db: &Path, node: &NodeId, from: u64) -> usize {
    let backend = RocksBackend::open(db).expect("the store opens");
    let mut batch = KvBatch::new();
    let mut deleted = 0;
    for (sequence, _) in anchor_records(&backend, node).into_iter().filter(|(sequence, _)| *sequence >= from) {
        batch.delete(Column::State, StateKey::AuditAnchor(node.clone(), sequence).encode());
        deleted += 1;
    }
    backend.write(batch).expect("the deletions are written");
    deleted
}
