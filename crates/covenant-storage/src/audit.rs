//! The audit log (covenant article 33, COV-33-AUDIT-TRAIL): hash-chained and append-only.
//!
//! Every entry records who ([`Actor`]) did what ([`EventType`]) on which node, when, with what
//! [`Outcome`], plus bounded details. Entry `n` carries the hash of entry `n - 1` (`prev_hash`) and
//! its own `hash`, the SHA-256 of the canonical (BCS) encoding of all its other fields; entry 0
//! links to [`Hash::ZERO`]. Entries live in the `audit` column family under their big-endian
//! sequence, so key order is chain order.
//!
//! ## What verification proves
//! [`AuditLog::verify`] walks the chain and reports the *first* entry that is wrong and how:
//!
//! | tampering                                  | reported as                 |
//! |--------------------------------------------|-----------------------------|
//! | a field edited, or the stored hash edited  | [`TamperKind::Edited`]      |
//! | an entry deleted (first, middle)           | [`TamperKind::Deleted`]     |
//! | an entry slipped in (even re-numbering the ones after it, or past the head) | [`TamperKind::Inserted`] |
//! | two entries swapped                        | [`TamperKind::Reordered`]   |
//! | an entry rewritten *and* re-hashed         | [`TamperKind::Relinked`]    |
//! | bytes that are no entry at all             | [`TamperKind::Undecodable`] |
//! | entries cut off the end                    | [`TamperKind::Truncated`]   |
//!
//! A log kept on one disk cannot prove on its own that nobody rewrote its tail and the head
//! recorded next to it: whoever controls the disk can recompute every hash after the point they
//! changed. That is what anchors are for: the node periodically puts the head `(sequence, hash)`
//! on chain, and [`AuditLog::verify_against_anchor`] checks the local log still contains that exact
//! entry. Entries after the newest anchor are protected only by the local chain.
//!
//! ## Retention and pruning
//! Entries are kept at least [`AUDIT_RETENTION_DAYS_MIN`] days (COV-18-RETENTION).
//! [`AuditLog::prune_before`] refuses a shorter retention or a cutoff inside it, refuses to prune a
//! log that does not verify (it would destroy evidence), deletes the oldest entries, and records a
//! checkpoint (sequence and hash of the last removed entry) in the same atomic batch, so the rest
//! of the chain stays verifiable from the checkpoint on.

use std::collections::{BTreeMap, VecDeque};

use covenant_rules::RuleId;
use covenant_types::{ENCODING_VERSION, Hash, NodeId, OperatorId, PersonId, encode, hash_of};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::StorageError;
use crate::kv::{Backend, Column, KvBatch, parse_u64_key, show_key, successor, u64_key};
use crate::limits::{
    AUDIT_DETAIL_KEY_BYTES_MAX, AUDIT_DETAIL_VALUE_BYTES_MAX, AUDIT_DETAILS_MAX, AUDIT_ENTRY_BYTES_MAX,
    AUDIT_NAME_BYTES_MAX, AUDIT_PRUNE_ENTRIES_MAX, AUDIT_RETENTION_DAYS_MIN, AUDIT_VERIFY_PAGE_ENTRIES, MS_PER_DAY,
    SCAN_ENTRIES_MAX,
};
use crate::store::{Store, meta_key};

/// What happened. New kinds are added at the end (the encoding is by position); anything not yet
/// listed is a [`EventType::Custom`] name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// The node process started.
    NodeStarted,
    /// The node process stopped.
    NodeStopped,
    /// A configuration file was loaded (details: file and its hash).
    ConfigLoaded,
    /// A registered peer connected.
    PeerConnected,
    /// A peer was refused (unregistered, bad key, wrong chain).
    PeerRefused,
    /// A transaction was rejected by a covenant rule (details: rule id).
    TxRejected,
    /// A block was committed.
    BlockCommitted,
    /// A governance proposal was opened, approved, rejected, withdrawn or executed.
    GovernanceAction,
    /// Customer data was read through the API (article 40).
    CustomerDataRead,
    /// An API request was refused for lack of authority.
    ApiAccessDenied,
    /// A key was rotated.
    KeyRotated,
    /// A key was revoked.
    KeyRevoked,
    /// A backup was created.
    BackupCreated,
    /// A backup was verified.
    BackupVerified,
    /// A backup was restored.
    BackupRestored,
    /// The audit log was verified.
    AuditVerified,
    /// Old audit entries were pruned.
    AuditPruned,
    /// The audit log was exported.
    AuditExported,
    /// Another event: lower-case ASCII letters, digits, `.`, `_`, `-`.
    Custom(String),
}

