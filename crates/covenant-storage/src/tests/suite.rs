//! The shared chain-store suite: every function runs against every [`Harness`].

use covenant_types::{ChainId, Hash, encode};

use super::fixtures::{self, STATE_KEYS_PER_BLOCK, standard_batch, state_key, state_value};
use super::harness::{Harness, raw_delete, raw_get, raw_put};
use crate::audit::AuditLog;
use crate::error::StorageError;
use crate::kv::{Backend, Column, u64_key};
use crate::limits::{MIGRATION_PAGE_ENTRIES, SCAN_ENTRIES_MAX, SCHEMA_VERSION};
use crate::store::{ChainStore, ChainTip, CommitBatch, RECEIPT_KEY_BYTES, Store, TxLocation, meta_key};

/// Commits `count` standard blocks after the current tip; returns the batches committed.
pub fn commit_blocks<B: Backend>(store: &Store<B>, count: u64, tx_count: u64) -> Vec<CommitBatch> {
    let mut committed = Vec::new();
    for _ in 0..count {
        let batch = standard_batch(store.latest().expect("tip"), tx_count);
        store.commit_block(batch.clone()).expect("commit a valid block");
        committed.push(batch);
    }
    committed
}

fn tip_of(batch: &CommitBatch) -> ChainTip {
    ChainTip { height: batch.block.header.height, hash: batch.block.hash() }
}

/// Everything `batches` wrote is readable, as written.
fn assert_chain_readable<B: Backend>(store: &Store<B>, batches: &[CommitBatch]) {
    let last = batches.last().expect("at least one block");
    assert_eq!(store.latest().expect("tip"), Some(tip_of(last)));
    for batch in batches {
        let height = batch.block.header.height;
        assert_eq!(store.block_by_height(height).expect("read block").as_ref(), Some(&batch.block));
        assert_eq!(store.block_by_hash(&batch.block.hash()).expect("read block").as_ref(), Some(&batch.block));
        assert_eq!(store.commit_seals(height).expect("read seals"), Some(batch.seals.clone()));
        for (index, (tx, receipt)) in batch.block.transactions.iter().zip(&batch.receipts).enumerate() {
            let hash = tx.body.hash();
            let location = store.tx_location(&hash).expect("tx index").expect("indexed");
            assert_eq!((location.height, location.index as usize), (height, index));
            assert_eq!(store.transaction(&hash).expect("tx").map(|(tx, _)| tx).as_ref(), Some(tx));
            assert_eq!(store.receipt(&hash).expect("receipt").as_ref(), Some(receipt));
        }
    }
    let next = last.block.header.height + 1;
    assert_eq!(store.block_by_height(next).expect("read above tip"), None);
    assert_eq!(store.commit_seals(next).expect("read above tip"), None);
}

pub fn commit_and_read_back<H: Harness>() {
    let harness = H::new();
    let store = harness.store();
    assert_eq!(store.latest().expect("tip"), None);
    let metadata = store.metadata().expect("metadata");
    assert_eq!((metadata.schema_version, metadata.chain_id, metadata.genesis_hash), (SCHEMA_VERSION, None, None));

    let batches = commit_blocks(store, 4, 3);
    assert_chain_readable(store, &batches);
    let metadata = store.metadata().expect("metadata");
    assert_eq!(metadata.chain_id, Some(fixtures::chain_id()));
    assert_eq!(metadata.genesis_hash, Some(batches[0].block.hash()));
    assert_eq!(store.block_by_hash(&Hash::digest(b"unknown")).expect("read"), None);
    assert_eq!(store.receipt(&Hash::digest(b"unknown")).expect("read"), None);
    assert_eq!(store.transaction(&Hash::digest(b"unknown")).expect("read"), None);
}

