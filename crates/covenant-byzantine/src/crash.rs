//! `--crash-at POINT:N`: kill this process with `SIGKILL` the N-th time the node reaches a crash
//! point ([`covenant_storage::crash_points`]), as a power cut or an OOM kill would: no destructor
//! runs, nothing is flushed that the node did not flush itself.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use covenant_storage::crash_points::{CrashHook, CrashPoint};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Where to crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashAt {
    /// The point.
    pub point: CrashPoint,
    /// On its N-th hit (from 1).
    pub hit: u64,
}

/// The line written to stderr just before the kill; tests look for it.
pub const CRASH_LINE: &str = "covenant-byzantine: crash point";

/// Parses `POINT:N` (N from 1) or `POINT` (the first hit).
pub fn parse_crash_at(text: &str) -> Result<CrashAt, String> {
    let (name, hit) = match text.split_once(':') {
        Some((name, hit)) => {
            let hit: u64 = hit.parse().map_err(|_| format!("{hit:?} in {text:?} is not a hit count (1, 2, ...)"))?;
            (name, hit)
        }
        None => (text, 1),
    };
    if hit == 0 {
        return Err(format!("hits count from 1, not 0, in {text:?}"));
    }
    Ok(CrashAt { point: name.parse()?, hit })
}

/// The hook that kills the process.
pub struct Crasher {
    at: CrashAt,
    hits: AtomicU64,
}

impl Crasher {
    /// A hook for `at`.
    pub fn new(at: CrashAt) -> Crasher {
        Crasher { at, hits: AtomicU64::new(0) }
    }
}

impl CrashHook for Crasher {
    fn reached(&self, point: CrashPoint, height: u64) {
        if point != self.at.point {
            return;
        }
        let hit = self.hits.fetch_add(1, Ordering::SeqCst) + 1;
        if hit != self.at.hit {
            return;
        }
        if matches!(point, CrashPoint::ProposalSent | CrashPoint::VoteSent) {
            hold_for_the_wire();
        }
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{CRASH_LINE} {point} reached at height {height} (hit {hit}): SIGKILL");
        let _ = stderr.flush();
        let _ = kill(Pid::this(), Signal::SIGKILL);
        // SIGKILL is delivered before kill(2) returns to a process signalling itself; never reached.
        std::process::abort();
    }
}

/// How long a message handed to the network gets to leave before the kill.
const SENT_GRACE: Duration = Duration::from_millis(100);

/// Holds the node's loop (this thread) while the network task sends what it was handed: through
/// `block_in_place`, which gives this worker's queued tasks (the woken network task among them) to
/// another thread, so the node sends but decides nothing more.
fn hold_for_the_wire() {
    let hold = || std::thread::sleep(SENT_GRACE);
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(hold);
        }
        _ => hold(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_point_and_hit() {
        assert_eq!(parse_crash_at("block-committed:3"), Ok(CrashAt { point: CrashPoint::BlockCommitted, hit: 3 }));
        assert_eq!(parse_crash_at("safety-persisted"), Ok(CrashAt { point: CrashPoint::SafetyPersisted, hit: 1 }));
        assert!(parse_crash_at("block-committed:0").unwrap_err().contains("from 1"));
        assert!(parse_crash_at("block-committed:x").unwrap_err().contains("hit count"));
        assert!(parse_crash_at("nowhere:2").unwrap_err().contains("unknown crash point"));
    }
}
