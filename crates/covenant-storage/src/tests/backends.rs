//! Tests of one backend only.

use rocksdb::{DB, Options};

use super::fixtures::state_key;
use super::harness::{Harness, RocksHarness};
use super::suite::commit_blocks;
use crate::error::StorageError;
use crate::kv::Column;
use crate::memory::MemoryStore;
use crate::rocks::RocksStore;
use crate::store::ChainStore;

#[test]
fn rocks_garbage_written_with_raw_rocksdb_is_reported_corrupt() {
    let mut harness = RocksHarness::new();
    let batches = commit_blocks(harness.store(), 2, 2);
    let tx_hash = batches[1].block.transactions[1].body.hash();
    harness.close();
    {
        // Another program (or a bad disk) writes into the column families behind the store's back.
        let names: Vec<&str> = Column::ALL.iter().map(|column| column.name()).collect();
        let db = DB::open_cf(&Options::default(), harness.path(), names).expect("raw open");
        let receipts = db.cf_handle(Column::Receipts.name()).expect("receipts column family");
        let receipt_key = crate::store::TxLocation { height: 1, index: 1 }.receipt_key();
        db.put_cf(receipts, receipt_key, b"\xde\xad\xbe\xef").expect("raw put");
        let state = db.cf_handle(Column::State.name()).expect("state column family");
        db.put_cf(state, state_key(1, 2), b"").expect("raw put");
    }
    harness.reopen().expect("the chain tip is intact, so the store opens");
    match harness.store().receipt(&tx_hash) {
        Err(StorageError::Corrupt { what: "receipt", key, reason }) => {
            assert!(key.contains(&tx_hash.to_hex()), "{key}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected a corrupt receipt, got {other:?}"),
    }
    assert!(matches!(
        harness.store().get_state(&state_key(1, 2)),
        Err(StorageError::Corrupt { what: "state value", .. })
    ));
    // Everything else still reads.
    assert_eq!(harness.store().block_by_height(1).expect("block").as_ref(), Some(&batches[1].block));
}

#[test]
fn rocks_column_families_are_on_disk() {
    let harness = RocksHarness::new();
    let mut names = DB::list_cf(&Options::default(), harness.path()).expect("list column families");
    names.sort();
    let mut expected: Vec<String> = Column::ALL.iter().map(|column| column.name().to_string()).collect();
    expected.push("default".into());
    expected.sort();
    assert_eq!(names, expected);
}

#[test]
fn rocks_second_open_of_same_directory_refused() {
    let harness = RocksHarness::new();
    match RocksStore::open(harness.path()) {
        Err(StorageError::Open { path, reason }) => {
            assert_eq!(path, harness.path());
            assert!(reason.to_lowercase().contains("lock"), "{reason}");
        }
        other => panic!("expected the lock to refuse a second open, got {other:?}"),
    }
}

#[test]
fn memory_fault_injection_and_restart() {
    let store = MemoryStore::new();
    let batches = commit_blocks(&store, 2, 1);
    let restarted = store.restart().expect("restart");
    assert_eq!(restarted.latest().expect("tip").map(|tip| tip.hash), Some(batches[1].block.hash()));
    restarted.inject_raw(Column::Blocks, &1u64.to_be_bytes(), Some(b"bit rot".to_vec()));
    assert!(matches!(store.block_by_height(1), Err(StorageError::Corrupt { what: "block", .. })), "shared data");
    assert!(matches!(store.restart(), Err(StorageError::Corrupt { .. })), "open-time check of the tip block");
    restarted.inject_raw(Column::Blocks, &1u64.to_be_bytes(), Some(batches[1].block.encode()));
    store.restart().expect("repaired");
}
