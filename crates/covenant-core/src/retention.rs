//! Audit-log retention (article 18, COV-18-RETENTION): the node prunes its audit log at start-up
//! and then once a day of node time, keeping every entry younger than the retention period, and
//! records each pruning in the log itself (an `audit_pruned` entry).
//!
//! Two bounds decide how far a pruning may go (ADR 0022):
//! - **retention**: nothing younger than `retention_days` before now goes; the days are the larger
//!   of the node's `audit_retention_days` and the chain's parameter of the same name, both at least
//!   365 ([`covenant_storage::AuditLog::prune_before`] refuses less on its own as well);
//! - **the newest anchor**: nothing at or after the entry this node last anchored on chain goes, so
//!   that the newest anchor can always be checked against the log (against an entry, never
//!   against a bare pruning checkpoint). Older anchors whose entries aged out of retention report
//!   `AnchorPruned`, which is what retention means for them.
//!
//! The decision is a pure function of the log, the time given and the anchored sequence, so it is
//! tested with a fake clock; the node's shell calls [`prune_audit`] off its event loop (pruning
//! verifies the whole log first, which takes a while on a year of entries).

use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_storage::limits::MS_PER_DAY;
use covenant_storage::{AuditError, AuditLog, AuditPosition};
use covenant_types::NodeId;

/// Node time between two prunings.
pub const AUDIT_PRUNE_INTERVAL_MS: u64 = MS_PER_DAY;
/// Calls of `prune_before` one pruning makes at most (each removes a bounded number of entries);
/// whatever is left over goes at the next pruning.
pub const AUDIT_PRUNE_CALLS_MAX: usize = 64;

/// When the next pruning is due: at once after start-up, then every [`AUDIT_PRUNE_INTERVAL_MS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneSchedule {
    next_ms: Option<u64>,
}

impl PruneSchedule {
    /// A schedule whose first pruning is due at once (node start-up).
    pub fn new() -> PruneSchedule {
        PruneSchedule::default()
    }

    /// Whether a pruning is due at `now_ms`.
    pub fn is_due(&self, now_ms: u64) -> bool {
        self.next_ms.is_none_or(|next_ms| now_ms >= next_ms)
    }

    /// Records a pruning (successful or not) at `now_ms`: the next is due a day later.
    pub fn ran(&mut self, now_ms: u64) {
        self.next_ms = Some(now_ms.saturating_add(AUDIT_PRUNE_INTERVAL_MS));
    }

    /// When the next pruning is due (`None`: at once).
    pub fn next_ms(&self) -> Option<u64> {
        self.next_ms
    }
}

/// The retention in force: the longer of the node's and the chain's (each at least 365 days).
pub fn retention_days(node_days: u64, chain_days: u64) -> u64 {
    node_days.max(chain_days)
}

/// The cutoff a pruning at `now_ms` may use: entries older than it may go. `None` when nothing may
/// go: the log is younger than the retention, or this node's newest anchored entry is no longer in
/// the log (pruning further would only move the checkpoint further past it).
pub fn prune_cutoff<L: AuditLog + ?Sized>(
    log: &L,
    now_ms: u64,
    retention_days: u64,
    anchored_sequence: Option<u64>,
) -> Result<Option<u64>, AuditError> {
    let Some(retention_cutoff_ms) =
        retention_days.checked_mul(MS_PER_DAY).and_then(|retention_ms| now_ms.checked_sub(retention_ms))
    else {
        return Ok(None);
    };
    let cutoff_ms = match anchored_sequence {
        None => retention_cutoff_ms,
        // `prune_before` removes a prefix of entries each older than the cutoff and stops at the
        // first one that is not, so a cutoff at the anchored entry's own time never removes it.
        Some(anchored) => match log.range(anchored, 1)?.first() {
            Some(entry) if entry.sequence == anchored => retention_cutoff_ms.min(entry.time_ms),
            _ => return Ok(None),
        },
    };
    // Nothing older than the cutoff: no pruning (which would verify the whole log for nothing).
    let first_sequence = log.checkpoint()?.map_or(0, |checkpoint| checkpoint.sequence.saturating_add(1));
    match log.range(first_sequence, 1)?.first() {
        Some(first) if first.time_ms < cutoff_ms => Ok(Some(cutoff_ms)),
        _ => Ok(None),
    }
}

/// What one pruning did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditPruning {
    /// Entries removed.
    pub removed: u64,
    /// The cutoff used (entries older than it went).
    pub cutoff_ms: u64,
    /// The pruning checkpoint afterwards.
    pub checkpoint: Option<AuditPosition>,
    /// Entries older than the cutoff still in the log (the pruning stopped at its bound).
    pub more_remaining: bool,
}

