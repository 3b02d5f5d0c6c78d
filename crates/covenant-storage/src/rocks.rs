//! The RocksDB backend: one column family per [`Column`], every batch written with fsync.

use std::path::{Path, PathBuf};

use rocksdb::properties::{self, PropName};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, DBRecoveryMode, Direction,
    IteratorMode, Options, WriteBatch, WriteBufferManager, WriteOptions,
};

use crate::audit::AuditLog;
use crate::backup::CheckpointInfo;
use crate::error::StorageError;
use crate::kv::{Backend, Column, KvBatch, KvOp, KvPairs};
use crate::store::{ChainStore, Store};

/// Bits per key of the bloom filters: about 1% false positives, so point lookups of absent keys
/// (a new transaction hash in the duplicate check, an unknown block hash) rarely touch disk.
const BLOOM_BITS_PER_KEY: f64 = 10.0;

/// Old RocksDB info-log files (`LOG.old.*`) kept; bounds the disk they use.
const INFO_LOG_FILES_MAX: usize = 16;

/// Memory all column families' memtables may use together before the largest is flushed. RocksDB's
/// default bound is per column family (two 64 MiB memtables each), which would let a node's memory
/// grow past a gigabyte under sustained load. Smaller memtables cost latency: with 64 MiB in all
/// and 16 MiB each, a 5-minute bench at 4,000 tx/s saw twice the p50 (more flushes and compactions).
const MEMTABLES_BYTES_MAX: usize = 256 * 1024 * 1024;
/// Size at which one column family's memtable is flushed (RocksDB's default).
const MEMTABLE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Share of a memtable's size given to a bloom filter over its whole keys, for the columns whose
/// point lookups are mostly of absent keys. The duplicate check reads every new transaction hash from
/// the transaction index before commit; without a filter each lookup searched the memtable's skip
/// list (2.4 % of a validator's CPU at saturation). 2 % of 64 MiB is about ten bits per key there.
const MEMTABLE_BLOOM_RATIO: f64 = 0.02;
/// Least part of the cache left to data, index and filter blocks when the memtables are full.
const BLOCK_CACHE_BYTES_MIN: usize = 64 * 1024 * 1024;
/// RocksDB's one memory budget, shared by every column family: the memtables are charged to it as
/// they grow, and so are the table files' index and filter blocks, which otherwise sit outside any
/// bound and grow with the chain. Data blocks get what is left, at least [`BLOCK_CACHE_BYTES_MIN`].
const CACHE_BYTES: usize = MEMTABLES_BYTES_MAX + BLOCK_CACHE_BYTES_MIN;

/// A RocksDB database with Covenant's column families.
pub struct RocksBackend {
    db: DB,
    /// The budget of [`CACHE_BYTES`] (kept to report its use).
    cache: Cache,
    path: PathBuf,
}

/// RocksDB's memory as RocksDB estimates it, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RocksMemory {
    /// The shared cache's bound ([`CACHE_BYTES`]).
    pub cache_capacity_bytes: u64,
    /// What the cache holds: memtable reservations, data blocks, and index and filter blocks.
    pub cache_used_bytes: u64,
    /// The part of the cache pinned in use (table files' level-0 index and filter blocks among it).
    pub cache_pinned_bytes: u64,
    /// Memtables, those being flushed included (also charged to the cache).
    pub memtable_bytes: u64,
    /// Table readers' memory outside the cache.
    pub table_reader_bytes: u64,
}

impl std::fmt::Debug for RocksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksBackend").field("path", &self.path).finish_non_exhaustive()
    }
}

impl RocksBackend {
    /// Opens (creating if missing) the database in directory `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<RocksBackend, StorageError> {
        let path = path.as_ref().to_path_buf();
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(DBCompressionType::Lz4);
        // Every acknowledged batch was fsync'ed into the WAL. After a crash the WAL may end in a
        // torn record: it belongs to a batch that was never acknowledged, and point-in-time
        // recovery drops it (and anything after it) instead of refusing to open or skipping
        // records in the middle.
        options.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
        options.set_paranoid_checks(true);
        options.set_keep_log_file_num(INFO_LOG_FILES_MAX);
        let cache = Cache::new_lru_cache(CACHE_BYTES);
        // Without a stall: the memtables' bound makes RocksDB flush the largest one, as before.
        let write_buffers =
            WriteBufferManager::new_write_buffer_manager_with_cache(MEMTABLES_BYTES_MAX, false, cache.clone());
        options.set_write_buffer_manager(&write_buffers);
        let descriptors = Column::ALL.map(|column| {
            let mut column_options = Options::default();
            column_options.set_compression_type(DBCompressionType::Lz4);
            column_options.set_write_buffer_size(MEMTABLE_BYTES_MAX);
            if column.lookups_mostly_miss() {
                column_options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
                column_options.set_memtable_whole_key_filtering(true);
            }
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(BLOOM_BITS_PER_KEY, false);
            // Index and filter blocks in the cache, ahead of data blocks for eviction; level 0's
            // stay pinned, because every lookup reads them and new table files land there.
            table.set_cache_index_and_filter_blocks(true);
            table.set_cache_index_and_filter_blocks_with_high_priority(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            column_options.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(column.name(), column_options)
        });
        let db = DB::open_cf_descriptors(&options, &path, descriptors)
            .map_err(|error| StorageError::Open { path: path.clone(), reason: error.to_string() })?;
        Ok(RocksBackend { db, cache, path })
    }