pub fn heights_must_be_sequential<H: Harness>() {
    let harness = H::new();
    let store = harness.store();
    // Height 1 before genesis.
    let genesis = standard_batch(None, 1);
    let mut early = standard_batch(Some(ChainTip { height: 0, hash: genesis.block.hash() }), 1);
    let error = store.commit_block(early.clone()).expect_err("height 1 on an empty store");
    assert!(matches!(error, StorageError::HeightNotNext { expected: 0, found: 1 }), "{error}");
    assert_eq!(store.latest().expect("tip"), None);

    store.commit_block(genesis.clone()).expect("genesis");
    // Genesis again, and a gap.
    let error = store.commit_block(genesis.clone()).expect_err("genesis twice");
    assert!(matches!(error, StorageError::HeightNotNext { expected: 1, found: 0 }), "{error}");
    let gap = standard_batch(Some(ChainTip { height: 1, hash: Hash::digest(b"x") }), 1);
    let error = store.commit_block(gap).expect_err("height 2 after 0");
    assert!(matches!(error, StorageError::HeightNotNext { expected: 1, found: 2 }), "{error}");
    // Nothing of the refused blocks was written.
    assert_eq!(store.latest().expect("tip"), Some(tip_of(&genesis)));
    assert_eq!(store.get_state(&state_key(1, 0)).expect("state"), None);
    assert_eq!(store.head().expect("audit head").map(|head| head.sequence), Some(0));

    early.block.header.parent_hash = genesis.block.hash();
    store.commit_block(early).expect("height 1 after genesis");
    assert_eq!(store.latest().expect("tip").map(|tip| tip.height), Some(1));
}

pub fn parent_mismatch_refused<H: Harness>() {
    let harness = H::new();
    let store = harness.store();
    // Genesis must name the zero hash as parent.
    let mut genesis = standard_batch(None, 0);
    genesis.block.header.parent_hash = Hash::digest(b"not zero");
    let error = store.commit_block(genesis).expect_err("genesis with a parent");
    assert!(matches!(error, StorageError::ParentMismatch { height: 0, expected: Hash::ZERO, .. }), "{error}");

    let batches = commit_blocks(store, 2, 1);
    let tip = tip_of(&batches[1]);
    let mut wrong_parent = standard_batch(Some(tip), 1);
    wrong_parent.block.header.parent_hash = batches[0].block.hash();
    let error = store.commit_block(wrong_parent).expect_err("wrong parent");
    match error {
        StorageError::ParentMismatch { height, expected, found } => {
            assert_eq!((height, expected, found), (2, tip.hash, batches[0].block.hash()));
        }
        other => panic!("expected ParentMismatch, got {other}"),
    }
    // Another chain's block is refused too.
    let mut other_chain = standard_batch(Some(tip), 0);
    other_chain.block.header.chain_id = ChainId::new("other-chain").expect("valid chain id");
    let error = store.commit_block(other_chain).expect_err("wrong chain");
    assert!(matches!(error, StorageError::WrongChain { .. }), "{error}");
    assert_eq!(store.latest().expect("tip"), Some(tip));
}

pub fn state_writes_and_deletes<H: Harness>() {
    let harness = H::new();
    let store = harness.store();
    commit_blocks(store, 3, 0);
    // Block 2 wrote its keys, deleted block 1's first key, and overwrote `latest`.
    for index in 0..STATE_KEYS_PER_BLOCK {
        assert_eq!(store.get_state(&state_key(2, index)).expect("state"), Some(state_value(2, index)));
    }
    assert_eq!(store.get_state(&state_key(1, 0)).expect("state"), None);
    assert_eq!(store.get_state(&state_key(1, 1)).expect("state"), Some(state_value(1, 1)));
    assert_eq!(store.get_state(b"latest").expect("state"), Some(2u64.to_be_bytes().to_vec()));

    // Prefix scans are bounded and resumable.
    let prefix = b"block/0000000002/";
    let first = store.scan_state(prefix, None, 3).expect("scan");
    assert_eq!(first.entries.len(), 3);
    assert_eq!(first.entries[0], (state_key(2, 0), state_value(2, 0)));
    let resume = first.resume_after.clone().expect("more to read");
    let second = store.scan_state(prefix, Some(&resume), 3).expect("scan");
    assert_eq!(second.entries, vec![(state_key(2, 3), state_value(2, 3))]);
    assert_eq!(second.resume_after, None);
    let all = store.scan_state(b"block/", None, 100).expect("scan");
    assert_eq!(all.entries.len() as u64, 3 * STATE_KEYS_PER_BLOCK - 2);
    assert!(all.entries.windows(2).all(|pair| pair[0].0 < pair[1].0), "scan is in key order");
    assert_eq!(store.scan_state(b"nothing/", None, 10).expect("scan").entries, Vec::new());
    let error = store.scan_state(b"", None, SCAN_ENTRIES_MAX + 1).expect_err("limit above the maximum");
    assert!(matches!(error, StorageError::TooMany { count, .. } if count == SCAN_ENTRIES_MAX + 1), "{error}");
}

