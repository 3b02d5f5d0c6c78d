//! End to end (COV-35): validator 3 runs with its wall clock ahead (libfaketime), beyond
//! `clock_drift_ms_max`. Two mechanisms keep its timestamps off the chain, and each test shows one alone:
//!
//! - the honest validators refuse its proposals by rule: the skewed validator (4 s ahead) is the test build
//!   told to propose anyway (`covenant-byzantine --propose-out-of-drift`), so nothing else keeps them out;
//! - the skewed validator (60 s ahead), once it has measured its peers' clocks, raises the clock alert and
//!   withholds its own proposals: after the alert, none of its turns reaches the honest validators.
//!
//! Either way the heights it should propose are decided in a later round by the next proposer, the chain
//! goes on with the three honest validators, and every committed timestamp is within the drift bound of
//! the honest clocks (which are the test's clock).

use std::collections::BTreeMap;

use std::time::{Duration, Instant};

use covenant_tests::{Consortium, Launch, find_libfaketime, now_ms};
use covenant_types::NodeId;
use covenant_types::ValidatorSet;

/// The skew of the validator that must withhold its proposals: far beyond `clock_drift_ms_max`.
const FAR_SKEW_S: u64 = 60;
/// The skew of the test build that proposes anyway: beyond `clock_drift_ms_max` (2 s), so the others refuse
/// its proposals, but under `block_interval_ms_max` + drift (7 s), so its own round-0 lateness check (COV-49)
/// does not already keep them home.
const NEAR_SKEW_S: u64 = 4;
const SKEWED: usize = 3;
const HONEST: [usize; 3] = [0, 1, 2];
const HEIGHTS: u64 = 6;
const REFUSAL: &str = "consensus refused a message by covenant rule";
const WITHHELD: &str = "withholding this node's proposal";
const DRIFT_RULE: &str = "COV-35-CLOCK-DRIFT";

/// The node's wall clock `skew_s` ahead through libfaketime preloaded directly, with the monotonic
/// clock left alone (tokio's timers run on it). Not the `faketime` wrapper: it keeps a POSIX
/// semaphore and shared memory named after its pid in /dev/shm, which a killed node leaves behind,
/// and a later run whose wrapper gets the same pid then fails with "sem_open: File exists".
fn skewed(launch: Launch, skew_s: u64) -> Launch {
    let Some(library) = find_libfaketime() else {
        panic!(
            "libfaketime is not installed, so the clock-skew test cannot run: run scripts/prereqs.sh (it installs the \
             Debian package faketime; CI runs it)"
        )
    };
    launch.env("LD_PRELOAD", library).env("FAKETIME", format!("+{skew_s}s")).env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
}