/// Prunes `log` at `now_ms` keeping `retention_days` and the newest anchored entry (see the module
/// documentation), then appends an `audit_pruned` record naming what went. Returns `None` when
/// nothing went. A log that does not verify is never pruned (`prune_before` refuses it).
pub fn prune_audit<L: AuditLog + ?Sized>(
    log: &L,
    node: &NodeId,
    now_ms: u64,
    retention_days: u64,
    anchored_sequence: Option<u64>,
) -> Result<Option<AuditPruning>, AuditError> {
    let Some(cutoff_ms) = prune_cutoff(log, now_ms, retention_days, anchored_sequence)? else { return Ok(None) };
    let mut pruning = AuditPruning { removed: 0, cutoff_ms, checkpoint: None, more_remaining: false };
    for _ in 0..AUDIT_PRUNE_CALLS_MAX {
        let summary = log.prune_before(cutoff_ms, now_ms, retention_days)?;
        pruning.removed += summary.removed;
        pruning.checkpoint = summary.checkpoint;
        pruning.more_remaining = summary.more_remaining;
        if !summary.more_remaining {
            break;
        }
    }
    if pruning.removed == 0 {
        return Ok(None);
    }
    let mut record = AuditRecord::new(now_ms, node.clone(), EventType::AuditPruned, Actor::System, Outcome::Success)
        .with_detail("removed", pruning.removed.to_string())
        .with_detail("cutoff_ms", cutoff_ms.to_string())
        .with_detail("retention_days", retention_days.to_string())
        .with_detail("rule", covenant_rules::RuleId::Retention.id());
    if let Some(checkpoint) = pruning.checkpoint {
        record = record.with_detail("checkpoint_sequence", checkpoint.sequence.to_string());
    }
    log.append(record)?;
    Ok(Some(pruning))
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_storage::MemoryStore;

    const DAY_MS: u64 = MS_PER_DAY;
    const START_MS: u64 = 1_790_000_000_000;

    fn node() -> NodeId {
        NodeId::new("node-0").expect("id")
    }

    /// One entry a day for `days` days from `START_MS`, sequences 0..days.
    fn log_of_days(days: u64) -> MemoryStore {
        let store = MemoryStore::new();
        for day in 0..days {
            let record = AuditRecord::new(
                START_MS + day * DAY_MS,
                node(),
                EventType::NodeStarted,
                Actor::System,
                Outcome::Success,
            );
            store.append(record).expect("append");
        }
        store
    }

    fn first_sequence(store: &MemoryStore) -> u64 {
        store.range(0, 1).expect("range")[0].sequence
    }

    // covers: COV-18-RETENTION
    #[test]
    fn pruning_keeps_every_entry_younger_than_the_retention_and_records_itself() {
        let store = log_of_days(400);
        // Day 400: entries of days 0..35 are older than 365 days.
        let now_ms = START_MS + 400 * DAY_MS;
        let pruning = prune_audit(&store, &node(), now_ms, 365, None).expect("prunes").expect("something went");
        assert_eq!(pruning.removed, 35);
        assert_eq!(pruning.cutoff_ms, now_ms - 365 * DAY_MS);
        assert_eq!(first_sequence(&store), 35, "the entry of day 35 is exactly 365 days old and stays");
        let head = store.head().expect("head").expect("not empty");
        let last = store.range(head.sequence, 1).expect("range").remove(0);
        assert_eq!(last.event_type, EventType::AuditPruned);
        assert_eq!(last.details.get("removed").map(String::as_str), Some("35"));
        assert_eq!(last.details.get("rule").map(String::as_str), Some("COV-18-RETENTION"));
        store.verify().expect("the pruned log still verifies from its checkpoint");

        // Nothing more to prune the same day: no second record.
        assert_eq!(prune_audit(&store, &node(), now_ms, 365, None).expect("runs"), None);
    }

    // covers: COV-18-RETENTION
    #[test]
    fn a_longer_retention_keeps_more_and_a_young_log_loses_nothing() {
        let store = log_of_days(400);
        let now_ms = START_MS + 400 * DAY_MS;
        let pruning = prune_audit(&store, &node(), now_ms, retention_days(365, 380), None).expect("prunes");
        assert_eq!(pruning.map(|pruning| pruning.removed), Some(20));
        assert_eq!(first_sequence(&store), 20);

        let young = log_of_days(10);
        assert_eq!(prune_audit(&young, &node(), START_MS + 10 * DAY_MS, 365, None).expect("runs"), None);
        assert_eq!(first_sequence(&young), 0);
        // A clock before the retention period's length past the epoch prunes nothing at all.
        assert_eq!(prune_cutoff(&young, DAY_MS, 365, None).expect("runs"), None);
    }

    // covers: COV-18-RETENTION
    #[test]
    fn pruning_never_removes_the_newest_anchored_entry() {
        let store = log_of_days(400);
        let now_ms = START_MS + 400 * DAY_MS;
        // The node last anchored entry 10: entries 0..10 may go, entry 10 stays checkable.
        let pruning = prune_audit(&store, &node(), now_ms, 365, Some(10)).expect("prunes").expect("something went");
        assert_eq!(pruning.removed, 10);
        assert_eq!(first_sequence(&store), 10);
        let anchored = store.range(10, 1).expect("range").remove(0);
        store.verify_against_anchor(10, anchored.hash).expect("the newest anchor still verifies");

        // An anchored entry no longer in the log: nothing more goes.
        let gone = log_of_days(400);
        prune_audit(&gone, &node(), now_ms, 365, None).expect("prunes");
        assert_eq!(prune_cutoff(&gone, now_ms + 30 * DAY_MS, 365, Some(3)).expect("runs"), None);
    }

    // covers: COV-18-RETENTION
    #[test]
    fn pruning_is_due_at_start_up_and_then_once_a_day_of_node_time() {
        let mut schedule = PruneSchedule::new();
        assert!(schedule.is_due(START_MS), "due at start-up");
        schedule.ran(START_MS);
        assert!(!schedule.is_due(START_MS + DAY_MS - 1));
        assert!(schedule.is_due(START_MS + DAY_MS));
        assert_eq!(schedule.next_ms(), Some(START_MS + DAY_MS));
    }
}
