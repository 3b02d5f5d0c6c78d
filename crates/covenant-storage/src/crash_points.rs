//! Named places on the node's write path where a crash does the most harm: right after the
//! consensus safety state is durable and before the vote it records is sent, right after a proposal
//! or a vote left, right after a block's batch is durable and before the node acts on it, between
//! two blocks of a block sync, and in the middle of a backup.
//!
//! The node calls [`reached`] at each; nothing happens unless a hook was [`install`]ed, which only
//! the test-only `covenant-byzantine` binary does (it kills its own process there, ADR 0017). A
//! production build carries the calls and no hook: a relaxed atomic load each.

use std::sync::OnceLock;

/// A place on the write path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrashPoint {
    /// The engine's safety state was written (synced); the vote it records is not yet sent.
    SafetyPersisted,
    /// This node's PRE-PREPARE was handed to the network for every peer.
    ProposalSent,
    /// This node's PREPARE, COMMIT or ROUND-CHANGE was handed to the network for every peer.
    VoteSent,
    /// A block was committed, decided here or synced (block, seals, receipts, state and the block's
    /// audit records are one synced batch); nothing was answered, anchored or started after it yet.
    BlockCommitted,
    /// A block that came from a peer's sync answer was committed; the rest of the answer is not.
    SyncBlockCommitted,
    /// A backup's RocksDB checkpoint is on disk; its manifest is not.
    BackupCheckpointWritten,
}

impl CrashPoint {
    /// Every point.
    pub const ALL: [CrashPoint; 6] = [
        CrashPoint::SafetyPersisted,
        CrashPoint::ProposalSent,
        CrashPoint::VoteSent,
        CrashPoint::BlockCommitted,
        CrashPoint::SyncBlockCommitted,
        CrashPoint::BackupCheckpointWritten,
    ];

    /// The point's name on command lines and in logs.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::SafetyPersisted => "safety-persisted",
            CrashPoint::ProposalSent => "proposal-sent",
            CrashPoint::VoteSent => "vote-sent",
            CrashPoint::BlockCommitted => "block-committed",
            CrashPoint::SyncBlockCommitted => "sync-block-committed",
            CrashPoint::BackupCheckpointWritten => "backup-checkpoint-written",
        }
    }
}

impl std::fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for CrashPoint {
    type Err = String;

    fn from_str(text: &str) -> Result<CrashPoint, String> {
        CrashPoint::ALL.into_iter().find(|point| point.name() == text).ok_or_else(|| {
            let names: Vec<&str> = CrashPoint::ALL.iter().map(|point| point.name()).collect();
            format!("unknown crash point {text:?}; the points are {}", names.join(", "))
        })
    }
}

/// What a test build does when the node reaches a point.
pub trait CrashHook: Send + Sync {
    /// The node reached `point`; `height` is the height it concerns (the block's, the vote's, the
    /// backup's).
    fn reached(&self, point: CrashPoint, height: u64);
}

static HOOK: OnceLock<Box<dyn CrashHook>> = OnceLock::new();

/// Installs the process's hook. Fails if one is installed already.
pub fn install(hook: Box<dyn CrashHook>) -> Result<(), &'static str> {
    HOOK.set(hook).map_err(|_| "a crash hook is installed already")
}

/// Whether a hook is installed: a place that must work to name its point (decode what it sent)
/// asks first.
#[inline]
pub fn armed() -> bool {
    HOOK.get().is_some()
}

/// The node reached `point` at `height`.
#[inline]
pub fn reached(point: CrashPoint, height: u64) {
    if let Some(hook) = HOOK.get() {
        hook.reached(point, height);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_unknown_names_are_listed() {
        for point in CrashPoint::ALL {
            assert_eq!(point.name().parse::<CrashPoint>(), Ok(point));
        }
        let error = "after-vote".parse::<CrashPoint>().unwrap_err();
        assert!(error.contains("after-vote") && error.contains("sync-block-committed"), "{error}");
    }
}
