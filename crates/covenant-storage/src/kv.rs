//! The key-value layer under [`Store`](crate::Store): column families, atomic write batches, and
//! the [`Backend`] trait that RocksDB ([`RocksBackend`](crate::RocksBackend)) and memory
//! ([`MemoryBackend`](crate::MemoryBackend)) implement.
//!
//! All chain logic (height checks, indexes, encodings, corruption checks, the audit chain) lives
//! once in [`Store`](crate::Store), above this layer, so the two stores cannot drift apart: the
//! simulator's in-memory store behaves exactly as the node's RocksDB store does.

use serde::de::DeserializeOwned;

use crate::error::StorageError;

/// A column family: one keyspace of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Column {
    /// Big-endian height → block.
    Blocks,
    /// Block hash → height.
    BlockHashes,
    /// Big-endian height → commit seals of that block.
    Seals,
    /// Transaction hash → [`TxLocation`](crate::TxLocation).
    TxIndex,
    /// State key → state value, as written by execution.
    State,
    /// Block position (big-endian height, then big-endian index in the block) → receipt.
    Receipts,
    /// Big-endian sequence → audit entry.
    Audit,
    /// Consensus safety state.
    Consensus,
    /// Metadata: schema version, chain id, genesis hash, chain tip, audit head and checkpoint.
    Meta,
}

impl Column {
    /// Every column, in a fixed order.
    pub const ALL: [Column; 9] = [
        Column::Blocks,
        Column::BlockHashes,
        Column::Seals,
        Column::TxIndex,
        Column::State,
        Column::Receipts,
        Column::Audit,
        Column::Consensus,
        Column::Meta,
    ];

    /// The column family's name on disk. Never change one: it is part of the schema.
    pub fn name(self) -> &'static str {
        match self {
            Column::Blocks => "blocks",
            Column::BlockHashes => "block_hashes",
            Column::Seals => "seals",
            Column::TxIndex => "tx_index",
            Column::State => "state",
            Column::Receipts => "receipts",
            Column::Audit => "audit",
            Column::Consensus => "consensus",
            Column::Meta => "meta",
        }
    }

    /// Whether most point lookups in this column are of keys it does not hold: every transaction
    /// hash is looked up in the transaction index before it is committed, and only a duplicate is
    /// found there.
    pub fn lookups_mostly_miss(self) -> bool {
        matches!(self, Column::TxIndex)
    }
}

/// Keys and values in key order, as a scan returns them.
pub type KvPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One operation of a [`KvBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvOp {
    /// Set `key` to `value`.
    Put {
        /// Column.
        column: Column,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Remove `key` (no error if absent).
    Delete {
        /// Column.
        column: Column,
        /// Key.
        key: Vec<u8>,
    },
}

impl KvOp {
    /// The column and key the operation writes.
    pub fn column_and_key(&self) -> (Column, &[u8]) {
        match self {
            KvOp::Put { column, key, .. } | KvOp::Delete { column, key } => (*column, key),
        }
    }
}

/// Operations applied all together or not at all, in order (a later operation on the same key wins).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvBatch {
    ops: Vec<KvOp>,
}

impl KvBatch {
    /// An empty batch.
    pub fn new() -> KvBatch {
        KvBatch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, column: Column, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(KvOp::Put { column, key: key.into(), value: value.into() });
    }

    /// Adds a delete.
    pub fn delete(&mut self, column: Column, key: impl Into<Vec<u8>>) {
        self.ops.push(KvOp::Delete { column, key: key.into() });
    }

    /// The operations, in order.
    pub fn ops(&self) -> &[KvOp] {
        &self.ops
    }

    /// Consumes the batch.
    pub fn into_ops(self) -> Vec<KvOp> {
        self.ops
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True if there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// An ordered key-value store with column families and atomic, durable batches.
///
/// # To ensure correctness
/// - [`Backend::write`] applies the whole batch or nothing, also across a crash or power loss
///   at any instant, and returns only once the batch is durable (for a disk store: fsync'ed).
///   A reader never observes part of a batch.
/// - [`Backend::scan`] returns keys in ascending bytewise order and never more than `limit`.
/// - Methods take `&self` and may be called from several threads; the [`Store`](crate::Store)
///   above serialises writers itself.
pub trait Backend: Send + Sync {
    /// The value under `key`, if any.
    fn get(&self, column: Column, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// The values under `keys`, in order: one lookup of many keys, which a backend may do faster
    /// than one by one.
    fn get_many(&self, column: Column, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        keys.iter().map(|key| self.get(column, key)).collect()
    }

    /// Up to `limit` entries with keys `>= start` that start with `prefix`, in key order, stopping
    /// at the first key without the prefix. Callers pass `start >= prefix`.
    fn scan(&self, column: Column, start: &[u8], prefix: &[u8], limit: usize) -> Result<KvPairs, StorageError>;

    /// Applies `batch` atomically and durably.
    fn write(&self, batch: KvBatch) -> Result<(), StorageError>;
}

/// Big-endian key for a height or sequence, so that byte order is numeric order.
pub(crate) fn u64_key(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

/// Inverse of [`u64_key`]; `None` if the key is not 8 bytes.
pub(crate) fn parse_u64_key(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// The smallest key strictly greater than `key`.
pub(crate) fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// Decodes a value read from disk; any failure is corruption of `what` at `key`.
pub(crate) fn decode_stored<T: DeserializeOwned>(
    what: &'static str,
    key: impl FnOnce() -> String,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<T, StorageError> {
    covenant_types::decode(what, bytes, max_bytes)
        .map_err(|error| StorageError::corrupt(what, key(), error.to_string()))
}

/// Short printable form of a raw key, for error messages.
pub(crate) fn show_key(key: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 48;
    let shown: String = key.iter().take(SHOWN_BYTES_MAX).map(|byte| format!("{byte:02x}")).collect();
    if key.len() > SHOWN_BYTES_MAX { format!("0x{shown}... ({} bytes)", key.len()) } else { format!("0x{shown}") }
}