impl EventType {
    /// A short name for logs and exports.
    pub fn name(&self) -> &str {
        match self {
            EventType::NodeStarted => "node_started",
            EventType::NodeStopped => "node_stopped",
            EventType::ConfigLoaded => "config_loaded",
            EventType::PeerConnected => "peer_connected",
            EventType::PeerRefused => "peer_refused",
            EventType::TxRejected => "tx_rejected",
            EventType::BlockCommitted => "block_committed",
            EventType::GovernanceAction => "governance_action",
            EventType::CustomerDataRead => "customer_data_read",
            EventType::ApiAccessDenied => "api_access_denied",
            EventType::KeyRotated => "key_rotated",
            EventType::KeyRevoked => "key_revoked",
            EventType::BackupCreated => "backup_created",
            EventType::BackupVerified => "backup_verified",
            EventType::BackupRestored => "backup_restored",
            EventType::AuditVerified => "audit_verified",
            EventType::AuditPruned => "audit_pruned",
            EventType::AuditExported => "audit_exported",
            EventType::Custom(name) => name,
        }
    }
}

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Actor {
    /// A person through their operator account.
    Operator(OperatorId),
    /// A person not acting through an operator account (a local administrator, say).
    Person(PersonId),
    /// A node.
    Node(NodeId),
    /// The node software itself (start, stop, scheduled tasks).
    System,
    /// An unauthenticated remote party, by address (printable ASCII).
    Remote(String),
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused (by a rule, a permission, a limit).
    Refused,
}

/// An event to append: an entry before it gets its place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When, in milliseconds since the Unix epoch (the caller's clock; block time for events of a
    /// committed block).
    pub time_ms: u64,
    /// The node that recorded it.
    pub node: NodeId,
    /// What happened.
    pub event_type: EventType,
    /// Who acted.
    pub actor: Actor,
    /// How it ended.
    pub outcome: Outcome,
    /// Bounded details: at most [`AUDIT_DETAILS_MAX`] names (`[a-z0-9._-]`, at most
    /// [`AUDIT_DETAIL_KEY_BYTES_MAX`] bytes) with values of at most [`AUDIT_DETAIL_VALUE_BYTES_MAX`]
    /// bytes and no control characters.
    pub details: BTreeMap<String, String>,
}

impl AuditRecord {
    /// A record without details.
    pub fn new(time_ms: u64, node: NodeId, event_type: EventType, actor: Actor, outcome: Outcome) -> AuditRecord {
        AuditRecord { time_ms, node, event_type, actor, outcome, details: BTreeMap::new() }
    }

    /// Adds a detail.
    pub fn with_detail(mut self, name: impl Into<String>, value: impl Into<String>) -> AuditRecord {
        self.details.insert(name.into(), value.into());
        self
    }

    /// Checks the free-form fields against their bounds.
    pub fn validate(&self) -> Result<(), StorageError> {
        let invalid = |field: &'static str, reason: String| Err(StorageError::InvalidAuditRecord { field, reason });
        if let EventType::Custom(name) = &self.event_type
            && let Err(reason) = check_name(name, AUDIT_NAME_BYTES_MAX)
        {
            return invalid("event_type", reason);
        }
        if let Actor::Remote(address) = &self.actor {
            if address.is_empty() || address.len() > AUDIT_NAME_BYTES_MAX {
                return invalid(
                    "actor",
                    format!("remote address of {} bytes (1 to {AUDIT_NAME_BYTES_MAX})", address.len()),
                );
            }
            if !address.bytes().all(|byte| byte.is_ascii_graphic()) {
                return invalid("actor", format!("remote address {address:?} is not printable ASCII"));
            }
        }
        if self.details.len() > AUDIT_DETAILS_MAX {
            return invalid(
                "details",
                format!("{} details, above the limit of {AUDIT_DETAILS_MAX}", self.details.len()),
            );
        }
        for (name, value) in &self.details {
            if let Err(reason) = check_name(name, AUDIT_DETAIL_KEY_BYTES_MAX) {
                return invalid("details", format!("detail name: {reason}"));
            }
            if value.len() > AUDIT_DETAIL_VALUE_BYTES_MAX {
                return invalid(
                    "details",
                    format!(
                        "detail {name} is {} bytes, above the limit of {AUDIT_DETAIL_VALUE_BYTES_MAX}",
                        value.len()
                    ),
                );
            }
            if value.chars().any(char::is_control) {
                return invalid("details", format!("detail {name} contains control characters"));
            }
        }
        Ok(())
    }
}

fn check_name(name: &str, max_bytes: usize) -> Result<(), String> {
    if name.is_empty() || name.len() > max_bytes {
        return Err(format!("{name:?} is {} bytes (1 to {max_bytes})", name.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c))) {
        return Err(format!("{name:?} contains {bad:?} (use a-z, 0-9, '.', '_', '-')"));
    }
    Ok(())
}

