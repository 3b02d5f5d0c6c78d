//! The [`ChainStore`] trait and [`Store`], its one implementation over any [`Backend`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use covenant_types::limits::{BLOCK_BYTES_MAX, BLOCK_TXS_MAX, VALIDATORS_MAX};
use covenant_types::{Block, ChainId, CommitSeal, Hash, Receipt, SignedTx, encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::audit::{self, AuditLog, AuditPosition, AuditRecord};
use crate::error::StorageError;
use crate::kv::{Backend, Column, KvBatch, decode_stored, show_key, successor, u64_key};
use crate::limits::{
    AUDIT_RECORDS_PER_COMMIT_MAX, META_VALUE_BYTES_MAX, RECEIPT_BYTES_MAX, SAFETY_STATE_BYTES_MAX, SCAN_ENTRIES_MAX,
    SCHEMA_VERSION, SEALS_BYTES_MAX, STATE_KEY_BYTES_MAX, STATE_VALUE_BYTES_MAX, STATE_WRITES_PER_BLOCK_MAX,
    TX_LOCATION_BYTES_MAX,
};
use crate::migrate;
use crate::state_cache::{Lookup, StateCache, StateCacheStats};

/// Keys of the [`Column::Meta`] column family.
pub(crate) mod meta_key {
    /// `u32`: [`crate::SCHEMA_VERSION`] of the layout.
    pub const SCHEMA_VERSION: &[u8] = b"schema_version";
    /// `ChainId` of the genesis block.
    pub const CHAIN_ID: &[u8] = b"chain_id";
    /// `Hash` of the genesis block.
    pub const GENESIS_HASH: &[u8] = b"genesis_hash";
    /// `ChainTip`: the last committed block.
    pub const TIP: &[u8] = b"tip";
    /// `AuditPosition`: the last appended audit entry.
    pub const AUDIT_HEAD: &[u8] = b"audit_head";
    /// `AuditPosition`: the last audit entry removed by pruning.
    pub const AUDIT_CHECKPOINT: &[u8] = b"audit_checkpoint";
}

/// Key of the safety state in [`Column::Consensus`].
const SAFETY_STATE_KEY: &[u8] = b"safety_state";

/// The last committed block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Its height.
    pub height: u64,
    /// Its hash.
    pub hash: Hash,
}

/// Where a committed transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLocation {
    /// Height of the block.
    pub height: u64,
    /// Position in the block's transactions.
    pub index: u32,
}

impl TxLocation {
    /// Key of the transaction's receipt in [`Column::Receipts`]: big-endian height, then index, so
    /// that a block's receipts are appended after the previous block's instead of inserted at
    /// random places among them, as keys by transaction hash were (schema version 1).
    pub(crate) fn receipt_key(&self) -> [u8; RECEIPT_KEY_BYTES] {
        let mut key = [0; RECEIPT_KEY_BYTES];
        key[..8].copy_from_slice(&self.height.to_be_bytes());
        key[8..].copy_from_slice(&self.index.to_be_bytes());
        key
    }
}

/// Length of a receipt's key: a height and an index.
pub(crate) const RECEIPT_KEY_BYTES: usize = 8 + 4;

/// What the store says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreMetadata {
    /// On-disk layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Chain of the genesis block, once committed.
    pub chain_id: Option<ChainId>,
    /// Hash of the genesis block, once committed.
    pub genesis_hash: Option<Hash>,
}

/// One page of a state prefix scan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatePage {
    /// Keys and values in key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// If more entries may follow: pass this as `start_after` to read the next page.
    pub resume_after: Option<Vec<u8>>,
}

