//! End to end (issue 22, item 4): a validator killed with SIGKILL at the crash points of its write
//! path (`covenant_storage::crash_points`), by the test build `covenant-byzantine --crash-at
//! POINT:N`, and restarted with the production `covenant` binary.
//!
//! * **Votes**: five validators, of which validator 4's keys belong to a recording peer that never
//!   votes (`covenant_tests::attacker`), so quorum (4) needs the crashing validator 1: every height
//!   it crashes in stays open until it is back, and its votes before and after the restart meet the
//!   same peers at the same height. Killed after persisting its safety state (vote not sent), right
//!   after its proposal left, right after a vote left, and right after a block commit: the observer
//!   never sees two different messages from it for one height, round and kind; the safety state
//!   and the committed block are on disk when the process is dead; the chain is one.
//! * **Power cut**: the same five, validator 1's data dir on an ext4 disk of its own that is shut
//!   down without flushing after the kill, so every write it did not sync is lost (what a process
//!   kill, which leaves the page cache, cannot show): each block it acknowledged is still on its
//!   disk, it never votes twice, and the chain is one.
//! * **Sync and backup**: four validators; validator 1 is killed between two blocks of a block
//!   sync, then in the middle of a backup (checkpoint written, manifest not): its store holds every
//!   block it committed, the half backup is refused by `covenant backup verify`, and after the
//!   restart it catches up, backs up, and its audit log verifies against the anchors on chain.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use covenant_byzantine::crash::CRASH_LINE;
use covenant_consensus::SafetyState;
use covenant_storage::ChainStore;
use covenant_tests::attacker::{Attacker, AttackerSpec};
use covenant_tests::{Consortium, Launch};

const CRASHING: usize = 1;

/// Empty blocks every second, so the chain moves without a workload.
const STEADY_CHAIN: &[(&str, u64)] = &[("block_interval_ms_max", 1_000), ("clock_drift_ms_max", 1_000)];