/// One link of the audit chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Encoding version ([`ENCODING_VERSION`]).
    pub version: u16,
    /// Position in the chain, from 0.
    pub sequence: u64,
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The node that recorded it.
    pub node: NodeId,
    /// What happened.
    pub event_type: EventType,
    /// Who acted.
    pub actor: Actor,
    /// How it ended.
    pub outcome: Outcome,
    /// Bounded details.
    pub details: BTreeMap<String, String>,
    /// Hash of the previous entry ([`Hash::ZERO`] for entry 0).
    pub prev_hash: Hash,
    /// SHA-256 of the canonical encoding of all the fields above.
    pub hash: Hash,
}

/// The fields an entry's hash covers, in order.
#[derive(Serialize)]
struct HashedFields<'a> {
    version: u16,
    sequence: u64,
    time_ms: u64,
    node: &'a NodeId,
    event_type: &'a EventType,
    actor: &'a Actor,
    outcome: Outcome,
    details: &'a BTreeMap<String, String>,
    prev_hash: Hash,
}

impl AuditEntry {
    /// Places `record` at `sequence` after the entry with hash `prev_hash`, computing its hash.
    pub fn seal(sequence: u64, prev_hash: Hash, record: AuditRecord) -> AuditEntry {
        let AuditRecord { time_ms, node, event_type, actor, outcome, details } = record;
        let mut entry = AuditEntry {
            version: ENCODING_VERSION,
            sequence,
            time_ms,
            node,
            event_type,
            actor,
            outcome,
            details,
            prev_hash,
            hash: Hash::ZERO,
        };
        entry.hash = entry.compute_hash();
        entry
    }

    /// The hash the entry's fields (all but `hash`) call for.
    pub fn compute_hash(&self) -> Hash {
        hash_of(&HashedFields {
            version: self.version,
            sequence: self.sequence,
            time_ms: self.time_ms,
            node: &self.node,
            event_type: &self.event_type,
            actor: &self.actor,
            outcome: self.outcome,
            details: &self.details,
            prev_hash: self.prev_hash,
        })
    }

    /// Where the entry sits in the chain.
    pub fn position(&self) -> AuditPosition {
        AuditPosition { sequence: self.sequence, hash: self.hash }
    }
}

/// An entry's place in the chain: the head, a pruning checkpoint, or an anchor put on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPosition {
    /// Sequence of the entry.
    pub sequence: u64,
    /// Hash of the entry.
    pub hash: Hash,
}

/// What a successful verification covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditSummary {
    /// Where pruning stopped (the chain was verified from there), if the log was ever pruned.
    pub checkpoint: Option<AuditPosition>,
    /// Sequence of the first entry still stored.
    pub first_sequence: Option<u64>,
    /// Entries verified.
    pub entries: u64,
    /// The verified head: the last entry, or the checkpoint if every entry was pruned.
    pub head: Option<AuditPosition>,
}

/// What a prune call did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PruneSummary {
    /// Entries deleted.
    pub removed: u64,
    /// The checkpoint after pruning.
    pub checkpoint: Option<AuditPosition>,
    /// True if more entries older than the cutoff remain (the call stopped at
    /// [`AUDIT_PRUNE_ENTRIES_MAX`]); call again.
    pub more_remaining: bool,
}

/// How the audit chain was tampered with.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TamperKind {
    /// The entry's fields do not hash to its stored hash: a field or the hash itself was edited.
    #[error("entry edited: its fields hash to {computed_hash}, the stored hash is {stored_hash}")]
    Edited {
        /// Hash stored in the entry.
        stored_hash: Hash,
        /// Hash of its fields.
        computed_hash: Hash,
    },
    /// Entries are missing: sequences `first_missing..next_present` were deleted.
    #[error("entries {first_missing}..{next_present} deleted: the next entry present is {next_present}")]
    Deleted {
        /// First missing sequence.
        first_missing: u64,
        /// Next sequence present.
        next_present: u64,
    },
    /// Something that does not belong to the chain is stored in it.
    #[error("entry inserted: {reason}")]
    Inserted {
        /// How it shows.
        reason: String,
    },
    /// A genuine entry sits at another entry's place (two entries were swapped or moved).
    #[error("entries reordered: entry {entry_sequence} is stored at this place")]
    Reordered {
        /// The sequence the entry itself carries.
        entry_sequence: u64,
    },
    /// The entry is self-consistent but does not link to its predecessor: the predecessor or this
    /// entry was rewritten and re-hashed.
    #[error("chain broken: prev_hash is {found_prev}, the previous entry's hash is {expected_prev}")]
    Relinked {
        /// Hash of the previous entry (or checkpoint).
        expected_prev: Hash,
        /// `prev_hash` stored in the entry.
        found_prev: Hash,
    },
    /// The stored bytes are not an audit entry.
    #[error("entry undecodable: {reason}")]
    Undecodable {
        /// The decoder's explanation.
        reason: String,
    },
    /// The log ends before an entry that was recorded as appended (in the head or an anchor).
    #[error(
        "log truncated: it ends at {}, but entry {expected_last} was appended",
        .last_present.map_or("nothing".to_string(), |sequence| sequence.to_string())
    )]
    Truncated {
        /// Last entry present (or the checkpoint), if any.
        last_present: Option<u64>,
        /// Sequence of the entry the head or anchor names.
        expected_last: u64,
    },
    /// The entry at an anchored place has another hash than the anchor: the log was rewritten
    /// from there (or earlier) with recomputed hashes.
    #[error("entry differs from its anchor: anchored hash {anchored}, stored hash {found}")]
    AnchorMismatch {
        /// Hash in the anchor (or the recorded head).
        anchored: Hash,
        /// Hash of the stored entry.
        found: Hash,
    },
    /// The entry an earlier verification ended at is gone or carries another hash: the log was
    /// rewritten from there (or earlier) since.
    #[error("entry changed since it was verified: verified hash {verified}, {}", .found.map_or("now missing".to_string(), |found| format!("stored hash now {found}")))]
    ChangedSinceVerified {
        /// Hash the entry had when verified.
        verified: Hash,
        /// Hash stored now, if the entry is still there.
        found: Option<Hash>,
    },
}