/// A block's state changes by key: `Some` writes a value, `None` deletes the key.
pub type StateWrites = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Everything one committed block changes, written as one atomic, synced batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitBatch {
    /// The block; its height must be the next one and its parent the last committed block.
    pub block: Block,
    /// The quorum of commit seals that made it final.
    pub seals: Vec<CommitSeal>,
    /// One receipt per transaction, in the block's order.
    pub receipts: Vec<Receipt>,
    /// State changes from executing the block: `Some` writes a value, `None` deletes the key.
    pub state_writes: StateWrites,
    /// Audit records to append in the same batch (sequence and hashes are assigned on commit).
    pub audit: Vec<AuditRecord>,
}

impl CommitBatch {
    /// A batch with the block and its seals and nothing else (fine for a block without transactions).
    pub fn new(block: Block, seals: Vec<CommitSeal>) -> CommitBatch {
        CommitBatch { block, seals, receipts: Vec::new(), state_writes: BTreeMap::new(), audit: Vec::new() }
    }
}

/// The chain as a validator keeps it: blocks with their seals, transaction index, receipts, state,
/// consensus safety state, metadata, and (through [`AuditLog`]) the audit log.
///
/// # To ensure correctness
/// - [`ChainStore::commit_block`] is the only way blocks, receipts, indexes and state change, and
///   it applies everything of one block atomically and durably: after a crash at any instant the
///   store holds exactly the blocks whose `commit_block` returned `Ok` (and possibly the one in
///   flight, entirely), never part of a block.
/// - Heights are contiguous from genesis (0), each block's parent is the previous block, and all
///   blocks are of one chain; a block that breaks this is refused with an error and nothing is
///   written.
/// - [`ChainStore::save_safety_state`] returns only once the state is durable. The consensus
///   driver must call it, and wait for `Ok`, before any vote leaves the node, and call
///   [`ChainStore::load_safety_state`] at start before voting again.
/// - Anything read back that is not what was written (undecodable, under the wrong key, or
///   disagreeing with an index) is a [`StorageError::Corrupt`] naming it, never a panic and never
///   a silently wrong answer. A node should halt on it rather than continue.
/// - Reads are bounded: scans take a limit of at most [`SCAN_ENTRIES_MAX`].
pub trait ChainStore: AuditLog + Send + Sync {
    /// Schema version, chain id and genesis hash.
    fn metadata(&self) -> Result<StoreMetadata, StorageError>;

    /// The last committed block, or `None` before genesis.
    fn latest(&self) -> Result<Option<ChainTip>, StorageError>;

    /// The block at `height`, or `None` above the tip.
    fn block_by_height(&self, height: u64) -> Result<Option<Block>, StorageError>;

    /// The committed block with this hash, if any.
    fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, StorageError>;

    /// The commit seals stored with the block at `height`, or `None` above the tip.
    fn commit_seals(&self, height: u64) -> Result<Option<Vec<CommitSeal>>, StorageError>;

    /// Where a committed transaction is.
    fn tx_location(&self, tx_hash: &Hash) -> Result<Option<TxLocation>, StorageError>;

    /// A committed transaction and where it is.
    fn transaction(&self, tx_hash: &Hash) -> Result<Option<(SignedTx, TxLocation)>, StorageError>;

    /// The receipt of a committed transaction.
    fn receipt(&self, tx_hash: &Hash) -> Result<Option<Receipt>, StorageError>;

    /// The state value under `key`.
    fn get_state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Up to `limit` (at most [`SCAN_ENTRIES_MAX`]) state entries whose key starts with `prefix`,
    /// in key order, starting after `start_after` if given.
    fn scan_state(&self, prefix: &[u8], start_after: Option<&[u8]>, limit: usize) -> Result<StatePage, StorageError>;

    /// Durably replaces the consensus safety state (an opaque blob the consensus engine defines).
    fn save_safety_state(&self, state: &[u8]) -> Result<(), StorageError>;

    /// The last saved safety state, or `None` if none was ever saved.
    fn load_safety_state(&self) -> Result<Option<Vec<u8>>, StorageError>;

    /// Checks and commits a block with everything it changes, atomically and durably; returns the
    /// new tip. On error nothing was written.
    fn commit_block(&self, batch: CommitBatch) -> Result<ChainTip, StorageError>;
}

