//! The shared audit-log suite: appends, and every kind of tampering detected and named.

use covenant_types::{Hash, encode};

use super::fixtures::{self, audit_record, standard_batch};
use super::harness::{Harness, raw_delete, raw_get, raw_put};
use crate::audit::{Actor, AuditEntry, AuditError, AuditLog, AuditRecord, EventType, Outcome, TamperKind};
use crate::error::StorageError;
use crate::kv::{Backend, Column, u64_key};
use crate::limits::{AUDIT_RETENTION_DAYS_MIN, MS_PER_DAY};
use crate::store::{ChainStore, Store, meta_key};

const ENTRIES: u64 = 10;

/// A store with [`ENTRIES`] entries, one per 100 days from time 0; returns them.
fn log_of_ten<H: Harness>() -> (H, Vec<AuditEntry>) {
    let harness = H::new();
    for index in 0..ENTRIES {
        harness.store().append(audit_record(index * 100 * MS_PER_DAY, index)).expect("append");
    }
    let entries = harness.store().range(0, 100).expect("range");
    assert_eq!(entries.len() as u64, ENTRIES);
    (harness, entries)
}

fn put_entry<B: Backend>(store: &Store<B>, place: u64, entry: &AuditEntry) {
    raw_put(store, Column::Audit, &u64_key(place), &encode(entry));
}

/// Asserts `verify` fails at `sequence` with a kind `matches` accepts.
fn assert_tampered<B: Backend>(store: &Store<B>, sequence: u64, matches: impl Fn(&TamperKind) -> bool) {
    match store.verify() {
        Err(AuditError::Tampered { sequence: found, kind }) => {
            assert_eq!(found, sequence, "first bad entry (kind {kind})");
            assert!(matches(&kind), "unexpected kind at {found}: {kind}");
        }
        other => panic!("expected tampering at {sequence}, got {other:?}"),
    }
}

pub fn audit_append_and_range<H: Harness>() {
    let harness = H::new();
    let store = harness.store();
    assert_eq!(store.head().expect("head"), None);
    assert_eq!(store.verify().expect("an empty log verifies").entries, 0);
    let first = store.append(audit_record(5, 0)).expect("append");
    assert_eq!((first.sequence, first.prev_hash), (0, Hash::ZERO));
    assert_eq!(first.hash, first.compute_hash());
    // Entries of a commit continue the same chain.
    store.commit_block(standard_batch(None, 1)).expect("genesis");
    let third = store.append(audit_record(6, 2)).expect("append");
    assert_eq!(third.sequence, 2);
    let entries = store.range(0, 10).expect("range");
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[1].event_type, EventType::BlockCommitted);
    assert_eq!(entries[1].prev_hash, first.hash);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
    assert_eq!(store.range(1, 1).expect("range"), vec![entries[1].clone()]);
    assert_eq!(store.head().expect("head"), Some(third.position()));
    let summary = store.verify().expect("verifies");
    assert_eq!((summary.first_sequence, summary.entries, summary.head), (Some(0), 3, Some(third.position())));

    // Free-form fields are bounded and validated.
    let custom =
        AuditRecord::new(7, fixtures::node(), EventType::Custom("Not Valid".into()), Actor::System, Outcome::Refused);
    assert!(matches!(store.append(custom), Err(StorageError::InvalidAuditRecord { field: "event_type", .. })));
    let remote = AuditRecord::new(
        7,
        fixtures::node(),
        EventType::PeerRefused,
        Actor::Remote("10.0.0.1:\n".into()),
        Outcome::Refused,
    );
    assert!(matches!(store.append(remote), Err(StorageError::InvalidAuditRecord { field: "actor", .. })));
    let long = audit_record(7, 0).with_detail("note", "x".repeat(crate::limits::AUDIT_DETAIL_VALUE_BYTES_MAX + 1));
    assert!(matches!(store.append(long), Err(StorageError::InvalidAuditRecord { field: "details", .. })));
    assert_eq!(store.head().expect("head"), Some(third.position()), "refused records append nothing");
}

pub fn audit_edited_field_detected<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let mut edited = entries[3].clone();
    edited.outcome = Outcome::Failure;
    put_entry(harness.store(), 3, &edited);
    assert_tampered(harness.store(), 3, |kind| matches!(kind, TamperKind::Edited { .. }));
    // Reading the entry reports corruption too.
    assert!(matches!(harness.store().range(3, 1), Err(StorageError::Corrupt { what: "audit entry", .. })));
}