/// Why audit verification or pruning failed.
#[derive(Debug, Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The chain does not verify; `sequence` is the first entry that is wrong.
    #[error("{}: audit log tampered at sequence {sequence}: {kind}", RuleId::AuditTrail)]
    Tampered {
        /// First bad place in the chain.
        sequence: u64,
        /// What is wrong there.
        kind: TamperKind,
    },
    /// The anchored entry was pruned; only the checkpoint and later entries can be checked.
    #[error("anchor at sequence {anchor_sequence} predates the pruning checkpoint at {checkpoint_sequence}")]
    AnchorPruned {
        /// Anchored sequence.
        anchor_sequence: u64,
        /// Sequence of the checkpoint.
        checkpoint_sequence: u64,
    },
    /// Retention below the covenant minimum.
    #[error("{}: audit retention of {retention_days} days is below the minimum of {min_days} days", RuleId::Retention)]
    RetentionBelowMinimum {
        /// Retention asked for.
        retention_days: u64,
        /// [`AUDIT_RETENTION_DAYS_MIN`].
        min_days: u64,
    },
    /// The cutoff would delete entries younger than the retention period.
    #[error(
        "{}: cutoff {cutoff_ms} would delete entries younger than {retention_days} days (at {now_ms} the latest allowed cutoff is {latest_cutoff_ms})",
        RuleId::Retention
    )]
    CutoffWithinRetention {
        /// Cutoff asked for.
        cutoff_ms: u64,
        /// Current time given.
        now_ms: u64,
        /// Retention in force.
        retention_days: u64,
        /// `now_ms - retention_days` in milliseconds.
        latest_cutoff_ms: u64,
    },
}

impl AuditError {
    /// The covenant rule the error enforces, if any.
    pub fn rule(&self) -> Option<RuleId> {
        match self {
            AuditError::Tampered { .. } => Some(RuleId::AuditTrail),
            AuditError::RetentionBelowMinimum { .. } | AuditError::CutoffWithinRetention { .. } => {
                Some(RuleId::Retention)
            }
            AuditError::Storage(_) | AuditError::AnchorPruned { .. } => None,
        }
    }
}

/// The hash-chained audit log.
///
/// # To ensure correctness
/// - [`AuditLog::append`] returns only once the entry is durable, and sequences are gap-free:
///   appends (and the audit records of [`ChainStore::commit_block`](crate::ChainStore::commit_block))
///   are serialised and each links to the head before it.
/// - Nothing but pruning removes entries, and pruning only removes the oldest, only outside the
///   retention period, and only from a log that verifies.
/// - [`AuditLog::verify`] reports the first bad place; run it at start and on demand, and anchor
///   [`AuditLog::head`] on chain periodically so that [`AuditLog::verify_against_anchor`] can catch a
///   rewritten tail.
/// - Reads are bounded: [`AuditLog::range`] takes a limit of at most [`SCAN_ENTRIES_MAX`];
///   verification pages through the log.
pub trait AuditLog {
    /// Appends one record, durably, and returns the entry it became.
    fn append(&self, record: AuditRecord) -> Result<AuditEntry, StorageError>;

    /// The last appended entry's place, or `None` for an empty log.
    fn head(&self) -> Result<Option<AuditPosition>, StorageError>;

    /// The pruning checkpoint, if the log was ever pruned.
    fn checkpoint(&self) -> Result<Option<AuditPosition>, StorageError>;

