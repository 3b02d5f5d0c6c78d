//! End to end (COV-35): validator 3 runs with its wall clock 60 s ahead (libfaketime), far beyond
//! `clock_drift_ms_max`. Its proposals carry timestamps the honest validators refuse by rule, so no
//! block it proposes is committed, the heights it should propose are decided in a later round by
//! the next proposer, and the chain goes on with the three honest validators. Every committed
//! timestamp is within the drift bound of the honest clocks (which are the test's clock).

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use covenant_tests::{Consortium, Launch, find_libfaketime, now_ms};
use covenant_types::NodeId;

const SKEW_S: u64 = 60;
const SKEWED: usize = 3;
const HONEST: [usize; 3] = [0, 1, 2];
const HEIGHTS: u64 = 6;
const REFUSAL: &str = "consensus refused a message by covenant rule";
const DRIFT_RULE: &str = "COV-35-CLOCK-DRIFT";

/// The node's wall clock `SKEW_S` ahead through libfaketime preloaded directly, with the monotonic
/// clock left alone (tokio's timers run on it). Not the `faketime` wrapper: it keeps a POSIX
/// semaphore and shared memory named after its pid in /dev/shm, which a killed node leaves behind,
/// and a later run whose wrapper gets the same pid then fails with "sem_open: File exists".
fn skewed_launch() -> Launch {
    let Some(library) = find_libfaketime() else {
        panic!(
            "libfaketime is not installed, so the clock-skew test cannot run: run scripts/prereqs.sh (it installs the \
             Debian package faketime; CI runs it)"
        )
    };
    Launch::default()
        .env("LD_PRELOAD", library)
        .env("FAKETIME", format!("+{SKEW_S}s"))
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
}