/// The chain store over a [`Backend`]: [`RocksStore`](crate::RocksStore) on disk,
/// [`MemoryStore`](crate::MemoryStore) in memory. All checks live here, once.
///
/// Writers (commits, audit appends, pruning) are serialised by a lock; readers never wait for it.
pub struct Store<B> {
    backend: B,
    /// Held by every writer: a commit reads the tip and the audit head and writes after them.
    write_lock: Mutex<()>,
    /// Held by audit verification and pruning, so a verification never sees a prune half done.
    audit_maintenance: Mutex<()>,
    /// Committed state values recently read (only commits write state, and they update it).
    state_cache: StateCache,
}

impl<B: std::fmt::Debug> std::fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// Locks a mutex that guards no data: poisoning carries no meaning for it.
pub(crate) fn lock(mutex: &Mutex<()>) -> MutexGuard<'_, ()> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<B: Backend> Store<B> {
    /// Opens a store over `backend`: writes the schema version into an empty backend, refuses
    /// another schema version, and checks that the chain tip's block is present and intact.
    pub fn from_backend(backend: B) -> Result<Store<B>, StorageError> {
        let store = Store {
            backend,
            write_lock: Mutex::new(()),
            audit_maintenance: Mutex::new(()),
            state_cache: StateCache::default(),
        };
        match store.meta::<u32>(meta_key::SCHEMA_VERSION, "schema version")? {
            Some(SCHEMA_VERSION) => {}
            Some(migrate::RECEIPTS_BY_HASH_VERSION) => migrate::receipts_by_position(&store.backend)?,
            Some(found) => return Err(StorageError::UnsupportedSchema { found, supported: SCHEMA_VERSION }),
            None => {
                for column in Column::ALL {
                    if let Some((key, _)) = store.backend.scan(column, b"", b"", 1)?.into_iter().next() {
                        return Err(StorageError::corrupt(
                            "schema version",
                            "meta/schema_version",
                            format!("missing, but column {} holds key {}", column.name(), show_key(&key)),
                        ));
                    }
                }
                let mut batch = KvBatch::new();
                batch.put(Column::Meta, meta_key::SCHEMA_VERSION, encode(&SCHEMA_VERSION));
                store.backend.write(batch)?;
            }
        }
        if let Some(tip) = store.latest()? {
            // Reading the tip block checks it decodes, sits at its height and is in the hash index.
            let block = store.block_by_height(tip.height)?.ok_or_else(|| {
                StorageError::corrupt("chain tip", format!("height {}", tip.height), "the tip block is missing")
            })?;
            if block.hash() != tip.hash {
                return Err(StorageError::corrupt(
                    "chain tip",
                    format!("height {}", tip.height),
                    format!("the tip names block {} but the block stored there is {}", tip.hash, block.hash()),
                ));
            }
            // Blocks above the tip would be the remains of a commit that was not atomic.
            if let Some(above) = tip.height.checked_add(1)
                && store.backend.get(Column::Blocks, &u64_key(above))?.is_some()
            {
                return Err(StorageError::corrupt(
                    "block",
                    format!("height {above}"),
                    format!("a block is stored above the chain tip {}", tip.height),
                ));
            }
        }
        Ok(store)
    }

    /// The backend.
    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    /// How the committed-state cache holds up (for metrics).
    pub fn state_cache_stats(&self) -> StateCacheStats {
        self.state_cache.stats()
    }

    pub(crate) fn write_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.write_lock)
    }

    pub(crate) fn audit_maintenance_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.audit_maintenance)
    }

    /// A metadata value.
    pub(crate) fn meta<T: DeserializeOwned>(
        &self,
        key: &'static [u8],
        what: &'static str,
    ) -> Result<Option<T>, StorageError> {
        match self.backend.get(Column::Meta, key)? {
            None => Ok(None),
            Some(bytes) => {
                decode_stored(what, || format!("meta/{}", String::from_utf8_lossy(key)), &bytes, META_VALUE_BYTES_MAX)
                    .map(Some)
            }
        }
    }

    /// The block stored at `height`, checked to decode and to sit at its height.
    fn stored_block(&self, height: u64) -> Result<Option<Block>, StorageError> {
        let key = || format!("height {height}");
        let Some(bytes) = self.backend.get(Column::Blocks, &u64_key(height))? else {
            if let Some(tip) = self.latest()?
                && height <= tip.height
            {
                return Err(StorageError::corrupt(
                    "block",
                    key(),
                    format!("missing below the chain tip {}", tip.height),
                ));
            }
            return Ok(None);
        };
        let block = Block::decode(&bytes).map_err(|error| StorageError::corrupt("block", key(), error.to_string()))?;
        if block.header.height != height {
            return Err(StorageError::corrupt(
                "block",
                key(),
                format!("the block stored here has height {}", block.header.height),
            ));
        }
        Ok(Some(block))
    }

    /// The height the hash index gives for `hash`.
    fn indexed_height(&self, hash: &Hash) -> Result<Option<u64>, StorageError> {
        match self.backend.get(Column::BlockHashes, hash.as_bytes())? {
            None => Ok(None),
            Some(bytes) => decode_stored("block hash index", || format!("block {hash}"), &bytes, 8).map(Some),
        }
    }

    /// Checks a batch and turns it into backend operations; `Err` if it must be refused.
    /// Also hands back the state writes, for the state cache once the batch is written.
    fn prepare_commit(&self, batch: CommitBatch) -> Result<(KvBatch, ChainTip, StateWrites), StorageError> {
        let CommitBatch { block, seals, receipts, state_writes, audit } = batch;
        let header = &block.header;
        let height = header.height;

        // Sizes first: they are cheap, and anything written must be readable back.
        if block.transactions.len() > BLOCK_TXS_MAX {
            return Err(StorageError::TooMany {
                what: "transactions",
                count: block.transactions.len(),
                max: BLOCK_TXS_MAX,
            });
        }
        if seals.len() > VALIDATORS_MAX {
            return Err(StorageError::TooMany { what: "commit seals", count: seals.len(), max: VALIDATORS_MAX });
        }
        if state_writes.len() > STATE_WRITES_PER_BLOCK_MAX {
            return Err(StorageError::TooMany {
                what: "state writes",
                count: state_writes.len(),
                max: STATE_WRITES_PER_BLOCK_MAX,
            });
        }
        if audit.len() > AUDIT_RECORDS_PER_COMMIT_MAX {
            return Err(StorageError::TooMany {
                what: "audit records",
                count: audit.len(),
                max: AUDIT_RECORDS_PER_COMMIT_MAX,
            });
        }
        let block_bytes = block.encode();
        check_size("block", block_bytes.len(), BLOCK_BYTES_MAX)?;
        let seal_bytes = encode(&seals);
        check_size("commit seals", seal_bytes.len(), SEALS_BYTES_MAX)?;
        for (key, value) in &state_writes {
            check_size("state key", key.len(), STATE_KEY_BYTES_MAX)?;
            if let Some(value) = value {
                check_size("state value", value.len(), STATE_VALUE_BYTES_MAX)?;
            }
        }

        // The block must extend the chain.
        let tip = self.latest()?;
        let (expected_height, expected_parent) = match tip {
            None => (0, Hash::ZERO),
            Some(tip) => (
                tip.height.checked_add(1).ok_or(StorageError::HeightNotNext { expected: u64::MAX, found: height })?,
                tip.hash,
            ),
        };
        if height != expected_height {
            return Err(StorageError::HeightNotNext { expected: expected_height, found: height });
        }
        if header.parent_hash != expected_parent {
            return Err(StorageError::ParentMismatch { height, expected: expected_parent, found: header.parent_hash });
        }
        let chain_id = self.meta::<ChainId>(meta_key::CHAIN_ID, "chain id")?;
        match (&chain_id, tip) {
            (Some(expected), _) if *expected != header.chain_id => {
                return Err(StorageError::WrongChain { expected: expected.clone(), found: header.chain_id.clone() });
            }
            (None, Some(_)) => {
                return Err(StorageError::corrupt(
                    "chain id",
                    "meta/chain_id",
                    "missing although blocks are committed",
                ));
            }
            _ => {}
        }

        // One receipt per transaction, each for the transaction at its position, none seen before.
        let tx_hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.body.hash()).collect();
        if receipts.len() != tx_hashes.len() {
            return Err(StorageError::ReceiptCountMismatch {
                height,
                transactions: tx_hashes.len(),
                receipts: receipts.len(),
            });
        }
        let keys: Vec<&[u8]> = tx_hashes.iter().map(|hash| hash.as_bytes().as_slice()).collect();
        let committed = self.backend.get_many(Column::TxIndex, &keys)?;
        let mut seen = BTreeSet::new();
        for (index, ((tx_hash, receipt), committed)) in tx_hashes.iter().zip(&receipts).zip(committed).enumerate() {
            if receipt.tx_hash != *tx_hash {
                return Err(StorageError::ReceiptMismatch {
                    height,
                    index,
                    tx_hash: *tx_hash,
                    receipt_tx_hash: receipt.tx_hash,
                });
            }
            if !seen.insert(*tx_hash) {
                return Err(StorageError::DuplicateTransaction { height, tx_hash: *tx_hash, existing_height: height });
            }
            if let Some(bytes) = committed {
                let existing: TxLocation =
                    decode_stored("tx index", || format!("tx {tx_hash}"), &bytes, TX_LOCATION_BYTES_MAX)?;
                return Err(StorageError::DuplicateTransaction {
                    height,
                    tx_hash: *tx_hash,
                    existing_height: existing.height,
                });
            }
        }

        let hash = block.hash();
        let new_tip = ChainTip { height, hash };
        let mut kv = KvBatch::new();
        kv.put(Column::Blocks, u64_key(height), block_bytes);
        kv.put(Column::BlockHashes, hash.as_bytes().to_vec(), encode(&height));
        kv.put(Column::Seals, u64_key(height), seal_bytes);
        for (index, (tx_hash, receipt)) in tx_hashes.iter().zip(&receipts).enumerate() {
            let receipt_bytes = encode(receipt);
            check_size("receipt", receipt_bytes.len(), RECEIPT_BYTES_MAX)?;
            // The index fits: the transaction count is at most BLOCK_TXS_MAX.
            let location = TxLocation { height, index: u32::try_from(index).unwrap_or(u32::MAX) };
            kv.put(Column::TxIndex, tx_hash.as_bytes().to_vec(), encode(&location));
            kv.put(Column::Receipts, location.receipt_key().to_vec(), receipt_bytes);
        }
        for (key, value) in &state_writes {
            match value {
                Some(value) => kv.put(Column::State, key.clone(), encode(value)),
                None => kv.delete(Column::State, key.clone()),
            }
        }
        if !audit.is_empty() {
            let head = self.meta::<AuditPosition>(meta_key::AUDIT_HEAD, "audit head")?;
            audit::append_to_batch(&mut kv, head, audit)?;
        }
        if tip.is_none() {
            kv.put(Column::Meta, meta_key::CHAIN_ID, encode(&header.chain_id));
            kv.put(Column::Meta, meta_key::GENESIS_HASH, encode(&hash));
        }
        kv.put(Column::Meta, meta_key::TIP, encode(&new_tip));
        Ok((kv, new_tip, state_writes))
    }
}

