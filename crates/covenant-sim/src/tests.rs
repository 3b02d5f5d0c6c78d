//! The simulation suites. Every suite runs a set of seeds through a configuration builder; a failure
//! prints the seed and the command that replays exactly that run with a live trace.
//!
//! Environment:
//! * `COVENANT_SIM_SEED=N`: run only seed N in every suite (with a live trace).
//! * `COVENANT_SIM_SEEDS=N`: number of random seeds in `random_seeds` (default 12).

use std::time::Instant;

use crate::config::sim_params;
use crate::faults::*;
use crate::*;

fn replay_seed() -> Option<u64> {
    std::env::var("COVENANT_SIM_SEED").ok().and_then(|value| value.trim().parse().ok())
}

/// Runs `seeds` (or only `COVENANT_SIM_SEED`) through `build`; panics on the first failure with the
/// replay command. Returns the reports.
fn run_suite(test: &str, seeds: impl IntoIterator<Item = u64>, build: impl Fn(u64) -> SimConfig) -> Vec<SimReport> {
    let seeds: Vec<u64> = match replay_seed() {
        Some(seed) => vec![seed],
        None => seeds.into_iter().collect(),
    };
    let live = replay_seed().is_some();
    let started = Instant::now();
    let mut reports = Vec::new();
    for seed in seeds {
        let config = build(seed);
        if live {
            eprintln!("{test}: seed={seed} config={config:?}");
        }
        match Simulation::new(config).with_live_trace(live).run() {
            Ok(report) => reports.push(report),
            Err(failure) => panic!(
                "{failure}\n\nseed={seed} failed in {test}; replay with:\n  COVENANT_SIM_SEED={seed} cargo test -p covenant-sim --lib -- --exact tests::{test} --nocapture\n",
            ),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{test}: {} seeds in {seconds:.1} s ({:.2} seeds/s), {:.1} heights/seed",
        reports.len(),
        reports.len() as f64 / seconds.max(1e-9),
        reports.iter().map(|report| report.heights_min).sum::<u64>() as f64 / reports.len().max(1) as f64
    );
    reports
}

fn total(reports: &[SimReport], kind: &str) -> u64 {
    reports.iter().map(|report| report.fault(kind)).sum()
}

fn rejected(reports: &[SimReport], label: &str) -> u64 {
    reports.iter().map(|report| report.rejected(label)).sum()
}

// ---------------------------------------------------------------------------------------------------
// Suites that must pass: at most f faulty validators.

#[test]
fn calm_network_commits_every_height_and_every_transaction() {
    let reports = run_suite("calm_network_commits_every_height_and_every_transaction", 1..=2, |seed| {
        let mut config = SimConfig::calm(seed, if seed % 2 == 0 { 4 } else { 7 });
        config.chaos_ms = 4_000;
        config.liveness_heights = 5;
        config
    });
    for report in &reports {
        assert!(report.heights_min >= 8, "{report:?}");
        assert!(report.txs_committed >= 20, "clients' transfers commit: {report:?}");
        assert_eq!(report.fault(PENALTIES), 0, "nobody is penalised on a calm network: {report:?}");
    }
}

#[test]
fn fixed_seeds_with_random_faults() {
    // Each seed draws n, up to f Byzantine or twinned validators with their behaviours, loss,
    // duplication, reordering, skew, partitions, missing links, crashes and governance.
    let reports = run_suite("fixed_seeds_with_random_faults", 1..=40, SimConfig::from_seed);
    for kind in [MESSAGES_DROPPED, PARTITIONS, CRASHES, GOSSIP_FORWARDED, SYNC_REQUESTS, CLIENT_SUBMISSIONS] {
        assert!(total(&reports, kind) > 0, "no seed exercised {kind}");
    }
    assert_eq!(total(&reports, GARBAGE_FORWARDED), 0, "an honest node forwarded garbage");
}

/// Fresh seeds on every run (about 0.4 s each in a debug build); `COVENANT_SIM_SEEDS` sets how many.
#[test]
fn random_seeds() {
    let count: u64 = std::env::var("COVENANT_SIM_SEEDS").ok().and_then(|value| value.parse().ok()).unwrap_or(64);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    let mut rng = rng::Rng::new(base);
    let seeds: Vec<u64> = (0..count).map(|_| rng.next_u64() >> 16).collect();
    run_suite("random_seeds", seeds, SimConfig::from_seed);
}

/// Seeds that once failed, each through a bug of the simulator's own (docs/reliability.md): the
/// governance script reading a removed validator's stale state (119536420980739), and the hub of
/// missing links drawn among the Byzantine validators (198).
#[test]
fn seeds_that_once_failed_pass() {
    run_suite("seeds_that_once_failed_pass", [198, 119_536_420_980_739], SimConfig::from_seed);
}

/// Replays one seed of [`SimConfig::from_seed`] with a live trace: the command printed by
/// `random_seeds` and `fixed_seeds_with_random_faults` failures.
#[test]
fn replay() {
    let Some(seed) = replay_seed() else {
        eprintln!("replay: set COVENANT_SIM_SEED=N to replay a seed");
        return;
    };
    run_suite("replay", [seed], SimConfig::from_seed);
}

// covers: COV-45-LOAD-LIMITS, COV-49-BLOCK-LIMITS, COV-35-CLOCK-DRIFT, COV-36-TIMESTAMP-INTEGRITY
#[test]
fn each_byzantine_behaviour_alone_happens_and_is_contained() {
    for behaviour in Byzantine::ALL {
        let reports =
            run_suite("each_byzantine_behaviour_alone", 1..=3, |seed| SimConfig::byzantine_alone(seed, behaviour));
        let sent = total(&reports, faults::byzantine(behaviour));
        assert!(sent > 0, "{behaviour:?} never acted: {reports:?}");
        assert_eq!(total(&reports, GARBAGE_FORWARDED), 0, "{behaviour:?}: an honest node forwarded garbage");
        match behaviour {
            Byzantine::InvalidBlock => {
                assert!(rejected(&reports, "COV-49-BLOCK-LIMITS") > 0, "COV-49 refusals expected");
                assert!(rejected(&reports, "StateRootMismatch") > 0, "state root refusals expected");
                assert!(rejected(&reports, "COV-45-LOAD-LIMITS") > 0, "oversized transactions refused by COV-45");
            }
            Byzantine::BadTimestamp => {
                assert!(rejected(&reports, "COV-35-CLOCK-DRIFT") > 0, "COV-35 refusals expected");
                assert!(rejected(&reports, "COV-36-TIMESTAMP-INTEGRITY") > 0, "COV-36 refusals expected");
            }
            Byzantine::GarbageGossip => {
                assert!(total(&reports, GOSSIP_REJECTED) > 0, "garbage refused");
                assert!(total(&reports, BYZANTINE_PENALISED) > 0, "its author penalised");
            }
            Byzantine::BadSignatures => {
                assert!(total(&reports, GOSSIP_REJECTED) > 0, "badly signed messages refused and blamed");
            }
            Byzantine::FalseHeight => {
                let cost = total(&reports, SYNC_UNBACKED) + total(&reports, BYZANTINE_PENALISED);
                assert!(cost > 0, "its false claims cost it: {reports:?}");
                assert!(total(&reports, REQUESTS_TO_LIARS) > 0, "it was asked for blocks: {reports:?}");
            }
            Byzantine::FutureFlood => {
                assert!(total(&reports, BUFFER_REJECTIONS) > 0, "the future buffer's budgets held");
            }
            Byzantine::SyncFlood => {
                assert!(total(&reports, SYNC_SERVE_REFUSED) > 0, "the serving budget held");
            }
            _ => {}
        }
    }
}

#[test]
fn two_byzantine_validators_of_seven() {
    run_suite("two_byzantine_validators_of_seven", 1..=3, |seed| SimConfig {
        byzantine: vec![(1, Byzantine::EquivocatingProposer), (4, Byzantine::FutureFlood)],
        ..SimConfig::with_faults(seed, 7)
    });
    run_suite("two_byzantine_validators_of_seven", 4..=6, |seed| SimConfig {
        byzantine: vec![(2, Byzantine::FalseHeight), (3, Byzantine::GarbageGossip), (3, Byzantine::DoubleVoter)],
        ..SimConfig::with_faults(seed, 7)
    });
}

#[test]
fn twins_within_f() {
    run_suite("twins_within_f", 1..=3, |seed| SimConfig { twins: vec![1], ..SimConfig::with_faults(seed, 4) });
    run_suite("twins_within_f", 4..=5, |seed| SimConfig { twins: vec![1, 2], ..SimConfig::with_faults(seed, 7) });
}

#[test]
fn crashes_between_persist_and_send() {
    let reports = run_suite("crashes_between_persist_and_send", 1..=4, |seed| SimConfig {
        crashes: true,
        crash_after_persist_per_mille: 40,
        byzantine: if seed % 2 == 0 { vec![(3, Byzantine::DoubleVoter)] } else { Vec::new() },
        ..SimConfig::with_faults(seed, 4)
    });
    assert!(total(&reports, CRASHES_AFTER_PERSIST) > 0, "{reports:?}");
}

#[test]
fn a_member_voted_in_and_a_validator_voted_out_during_faults() {
    let reports = run_suite("a_member_voted_in_and_a_validator_voted_out_during_faults", 1..=2, |seed| SimConfig {
        governance: true,
        chaos_ms: 8_000,
        liveness_ms: 60_000,
        byzantine: vec![(3, Byzantine::Withholding)],
        ..SimConfig::with_faults(seed, 4)
    });
    for report in &reports {
        assert_eq!(report.fault(GOVERNANCE_EXECUTED), 3, "admit, add node, remove node: {report:?}");
    }
}

/// With transactions now and then, most empty blocks come at the longest interval: the engine
/// hears that a commit emptied the mempool (it once kept proposing at the shortest interval).
#[test]
fn an_idle_chain_proposes_empty_blocks_at_the_longest_interval() {
    let reports = run_suite("an_idle_chain_proposes_empty_blocks_at_the_longest_interval", 1..=2, |seed| SimConfig {
        tx_rate_per_s: 1,
        chaos_ms: 8_000,
        ..SimConfig::calm(seed, 4)
    });
    for report in &reports {
        let (empty, early) = (report.fault(EMPTY_BLOCKS), report.fault(EMPTY_BLOCKS_EARLY));
        assert!(empty >= 4, "{report:?}");
        assert!(early * 4 <= empty, "{early} of {empty} empty blocks came early: {report:?}");
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let first = run_seed(77).expect("seed 77 passes");
    let second = run_seed(77).expect("seed 77 passes");
    assert_eq!(first, second);
}

#[test]
fn the_in_memory_and_rocksdb_stores_run_the_same() {
    let memory = Simulation::new(SimConfig::calm(5, 4)).run().expect("passes");
    let rocks = Simulation::new(SimConfig { store: StoreKind::Rocks, ..SimConfig::calm(5, 4) }).run().expect("passes");
    assert_eq!(memory, rocks);
}

// ---------------------------------------------------------------------------------------------------
// Negative controls: beyond f faults, or with a deliberate bug, the checkers must report it.

fn expect_violation(
    test: &str,
    seeds: impl IntoIterator<Item = u64>,
    build: impl Fn(u64) -> SimConfig,
    matches: fn(&InvariantViolation) -> bool,
) -> u64 {
    let mut caught = 0;
    let seeds: Vec<u64> = match replay_seed() {
        Some(seed) => vec![seed],
        None => seeds.into_iter().collect(),
    };
    for seed in seeds {
        match Simulation::new(build(seed)).with_live_trace(replay_seed().is_some()).run() {
            Err(failure) if matches(&failure.violation) => caught += 1,
            Err(failure) => panic!("{test} seed={seed}: caught something else: {failure}"),
            Ok(report) if replay_seed().is_some() => eprintln!("{test} seed={seed} passed: {report:?}"),
            Ok(_) => {}
        }
    }
    caught
}

#[test]
fn negative_control_f_plus_one_twins_fork() {
    // n = 4, f = 1; v1 and v2 twinned (f + 1 = 2 keys doubled). Slots 4 and 5 are the twin copies.
    // {v0, v1, v2} and {v1', v2', v3} each hold a quorum of keys.
    let caught = expect_violation(
        "negative_control_f_plus_one_twins_fork",
        1..=2,
        |seed| SimConfig {
            twins: vec![1, 2],
            fixed_partition: Some(vec![vec![0, 1, 2], vec![4, 5, 3]]),
            ..SimConfig::calm(seed, 4)
        },
        |violation| matches!(violation, InvariantViolation::Agreement { .. }),
    );
    assert_eq!(caught, 2);
}

#[test]
fn negative_control_quorum_of_2f_forks() {
    let caught = expect_violation(
        "negative_control_quorum_of_2f_forks",
        1..=2,
        |seed| SimConfig {
            quorum_override: Some(2),
            fixed_partition: Some(vec![vec![0, 1], vec![2, 3]]),
            ..SimConfig::calm(seed, 4)
        },
        |violation| matches!(violation, InvariantViolation::Agreement { .. }),
    );
    assert_eq!(caught, 2);
}

#[test]
fn mutation_blame_relays_is_caught() {
    let caught = expect_violation(
        "mutation_blame_relays_is_caught",
        1..=10,
        |seed| SimConfig::for_mutation(seed, Mutation::BlameRelays),
        |violation| matches!(violation, InvariantViolation::HonestPeerPenalised { .. }),
    );
    assert!(caught > 0, "no seed caught relays being blamed");
}

/// Finding 2's regression: believing the highest claimed height, the honest nodes ask a liar for
/// blocks again and again (the run's request bound catches it).
#[test]
fn mutation_trust_claimed_heights_is_caught() {
    let caught = expect_violation(
        "mutation_trust_claimed_heights_is_caught",
        1..=3,
        |seed| SimConfig::for_mutation(seed, Mutation::TrustClaimedHeights),
        |violation| matches!(violation, InvariantViolation::Exhaustion { .. }),
    );
    assert_eq!(caught, 3, "every seed catches the liar being believed");
}

/// Finding 3's regression: with the future buffer bounded by count only, a flood of large round
/// changes takes an honest engine past its byte budgets (the buffer check catches it).
#[test]
fn mutation_unbounded_future_buffer_is_caught() {
    let caught = expect_violation(
        "mutation_unbounded_future_buffer_is_caught",
        1..=3,
        |seed| SimConfig::for_mutation(seed, Mutation::UnboundedFutureBuffer),
        |violation| matches!(violation, InvariantViolation::Exhaustion { .. }),
    );
    assert_eq!(caught, 3, "every seed catches the buffer going past its budget");
}

/// The same flood against the real buffer, which keeps one round change per author and height: the
/// runs pass, so no honest engine went past its budgets at any step.
#[test]
fn a_heavy_future_flood_stays_within_the_buffer_budgets() {
    let reports = run_suite("a_heavy_future_flood_stays_within_the_buffer_budgets", 1..=3, |seed| SimConfig {
        mutations: Vec::new(),
        ..SimConfig::for_mutation(seed, Mutation::UnboundedFutureBuffer)
    });
    for report in reports {
        let flooded = report.fault(crate::faults::byzantine(Byzantine::FutureFlood));
        assert!(flooded >= 96, "seed {}: only {flooded} round changes flooded", report.seed);
    }
}

/// The same liar, without the mutation: the run's request bound holds.
#[test]
fn a_liar_that_only_answers_with_nothing_gets_a_trickle() {
    let reports = run_suite("a_liar_that_only_answers_with_nothing_gets_a_trickle", 1..=3, |seed| SimConfig {
        liar_forges_seals: false,
        ..SimConfig::byzantine_alone(seed, Byzantine::FalseHeight)
    });
    assert!(total(&reports, REQUESTS_TO_LIARS) > 0, "{reports:?}");
    assert!(total(&reports, SYNC_UNBACKED) > 0, "{reports:?}");
}

#[test]
fn mutation_skip_safety_persist_is_caught() {
    let caught = expect_violation(
        "mutation_skip_safety_persist_is_caught",
        1..=30,
        |seed| SimConfig::for_mutation(seed, Mutation::SkipSafetyPersist),
        |violation| violation.is_safety(),
    );
    assert!(caught > 0, "no seed caught the safety state going unpersisted");
}

#[test]
fn traps_spring_and_the_correct_engine_stays_safe() {
    for trap in [Trap::LockedBlock, Trap::TwoPreparedRounds] {
        let reports =
            run_suite("traps_spring_and_the_correct_engine_stays_safe", 1..=3, |seed| SimConfig::trapped(seed, trap));
        assert_eq!(total(&reports, TRAPS_SPRUNG), 3, "{trap:?} went off in every run: {reports:?}");
        assert!(total(&reports, TRAP_DROPS) > 0, "{trap:?} dropped messages");
    }
}

#[test]
fn mutation_no_locking_is_caught() {
    let caught = expect_violation(
        "mutation_no_locking_is_caught",
        1..=5,
        |seed| SimConfig::for_mutation(seed, Mutation::NoLocking),
        |violation| violation.is_safety(),
    );
    assert!(caught >= 4, "only {caught} of 5 seeds caught the lock being ignored");
}

#[test]
fn mutation_wrong_highest_prepared_is_caught() {
    let caught = expect_violation(
        "mutation_wrong_highest_prepared_is_caught",
        1..=5,
        |seed| SimConfig::for_mutation(seed, Mutation::WrongHighestPrepared),
        |violation| violation.is_safety(),
    );
    assert!(caught >= 4, "only {caught} of 5 seeds caught the wrong prepared certificate");
}

#[test]
fn sim_params_keep_runs_short() {
    let params = sim_params();
    assert!(params.block_interval_ms_max <= 1_000 && params.round_timeout_ms_base <= 300);
}