pub fn audit_edited_hash_detected<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let mut edited = entries[4].clone();
    edited.hash = Hash::digest(b"forged");
    put_entry(harness.store(), 4, &edited);
    assert_tampered(
        harness.store(),
        4,
        |kind| matches!(kind, TamperKind::Edited { stored_hash, computed_hash } if *stored_hash == edited.hash && *computed_hash == entries[4].hash),
    );
}

pub fn audit_rewritten_and_rehashed_detected<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let mut record = audit_record(entries[3].time_ms, 3);
    record.outcome = Outcome::Refused;
    let forged = AuditEntry::seal(3, entries[2].hash, record);
    put_entry(harness.store(), 3, &forged);
    // Entry 3 is self-consistent now; the break shows at the link from 4.
    assert_tampered(
        harness.store(),
        4,
        |kind| matches!(kind, TamperKind::Relinked { expected_prev, found_prev } if *expected_prev == forged.hash && *found_prev == entries[3].hash),
    );
}

pub fn audit_deleted_middle_detected<H: Harness>() {
    let (harness, _) = log_of_ten::<H>();
    raw_delete(harness.store(), Column::Audit, &u64_key(5));
    assert_tampered(harness.store(), 5, |kind| {
        matches!(kind, TamperKind::Deleted { first_missing: 5, next_present: 6 })
    });
}

pub fn audit_deleted_first_detected<H: Harness>() {
    let (harness, _) = log_of_ten::<H>();
    raw_delete(harness.store(), Column::Audit, &u64_key(0));
    assert_tampered(harness.store(), 0, |kind| {
        matches!(kind, TamperKind::Deleted { first_missing: 0, next_present: 1 })
    });
}

pub fn audit_inserted_detected<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let store = harness.store();
    // A forged entry that links properly to entry 2, with the genuine entries moved up one place.
    let forged = AuditEntry::seal(3, entries[2].hash, audit_record(entries[2].time_ms + 1, 99));
    for entry in entries[3..].iter().rev() {
        put_entry(store, entry.sequence + 1, entry);
    }
    put_entry(store, 3, &forged);
    assert_tampered(store, 3, |kind| matches!(kind, TamperKind::Inserted { .. }));
}

pub fn audit_inserted_past_head_detected<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let forged = AuditEntry::seal(ENTRIES, entries[9].hash, audit_record(entries[9].time_ms + 1, 99));
    put_entry(harness.store(), ENTRIES, &forged);
    assert_tampered(harness.store(), ENTRIES, |kind| matches!(kind, TamperKind::Inserted { .. }));
    // A key that is no sequence at all.
    let (harness, _) = log_of_ten::<H>();
    raw_put(harness.store(), Column::Audit, b"\x00\x00\x00\x00\x00\x00\x00\x04\x00", b"junk");
    assert_tampered(harness.store(), 5, |kind| matches!(kind, TamperKind::Inserted { .. }));
}

pub fn audit_swapped_detected<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    put_entry(harness.store(), 3, &entries[6]);
    put_entry(harness.store(), 6, &entries[3]);
    assert_tampered(harness.store(), 3, |kind| matches!(kind, TamperKind::Reordered { entry_sequence: 6 }));
}

pub fn audit_undecodable_detected<H: Harness>() {
    let (harness, _) = log_of_ten::<H>();
    raw_put(harness.store(), Column::Audit, &u64_key(7), b"not an entry");
    assert_tampered(harness.store(), 7, |kind| matches!(kind, TamperKind::Undecodable { .. }));
}