// Transaction positions are stored as u32.
const _: () = assert!(BLOCK_TXS_MAX <= u32::MAX as usize);

fn check_size(what: &'static str, bytes: usize, max_bytes: usize) -> Result<(), StorageError> {
    if bytes > max_bytes { Err(StorageError::TooLarge { what, bytes, max_bytes }) } else { Ok(()) }
}

impl<B: Backend> ChainStore for Store<B> {
    fn metadata(&self) -> Result<StoreMetadata, StorageError> {
        let schema_version = self
            .meta::<u32>(meta_key::SCHEMA_VERSION, "schema version")?
            .ok_or_else(|| StorageError::corrupt("schema version", "meta/schema_version", "missing"))?;
        Ok(StoreMetadata {
            schema_version,
            chain_id: self.meta(meta_key::CHAIN_ID, "chain id")?,
            genesis_hash: self.meta(meta_key::GENESIS_HASH, "genesis hash")?,
        })
    }

    fn latest(&self) -> Result<Option<ChainTip>, StorageError> {
        self.meta(meta_key::TIP, "chain tip")
    }

    fn block_by_height(&self, height: u64) -> Result<Option<Block>, StorageError> {
        let Some(block) = self.stored_block(height)? else { return Ok(None) };
        let hash = block.hash();
        match self.indexed_height(&hash)? {
            Some(indexed) if indexed == height => Ok(Some(block)),
            Some(indexed) => Err(StorageError::corrupt(
                "block",
                format!("height {height}"),
                format!("the block hashes to {hash}, which the hash index places at height {indexed}"),
            )),
            None => Err(StorageError::corrupt(
                "block",
                format!("height {height}"),
                format!("the block hashes to {hash}, which is not in the hash index"),
            )),
        }
    }

    fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, StorageError> {
        let Some(height) = self.indexed_height(hash)? else { return Ok(None) };
        let block = self.stored_block(height)?.ok_or_else(|| {
            StorageError::corrupt(
                "block hash index",
                format!("block {hash}"),
                format!("points to height {height}, where no block is stored"),
            )
        })?;
        if block.hash() != *hash {
            return Err(StorageError::corrupt(
                "block",
                format!("height {height}"),
                format!("the hash index says block {hash} is here, but the block stored here is {}", block.hash()),
            ));
        }
        Ok(Some(block))
    }

    fn commit_seals(&self, height: u64) -> Result<Option<Vec<CommitSeal>>, StorageError> {
        let key = || format!("height {height}");
        match self.backend.get(Column::Seals, &u64_key(height))? {
            Some(bytes) => decode_stored("commit seals", key, &bytes, SEALS_BYTES_MAX).map(Some),
            None => match self.latest()? {
                Some(tip) if height <= tip.height => Err(StorageError::corrupt(
                    "commit seals",
                    key(),
                    format!("missing below the chain tip {}", tip.height),
                )),
                _ => Ok(None),
            },
        }
    }

    fn tx_location(&self, tx_hash: &Hash) -> Result<Option<TxLocation>, StorageError> {
        match self.backend.get(Column::TxIndex, tx_hash.as_bytes())? {
            None => Ok(None),
            Some(bytes) => {
                decode_stored("tx index", || format!("tx {tx_hash}"), &bytes, TX_LOCATION_BYTES_MAX).map(Some)
            }
        }
    }

