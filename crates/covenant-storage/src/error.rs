//! Errors of the storage layer. Every variant carries the values that failed, so the message
//! explains itself; data read from disk never panics, it becomes [`StorageError::Corrupt`].

use std::path::PathBuf;

use covenant_types::{ChainId, Hash};
use thiserror::Error;

/// Why a storage operation failed.
#[derive(Debug, Error)]
pub enum StorageError {
    /// The store could not be opened (missing permissions, locked by another process, unknown
    /// column families, ...).
    #[error("cannot open store at {}: {reason}", path.display())]
    Open {
        /// Directory of the store.
        path: PathBuf,
        /// The backend's explanation.
        reason: String,
    },
    /// The backend failed to read or write (an IO error, usually).
    #[error("storage backend failed to {operation}: {reason}")]
    Backend {
        /// What was being done, e.g. `write batch`.
        operation: &'static str,
        /// The backend's explanation.
        reason: String,
    },
    /// Something read back from disk is not what was written: an undecodable value, a value stored
    /// under the wrong key, an index that disagrees with the data, or a missing piece.
    #[error("corrupt {what} at {key}: {reason}")]
    Corrupt {
        /// What is corrupt, e.g. `block`, `receipt`, `chain tip`.
        what: &'static str,
        /// Where, in words, e.g. `height 17` or `tx 3fa2...`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store was written by a version of the node with another on-disk layout.
    #[error("store schema version {found} is not supported (this node reads version {supported})")]
    UnsupportedSchema {
        /// Version found on disk.
        found: u32,
        /// Version this node reads and writes.
        supported: u32,
    },
    /// A block was offered whose height is not the next one.
    #[error("block height {found} is not the next height {expected}")]
    HeightNotNext {
        /// The next height (0 for an empty store).
        expected: u64,
        /// The block's height.
        found: u64,
    },
    /// A block was offered whose parent is not the last committed block.
    #[error("block {height} names parent {found}, but the last committed block is {expected}")]
    ParentMismatch {
        /// The block's height.
        height: u64,
        /// Hash of the last committed block (zero for genesis).
        expected: Hash,
        /// Parent hash in the block's header.
        found: Hash,
    },
    /// A block was offered for another chain than the one whose genesis this store holds.
    #[error("block is for chain {found}, this store holds chain {expected}")]
    WrongChain {
        /// Chain of the stored genesis.
        expected: ChainId,
        /// Chain named in the block.
        found: ChainId,
    },
    /// The receipts do not match the block's transactions one for one.
    #[error("block {height} has {transactions} transactions but {receipts} receipts")]
    ReceiptCountMismatch {
        /// Block height.
        height: u64,
        /// Transactions in the block.
        transactions: usize,
        /// Receipts offered.
        receipts: usize,
    },
    /// Receipt `index` is for another transaction than transaction `index`.
    #[error("block {height}: receipt {index} is for tx {receipt_tx_hash}, transaction {index} is {tx_hash}")]
    ReceiptMismatch {
        /// Block height.
        height: u64,
        /// Position in the block.
        index: usize,
        /// Hash of the transaction at that position.
        tx_hash: Hash,
        /// Transaction hash named by the receipt.
        receipt_tx_hash: Hash,
    },
    /// A transaction is already committed (at `existing_height`) or appears twice in the block.
    #[error("block {height}: transaction {tx_hash} is already in block {existing_height}")]
    DuplicateTransaction {
        /// Block being committed.
        height: u64,
        /// The transaction.
        tx_hash: Hash,
        /// Where it is already (equal to `height` for a duplicate within the block).
        existing_height: u64,
    },
    /// A value is larger than the store accepts (and could therefore not be read back).
    #[error("{what} is {bytes} bytes, above the limit of {max_bytes} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        bytes: usize,
        /// The limit.
        max_bytes: usize,
    },
    /// Too many items of one kind in one call.
    #[error("{count} {what} in one call, above the limit of {max}")]
    TooMany {
        /// What there were too many of.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An audit record with a field that breaks its format.
    #[error("invalid audit record field {field}: {reason}")]
    InvalidAuditRecord {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl StorageError {
    /// Shorthand for [`StorageError::Corrupt`].
    pub(crate) fn corrupt(what: &'static str, key: impl Into<String>, reason: impl Into<String>) -> StorageError {
        StorageError::Corrupt { what, key: key.into(), reason: reason.into() }
    }
}