    /// RocksDB's memory use now.
    pub fn memory(&self) -> Result<RocksMemory, StorageError> {
        // Memtables and table readers are per column family.
        let summed = |name: &PropName| -> Result<u64, StorageError> {
            Column::ALL.into_iter().try_fold(0_u64, |sum, column| {
                let value = self
                    .db
                    .property_int_value_cf(self.handle(column)?, name)
                    .map_err(|error| StorageError::Backend { operation: "read property", reason: error.to_string() })?;
                Ok(sum.saturating_add(value.unwrap_or(0)))
            })
        };
        Ok(RocksMemory {
            cache_capacity_bytes: CACHE_BYTES as u64,
            cache_used_bytes: self.cache.get_usage() as u64,
            cache_pinned_bytes: self.cache.get_pinned_usage() as u64,
            memtable_bytes: summed(properties::SIZE_ALL_MEM_TABLES)?,
            table_reader_bytes: summed(properties::ESTIMATE_TABLE_READERS_MEM)?,
        })
    }

    /// Directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a RocksDB checkpoint of the open database into `path`, which must not exist: memtables
    /// are flushed, SST files hard-linked where the filesystem allows (copied otherwise), and a fresh
    /// MANIFEST, CURRENT and OPTIONS written, so the checkpoint opens as a database of its own.
    pub fn create_checkpoint(&self, path: &Path) -> Result<(), StorageError> {
        let backend = |error: rocksdb::Error| StorageError::Backend {
            operation: "create checkpoint",
            reason: format!("{} ({})", error, path.display()),
        };
        let checkpoint = rocksdb::checkpoint::Checkpoint::new(&self.db).map_err(backend)?;
        checkpoint.create_checkpoint(path).map_err(backend)
    }

    /// `batch` as a RocksDB write batch.
    fn rocks_batch(&self, batch: KvBatch) -> Result<WriteBatch, StorageError> {
        // Sized once: a block's batch is megabytes, and RocksDB's buffer grows by doubling, so
        // each block's commit copied it several times into freshly faulted pages.
        let mut rocks_batch = WriteBatch::with_capacity_bytes(write_batch_bytes(batch.ops()));
        // Sorted by column and key (stably, so that a later operation on a key still wins): RocksDB
        // inserts each key into its memtable's skip list starting from where the previous insert
        // ended, so keys in order, such as a block's transaction hashes, skip most of the search.
        let mut ops = batch.into_ops();
        ops.sort_by(|a, b| a.column_and_key().cmp(&b.column_and_key()));
        for op in ops {
            match op {
                KvOp::Put { column, key, value } => rocks_batch.put_cf(self.handle(column)?, key, value),
                KvOp::Delete { column, key } => rocks_batch.delete_cf(self.handle(column)?, key),
            }
        }
        Ok(rocks_batch)
    }

    fn handle(&self, column: Column) -> Result<&ColumnFamily, StorageError> {
        self.db.cf_handle(column.name()).ok_or_else(|| StorageError::Backend {
            operation: "find column family",
            reason: format!("column family {} is missing", column.name()),
        })
    }
}

impl Backend for RocksBackend {
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let handle = self.handle(column)?;
        self.db
            .get_cf(handle, key)
            .map_err(|error| StorageError::Backend { operation: "read", reason: error.to_string() })
    }

    fn get_many(&self, column: Column, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let handle = self.handle(column)?;
        self.db
            .batched_multi_get_cf(handle, keys, false)
            .into_iter()
            .map(|value| {
                value
                    .map(|slice| slice.map(|slice| slice.to_vec()))
                    .map_err(|error| StorageError::Backend { operation: "multi get", reason: error.to_string() })
            })
            .collect()
    }

    fn scan(&self, column: Column, start: &[u8], prefix: &[u8], limit: usize) -> Result<KvPairs, StorageError> {
        let handle = self.handle(column)?;
        let mut entries = Vec::new();
        if limit == 0 {
            return Ok(entries);
        }
        for item in self.db.iterator_cf(handle, IteratorMode::From(start, Direction::Forward)) {
            let (key, value) =
                item.map_err(|error| StorageError::Backend { operation: "scan", reason: error.to_string() })?;
            if !key.starts_with(prefix) {
                break;
            }
            entries.push((key.into_vec(), value.into_vec()));
            if entries.len() >= limit {
                break;
            }
        }
        Ok(entries)
    }

    fn write(&self, batch: KvBatch) -> Result<(), StorageError> {
        let rocks_batch = self.rocks_batch(batch)?;
        let mut write_options = WriteOptions::default();
        write_options.set_sync(true);
        self.db
            .write_opt(rocks_batch, &write_options)
            .map_err(|error| StorageError::Backend { operation: "write batch", reason: error.to_string() })
    }
}