    /// Up to `limit` (at most [`SCAN_ENTRIES_MAX`]) entries from `from_sequence` on. Each is checked
    /// to decode, sit at its sequence and match its hash.
    fn range(&self, from_sequence: u64, limit: usize) -> Result<Vec<AuditEntry>, StorageError>;

    /// Verifies the whole chain from the checkpoint (or entry 0) to the recorded head.
    fn verify(&self) -> Result<AuditSummary, AuditError>;

    /// Verifies only what was appended after `verified`, the head an earlier verification reached
    /// (kept by the caller): the entry there must still carry its hash, and every later entry must
    /// link on from it up to the recorded head. Entries before `verified` are not re-read: an edit
    /// there that recomputes the hashes changes the entry at `verified` and is caught; one that does
    /// not is caught by the next full [`AuditLog::verify`]. Falls back to a full verification when
    /// pruning removed the entry at `verified`.
    fn verify_after(&self, verified: AuditPosition) -> Result<AuditSummary, AuditError>;

    /// [`AuditLog::verify`], then checks that the entry at `sequence` exists and has `hash` (an
    /// anchor taken earlier, e.g. from the chain).
    fn verify_against_anchor(&self, sequence: u64, hash: Hash) -> Result<AuditSummary, AuditError>;

    /// Deletes entries older than `time_ms_cutoff` from the start of the log, provided
    /// `retention_days >= AUDIT_RETENTION_DAYS_MIN` and the cutoff is at least `retention_days`
    /// before `now_ms`. Stops at the first entry not older than the cutoff, so the rest stays one
    /// chain. The caller should append an [`EventType::AuditPruned`] record afterwards.
    fn prune_before(&self, time_ms_cutoff: u64, now_ms: u64, retention_days: u64) -> Result<PruneSummary, AuditError>;
}

/// Seals `records` after `head` into `batch` (entries and the new head); returns the entries.
pub(crate) fn append_to_batch(
    batch: &mut KvBatch,
    head: Option<AuditPosition>,
    records: Vec<AuditRecord>,
) -> Result<Vec<AuditEntry>, StorageError> {
    let mut entries = Vec::with_capacity(records.len());
    let mut previous = head;
    for record in records {
        record.validate()?;
        let (sequence, prev_hash) = match previous {
            None => (0, Hash::ZERO),
            Some(position) => (
                position.sequence.checked_add(1).ok_or_else(|| StorageError::InvalidAuditRecord {
                    field: "sequence",
                    reason: "the audit log has used every sequence number".into(),
                })?,
                position.hash,
            ),
        };
        let entry = AuditEntry::seal(sequence, prev_hash, record);
        let bytes = encode(&entry);
        if bytes.len() > AUDIT_ENTRY_BYTES_MAX {
            return Err(StorageError::TooLarge {
                what: "audit entry",
                bytes: bytes.len(),
                max_bytes: AUDIT_ENTRY_BYTES_MAX,
            });
        }
        batch.put(Column::Audit, u64_key(sequence), bytes);
        previous = Some(entry.position());
        entries.push(entry);
    }
    if let Some(head) = previous
        && !entries.is_empty()
    {
        batch.put(Column::Meta, meta_key::AUDIT_HEAD, encode(&head));
    }
    Ok(entries)
}

/// Decodes a stored entry, refusing versions this node does not speak.
pub fn decode_entry(bytes: &[u8]) -> Result<AuditEntry, String> {
    let entry: AuditEntry =
        covenant_types::decode("audit entry", bytes, AUDIT_ENTRY_BYTES_MAX).map_err(|error| error.to_string())?;
    covenant_types::encoding::check_version("audit entry", entry.version).map_err(|error| error.to_string())?;
    Ok(entry)
}

/// How many verified entries the verifier remembers, to tell an insertion from a reordering.
const RECENT_ENTRIES: usize = 64;

/// Walks raw `(key, value)` pairs in key order and reports the first bad place.
struct ChainVerifier {
    checkpoint: Option<AuditPosition>,
    /// Sequence expected next.
    next: u64,
    /// Hash the next entry must link to.
    prev_hash: Hash,
    recent: VecDeque<AuditPosition>,
    entries: u64,
    first_sequence: Option<u64>,
}

impl ChainVerifier {
    fn new(checkpoint: Option<AuditPosition>) -> ChainVerifier {
        let (next, prev_hash) = match checkpoint {
            None => (0, Hash::ZERO),
            Some(position) => (position.sequence.saturating_add(1), position.hash),
        };
        ChainVerifier { checkpoint, next, prev_hash, recent: VecDeque::new(), entries: 0, first_sequence: None }
    }

