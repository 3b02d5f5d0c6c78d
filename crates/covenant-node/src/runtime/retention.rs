//! The audit-retention task (COV-18-RETENTION): prunes the audit log at start-up and once a day,
//! off the event loop (pruning verifies the whole log first). What may go is decided by
//! [`covenant_core::retention`], tested there with a fake clock.

use std::time::Duration;

use covenant_core::StoreState;
use covenant_core::retention::{PruneSchedule, prune_audit, retention_days};
use covenant_execution::{StateKey, StateReader};
use covenant_types::NodeId;
use tracing::{info, warn};

use crate::runtime::chain::{NodeStore, now_ms};

/// Runs until aborted: one pruning now, then one a day of node time. `node_days` is the node's own
/// `audit_retention_days`; the chain's parameter is read at each pruning (governance may raise it).
pub async fn run(store: NodeStore, node: NodeId, node_days: u64) {
    let mut schedule = PruneSchedule::new();
    loop {
        let now = now_ms();
        if schedule.is_due(now) {
            let (store, node) = (store.clone(), node.clone());
            let outcome = tokio::task::spawn_blocking(move || prune_once(&store, &node, node_days, now)).await;
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(error)) => warn!(%error, "audit pruning failed; retried in a day"),
                Err(error) => warn!(%error, "audit pruning task failed; retried in a day"),
            }
            schedule.ran(now);
        }
        let wait_ms = schedule.next_ms().map_or(0, |next_ms| next_ms.saturating_sub(now_ms()));
        tokio::time::sleep(Duration::from_millis(wait_ms.max(1))).await;
    }
}

fn prune_once(store: &NodeStore, node: &NodeId, node_days: u64, now_ms: u64) -> anyhow::Result<()> {
    let state = StoreState(&**store);
    let chain_days = state.params()?.audit_retention_days;
    let anchored = state.get::<u64>(&StateKey::LastAuditAnchor(node.clone()))?;
    let days = retention_days(node_days, chain_days);
    if let Some(pruning) = prune_audit(&**store, node, now_ms, days, anchored)? {
        info!(
            removed = pruning.removed,
            cutoff_ms = pruning.cutoff_ms,
            retention_days = days,
            more_remaining = pruning.more_remaining,
            "audit log pruned (COV-18-RETENTION)"
        );
    }
    Ok(())
}