pub fn tx_index_and_receipts<H: Harness>() {
    let harness = H::new();
    let store = harness.store();
    let batches = commit_blocks(store, 2, 5);
    assert_chain_readable(store, &batches);
    let tip = tip_of(&batches[1]);

    // Receipts must match the transactions one for one.
    let mut missing = standard_batch(Some(tip), 3);
    missing.receipts.pop();
    let error = store.commit_block(missing).expect_err("a receipt is missing");
    assert!(matches!(error, StorageError::ReceiptCountMismatch { transactions: 3, receipts: 2, .. }), "{error}");
    let mut swapped = standard_batch(Some(tip), 3);
    swapped.receipts.swap(0, 1);
    let error = store.commit_block(swapped).expect_err("receipts out of order");
    assert!(matches!(error, StorageError::ReceiptMismatch { index: 0, .. }), "{error}");

    // A transaction committed before cannot be committed again.
    let mut replay = standard_batch(Some(tip), 1);
    let old_tx = batches[0].block.transactions[0].clone();
    replay.receipts[0].tx_hash = old_tx.body.hash();
    std::sync::Arc::make_mut(&mut replay.block.transactions)[0] = old_tx;
    let error = store.commit_block(replay).expect_err("replayed transaction");
    assert!(matches!(error, StorageError::DuplicateTransaction { existing_height: 0, .. }), "{error}");
    assert_eq!(store.latest().expect("tip"), Some(tip));
}

pub fn safety_state_round_trip<H: Harness>() {
    let mut harness = H::new();
    assert_eq!(harness.store().load_safety_state().expect("load"), None);
    harness.store().save_safety_state(b"height 1 round 0 prepared").expect("save");
    harness.store().save_safety_state(b"height 1 round 1 locked").expect("save");
    assert_eq!(harness.store().load_safety_state().expect("load"), Some(b"height 1 round 1 locked".to_vec()));
    harness.reopen().expect("reopen");
    assert_eq!(harness.store().load_safety_state().expect("load"), Some(b"height 1 round 1 locked".to_vec()));
    harness.store().save_safety_state(b"").expect("save an empty state");
    assert_eq!(harness.store().load_safety_state().expect("load"), Some(Vec::new()));
}

pub fn reopen_restores_everything<H: Harness>() {
    let mut harness = H::new();
    let batches = commit_blocks(harness.store(), 5, 2);
    harness.store().save_safety_state(b"voted 5").expect("save");
    harness.store().append(fixtures::audit_record(fixtures::GENESIS_TIME_MS, 1)).expect("append");
    let head = harness.store().head().expect("head");
    let metadata = harness.store().metadata().expect("metadata");
    let state = harness.store().scan_state(b"", None, 1000).expect("scan");

    harness.reopen().expect("reopen");
    let store = harness.store();
    assert_chain_readable(store, &batches);
    assert_eq!(store.load_safety_state().expect("load"), Some(b"voted 5".to_vec()));
    assert_eq!(store.head().expect("head"), head);
    assert_eq!(store.metadata().expect("metadata"), metadata);
    assert_eq!(store.scan_state(b"", None, 1000).expect("scan"), state);
    assert_eq!(store.verify().expect("audit verifies").entries, 6);
    // And the chain goes on from where it was.
    let more = commit_blocks(store, 1, 1);
    assert_eq!(more[0].block.header.height, 5);
}

/// Overwrites the raw value under `key`, checks the read fails as corruption of `what`, restores it.
fn expect_corrupt<B: Backend, T: std::fmt::Debug>(
    store: &Store<B>,
    column: Column,
    key: &[u8],
    garbage: &[u8],
    what: &str,
    read: impl Fn(&Store<B>) -> Result<T, StorageError>,
) {
    let original = raw_get(store, column, key);
    raw_put(store, column, key, garbage);
    match read(store) {
        Err(StorageError::Corrupt { what: found, .. }) if found == what => {}
        other => panic!("expected corrupt {what} after overwriting {}, got {other:?}", column.name()),
    }
    match original {
        Some(value) => raw_put(store, column, key, &value),
        None => raw_delete(store, column, key),
    }
}