    /// A verifier that goes on after `verified`, an entry already verified (and re-checked).
    fn resume(checkpoint: Option<AuditPosition>, verified: AuditPosition) -> ChainVerifier {
        let mut verifier = ChainVerifier::new(checkpoint);
        verifier.next = verified.sequence.saturating_add(1);
        verifier.prev_hash = verified.hash;
        verifier.recent.push_back(verified);
        verifier
    }

    /// The hash entry `sequence` must link to, if still known.
    fn link_before(&self, sequence: u64) -> Option<Hash> {
        let Some(before) = sequence.checked_sub(1) else {
            return self.checkpoint.is_none().then_some(Hash::ZERO);
        };
        if let Some(checkpoint) = self.checkpoint
            && checkpoint.sequence == before
        {
            return Some(checkpoint.hash);
        }
        self.recent.iter().find(|position| position.sequence == before).map(|position| position.hash)
    }

    fn check(&mut self, key: &[u8], value: &[u8]) -> Result<(), AuditError> {
        let tampered = |sequence: u64, kind: TamperKind| Err(AuditError::Tampered { sequence, kind });
        let Some(place) = parse_u64_key(key) else {
            return tampered(
                self.next,
                TamperKind::Inserted { reason: format!("key {} is not a sequence number", show_key(key)) },
            );
        };
        if place < self.next {
            // Keys come sorted and unique, so this is only an entry at or before the checkpoint.
            return tampered(
                place,
                TamperKind::Inserted { reason: format!("entry stored at {place}, before the pruning checkpoint") },
            );
        }
        if place > self.next {
            return tampered(self.next, TamperKind::Deleted { first_missing: self.next, next_present: place });
        }
        let entry = match decode_entry(value) {
            Ok(entry) => entry,
            Err(reason) => return tampered(place, TamperKind::Undecodable { reason }),
        };
        let computed_hash = entry.compute_hash();
        if computed_hash != entry.hash {
            return tampered(place, TamperKind::Edited { stored_hash: entry.hash, computed_hash });
        }
        if entry.sequence != place {
            // A genuine entry pushed back by entries placed before it, still linking to its real
            // predecessor, shows an insertion at its own sequence; anything else is a reordering.
            if entry.sequence < place && self.link_before(entry.sequence) == Some(entry.prev_hash) {
                return tampered(
                    entry.sequence,
                    TamperKind::Inserted {
                        reason: format!(
                            "the genuine entry {} is stored at {place}: {} entries were slipped in before it",
                            entry.sequence,
                            place - entry.sequence
                        ),
                    },
                );
            }
            return tampered(place, TamperKind::Reordered { entry_sequence: entry.sequence });
        }
        if entry.prev_hash != self.prev_hash {
            return tampered(
                place,
                TamperKind::Relinked { expected_prev: self.prev_hash, found_prev: entry.prev_hash },
            );
        }
        if self.recent.len() == RECENT_ENTRIES {
            self.recent.pop_front();
        }
        self.recent.push_back(entry.position());
        self.first_sequence.get_or_insert(place);
        self.entries += 1;
        self.prev_hash = entry.hash;
        self.next = place.saturating_add(1);
        Ok(())
    }

    /// The last verified place: the last entry, else the checkpoint.
    fn last(&self) -> Option<AuditPosition> {
        self.recent.back().copied().or(self.checkpoint)
    }

    fn finish(self, head: Option<AuditPosition>) -> Result<AuditSummary, AuditError> {
        let last = self.last();
        if let Some(head) = head {
            let last_sequence = last.map(|position| position.sequence);
            if last_sequence.is_none_or(|sequence| sequence < head.sequence) {
                return Err(AuditError::Tampered {
                    sequence: last_sequence.map_or(0, |sequence| sequence.saturating_add(1)),
                    kind: TamperKind::Truncated { last_present: last_sequence, expected_last: head.sequence },
                });
            }
            if let Some(last) = last
                && last != head
            {
                return Err(AuditError::Tampered {
                    sequence: last.sequence,
                    kind: TamperKind::AnchorMismatch { anchored: head.hash, found: last.hash },
                });
            }
        }
        Ok(AuditSummary {
            checkpoint: self.checkpoint,
            first_sequence: self.first_sequence,
            entries: self.entries,
            head: last,
        })
    }
}

impl<B: Backend> Store<B> {
    /// Verification proper; the caller holds the audit maintenance lock.
    fn verify_audit_locked(&self) -> Result<AuditSummary, AuditError> {
        self.verify_audit_from_locked(None)
    }

