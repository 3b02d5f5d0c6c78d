//! # covenant-storage
//!
//! Where a validator keeps the chain: blocks and their commit seals, the transaction index,
//! receipts, the state, the consensus safety state, metadata, and the hash-chained audit log.
//!
//! ## The design in five points
//! 1. **One commit, one batch.** A decided block and everything it changes (block, seals,
//!    receipts, tx index, state writes, audit entries, new tip) are written by
//!    [`ChainStore::commit_block`] as a single atomic RocksDB write batch with `fsync`. After a
//!    crash at any instant the store holds whole blocks only: the last one is either there with
//!    every state write and receipt, or not at all. A crash test kills a committing process with
//!    `SIGKILL` at random moments to hold us to that.
//! 2. **The chain only grows by one.** A block whose height is not the tip's plus one, whose
//!    parent is not the tip, or whose chain is not the genesis' chain is refused with an error
//!    carrying both values, and nothing is written.
//! 3. **What comes back from disk is checked.** Values are the canonical (BCS) encoding of
//!    `covenant-types` values, decoded with a size limit; a block must hash to its index entry and
//!    sit at its height, a receipt must name its transaction, an audit entry must hash to its
//!    hash. Anything else is [`StorageError::Corrupt`] naming what and where: never a panic, never
//!    a silently wrong answer.
//! 4. **One logic, two backends.** All of the above is written once, in [`Store`], over the small
//!    [`Backend`] trait (get, bounded scan, atomic durable batch). [`RocksStore`] runs it on
//!    RocksDB (one column family per [`Column`]); [`MemoryStore`] runs it on ordered maps for tests
//!    and the simulator. They cannot disagree, and one shared test suite runs against both.
//! 5. **Evidence that shows tampering.** The [`audit`] log chains every entry to the one before by
//!    SHA-256; [`AuditLog::verify`] names the first bad entry and how it was tampered with, and
//!    [`AuditLog::verify_against_anchor`] checks it against a head anchored on chain.
//!
//! ## A short tour
//! ```
//! use std::collections::BTreeMap;
//! use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
//! use covenant_storage::{AuditLog, ChainStore, CommitBatch, MemoryStore, StorageError};
//! use covenant_types::{Block, BlockHeader, ChainId, Hash, NodeId, ENCODING_VERSION, merkle_root};
//!
//! // A store: `RocksStore::open(dir)` on a node, `MemoryStore::new()` in tests and the simulator.
//! let store = MemoryStore::new();
//! assert_eq!(store.latest()?, None);
//!
//! // Consensus decided the genesis block: commit it with its state writes and an audit record.
//! let node = NodeId::new("validator-a").unwrap();
//! let header = BlockHeader {
//!     version: ENCODING_VERSION,
//!     chain_id: ChainId::new("demo").unwrap(),
//!     height: 0,
//!     round: 0,
//!     parent_hash: Hash::ZERO,
//!     timestamp_ms: 1_700_000_000_000,
//!     proposer: node.clone(),
//!     transactions_root: merkle_root(&[]),
//!     state_root: Hash::ZERO,
//!     validator_set_hash: Hash::ZERO,
//!     parameters_hash: Hash::ZERO,
//!     parent_commit_seals: Vec::new(),
//! };
//! let genesis = Block { header, transactions: Vec::new().into() };
//! let mut batch = CommitBatch::new(genesis.clone(), Vec::new());
//! batch.state_writes.insert(b"param/block_bytes_max".to_vec(), Some(b"1048576".to_vec()));
//! batch.audit.push(AuditRecord::new(1_700_000_000_000, node.clone(), EventType::BlockCommitted, Actor::System, Outcome::Success));
//! let tip = store.commit_block(batch)?;
//! assert_eq!((tip.height, tip.hash), (0, genesis.hash()));
//!
//! // Read it back.
//! assert_eq!(store.block_by_hash(&genesis.hash())?, Some(genesis.clone()));
//! assert_eq!(store.get_state(b"param/block_bytes_max")?, Some(b"1048576".to_vec()));
//! let page = store.scan_state(b"param/", None, 100)?;
//! assert_eq!(page.entries.len(), 1);
//!
//! // The same block again is refused: heights only grow by one.
//! let again = store.commit_block(CommitBatch::new(genesis, Vec::new()));
//! assert!(matches!(again, Err(StorageError::HeightNotNext { expected: 1, found: 0 })));
//!
//! // Consensus persists what it signed before any vote leaves the node.
//! store.save_safety_state(b"voted height 1 round 0")?;
//! assert_eq!(store.load_safety_state()?, Some(b"voted height 1 round 0".to_vec()));
//!
//! // The audit log verifies, and can be checked against an anchor taken earlier.
//! let entry = store.append(AuditRecord::new(1_700_000_000_500, node, EventType::NodeStopped, Actor::System, Outcome::Success))?;
//! let summary = store.verify_against_anchor(0, store.range(0, 1)?[0].hash)?;
//! assert_eq!(summary.head, Some(entry.position()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod audit;
pub mod backup;
pub mod crash_points;
pub mod error;
pub mod kv;
pub mod limits;
pub mod memory;
mod migrate;
pub mod rocks;
pub mod state_cache;
pub mod store;

pub use audit::{AuditEntry, AuditError, AuditLog, AuditPosition, AuditRecord, AuditSummary, PruneSummary, TamperKind};
pub use error::StorageError;
pub use kv::{Backend, Column, KvBatch, KvOp, KvPairs};
pub use limits::SCHEMA_VERSION;
pub use memory::{MemoryBackend, MemoryStore};
pub use rocks::{RocksBackend, RocksMemory, RocksStore};
pub use store::{ChainStore, ChainTip, CommitBatch, StatePage, StateWrites, Store, StoreMetadata, TxLocation};

#[cfg(test)]
mod tests;
