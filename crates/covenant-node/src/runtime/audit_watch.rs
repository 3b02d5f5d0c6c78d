//! The audit watch: verifies this node's audit log against the anchors in its sealed blocks, off the
//! event loop (ADR 0020). The first run verifies the whole log (start-up); later runs, every
//! [`AUDIT_CHECK_INTERVAL_MS`], only what was appended and anchored since. Each verdict goes to the
//! core's view, where the core reads it before anchoring: it anchors only a verified head, and
//! nothing once the log failed. A failure is logged as an error naming the first bad entry, recorded
//! in the audit log, exported (`covenant_audit_log_verified 0`,
//! `covenant_audit_verification_failures_total`) and alerted on (`deploy/prometheus`); the node
//! keeps validating.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info};

use covenant_core::{AuditCheck, AuditVerifier};
use covenant_storage::AuditLog;
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};

use crate::runtime::chain::now_ms;
use crate::runtime::shared::Shared;

/// Pause between two incremental verifications: an anchor, every 10 blocks, covers a head verified
/// at most this long before.
pub const AUDIT_CHECK_INTERVAL_MS: u64 = 1_000;

/// Runs until `stop` flips to true, or until the log failed verification (the verdict stays).
pub async fn run(shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut verifier = AuditVerifier::new(shared.node_id.clone());
    let mut first = true;
    loop {
        let store = shared.store.clone();
        let ran = tokio::task::spawn_blocking(move || {
            let check = verifier.run(&*store);
            (verifier, check)
        })
        .await;
        let Ok((returned, check)) = ran else { return };
        verifier = returned;
        let failed = matches!(check, AuditCheck::Failed(_));
        report(&shared, &check, first);
        shared.view.set_audit_check(check);
        if failed {
            return;
        }
        first = false;
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(Duration::from_millis(AUDIT_CHECK_INTERVAL_MS)) => {}
        }
    }
}

/// Metrics, logs and an audit record for a verdict (the record only at start-up and on failure).
fn report(shared: &Shared, check: &AuditCheck, first: bool) {
    let metrics = &shared.metrics;
    match check {
        AuditCheck::Pending => {}
        AuditCheck::Verified { head, anchors, anchors_sealed, .. } => {
            metrics.audit_log_verified.store(1, Ordering::Relaxed);
            if first {
                let head = head.map_or("none".to_string(), |head| head.sequence.to_string());
                info!(head = %head, anchors, anchors_sealed, "audit log verified against this node's anchors in its sealed blocks");
                record(shared, Outcome::Success, &head, "");
            }
        }
        AuditCheck::Failed(failure) => {
            metrics.audit_log_verified.store(0, Ordering::Relaxed);
            metrics.audit_verification_failures.fetch_add(1, Ordering::Relaxed);
            let sequence = failure.sequence.map_or("unknown".to_string(), |sequence| sequence.to_string());
            error!(
                rule = %covenant_rules::RuleId::AuditTrail,
                first_bad_entry = %sequence,
                "audit log failed verification against this node's anchors in its sealed blocks: {failure}; it will not be anchored"
            );
            record(shared, Outcome::Failure, &sequence, &failure.reason);
        }
    }
}

fn record(shared: &Shared, outcome: Outcome, sequence: &str, reason: &str) {
    let mut record =
        AuditRecord::new(now_ms(), shared.node_id.clone(), EventType::AuditVerified, Actor::System, outcome)
            .with_detail("against", "anchors-in-blocks")
            .with_detail("entry", sequence.to_string());
    if !reason.is_empty() {
        record = record.with_detail("reason", reason.chars().take(300).collect::<String>());
    }
    // Best effort: a log too damaged to append to was reported above.
    let _ = shared.store.append(record);
}
