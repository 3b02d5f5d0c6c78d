//! The kinds of fault a run counts: what the network, the schedule and the Byzantine validators
//! actually did, and what the honest nodes did about it. A suite that schedules a fault asserts that
//! its count is not zero, so that a fault that silently stopped happening is noticed.

use covenant_core::Counter;

/// Validators run as twins (two honest copies sharing one key), summed over runs.
pub const TWINNED_VALIDATORS: &str = "twinned_validators";
/// Messages the network lost.
pub const MESSAGES_DROPPED: &str = "messages_dropped";
/// Messages the network delivered twice.
pub const MESSAGES_DUPLICATED: &str = "messages_duplicated";
/// Messages delayed far beyond the normal range (reordering).
pub const MESSAGES_DELAYED: &str = "messages_delayed";
/// Gossip dropped by the network layer for its size, before any node saw it.
pub const OVERSIZED_DROPPED: &str = "oversized_dropped";
/// Partitions that started.
pub const PARTITIONS: &str = "partitions";
/// Crashes (and restarts from the store).
pub const CRASHES: &str = "crashes";
/// Crashes right after a vote was persisted, before it was sent.
pub const CRASHES_AFTER_PERSIST: &str = "crashes_after_persist";
/// Gossip forwarded by a node that accepted it.
pub const GOSSIP_FORWARDED: &str = "gossip_forwarded";
/// Garbage that an honest node forwarded (must stay 0: honest nodes validate before forwarding).
pub const GARBAGE_FORWARDED: &str = "garbage_forwarded";
/// Peers penalised, by anyone.
pub const PENALTIES: &str = "penalties";
/// Byzantine peers penalised by honest nodes.
pub const BYZANTINE_PENALISED: &str = "byzantine_penalised";
/// Gossip an honest node refused as provably bad.
pub const GOSSIP_REJECTED: &str = "gossip_rejected";
/// Gossip an honest node dropped because its deliverer exceeded its budget.
pub const GOSSIP_OVER_BUDGET: &str = "gossip_over_budget";
/// Block requests honest nodes sent.
pub const SYNC_REQUESTS: &str = "sync_requests";
/// Answers that did not back the answering peer's claimed height.
pub const SYNC_UNBACKED: &str = "sync_unbacked";
/// Blocks honest nodes committed from sync.
pub const SYNCED_BLOCKS: &str = "synced_blocks";
/// Block requests honest nodes refused for the requester's budget.
pub const SYNC_SERVE_REFUSED: &str = "sync_serve_refused";
/// Peers' transactions dropped unverified for want of queue room.
pub const GOSSIP_TXS_DROPPED: &str = "gossip_txs_dropped";
/// Consensus messages refused by an engine's buffer budgets or authentication of future messages.
pub const BUFFER_REJECTIONS: &str = "buffer_rejections";
/// Extra rounds.
pub const ROUND_CHANGES: &str = "round_changes";
/// Governance actions executed (a member and validator voted in, a validator voted out).
pub const GOVERNANCE_EXECUTED: &str = "governance_executed";
/// Client transactions submitted (each submission to each node).
pub const CLIENT_SUBMISSIONS: &str = "client_submissions";
/// A scripted trap went off: the validator that decided its height went down.
pub const TRAPS_SPRUNG: &str = "traps_sprung";
/// Messages a trap dropped.
pub const TRAP_DROPS: &str = "trap_drops";
/// Empty blocks decided.
pub const EMPTY_BLOCKS: &str = "empty_blocks";
/// Empty blocks decided less than half the longest block interval after their parent: a proposer
/// that believed transactions were pending.
pub const EMPTY_BLOCKS_EARLY: &str = "empty_blocks_early";
/// Block requests a validator lying about its height received.
pub const REQUESTS_TO_LIARS: &str = "requests_to_liars";

/// The fault kind a core counter feeds, if any.
pub fn of_counter(counter: Counter) -> Option<&'static str> {
    Some(match counter {
        Counter::GossipRejected => GOSSIP_REJECTED,
        Counter::GossipOverBudget => GOSSIP_OVER_BUDGET,
        Counter::SyncRequests => SYNC_REQUESTS,
        Counter::SyncUnbacked => SYNC_UNBACKED,
        Counter::SyncedBlocks => SYNCED_BLOCKS,
        Counter::SyncServeRefused => SYNC_SERVE_REFUSED,
        Counter::GossipTxsDropped => GOSSIP_TXS_DROPPED,
        Counter::RoundChanges => ROUND_CHANGES,
        _ => return None,
    })
}

/// The count name of Byzantine messages sent by a behaviour: `byzantine.<behaviour>`.
pub fn byzantine(behaviour: crate::config::Byzantine) -> &'static str {
    use crate::config::Byzantine::*;
    match behaviour {
        Silent => "byzantine.silent",
        Withholding => "byzantine.withholding",
        EquivocatingProposer => "byzantine.equivocating_proposer",
        DoubleVoter => "byzantine.double_voter",
        InvalidBlock => "byzantine.invalid_block",
        BadTimestamp => "byzantine.bad_timestamp",
        GarbageGossip => "byzantine.garbage_gossip",
        BadSignatures => "byzantine.bad_signatures",
        FalseHeight => "byzantine.false_height",
        FutureFlood => "byzantine.future_flood",
        SyncFlood => "byzantine.sync_flood",
        BadTxBatches => "byzantine.bad_tx_batches",
        ForgedCertificates => "byzantine.forged_certificates",
    }
}
