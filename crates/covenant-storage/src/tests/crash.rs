//! Crash test: a child process commits blocks as fast as it can and is killed with SIGKILL at a
//! random moment; the parent reopens the store and checks that every acknowledged block is there,
//! whole, and nothing of a later block is. The child is this test binary, re-run with
//! `--exact tests::crash::crash_child` and the store directory in [`CHILD_DIR_ENV`].

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use covenant_types::Hash;

use super::fixtures::{STATE_KEYS_PER_BLOCK, standard_batch, state_key, state_value};
use crate::audit::AuditLog;
use crate::rocks::RocksStore;
use crate::store::{ChainStore, ChainTip};

/// Where the child finds the store; the child does nothing without it.
const CHILD_DIR_ENV: &str = "COVENANT_STORAGE_CRASH_DIR";
/// Seed to replay a run.
const SEED_ENV: &str = "COVENANT_STORAGE_CRASH_SEED";
/// Printed by the child once the store is open.
const READY_LINE: &str = "crash-child-ready";
/// Printed by the child after each acknowledged commit, followed by the height.
const COMMITTED_PREFIX: &str = "crash-child-committed ";

const KILLS: u32 = 20;
const KILL_DELAY_MS_MIN: u64 = 20;
const KILL_DELAY_MS_MAX: u64 = 300;
/// Stop early (still checking what was done) if the machine is too slow for all the kills.
const TEST_DURATION_MAX: Duration = Duration::from_secs(30);
const TXS_PER_BLOCK: u64 = 2;

/// xorshift64*: enough randomness for kill timing, no dependency, replayable from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

#[test]
#[ignore = "child process of crash_recovery_after_sigkill, which runs it"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else { return };
    let store = RocksStore::open(&dir).expect("child opens the store");
    let mut tip = store.latest().expect("child reads the tip");
    let mut out = std::io::stdout().lock();
    // libtest has already printed `test ... ` without a newline: start a line of our own.
    writeln!(out, "\n{READY_LINE}").and_then(|()| out.flush()).expect("child reports ready");
    loop {
        let next = tip.map_or(0, |tip| tip.height + 1);
        // As consensus does: what it is about to vote for is durable before the block commits.
        store.save_safety_state(&next.to_be_bytes()).expect("child saves safety state");
        tip = Some(store.commit_block(standard_batch(tip, TXS_PER_BLOCK)).expect("child commits"));
        writeln!(out, "{COMMITTED_PREFIX}{next}").and_then(|()| out.flush()).expect("child reports commit");
    }
}

/// Runs the child until killed after a random delay; returns the highest acknowledged height.
fn run_and_kill_child(dir: &Path, delay: Duration) -> Option<u64> {
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", "tests::crash::crash_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("child stdout is piped");
    let (ready_sender, ready) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acknowledged = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim_end() == READY_LINE {
                let _ = ready_sender.send(());
            } else if let Some(height) = line.trim_end().strip_prefix(COMMITTED_PREFIX) {
                acknowledged = Some(height.parse::<u64>().expect("child prints heights"));
            }
        }
        acknowledged
    });
    // The clock starts when the store is open, so that every kill lands among commits.
    ready.recv_timeout(Duration::from_secs(20)).expect("the child opened the store");
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL the child");
    child.wait().expect("reap the child");
    reader.join().expect("reader thread")
}