/// Checks the preload really skews a process's wall clock, so a failure below is about the node.
fn check_faketime_works(launch: &Launch) {
    let mut command = std::process::Command::new("date");
    command.arg("+%s").envs(launch.env.iter().map(|(k, v)| (k, v)));
    let output = command.output().expect("date runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let faked: u64 =
        text.trim().parse().unwrap_or_else(|_| panic!("date under libfaketime printed {text:?}: {output:?}"));
    let real = now_ms() / 1000;
    assert!(
        faked >= real + SKEW_S - 5 && faked <= real + SKEW_S + 5,
        "libfaketime does not skew the clock by {SKEW_S} s: it says {faked}, the real clock {real}"
    );
}

/// The drift in a COV-35 refusal: "... proposal timestamp T is D ms from this validator's clock ...".
fn measured_drift_ms(line: &str) -> Option<u64> {
    let (before, _) = line.split_once(" ms from this validator's clock")?;
    before.rsplit(' ').next()?.parse().ok()
}

// covers: COV-35-CLOCK-DRIFT
#[test]
fn clock_skew_proposals_of_a_skewed_validator_are_refused_while_the_chain_goes_on() {
    let launch = skewed_launch();
    check_faketime_works(&launch);
    let started = Instant::now();
    let mut consortium = Consortium::init(4);
    let genesis = consortium.genesis();
    let drift_ms = genesis.parameters().clock_drift_ms_max;
    let validators = genesis.validator_set().clone();
    let skewed_id: NodeId = consortium.config(SKEWED).node_id;
    assert!(SKEW_S * 1000 > 10 * drift_ms, "the skew must be far beyond clock_drift_ms_max = {drift_ms} ms");
    for index in HONEST {
        consortium.start_node(index);
    }
    consortium.start_node_with(SKEWED, &launch);

    consortium.wait_for_height(&HONEST, 1, Duration::from_secs(60));
    let from = HONEST.iter().map(|index| consortium.height(*index)).max().unwrap_or(0);
    let to = from + HEIGHTS;

    // Watch the honest nodes commit `HEIGHTS` more blocks, noting when each height appeared: the test
    // clock right after the poll that first showed it on an honest node, and right before the last
    // poll on which no honest node had it yet.
    let mut first_seen: BTreeMap<u64, u64> = BTreeMap::new();
    let mut absent_before: BTreeMap<u64, u64> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(100);
    loop {
        let before_ms = now_ms();
        let heights: Vec<u64> = HONEST.iter().map(|index| consortium.height(*index)).collect();
        let after_ms = now_ms();
        let highest = heights.iter().copied().max().unwrap_or(0);
        for height in (highest + 1)..=(to + 1) {
            absent_before.insert(height, before_ms);
        }
        for height in (from + 1)..=highest.min(to) {
            first_seen.entry(height).or_insert(after_ms);
        }
        // Decided on the same poll as the times above: a later poll could see heights no time was
        // noted for.
        if heights.iter().all(|height| *height >= to) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the honest validators did not get from height {from} to {to} within 100 s (heights {:?})\n{}",
            HONEST.iter().map(|index| consortium.height(*index)).collect::<Vec<_>>(),
            consortium.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("honest validators went from height {from} to {to} in {:?}", started.elapsed());
    consortium.assert_same_chain(&HONEST);

    let mut skewed_turns = Vec::new();
    for height in (from + 1)..=to {
        let block = consortium.block(0, height).expect("node 0 has the block");
        let header = &block["header"];
        let round = u32::try_from(header["round"].as_u64().expect("header round")).expect("round fits u32");
        let proposer = header["proposer"].as_str().expect("header proposer");
        let timestamp_ms = header["timestamp_ms"].as_u64().expect("header timestamp");
        eprintln!("height {height}: round {round}, proposer {proposer}, timestamp {timestamp_ms}");
        assert_ne!(proposer, skewed_id.as_str(), "block {height} proposed by the skewed validator was committed");
        assert_eq!(
            proposer,
            validators.proposer(height, round).id.as_str(),
            "block {height} round {round} has another proposer than the validator set's"
        );
        if validators.proposer(height, 0).id == skewed_id {
            assert!(round >= 1, "height {height} is the skewed validator's turn but was decided in round 0");
            skewed_turns.push(height);
        }
        let seen_ms = first_seen[&height];
        assert!(
            timestamp_ms <= seen_ms + drift_ms,
            "block {height} timestamp {timestamp_ms} is {} ms ahead of the honest clock when it was committed \
             (drift bound {drift_ms} ms)",
            timestamp_ms - seen_ms
        );
        // The block was proposed after its parent was committed, which had not happened yet at this time.
        if let Some(&parent_absent_ms) = absent_before.get(&(height - 1)) {
            assert!(
                timestamp_ms + drift_ms >= parent_absent_ms,
                "block {height} timestamp {timestamp_ms} is before its parent was committed ({parent_absent_ms}) by \
                 more than the drift bound {drift_ms} ms"
            );
        }
    }
    assert!(!skewed_turns.is_empty(), "no height in {from}..={to} was the skewed validator's turn");

    // The honest validators said why: the skewed validator's proposals broke the drift rule.
    let refusals: Vec<String> = HONEST
        .iter()
        .flat_map(|index| {
            consortium
                .log(*index)
                .lines()
                .filter(|line| line.contains(REFUSAL) && line.contains(DRIFT_RULE) && line.contains(skewed_id.as_str()))
                .map(|line| format!("validator-{index}: {line}"))
                .collect::<Vec<_>>()
        })
        .collect();
    // Once the skewed node has measured its peers (status exchange), it raises the clock alert and
    // withholds its own proposals; before that, the honest validators refuse them by the drift rule.
    // Either way its turns pass to the next proposer; at least one of the two must show.
    let skewed_log = consortium.log(SKEWED);
    let withheld = skewed_log.lines().filter(|line| line.contains("withholding this node's proposal")).count();
    assert!(
        !refusals.is_empty() || withheld > 0,
        "neither did an honest validator refuse a proposal of {skewed_id} by {DRIFT_RULE} nor did it withhold one \
         (its turns: heights {skewed_turns:?})\n{}",
        consortium.logs()
    );
    eprintln!("{} refusals by {DRIFT_RULE}, {withheld} proposals withheld", refusals.len());
    // The drift the honest validators measured is the skew, not some other clock trouble.
    let drifts: Vec<u64> = refusals.iter().filter_map(|line| measured_drift_ms(line)).collect();
    let skew_ms = SKEW_S * 1000;
    assert!(
        refusals.is_empty() || drifts.iter().any(|drift| drift.abs_diff(skew_ms) < 5_000),
        "the refusals measured drifts {drifts:?} ms, not the {skew_ms} ms skew: {refusals:#?}"
    );
    // The skewed node raised the clock alert: log, metric (and audit, checked by the unit of record).
    assert!(
        skewed_log.lines().any(|line| line.contains("out of the drift bound against its peers")),
        "the skewed validator raised no clock alert\n{}",
        consortium.logs()
    );
    let metrics = consortium.metrics(SKEWED).unwrap_or_default();
    assert!(metrics.contains("covenant_clock_out_of_range 1"), "{metrics}");
    assert!(consortium.is_running(SKEWED), "the skewed validator exited\n{}", consortium.logs());
    let skewed_height = consortium.height(SKEWED);
    // The nodes measured the skew against their peers (status exchange): the skewed node sees its
    // peers 60 s behind; the honest nodes' median offset stays within the drift bound.
    let offset_of = |index: usize| consortium.status(index).and_then(|status| status["clock_offset_ms"].as_i64());
    let skewed_offset = offset_of(SKEWED);
    assert!(
        skewed_offset.is_some_and(|offset| offset.abs_diff(-(skew_ms as i64)) < 5_000),
        "the skewed validator's measured clock offset is {skewed_offset:?} ms, expected about -{skew_ms}"
    );
    for index in HONEST {
        let offset = offset_of(index);
        assert!(
            offset.is_some_and(|offset| offset.unsigned_abs() <= drift_ms),
            "honest validator {index} measured a median clock offset of {offset:?} ms"
        );
    }
    // The skewed node (under the faketime wrapper, in its own process group) still stops cleanly.
    consortium.stop_node(SKEWED, Duration::from_secs(30));
    assert!(
        consortium.log(SKEWED).lines().any(|line| line.contains(" INFO ") && line.ends_with("node stopped")),
        "the skewed validator did not stop cleanly on SIGTERM\n{}",
        consortium.logs()
    );
    eprintln!("skewed validator was at height {skewed_height}; total {:?}", started.elapsed());
}