/// Checks the preload really skews a process's wall clock, so a failure below is about the node.
fn check_faketime_works(launch: &Launch, skew_s: u64) {
    let mut command = std::process::Command::new("date");
    command.arg("+%s%3N").envs(launch.env.iter().map(|(k, v)| (k, v)));
    let output = command.output().expect("date runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let faked: u64 =
        text.trim().parse().unwrap_or_else(|_| panic!("date under libfaketime printed {text:?}: {output:?}"));
    let real = now_ms();
    assert!(
        faked.abs_diff(real + skew_s * 1000) < 1_000,
        "libfaketime does not skew the clock by {skew_s} s: it says {faked} ms, the real clock {real} ms"
    );
}

/// The `height=N` field of a log line.
fn height_field(line: &str) -> Option<u64> {
    let (_, rest) = line.split_once(" height=")?;
    rest.split(|character: char| !character.is_ascii_digit()).next()?.parse().ok()
}

/// The drift in a COV-35 refusal: "... proposal timestamp T is D ms from this validator's clock ...".
fn measured_drift_ms(line: &str) -> Option<u64> {
    let (before, _) = line.split_once(" ms from this validator's clock")?;
    before.rsplit(' ').next()?.parse().ok()
}

/// A consortium whose validator `SKEWED` runs as `launch` with its clock `skew_s` ahead.
struct Skewed {
    skew_ms: u64,
    consortium: Consortium,
    drift_ms: u64,
    validators: ValidatorSet,
    skewed_id: NodeId,
}

impl Skewed {
    fn start(launch: Launch, skew_s: u64) -> Skewed {
        let launch = skewed(launch, skew_s);
        check_faketime_works(&launch, skew_s);
        let mut consortium = Consortium::init(4);
        let genesis = consortium.genesis();
        let drift_ms = genesis.parameters().clock_drift_ms_max;
        let validators = genesis.validator_set().clone();
        let skewed_id: NodeId = consortium.config(SKEWED).node_id;
        assert!(skew_s * 1000 >= 2 * drift_ms, "the skew must be well beyond clock_drift_ms_max = {drift_ms} ms");
        for index in HONEST {
            consortium.start_node(index);
        }
        consortium.start_node_with(SKEWED, &launch);
        consortium.wait_for_height(&HONEST, 1, Duration::from_secs(60));
        Skewed { skew_ms: skew_s * 1000, consortium, drift_ms, validators, skewed_id }
    }

    /// Watches the honest validators commit `HEIGHTS` more blocks and checks them: none proposed by the
    /// skewed validator, each by the validator set's proposer of its round, each timestamp within the
    /// drift bound of the honest clocks. Returns the heights that were the skewed validator's turn.
    fn watch_heights(&mut self) -> Vec<u64> {
        let consortium = &self.consortium;
        let from = HONEST.iter().map(|index| consortium.height(*index)).max().unwrap_or(0);
        let to = from + HEIGHTS;
        // When each height appeared: the test clock right after the poll that first showed it on an honest
        // node, and right before the last poll on which no honest node had it yet.
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
        consortium.assert_same_chain(&HONEST);

        let drift_ms = self.drift_ms;
        let mut skewed_turns = Vec::new();
        for height in (from + 1)..=to {
            let block = consortium.block(0, height).expect("node 0 has the block");
            let header = &block["header"];
            let round = u32::try_from(header["round"].as_u64().expect("header round")).expect("round fits u32");
            let proposer = header["proposer"].as_str().expect("header proposer");
            let timestamp_ms = header["timestamp_ms"].as_u64().expect("header timestamp");
            eprintln!("height {height}: round {round}, proposer {proposer}, timestamp {timestamp_ms}");
            assert_ne!(
                proposer,
                self.skewed_id.as_str(),
                "block {height} proposed by the skewed validator was committed"
            );
            assert_eq!(
                proposer,
                self.validators.proposer(height, round).id.as_str(),
                "block {height} round {round} has another proposer than the validator set's"
            );
            if self.validators.proposer(height, 0).id == self.skewed_id {
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
                    "block {height} timestamp {timestamp_ms} is before its parent was committed ({parent_absent_ms}) \
                     by more than the drift bound {drift_ms} ms"
                );
            }
        }
        assert!(!skewed_turns.is_empty(), "no height in {from}..={to} was the skewed validator's turn");
        skewed_turns
    }

    /// The honest validators' refusals of the skewed validator's messages by the drift rule.
    fn drift_refusals(&self) -> Vec<String> {
        HONEST
            .iter()
            .flat_map(|index| {
                self.consortium
                    .log(*index)
                    .lines()
                    .filter(|line| {
                        line.contains(REFUSAL) && line.contains(DRIFT_RULE) && line.contains(self.skewed_id.as_str())
                    })
                    .map(|line| format!("validator-{index}: {line}"))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The heights at which the skewed validator withheld its proposal.
    fn withheld_heights(&self) -> Vec<u64> {
        self.consortium.log(SKEWED).lines().filter(|line| line.contains(WITHHELD)).filter_map(height_field).collect()
    }
}

// covers: COV-35-CLOCK-DRIFT
#[test]
fn clock_skew_honest_validators_refuse_the_proposals_of_a_skewed_validator_that_does_not_withhold_them() {
    let started = Instant::now();
    let mut run = Skewed::start(Launch::byzantine("none").arg("--propose-out-of-drift"), NEAR_SKEW_S);
    let skewed_turns = run.watch_heights();
    let withheld = run.withheld_heights();
    assert!(withheld.is_empty(), "the test build was told to propose anyway, yet withheld at heights {withheld:?}");
    // Nothing but the honest validators' check kept its proposals out: they said so, by the drift rule, for
    // its turns.
    let refusals = run.drift_refusals();
    let refused_heights: Vec<u64> = refusals.iter().filter_map(|line| height_field(line)).collect();
    let refused_turns: Vec<u64> = skewed_turns.iter().copied().filter(|turn| refused_heights.contains(turn)).collect();
    assert!(
        !refused_turns.is_empty(),
        "no honest validator refused a proposal of {} by {DRIFT_RULE} at its turns {skewed_turns:?} (refusals at \
         {refused_heights:?})\n{}",
        run.skewed_id,
        run.consortium.logs()
    );
    // The drift the honest validators measured is the skew, not some other clock trouble.
    let drifts: Vec<u64> = refusals.iter().filter_map(|line| measured_drift_ms(line)).collect();
    let skew_ms = run.skew_ms;
    assert!(
        drifts.iter().any(|drift| drift.abs_diff(skew_ms) < 1_000),
        "the refusals measured drifts {drifts:?} ms, not the {skew_ms} ms skew: {refusals:#?}"
    );
    eprintln!("{} refusals by {DRIFT_RULE} at turns {refused_turns:?}; {:?}", refusals.len(), started.elapsed());
}

// covers: COV-35-CLOCK-DRIFT
#[test]
fn clock_skew_a_validator_whose_clock_is_out_of_range_raises_the_alert_and_withholds_its_proposals() {
    let started = Instant::now();
    let mut run = Skewed::start(Launch::default(), FAR_SKEW_S);
    // The skewed node measures its peers (status exchange) and raises the clock alert: log and metric.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !run.consortium.metrics(SKEWED).unwrap_or_default().contains("covenant_clock_out_of_range 1") {
        assert!(Instant::now() < deadline, "the skewed validator raised no clock alert\n{}", run.consortium.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        run.consortium.log(SKEWED).lines().any(|line| line.contains("out of the drift bound against its peers")),
        "the clock alert is not in the skewed validator's log\n{}",
        run.consortium.logs()
    );
    let skewed_turns = run.watch_heights();
    // From the alert on, it withholds its proposals, so the honest validators see none. (It refuses the honest
    // proposals by the same rule and follows the chain by block sync, so at a turn it may still be one height
    // behind and have nothing to withhold; at least one of its turns must show the withholding.)
    let withheld = run.withheld_heights();
    assert!(
        skewed_turns.iter().any(|turn| withheld.contains(turn)),
        "the skewed validator withheld no proposal at its turns {skewed_turns:?} (withheld at {withheld:?})\n{}",
        run.consortium.logs()
    );
    let refused: Vec<String> = run
        .drift_refusals()
        .into_iter()
        .filter(|line| height_field(line).is_some_and(|height| skewed_turns.contains(&height)))
        .collect();
    assert!(refused.is_empty(), "proposals it should have withheld reached the honest validators: {refused:#?}");
    assert!(run.consortium.is_running(SKEWED), "the skewed validator exited\n{}", run.consortium.logs());
    let skew_ms = run.skew_ms;
    // The nodes measured the skew against their peers: the skewed node sees its peers 60 s behind; the
    // honest nodes' median offset stays within the drift bound.
    let offset_of = |index: usize| run.consortium.status(index).and_then(|status| status["clock_offset_ms"].as_i64());
    let skewed_offset = offset_of(SKEWED);
    assert!(
        skewed_offset.is_some_and(|offset| offset.abs_diff(-(skew_ms as i64)) < 5_000),
        "the skewed validator's measured clock offset is {skewed_offset:?} ms, expected about -{skew_ms}"
    );
    for index in HONEST {
        let offset = offset_of(index);
        assert!(
            offset.is_some_and(|offset| offset.unsigned_abs() <= run.drift_ms),
            "honest validator {index} measured a median clock offset of {offset:?} ms"
        );
    }
    // The skewed node (libfaketime preloaded) still stops cleanly.
    run.consortium.stop_node(SKEWED, Duration::from_secs(30));
    assert!(
        run.consortium.log(SKEWED).lines().any(|line| line.contains(" INFO ") && line.ends_with("node stopped")),
        "the skewed validator did not stop cleanly on SIGTERM\n{}",
        run.consortium.logs()
    );
    eprintln!("withheld at {withheld:?}; total {:?}", started.elapsed());
}