/// Checks the reopened store after a kill; returns its tip.
fn check_after_crash(
    store: &RocksStore,
    acknowledged: Option<u64>,
    checked_until: Option<ChainTip>,
) -> Option<ChainTip> {
    let tip = store.latest().expect("tip readable after a crash");
    let Some(tip) = tip else {
        assert_eq!(acknowledged, None, "an acknowledged block is lost");
        return None;
    };
    if let Some(acknowledged) = acknowledged {
        assert!(tip.height >= acknowledged, "acknowledged block {acknowledged} lost: tip is {}", tip.height);
    }
    // Heights contiguous and linked from the last check on (earlier ones were checked before).
    let mut parent = checked_until.map_or(Hash::ZERO, |checked| checked.hash);
    let from = checked_until.map_or(0, |checked| checked.height + 1);
    for height in from..=tip.height {
        let block = store.block_by_height(height).expect("block readable").expect("block present below tip");
        assert_eq!(block.header.parent_hash, parent, "block {height} links to its parent");
        assert!(store.commit_seals(height).expect("seals readable").is_some());
        parent = block.hash();
    }
    assert_eq!(parent, tip.hash);
    // Every write of the tip block is there; the one before it had its first key deleted.
    let height = tip.height;
    for index in 0..STATE_KEYS_PER_BLOCK {
        assert_eq!(store.get_state(&state_key(height, index)).expect("state"), Some(state_value(height, index)));
    }
    assert_eq!(store.get_state(b"latest").expect("state"), Some(height.to_be_bytes().to_vec()));
    if let Some(previous) = height.checked_sub(1) {
        assert_eq!(store.get_state(&state_key(previous, 0)).expect("state"), None);
        assert_eq!(store.get_state(&state_key(previous, 1)).expect("state"), Some(state_value(previous, 1)));
    }
    let block = store.block_by_height(height).expect("tip block").expect("tip block present");
    for tx in block.transactions.iter() {
        assert!(store.receipt(&tx.body.hash()).expect("receipt").is_some(), "receipt of the tip block");
        assert!(store.tx_location(&tx.body.hash()).expect("tx index").is_some(), "tx index of the tip block");
    }
    // Nothing of the next block.
    let next = height + 1;
    assert_eq!(store.block_by_height(next).expect("read above tip"), None);
    let partial = store.scan_state(format!("block/{next:010}/").as_bytes(), None, 10).expect("scan");
    assert!(partial.entries.is_empty(), "state of uncommitted block {next} is visible");
    // The safety state was saved before the commit of its height.
    let safety = store.load_safety_state().expect("safety state").expect("safety state saved");
    let voted = u64::from_be_bytes(safety.try_into().expect("8-byte safety state"));
    assert!(voted == height || voted == next, "safety state {voted} with tip {height}");
    // One audit entry per block, chain intact.
    let summary = store.verify().expect("audit log verifies after a crash");
    assert_eq!(summary.head.map(|head| head.sequence), Some(height));
    Some(tip)
}

#[test]
fn crash_recovery_after_sigkill() {
    let seed = std::env::var(SEED_ENV).ok().and_then(|text| text.parse().ok()).unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos());
        (nanos as u64) | 1
    });
    eprintln!("crash test seed={seed} (replay: {SEED_ENV}={seed} cargo test -p covenant-storage crash_recovery)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().expect("temporary directory");
    let started = Instant::now();
    let mut checked: Option<ChainTip> = None;
    let mut kills = 0;
    while kills < KILLS && started.elapsed() < TEST_DURATION_MAX {
        let delay = Duration::from_millis(rng.between(KILL_DELAY_MS_MIN, KILL_DELAY_MS_MAX));
        let acknowledged = run_and_kill_child(dir.path(), delay);
        kills += 1;
        let store = RocksStore::open(dir.path()).expect("reopen after SIGKILL");
        let tip = check_after_crash(&store, acknowledged, checked);
        if let (Some(before), Some(after)) = (checked, tip) {
            assert!(after.height >= before.height, "committed blocks vanished: {} -> {}", before.height, after.height);
        }
        checked = tip.or(checked);
    }
    let height = checked.map(|tip| tip.height);
    eprintln!("crash test: {kills} kills in {:?}, final height {height:?}", started.elapsed());
    assert!(kills >= KILLS / 2, "only {kills} kills fit in {TEST_DURATION_MAX:?}");
    assert!(height.is_some_and(|height| height >= u64::from(kills)), "too few commits to matter: {height:?}");
}