pub fn corrupt_values_detected<H: Harness>() {
    let mut harness = H::new();
    let batches = commit_blocks(harness.store(), 3, 2);
    harness.store().save_safety_state(b"safe").expect("save");
    let store = harness.store();
    let tx_hash = batches[1].block.transactions[0].body.hash();
    let block_2 = batches[2].block.encode();

    expect_corrupt(store, Column::Blocks, &u64_key(1), b"garbage", "block", |s| s.block_by_height(1));
    expect_corrupt(store, Column::Blocks, &u64_key(1), b"garbage", "block", |s| {
        s.block_by_hash(&batches[1].block.hash())
    });
    // A valid block under the wrong height.
    expect_corrupt(store, Column::Blocks, &u64_key(1), &block_2, "block", |s| s.block_by_height(1));
    expect_corrupt(store, Column::Seals, &u64_key(1), b"\xff\xff\xff", "commit seals", |s| s.commit_seals(1));
    let receipt_key = TxLocation { height: 1, index: 0 }.receipt_key();
    expect_corrupt(store, Column::Receipts, &receipt_key, b"\x01", "receipt", |s| s.receipt(&tx_hash));
    // A valid receipt of another transaction.
    let other_receipt = encode(&batches[2].receipts[0]);
    expect_corrupt(store, Column::Receipts, &receipt_key, &other_receipt, "receipt", |s| s.receipt(&tx_hash));
    // An indexed transaction without its receipt.
    let receipt = raw_get(store, Column::Receipts, &receipt_key).expect("the receipt");
    raw_delete(store, Column::Receipts, &receipt_key);
    assert!(matches!(store.receipt(&tx_hash), Err(StorageError::Corrupt { what: "receipt", .. })));
    raw_put(store, Column::Receipts, &receipt_key, &receipt);
    expect_corrupt(store, Column::TxIndex, tx_hash.as_bytes(), b"\x00", "tx index", |s| s.tx_location(&tx_hash));
    // An index entry pointing at the wrong transaction.
    let wrong_location = encode(&crate::store::TxLocation { height: 1, index: 1 });
    expect_corrupt(store, Column::TxIndex, tx_hash.as_bytes(), &wrong_location, "tx index", |s| {
        s.transaction(&tx_hash)
    });
    expect_corrupt(store, Column::State, &state_key(2, 1), b"\xff", "state value", |s| s.get_state(&state_key(2, 1)));
    expect_corrupt(store, Column::State, &state_key(2, 1), b"\xff", "state value", |s| {
        s.scan_state(b"block/", None, 100)
    });
    expect_corrupt(store, Column::Consensus, b"safety_state", b"\x09", "safety state", |s| s.load_safety_state());
    expect_corrupt(store, Column::Meta, meta_key::TIP, b"\x00", "chain tip", |s| s.latest());
    // A hash index entry pointing at another height.
    let hash_1 = batches[1].block.hash();
    expect_corrupt(store, Column::BlockHashes, hash_1.as_bytes(), &encode(&2u64), "block", |s| s.block_by_height(1));

    // Missing pieces below the tip.
    raw_delete(store, Column::Seals, &u64_key(1));
    assert!(matches!(store.commit_seals(1), Err(StorageError::Corrupt { what: "commit seals", .. })));
    raw_delete(store, Column::BlockHashes, hash_1.as_bytes());
    assert!(matches!(store.block_by_height(1), Err(StorageError::Corrupt { what: "block", .. })));
    raw_delete(store, Column::Blocks, &u64_key(1));
    assert!(matches!(store.block_by_height(1), Err(StorageError::Corrupt { what: "block", .. })));

    // A damaged tip is found when the store opens.
    raw_delete(store, Column::Blocks, &u64_key(2));
    let error = harness.reopen().expect_err("the tip block is gone");
    assert!(matches!(error, StorageError::Corrupt { what: "block" | "chain tip", .. }), "{error}");
}

pub fn unknown_schema_refused<H: Harness>() {
    let mut harness = H::new();
    commit_blocks(harness.store(), 1, 0);
    raw_put(harness.store(), Column::Meta, meta_key::SCHEMA_VERSION, &encode(&(SCHEMA_VERSION + 1)));
    let error = harness.reopen().expect_err("a future schema");
    assert!(
        matches!(error, StorageError::UnsupportedSchema { found, supported: SCHEMA_VERSION } if found == SCHEMA_VERSION + 1)
    );
}

