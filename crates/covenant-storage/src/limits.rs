//! Limits of the storage layer, named with their unit last. Everything written is checked against
//! them before it is written, so that anything stored can also be read back (reads refuse values
//! above the same limits before decoding them).

use covenant_types::ids::ID_BYTES_MAX;
use covenant_types::limits::{CONSENSUS_MESSAGE_BYTES_MAX, TEXT_BYTES_MAX, VALIDATORS_MAX};

/// Version of the on-disk layout (column families, keys, value encodings). A store of version 1 is
/// upgraded at open (receipts were keyed by transaction hash; see `migrate.rs`); any other version
/// is refused instead of being misread.
pub const SCHEMA_VERSION: u32 = 2;
/// Receipts moved per batch while upgrading a version-1 store.
pub const MIGRATION_PAGE_ENTRIES: usize = 1024;

/// Longest state key.
pub const STATE_KEY_BYTES_MAX: usize = 1024;
/// Largest state value (contract code, the largest thing execution stores, is far below it).
pub const STATE_VALUE_BYTES_MAX: usize = 1024 * 1024;
/// Most state writes in one committed block.
pub const STATE_WRITES_PER_BLOCK_MAX: usize = 1_000_000;
/// Most entries one prefix scan or audit range read may return.
pub const SCAN_ENTRIES_MAX: usize = 10_000;
/// Largest encoded transaction location: BCS gives a height 8 bytes and an index 4 (12 in all).
pub const TX_LOCATION_BYTES_MAX: usize = 16;
/// Largest encoded receipt.
pub const RECEIPT_BYTES_MAX: usize = 64 * 1024;
/// Largest encoded set of commit seals of one block.
pub const SEALS_BYTES_MAX: usize = 64 * 1024;
/// Largest consensus safety state.
pub const SAFETY_STATE_BYTES_MAX: usize = CONSENSUS_MESSAGE_BYTES_MAX;
/// Largest metadata value (chain id, hashes, counters).
pub const META_VALUE_BYTES_MAX: usize = 4 * 1024;

/// Most detail fields in one audit entry.
pub const AUDIT_DETAILS_MAX: usize = 32;
/// Longest audit detail name.
pub const AUDIT_DETAIL_KEY_BYTES_MAX: usize = 64;
/// Longest audit detail value.
pub const AUDIT_DETAIL_VALUE_BYTES_MAX: usize = TEXT_BYTES_MAX;
/// Longest free-text name in an audit entry (a custom event type, a remote address).
pub const AUDIT_NAME_BYTES_MAX: usize = 128;
/// Largest encoded audit entry.
pub const AUDIT_ENTRY_BYTES_MAX: usize = 64 * 1024;
/// Most audit records appended by one commit.
pub const AUDIT_RECORDS_PER_COMMIT_MAX: usize = 10_000;
/// Entries read per page while verifying the audit chain (bounds memory, not the log).
pub const AUDIT_VERIFY_PAGE_ENTRIES: usize = 1024;
/// Most audit entries one prune call deletes; call again while `more_remaining`.
pub const AUDIT_PRUNE_ENTRIES_MAX: usize = 100_000;
/// Covenant article 18 (COV-18-RETENTION): audit records are kept at least this long.
pub const AUDIT_RETENTION_DAYS_MIN: u64 = 365;
/// Milliseconds in a day.
pub const MS_PER_DAY: u64 = 24 * 60 * 60 * 1000;

/// Encoded commit seal: node id (length byte + name) and a 64-byte signature.
const SEAL_BYTES_MAX: usize = 1 + ID_BYTES_MAX + 64;
const _: () = assert!(VALIDATORS_MAX * SEAL_BYTES_MAX + 8 <= SEALS_BYTES_MAX);
/// Fixed fields, node id, event type and actor names, two hashes, and the details.
const AUDIT_ENTRY_BYTES_BOUND: usize = 2
    + 8
    + 8
    + (1 + ID_BYTES_MAX)
    + 2 * (4 + AUDIT_NAME_BYTES_MAX)
    + 1
    + 4
    + AUDIT_DETAILS_MAX * (4 + AUDIT_DETAIL_KEY_BYTES_MAX + 4 + AUDIT_DETAIL_VALUE_BYTES_MAX)
    + 2 * 32;
const _: () = assert!(AUDIT_ENTRY_BYTES_BOUND <= AUDIT_ENTRY_BYTES_MAX);
const _: () = assert!(AUDIT_PRUNE_ENTRIES_MAX >= AUDIT_VERIFY_PAGE_ENTRIES);