    /// Verification from `verified` on (see [`AuditLog::verify_after`]), or of the whole chain.
    fn verify_audit_from_locked(&self, verified: Option<AuditPosition>) -> Result<AuditSummary, AuditError> {
        let checkpoint = self.checkpoint()?;
        let head = self.head()?;
        let verified =
            verified.filter(|verified| checkpoint.is_none_or(|checkpoint| checkpoint.sequence < verified.sequence));
        if let Some(verified) = verified {
            let found = self
                .backend()
                .get(Column::Audit, &u64_key(verified.sequence))?
                .map(|bytes| decode_entry(&bytes).map_or_else(|_| Hash::digest(&bytes), |entry| entry.compute_hash()));
            if found != Some(verified.hash) {
                return Err(AuditError::Tampered {
                    sequence: verified.sequence,
                    kind: TamperKind::ChangedSinceVerified { verified: verified.hash, found },
                });
            }
        }
        if let Some(checkpoint) = checkpoint
            && head.is_none_or(|head| head.sequence < checkpoint.sequence)
        {
            return Err(StorageError::corrupt(
                "audit checkpoint",
                "meta/audit_checkpoint",
                format!("checkpoint at {} is past the head {head:?}", checkpoint.sequence),
            )
            .into());
        }
        let mut verifier = match verified {
            Some(verified) => ChainVerifier::resume(checkpoint, verified),
            None => ChainVerifier::new(checkpoint),
        };
        let mut start =
            verified.map(|verified| u64_key(verified.sequence.saturating_add(1)).to_vec()).unwrap_or_default();
        'pages: loop {
            let page = self.backend().scan(Column::Audit, &start, b"", AUDIT_VERIFY_PAGE_ENTRIES)?;
            for (key, value) in &page {
                if let Some(place) = parse_u64_key(key)
                    && head.is_none_or(|head| place > head.sequence)
                {
                    // Past the head read at the start: a concurrent append (which moves the head
                    // in the same atomic batch), or an entry slipped in past the head.
                    if self.head()?.is_some_and(|now| now.sequence >= place) {
                        break 'pages;
                    }
                    return Err(AuditError::Tampered {
                        sequence: place,
                        kind: TamperKind::Inserted {
                            reason: match head {
                                Some(head) => format!("entry stored past the recorded head {}", head.sequence),
                                None => "entry stored in a log that was never appended to".into(),
                            },
                        },
                    });
                }
                verifier.check(key, value)?;
            }
            match page.last() {
                Some((key, _)) if page.len() == AUDIT_VERIFY_PAGE_ENTRIES => start = successor(key),
                _ => break,
            }
        }
        verifier.finish(head)
    }

    fn read_entry(&self, sequence: u64) -> Result<Option<AuditEntry>, StorageError> {
        let Some(bytes) = self.backend().get(Column::Audit, &u64_key(sequence))? else { return Ok(None) };
        checked_entry(sequence, &bytes).map(Some)
    }
}

/// A stored entry checked to decode, sit at its place and match its hash.
fn checked_entry(place: u64, bytes: &[u8]) -> Result<AuditEntry, StorageError> {
    let key = || format!("sequence {place}");
    let entry = decode_entry(bytes).map_err(|reason| StorageError::corrupt("audit entry", key(), reason))?;
    if entry.sequence != place {
        return Err(StorageError::corrupt(
            "audit entry",
            key(),
            format!("the entry stored here is {}", entry.sequence),
        ));
    }
    let computed = entry.compute_hash();
    if computed != entry.hash {
        return Err(StorageError::corrupt(
            "audit entry",
            key(),
            format!("its fields hash to {computed}, the stored hash is {}", entry.hash),
        ));
    }
    Ok(entry)
}

impl<B: Backend> AuditLog for Store<B> {
    fn append(&self, record: AuditRecord) -> Result<AuditEntry, StorageError> {
        let _writer = self.write_lock();
        let mut batch = KvBatch::new();
        let mut entries = append_to_batch(&mut batch, self.head()?, vec![record])?;
        self.backend().write(batch)?;
        entries.pop().ok_or_else(|| StorageError::corrupt("audit entry", "append", "no entry was sealed"))
    }

    fn head(&self) -> Result<Option<AuditPosition>, StorageError> {
        self.meta(meta_key::AUDIT_HEAD, "audit head")
    }

    fn checkpoint(&self) -> Result<Option<AuditPosition>, StorageError> {
        self.meta(meta_key::AUDIT_CHECKPOINT, "audit checkpoint")
    }

    fn range(&self, from_sequence: u64, limit: usize) -> Result<Vec<AuditEntry>, StorageError> {
        if limit > SCAN_ENTRIES_MAX {
            return Err(StorageError::TooMany { what: "audit entries requested", count: limit, max: SCAN_ENTRIES_MAX });
        }
        let raw = self.backend().scan(Column::Audit, &u64_key(from_sequence), b"", limit)?;
        raw.iter()
            .map(|(key, bytes)| {
                let place = parse_u64_key(key).ok_or_else(|| {
                    StorageError::corrupt("audit entry", show_key(key), "key is not a sequence number")
                })?;
                checked_entry(place, bytes)
            })
            .collect()
    }