    fn transaction(&self, tx_hash: &Hash) -> Result<Option<(SignedTx, TxLocation)>, StorageError> {
        let Some(location) = self.tx_location(tx_hash)? else { return Ok(None) };
        let corrupt = |reason: String| StorageError::corrupt("tx index", format!("tx {tx_hash}"), reason);
        let block = self
            .block_by_height(location.height)?
            .ok_or_else(|| corrupt(format!("points to height {}, above the chain tip", location.height)))?;
        let tx =
            usize::try_from(location.index).ok().and_then(|index| block.transactions.get(index)).ok_or_else(|| {
                corrupt(format!(
                    "points to transaction {} of block {}, which has {}",
                    location.index,
                    location.height,
                    block.transactions.len()
                ))
            })?;
        if tx.body.hash() != *tx_hash {
            return Err(corrupt(format!(
                "points to transaction {} of block {}, which is tx {}",
                location.index,
                location.height,
                tx.body.hash()
            )));
        }
        Ok(Some((tx.clone(), location)))
    }

    fn receipt(&self, tx_hash: &Hash) -> Result<Option<Receipt>, StorageError> {
        let Some(location) = self.tx_location(tx_hash)? else { return Ok(None) };
        let key = || format!("tx {tx_hash} at height {} index {}", location.height, location.index);
        let Some(bytes) = self.backend.get(Column::Receipts, &location.receipt_key())? else {
            return Err(StorageError::corrupt("receipt", key(), "missing for a committed transaction"));
        };
        let receipt: Receipt = decode_stored("receipt", key, &bytes, RECEIPT_BYTES_MAX)?;
        if receipt.tx_hash != *tx_hash {
            return Err(StorageError::corrupt(
                "receipt",
                key(),
                format!("the receipt stored here is for tx {}", receipt.tx_hash),
            ));
        }
        Ok(Some(receipt))
    }