pub fn audit_truncated_tail_detected<H: Harness>() {
    // Cutting entries off the end is seen against the recorded head ...
    let (harness, entries) = log_of_ten::<H>();
    raw_delete(harness.store(), Column::Audit, &u64_key(8));
    raw_delete(harness.store(), Column::Audit, &u64_key(9));
    assert_tampered(harness.store(), 8, |kind| {
        matches!(kind, TamperKind::Truncated { last_present: Some(7), expected_last: 9 })
    });
    // ... but whoever also rewrites the head can only be caught by an anchor.
    raw_put(harness.store(), Column::Meta, meta_key::AUDIT_HEAD, &encode(&entries[7].position()));
    let summary = harness.store().verify().expect("locally consistent");
    assert_eq!(summary.head, Some(entries[7].position()));
    harness.store().verify_against_anchor(5, entries[5].hash).expect("an older anchor still holds");
    match harness.store().verify_against_anchor(9, entries[9].hash) {
        Err(AuditError::Tampered {
            sequence: 9,
            kind: TamperKind::Truncated { last_present: Some(7), expected_last: 9 },
        }) => {}
        other => panic!("expected truncation against the anchor, got {other:?}"),
    }
}

pub fn audit_rewritten_tail_caught_by_anchor<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let store = harness.store();
    // Rewrite entries 5.. with recomputed hashes and head: locally perfect.
    let mut previous = entries[4].hash;
    let mut last = None;
    for entry in &entries[5..] {
        let mut record = audit_record(entry.time_ms, entry.sequence);
        record.outcome = Outcome::Failure;
        let forged = AuditEntry::seal(entry.sequence, previous, record);
        put_entry(store, entry.sequence, &forged);
        previous = forged.hash;
        last = Some(forged.position());
    }
    raw_put(store, Column::Meta, meta_key::AUDIT_HEAD, &encode(&last.expect("rewrote entries")));
    store.verify().expect("locally consistent");
    match store.verify_against_anchor(7, entries[7].hash) {
        Err(AuditError::Tampered { sequence: 7, kind: TamperKind::AnchorMismatch { anchored, .. } }) => {
            assert_eq!(anchored, entries[7].hash);
        }
        other => panic!("expected an anchor mismatch, got {other:?}"),
    }
    store.verify_against_anchor(4, entries[4].hash).expect("before the rewrite the anchor holds");
}

/// Incremental verification goes on from a verified head: new entries are checked link by link, and
/// a rewrite that reaches back to the verified entry (hashes recomputed, head moved) is caught.
pub fn audit_incremental_verification_from_a_verified_head<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let store = harness.store();
    let verified = store.verify().expect("verifies").head.expect("a head");
    assert_eq!(verified, entries[9].position());
    // Nothing new: the same head, no entries read.
    let summary = store.verify_after(verified).expect("unchanged");
    assert_eq!((summary.head, summary.entries), (Some(verified), 0));
    // Two appended: only they are checked.
    store.append(audit_record(entries[9].time_ms + 1, 10)).expect("append");
    let eleventh = store.append(audit_record(entries[9].time_ms + 2, 11)).expect("append");
    let summary = store.verify_after(verified).expect("new entries link on");
    assert_eq!((summary.head, summary.entries), (Some(eleventh.position()), 2));
    // A new entry edited in place: named.
    let mut edited = eleventh.clone();
    edited.details.insert("forged".into(), "yes".into());
    put_entry(store, 11, &edited);
    match store.verify_after(verified) {
        Err(AuditError::Tampered { sequence: 11, kind: TamperKind::Edited { .. } }) => {}
        other => panic!("expected entry 11 edited, got {other:?}"),
    }
    put_entry(store, 11, &eleventh);
    // Entries 5.. rewritten with every hash recomputed and the head moved: the verified entry 9 no
    // longer carries the hash it was verified with.
    let mut previous = entries[4].hash;
    let mut last = None;
    for sequence in 5..=11 {
        let mut record = audit_record(sequence * 100 * MS_PER_DAY, sequence);
        record.outcome = Outcome::Failure;
        let forged = AuditEntry::seal(sequence, previous, record);
        put_entry(store, sequence, &forged);
        previous = forged.hash;
        last = Some(forged.position());
    }
    raw_put(store, Column::Meta, meta_key::AUDIT_HEAD, &encode(&last.expect("rewrote entries")));
    store.verify().expect("locally consistent");
    match store.verify_after(verified) {
        Err(AuditError::Tampered { sequence: 9, kind: TamperKind::ChangedSinceVerified { verified: hash, found } }) => {
            assert_eq!(hash, entries[9].hash);
            assert!(found.is_some_and(|found| found != hash));
        }
        other => panic!("expected entry 9 changed since verified, got {other:?}"),
    }
    // The tail deleted back past the verified entry: it is missing.
    raw_delete(store, Column::Audit, &u64_key(9));
    match store.verify_after(verified) {
        Err(AuditError::Tampered { sequence: 9, kind: TamperKind::ChangedSinceVerified { found: None, .. } }) => {}
        other => panic!("expected entry 9 missing, got {other:?}"),
    }
}