/// A store of schema version 1 (receipts keyed by transaction hash) is upgraded when it opens, over
/// more than one page, and also when an earlier upgrade stopped part-way (some receipts moved).
pub fn version_1_store_upgraded<H: Harness>() {
    let mut harness = H::new();
    let batches = commit_blocks(harness.store(), 3, MIGRATION_PAGE_ENTRIES as u64 / 2 + 1);
    let store = harness.store();
    let mut kept_in_place = 0;
    for batch in &batches {
        for (index, tx) in batch.block.transactions.iter().enumerate() {
            let location = TxLocation { height: batch.block.header.height, index: index as u32 };
            // Every fifth receipt stays where version 2 puts it: an upgrade that stopped part-way.
            if index % 5 == 0 {
                kept_in_place += 1;
                continue;
            }
            let receipt = raw_get(store, Column::Receipts, &location.receipt_key()).expect("a receipt");
            raw_delete(store, Column::Receipts, &location.receipt_key());
            raw_put(store, Column::Receipts, tx.body.hash().as_bytes(), &receipt);
        }
    }
    assert!(kept_in_place > 0);
    raw_put(store, Column::Meta, meta_key::SCHEMA_VERSION, &encode(&1_u32));

    harness.reopen().expect("a version-1 store is upgraded");
    assert_eq!(harness.store().metadata().expect("metadata").schema_version, SCHEMA_VERSION);
    assert_chain_readable(harness.store(), &batches);
    let receipts = harness.store().backend().scan(Column::Receipts, b"", b"", SCAN_ENTRIES_MAX).expect("scan");
    let total: usize = batches.iter().map(|batch| batch.receipts.len()).sum();
    assert_eq!(receipts.len(), total, "one receipt per transaction, none left behind");
    assert!(receipts.iter().all(|(key, _)| key.len() == RECEIPT_KEY_BYTES), "every receipt under its position");

    // A version-1 receipt that no transaction index entry places is refused, not dropped.
    raw_put(harness.store(), Column::Receipts, &[7; 32], &encode(&batches[0].receipts[0]));
    raw_put(harness.store(), Column::Meta, meta_key::SCHEMA_VERSION, &encode(&1_u32));
    let error = harness.reopen().expect_err("an unplaceable receipt");
    assert!(matches!(error, StorageError::Corrupt { what: "receipt", .. }), "{error}");
}

pub fn oversized_writes_refused<H: Harness>() {
    let harness = H::new();
    let store = harness.store();
    let mut batch = standard_batch(None, 0);
    batch.state_writes.insert(vec![b'k'; crate::limits::STATE_KEY_BYTES_MAX + 1], Some(Vec::new()));
    let error = store.commit_block(batch).expect_err("state key too long");
    assert!(matches!(error, StorageError::TooLarge { what: "state key", .. }), "{error}");
    let mut batch = standard_batch(None, 0);
    batch.audit[0].details.insert("Bad Name".into(), "x".into());
    let error = store.commit_block(batch).expect_err("invalid audit record");
    assert!(matches!(error, StorageError::InvalidAuditRecord { field: "details", .. }), "{error}");
    assert_eq!(store.latest().expect("tip"), None);
    assert_eq!(store.head().expect("audit head"), None);
}

pub fn concurrent_writers_keep_order<H: Harness>() {
    const APPENDS_PER_THREAD: u64 = 10;
    const THREADS: u64 = 3;
    const BLOCKS: u64 = 10;
    let harness = H::new();
    let store = harness.store();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for index in 0..APPENDS_PER_THREAD {
                    store
                        .append(fixtures::audit_record(fixtures::GENESIS_TIME_MS, thread * 100 + index))
                        .expect("append");
                }
            });
        }
        scope.spawn(|| commit_blocks(store, BLOCKS, 1));
    });
    let summary = store.verify().expect("audit verifies");
    assert_eq!(summary.entries, THREADS * APPENDS_PER_THREAD + BLOCKS);
    assert_eq!(store.latest().expect("tip").map(|tip| tip.height), Some(BLOCKS - 1));
}