    fn get_state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let generation = match self.state_cache.get(key) {
            Lookup::Hit(value) => return Ok(value),
            Lookup::Miss(generation) => generation,
        };
        let value = match self.backend.get(Column::State, key)? {
            None => None,
            Some(bytes) => Some(decode_stored("state value", || show_key(key), &bytes, STATE_VALUE_BYTES_MAX + 8)?),
        };
        self.state_cache.fill(generation, key, &value);
        Ok(value)
    }

    fn scan_state(&self, prefix: &[u8], start_after: Option<&[u8]>, limit: usize) -> Result<StatePage, StorageError> {
        if limit > SCAN_ENTRIES_MAX {
            return Err(StorageError::TooMany { what: "scan entries requested", count: limit, max: SCAN_ENTRIES_MAX });
        }
        if limit == 0 {
            return Ok(StatePage::default());
        }
        // Start at the prefix, or just after `start_after` if that is later.
        let start = match start_after {
            Some(after) if after >= prefix => successor(after),
            _ => prefix.to_vec(),
        };
        let mut raw = self.backend.scan(Column::State, &start, prefix, limit + 1)?;
        let more = raw.len() > limit;
        raw.truncate(limit);
        let mut entries = Vec::with_capacity(raw.len());
        for (key, bytes) in raw {
            let value = decode_stored("state value", || show_key(&key), &bytes, STATE_VALUE_BYTES_MAX + 8)?;
            entries.push((key, value));
        }
        let resume_after = if more { entries.last().map(|(key, _)| key.clone()) } else { None };
        Ok(StatePage { entries, resume_after })
    }

    fn save_safety_state(&self, state: &[u8]) -> Result<(), StorageError> {
        check_size("safety state", state.len(), SAFETY_STATE_BYTES_MAX)?;
        let mut batch = KvBatch::new();
        batch.put(Column::Consensus, SAFETY_STATE_KEY, encode(state));
        self.backend.write(batch)
    }

    fn load_safety_state(&self) -> Result<Option<Vec<u8>>, StorageError> {
        match self.backend.get(Column::Consensus, SAFETY_STATE_KEY)? {
            None => Ok(None),
            Some(bytes) => {
                decode_stored("safety state", || "consensus/safety_state".into(), &bytes, SAFETY_STATE_BYTES_MAX + 8)
                    .map(Some)
            }
        }
    }

    fn commit_block(&self, batch: CommitBatch) -> Result<ChainTip, StorageError> {
        let _writer = self.write_lock();
        let (kv, tip, state_writes) = self.prepare_commit(batch)?;
        self.backend.write(kv)?;
        self.state_cache.apply(state_writes.iter().map(|(key, value)| (key.as_slice(), value.as_deref())));
        Ok(tip)
    }
}
