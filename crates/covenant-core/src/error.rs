//! Why the core stopped: only what a node must halt for. Bad input from peers or clients is never
//! an error here; it is refused, counted and answered.

use covenant_execution::StateError;
use covenant_storage::StorageError;

/// A fatal condition: the node stops rather than go on with a store or state it cannot trust.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The store failed to read or write.
    #[error("store failure: {0}")]
    Store(#[from] StorageError),
    /// Committed state could not be read or is inconsistent.
    #[error("state failure: {0}")]
    State(#[from] StateError),
    /// A committed state entry does not decode.
    #[error("state entry {key} is corrupt: {reason}")]
    Corrupt {
        /// The entry's key, in hex.
        key: String,
        /// What failed.
        reason: String,
    },
    /// A table holds more entries than this node reads.
    #[error("more than {limit} state entries under prefix {prefix}")]
    TooManyEntries {
        /// The table's prefix, in hex.
        prefix: String,
        /// The bound.
        limit: usize,
    },
    /// The network decided something this node cannot follow: its execution disagrees with a
    /// decided block, so it is non-deterministic or its store is corrupt.
    #[error("{0}; halting")]
    Diverged(String),
}