/// RocksDB's fixed header of a write batch (sequence number and count).
const WRITE_BATCH_HEADER_BYTES: usize = 12;
/// Most bytes RocksDB adds to one operation of a write batch: its tag, the column family id and the
/// lengths of key and value (each a varint of at most 5 bytes).
const WRITE_BATCH_OP_FRAMING_BYTES_MAX: usize = 1 + 3 * 5;

/// Bytes that hold `ops` in a RocksDB write batch, at most [`WRITE_BATCH_OP_FRAMING_BYTES_MAX`] per
/// operation over the exact size.
fn write_batch_bytes(ops: &[KvOp]) -> usize {
    ops.iter().fold(WRITE_BATCH_HEADER_BYTES, |bytes, op| {
        let payload = match op {
            KvOp::Put { key, value, .. } => key.len().saturating_add(value.len()),
            KvOp::Delete { key, .. } => key.len(),
        };
        bytes.saturating_add(payload.saturating_add(WRITE_BATCH_OP_FRAMING_BYTES_MAX))
    })
}

/// A [`Store`] on RocksDB: what a node runs on.
pub type RocksStore = Store<RocksBackend>;

impl Store<RocksBackend> {
    /// Opens (creating if missing) the store in directory `path` and checks that it is one this
    /// node can read and that its chain tip is intact.
    pub fn open(path: impl AsRef<Path>) -> Result<RocksStore, StorageError> {
        Store::from_backend(RocksBackend::open(path)?)
    }

    /// Directory of the database.
    pub fn path(&self) -> &Path {
        self.backend().path()
    }

    /// RocksDB's memory use now (for metrics).
    pub fn rocks_memory(&self) -> Result<RocksMemory, StorageError> {
        self.backend().memory()
    }

    /// Writes a consistent checkpoint of the store into directory `path` (which must not exist) and
    /// returns what it holds. Block commits and audit appends wait meanwhile (the writer lock is held),
    /// so the tip and audit head returned are exactly those of the checkpoint.
    pub fn create_checkpoint(&self, path: impl AsRef<Path>) -> Result<CheckpointInfo, StorageError> {
        let _writer = self.write_lock();
        let metadata = self.metadata()?;
        let tip = self.latest()?;
        let state_root = match tip {
            Some(tip) => Some(
                self.block_by_height(tip.height)?
                    .ok_or_else(|| StorageError::Corrupt {
                        what: "chain tip",
                        key: format!("height {}", tip.height),
                        reason: "the tip block is missing".into(),
                    })?
                    .header
                    .state_root,
            ),
            None => None,
        };
        let audit_head = self.head()?;
        self.backend().create_checkpoint(path.as_ref())?;
        Ok(CheckpointInfo { metadata, tip, state_root, audit_head })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reservation holds the whole batch (so RocksDB never grows it) and overshoots by at most
    /// the framing bound per operation, with lengths that need one to three varint bytes.
    #[test]
    fn a_write_batch_fits_its_reservation() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let backend = RocksBackend::open(dir.path()).expect("opens");
        let mut batch = KvBatch::new();
        for (index, length) in [0_usize, 1, 127, 128, 16_383, 16_384, 70_000].into_iter().enumerate() {
            let column = Column::ALL[index % Column::ALL.len()];
            batch.put(column, vec![1; length.min(300)], vec![2; length]);
            batch.delete(column, vec![3; length.min(200)]);
        }
        let ops = batch.ops().len();
        let reserved = write_batch_bytes(batch.ops());
        let written = backend.rocks_batch(batch).expect("every column exists").size_in_bytes();
        assert!(written <= reserved, "{written} bytes written, {reserved} reserved");
        assert!(
            reserved - written <= ops * WRITE_BATCH_OP_FRAMING_BYTES_MAX,
            "{reserved} bytes reserved for {written} written"
        );
    }

    /// The memory report reads live figures: a write shows up in the memtables, and the memtables'
    /// reservation in the shared cache, within its bound.
    #[test]
    fn memory_counts_the_memtables_against_the_one_budget() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let backend = RocksBackend::open(dir.path()).expect("opens");
        let before = backend.memory().expect("memory");
        let mut batch = KvBatch::new();
        for index in 0_u32..2_000 {
            batch.put(Column::State, index.to_be_bytes().to_vec(), vec![7; 1_000]);
        }
        backend.write(batch).expect("writes");
        let after = backend.memory().expect("memory");
        assert_eq!(after.cache_capacity_bytes, CACHE_BYTES as u64);
        assert!(
            after.memtable_bytes >= before.memtable_bytes + 2_000_000,
            "memtables grew from {} to {} bytes after 2 MB of writes",
            before.memtable_bytes,
            after.memtable_bytes
        );
        assert!(
            after.cache_used_bytes >= after.memtable_bytes / 2,
            "{after:?}: the memtables are not charged to the cache"
        );
        assert!(after.cache_used_bytes <= after.cache_capacity_bytes, "{after:?}");
    }
}