pub fn audit_pruning_respects_retention<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let store = harness.store();
    let now_ms = 1000 * MS_PER_DAY;
    let latest_cutoff = now_ms - AUDIT_RETENTION_DAYS_MIN * MS_PER_DAY;

    let error = store.prune_before(0, now_ms, AUDIT_RETENTION_DAYS_MIN - 1).expect_err("retention too short");
    assert!(matches!(error, AuditError::RetentionBelowMinimum { retention_days: 364, min_days: 365 }), "{error}");
    assert_eq!(error.rule(), Some(covenant_rules::RuleId::Retention));
    let error = store.prune_before(latest_cutoff + 1, now_ms, AUDIT_RETENTION_DAYS_MIN).expect_err("cutoff too recent");
    assert!(
        matches!(error, AuditError::CutoffWithinRetention { latest_cutoff_ms, .. } if latest_cutoff_ms == latest_cutoff)
    );
    let error = store.prune_before(1, now_ms, u64::MAX).expect_err("retention beyond any cutoff");
    assert!(matches!(error, AuditError::CutoffWithinRetention { .. }), "{error}");
    assert_eq!(store.range(0, 100).expect("range").len() as u64, ENTRIES, "refusals delete nothing");

    // Entries are 100 days apart: a cutoff of 635 days removes entries 0..=6.
    let summary = store.prune_before(latest_cutoff, now_ms, AUDIT_RETENTION_DAYS_MIN).expect("prune");
    assert_eq!((summary.removed, summary.checkpoint, summary.more_remaining), (7, Some(entries[6].position()), false));
    assert_eq!(store.checkpoint().expect("checkpoint"), Some(entries[6].position()));
    let verified = store.verify().expect("still verifies after pruning");
    assert_eq!((verified.first_sequence, verified.entries), (Some(7), 3));
    // The chain continues, and anchors before the checkpoint are known to be pruned.
    store.append(audit_record(now_ms, 10)).expect("append after pruning");
    store.verify().expect("verifies");
    store.verify_against_anchor(6, entries[6].hash).expect("the checkpoint matches its anchor");
    assert!(matches!(
        store.verify_against_anchor(3, entries[3].hash),
        Err(AuditError::AnchorPruned { anchor_sequence: 3, checkpoint_sequence: 6 })
    ));
    // Pruning again removes nothing new.
    assert_eq!(store.prune_before(latest_cutoff, now_ms, AUDIT_RETENTION_DAYS_MIN).expect("prune").removed, 0);

    // Tampering after the checkpoint is still caught: deleting the first kept entry ...
    let kept = raw_get(store, Column::Audit, &u64_key(7)).expect("entry 7");
    raw_delete(store, Column::Audit, &u64_key(7));
    assert_tampered(store, 7, |kind| matches!(kind, TamperKind::Deleted { first_missing: 7, next_present: 8 }));
    raw_put(store, Column::Audit, &u64_key(7), &kept);
    // ... and so is putting an entry back before the checkpoint.
    put_entry(store, 2, &entries[2]);
    assert_tampered(store, 2, |kind| matches!(kind, TamperKind::Inserted { .. }));
}

pub fn audit_pruning_refuses_tampered_log<H: Harness>() {
    let (harness, entries) = log_of_ten::<H>();
    let store = harness.store();
    let mut edited = entries[2].clone();
    edited.details.insert("record".into(), "someone-else".into());
    put_entry(store, 2, &edited);
    let now_ms = 2000 * MS_PER_DAY;
    let error = store.prune_before(now_ms - 400 * MS_PER_DAY, now_ms, 400).expect_err("tampered log");
    assert!(matches!(error, AuditError::Tampered { sequence: 2, kind: TamperKind::Edited { .. } }), "{error}");
    assert_eq!(store.checkpoint().expect("checkpoint"), None);
    assert!(raw_get(store, Column::Audit, &u64_key(0)).is_some(), "nothing was pruned");
}