    fn verify(&self) -> Result<AuditSummary, AuditError> {
        let _maintenance = self.audit_maintenance_lock();
        self.verify_audit_locked()
    }

    fn verify_after(&self, verified: AuditPosition) -> Result<AuditSummary, AuditError> {
        let _maintenance = self.audit_maintenance_lock();
        self.verify_audit_from_locked(Some(verified))
    }

    fn verify_against_anchor(&self, sequence: u64, hash: Hash) -> Result<AuditSummary, AuditError> {
        let _maintenance = self.audit_maintenance_lock();
        let summary = self.verify_audit_locked()?;
        let tampered = |kind: TamperKind| Err(AuditError::Tampered { sequence, kind });
        if let Some(checkpoint) = summary.checkpoint
            && sequence <= checkpoint.sequence
        {
            if sequence < checkpoint.sequence {
                return Err(AuditError::AnchorPruned {
                    anchor_sequence: sequence,
                    checkpoint_sequence: checkpoint.sequence,
                });
            }
            if checkpoint.hash != hash {
                return tampered(TamperKind::AnchorMismatch { anchored: hash, found: checkpoint.hash });
            }
            return Ok(summary);
        }
        let last = summary.head.map(|head| head.sequence);
        if last.is_none_or(|last| sequence > last) {
            return tampered(TamperKind::Truncated { last_present: last, expected_last: sequence });
        }
        let entry = self.read_entry(sequence)?.ok_or_else(|| {
            StorageError::corrupt("audit entry", format!("sequence {sequence}"), "missing after verification")
        })?;
        if entry.hash != hash {
            return tampered(TamperKind::AnchorMismatch { anchored: hash, found: entry.hash });
        }
        Ok(summary)
    }

    fn prune_before(&self, time_ms_cutoff: u64, now_ms: u64, retention_days: u64) -> Result<PruneSummary, AuditError> {
        if retention_days < AUDIT_RETENTION_DAYS_MIN {
            return Err(AuditError::RetentionBelowMinimum { retention_days, min_days: AUDIT_RETENTION_DAYS_MIN });
        }
        // A retention too long to express in milliseconds allows no cutoff at all.
        let latest_cutoff_ms =
            retention_days.checked_mul(MS_PER_DAY).map_or(0, |retention_ms| now_ms.saturating_sub(retention_ms));
        if time_ms_cutoff > latest_cutoff_ms {
            return Err(AuditError::CutoffWithinRetention {
                cutoff_ms: time_ms_cutoff,
                now_ms,
                retention_days,
                latest_cutoff_ms,
            });
        }
        let _maintenance = self.audit_maintenance_lock();
        // A log that does not verify is evidence: never prune it.
        let summary = self.verify_audit_locked()?;
        let Some(head) = summary.head else {
            return Ok(PruneSummary { removed: 0, checkpoint: summary.checkpoint, more_remaining: false });
        };
        let mut start = summary.first_sequence.map(u64_key).map(Vec::from).unwrap_or_default();
        let mut batch = KvBatch::new();
        let mut new_checkpoint = None;
        let mut removed: u64 = 0;
        let mut more_remaining = false;
        'pages: loop {
            let page = self.backend().scan(Column::Audit, &start, b"", AUDIT_VERIFY_PAGE_ENTRIES)?;
            for (key, bytes) in &page {
                let place = parse_u64_key(key).ok_or_else(|| {
                    StorageError::corrupt("audit entry", show_key(key), "key is not a sequence number")
                })?;
                // Entries appended since verification are younger than any allowed cutoff anyway.
                if place > head.sequence {
                    break 'pages;
                }
                let entry = checked_entry(place, bytes)?;
                if entry.time_ms >= time_ms_cutoff {
                    break 'pages;
                }
                if removed >= AUDIT_PRUNE_ENTRIES_MAX as u64 {
                    more_remaining = true;
                    break 'pages;
                }
                batch.delete(Column::Audit, key.clone());
                new_checkpoint = Some(entry.position());
                removed += 1;
            }
            match page.last() {
                Some((key, _)) if page.len() == AUDIT_VERIFY_PAGE_ENTRIES => start = successor(key),
                _ => break,
            }
        }
        let Some(checkpoint) = new_checkpoint else {
            return Ok(PruneSummary { removed: 0, checkpoint: summary.checkpoint, more_remaining: false });
        };
        batch.put(Column::Meta, meta_key::AUDIT_CHECKPOINT, encode(&checkpoint));
        let _writer = self.write_lock();
        self.backend().write(batch)?;
        Ok(PruneSummary { removed, checkpoint: Some(checkpoint), more_remaining })
    }
}
