//! End to end: QBFT with 4 validators needs 3 for a quorum. Two validators killed with SIGKILL halt
//! the chain (the two survivors commit nothing for longer than the maximum block interval) without
//! forking it; one of them restarted, the chain resumes with every running node agreeing on every
//! block; the last one restarted catches up.

use std::time::{Duration, Instant};

use covenant_tests::Consortium;

/// Longer than `block_interval_ms_max` (5 s) plus the clock drift allowance (2 s): an idle chain
/// with a quorum would have committed within this window.
const STALL_WINDOW: Duration = Duration::from_secs(9);

#[test]
fn halt_and_resume_without_a_fork_when_two_of_four_validators_are_killed() {
    let started = Instant::now();
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 2, Duration::from_secs(60));
    consortium.assert_same_chain(&[0, 1, 2, 3]);

    // Two of four killed: no quorum left.
    consortium.kill_node(2);
    consortium.kill_node(3);
    let at_kill = [consortium.height(0), consortium.height(1)];
    // A block whose commit messages were already on the wire may still be committed; let it land.
    std::thread::sleep(Duration::from_millis(1500));
    let stalled = [consortium.height(0), consortium.height(1)];
    let highest_at_kill = at_kill.iter().max().copied().unwrap_or(0);
    for (survivor, height) in stalled.iter().enumerate() {
        assert!(
            *height <= highest_at_kill + 1,
            "node {survivor} went from {:?} to height {height} within 1.5 s of losing the quorum\n{}",
            at_kill,
            consortium.logs()
        );
    }
    // From here on nothing may be committed: a survivor may only sync a block the other already has.
    let halted_at = stalled.iter().max().copied().unwrap_or(0);
    let window_start = Instant::now();
    while window_start.elapsed() < STALL_WINDOW {
        for survivor in [0, 1] {
            let status = consortium
                .status(survivor)
                .unwrap_or_else(|| panic!("survivor {survivor} stopped answering\n{}", consortium.logs()));
            let height = status["height"].as_u64().expect("status has a height");
            assert!(
                height <= halted_at,
                "survivor {survivor} committed height {height} {:?} after the chain halted at {halted_at}, without a \
                 quorum\n{}",
                window_start.elapsed(),
                consortium.logs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // No fork: every height both survivors have carries the same block on both.
    let common = consortium.assert_same_chain(&[0, 1]);
    assert!(common >= 2, "survivors share only {common} heights");
    let rounds: Vec<serde_json::Value> =
        [0, 1].iter().map(|index| consortium.status(*index).expect("survivor answers")["round"].clone()).collect();
    eprintln!("halted at heights {stalled:?} for {STALL_WINDOW:?} (rounds {rounds:?}) after {:?}", started.elapsed());

    // One validator back: three of four, a quorum again. The chain resumes.
    let resume_from = halted_at;
    let restarted = Instant::now();
    consortium.start_node(2);
    consortium.wait_for_height(&[0, 1, 2], resume_from + 3, Duration::from_secs(75));
    eprintln!("resumed to height {} in {:?}", resume_from + 3, restarted.elapsed());
    let agreed = consortium.assert_same_chain(&[0, 1, 2]);
    assert!(agreed >= resume_from + 3, "nodes 0, 1, 2 share only {agreed} heights");

    // The last one back: it catches up and agrees with everybody.
    consortium.start_node(3);
    let target = consortium.height(0);
    consortium.wait_for_height(&[3], target, Duration::from_secs(60));
    let agreed = consortium.assert_same_chain(&[0, 1, 2, 3]);
    assert!(agreed >= target, "all four share only {agreed} heights, node 0 was at {target}");
    eprintln!("all four agree up to height {agreed}; total {:?}", started.elapsed());
}