fn path(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Starts the crashing validator with `--crash-at point:hit`, waits for it to kill itself there,
/// and returns the height the crash line names.
fn crash_at(consortium: &mut Consortium, point: &str, hit: u64, timeout: Duration) -> u64 {
    let lines_before = consortium.log(CRASHING).lines().count();
    consortium.start_node_with(CRASHING, &Launch::crash_at(point, hit));
    let Some(status) = consortium.wait_exit(CRASHING, timeout) else {
        consortium.kill_node(CRASHING);
        panic!("validator {CRASHING} did not reach {point} {hit} times within {timeout:?}\n{}", consortium.logs());
    };
    assert_eq!(
        status.signal(),
        Some(9),
        "validator {CRASHING} exited with {status}, not SIGKILL\n{}",
        consortium.logs()
    );
    let log = consortium.log(CRASHING);
    let line = log
        .lines()
        .skip(lines_before)
        .find(|line| line.starts_with(CRASH_LINE))
        .unwrap_or_else(|| panic!("no crash line in the log of validator {CRASHING}\n{}", consortium.logs()))
        .to_string();
    assert!(line.contains(&format!(" {point} reached at height ")), "{line}");
    let height = line.split(" at height ").nth(1).and_then(|rest| rest.split(' ').next()).and_then(|h| h.parse().ok());
    let height = height.unwrap_or_else(|| panic!("no height in {line:?}"));
    eprintln!("{line}");
    height
}

/// The hash of the block at `height` in the stopped crashing validator's store, which must hold it:
/// the node committed it before it was killed.
fn block_on_disk(consortium: &mut Consortium, height: u64) -> covenant_types::Hash {
    let store = consortium.open_store(CRASHING);
    let tip = store.latest().expect("readable").map_or(0, |tip| tip.height);
    assert!(tip >= height, "block {height} was committed before the kill, the tip on disk is {tip}");
    store.block_by_height(height).expect("readable").expect("the committed block is on disk").hash()
}

/// `covenant audit verify` on a stopped node: it must pass and have checked anchors.
fn assert_audit_verifies(consortium: &Consortium, index: usize) {
    let config = consortium.config_file(index);
    let run = consortium.covenant(&["audit", "verify", "--config", path(&config)], Duration::from_secs(120));
    assert_eq!(run.code, 0, "audit verify of validator {index} failed\n{}", run.text());
    assert!(run.text().contains("anchors on chain agree"), "{}", run.text());
}

#[test]
fn a_validator_killed_around_its_votes_never_votes_twice_and_keeps_what_it_committed() {
    let mut consortium = Consortium::init(5);
    // A round long enough that a restarted validator is back in the round it crashed in.
    consortium.set_genesis_parameters(&[STEADY_CHAIN, &[("round_timeout_ms_base", 4_000)]].concat());
    let observer = five_with_observer(&mut consortium);

    let safety_height = crash_at(&mut consortium, "safety-persisted", 12, Duration::from_secs(120));
    {
        let store = consortium.open_store(CRASHING);
        let bytes = store.load_safety_state().expect("readable").expect("a safety state on disk");
        let state = SafetyState::decode(&bytes).expect("the safety state decodes");
        assert_eq!(state.height, safety_height, "the state persisted before the kill is the one on disk");
    }
    crash_at(&mut consortium, "proposal-sent", 1, Duration::from_secs(120));
    crash_at(&mut consortium, "vote-sent", 25, Duration::from_secs(120));
    let committed_height = crash_at(&mut consortium, "block-committed", 6, Duration::from_secs(120));
    let committed_hash = block_on_disk(&mut consortium, committed_height);

    // Back with the production binary; past an anchoring height so the audit check has an anchor.
    consortium.start_node(CRASHING);
    let voters = [0, 1, 2, 3];
    consortium.wait_for_height(&voters, committed_height + 12, Duration::from_secs(180));
    let height = consortium.assert_same_chain(&voters);
    assert_eq!(consortium.block_hash(0, committed_height), Some(committed_hash.to_hex()));

    assert_voted_once_per_slot(&observer);
    observer.shutdown();

    consortium.stop_node(CRASHING, Duration::from_secs(30));
    assert_audit_verifies(&consortium, CRASHING);
    eprintln!("one chain of {height} blocks; no double vote across four kills");
}

/// Five validators, validator 4's keys held by the recording observer (so quorum needs validator 1),
/// the chain's rounds long enough for a restart to land in the round it left.
fn five_with_observer(consortium: &mut Consortium) -> Attacker {
    for index in [0, 2, 3] {
        consortium.start_node(index);
    }
    Attacker::start(
        consortium,
        &AttackerSpec { validator: 4, bootstrap: vec![0, 1, 2, 3], listen_on_own_address: true, claimed_height: 0 },
    )
}

/// The observer saw validator 1 vote, and never sign two different messages for one slot.
fn assert_voted_once_per_slot(observer: &Attacker) {
    let log = observer.log();
    let author = format!("validator-{CRASHING}");
    assert!(log.votes_by(&author) > 20, "the observer saw {} messages of {author}", log.votes_by(&author));
    let doubles: Vec<_> = log.double_votes().into_iter().filter(|((who, ..), _)| *who == author).collect();
    assert!(doubles.is_empty(), "{author} signed two different messages for one slot: {doubles:?}");
}

#[test]
fn a_validator_whose_unsynced_writes_are_lost_keeps_every_block_it_acknowledged_and_never_votes_twice() {
    let mut consortium = Consortium::init(5);
    consortium.set_genesis_parameters(&[STEADY_CHAIN, &[("round_timeout_ms_base", 4_000)]].concat());
    consortium.power_cuttable_data_disk(CRASHING, 1 << 30);
    consortium.start_node(CRASHING);
    let observer = five_with_observer(&mut consortium);
    let voters = [0, 1, 2, 3];
    let mut acknowledged = 0;
    for cut in 1..=3 {
        consortium.wait_for_height(&voters, acknowledged + 4, Duration::from_secs(120));
        // What the node reported committed is what it acknowledged: all of it must survive.
        acknowledged = consortium.height(CRASHING);
        consortium.cut_power(CRASHING);
        {
            let store = consortium.open_store(CRASHING);
            let tip = store.latest().expect("readable").map_or(0, |tip| tip.height);
            assert!(
                tip >= acknowledged,
                "power cut {cut}: the node acknowledged block {acknowledged}, its disk holds {tip}"
            );
            let safety = store.load_safety_state().expect("readable").expect("a safety state");
            SafetyState::decode(&safety).expect("the safety state decodes");
            eprintln!("power cut {cut}: acknowledged {acknowledged}, on disk {tip}");
        }
        consortium.start_node(CRASHING);
    }
    consortium.wait_for_height(&voters, acknowledged + 12, Duration::from_secs(180));
    consortium.assert_same_chain(&voters);
    assert_voted_once_per_slot(&observer);
    observer.shutdown();
    consortium.stop_node(CRASHING, Duration::from_secs(30));
    assert_audit_verifies(&consortium, CRASHING);
}

#[test]
fn a_validator_killed_mid_sync_and_mid_backup_loses_nothing_and_its_half_backup_is_refused() {
    let mut consortium = Consortium::init(4);
    consortium.set_genesis_parameters(STEADY_CHAIN);
    for index in 0..4 {
        consortium.start_node(index);
    }
    let others = [0, 2, 3];
    consortium.wait_for_height(&[0, 1, 2, 3], 2, Duration::from_secs(90));
    consortium.stop_node(CRASHING, Duration::from_secs(30));
    let behind = consortium.height(0);
    consortium.wait_for_height(&others, behind + 30, Duration::from_secs(120));

    // Killed between two blocks of the sync that catches it up.
    let synced_height = crash_at(&mut consortium, "sync-block-committed", 10, Duration::from_secs(120));
    let synced_hash = block_on_disk(&mut consortium, synced_height);
    assert_eq!(consortium.block_hash(0, synced_height), Some(synced_hash.to_hex()));

    // Killed in the middle of a backup the operator asked for.
    let launch = Launch::crash_at("backup-checkpoint-written", 1);
    consortium.start_node_with(CRASHING, &launch);
    consortium.wait_for_height(&[CRASHING], consortium.height(0), Duration::from_secs(120));
    let work = tempfile::tempdir().expect("temp dir");
    let half = work.path().join("half");
    let config = consortium.config_file(CRASHING);
    let run =
        consortium.covenant(&["backup", "create", path(&half), "--config", path(&config)], Duration::from_secs(60));
    assert_ne!(run.code, 0, "a backup whose node died midway must not report success\n{}", run.text());
    let status = consortium.wait_exit(CRASHING, Duration::from_secs(30)).expect("the node died in the backup");
    assert_eq!(status.signal(), Some(9), "{status}");
    assert!(consortium.log(CRASHING).contains("backup-checkpoint-written reached"), "{}", consortium.logs());
    assert!(half.join("db").is_dir() && !half.join("manifest.json").exists(), "checkpoint without manifest expected");
    let verify = consortium.covenant(&["backup", "verify", path(&half)], Duration::from_secs(60));
    assert_eq!(verify.code, 1, "a backup without its manifest must be refused\n{}", verify.text());
    assert!(verify.text().contains("manifest"), "{}", verify.text());

    // Back with the production binary: it catches up and backs up; its audit log verifies.
    consortium.start_node(CRASHING);
    let target = consortium.height(0) + 3;
    consortium.wait_for_height(&[0, 1, 2, 3], target, Duration::from_secs(120));
    let whole = work.path().join("whole");
    let genesis = consortium.config(CRASHING).genesis_file;
    let run = consortium.covenant(
        &["backup", "create", path(&whole), "--config", path(&config), "--genesis", path(&genesis)],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, 0, "{}", run.text());
    let verify = consortium.covenant(&["backup", "verify", path(&whole)], Duration::from_secs(120));
    assert_eq!(verify.code, 0, "{}", verify.text());
    consortium.wait_for_height(&[0, 1, 2, 3], 12.max(target), Duration::from_secs(120));
    consortium.assert_same_chain(&[0, 1, 2, 3]);
    consortium.stop_node(CRASHING, Duration::from_secs(30));
    assert_audit_verifies(&consortium, CRASHING);
}
