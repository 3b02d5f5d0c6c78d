//! The simulation suites. Every suite runs a set of seeds through a configuration builder; a failure
//! prints the seed and the command that replays exactly that run with a live trace.
//!
//! Environment:
//! * `COVENANT_SIM_SEED=N`: run only seed N in every suite (with a live trace).
//! * `COVENANT_SIM_SEEDS=N`: number of random seeds in `random_seeds` (default 40).

use std::time::Instant;

use covenant_consensus::{CommitCertificate, seal_digest};
use covenant_types::SecretKey;

use crate::check::{Checker, InvariantViolation, toy_state_root};
use crate::config::sim_params;
use crate::*;

fn replay_seed() -> Option<u64> {
    std::env::var("COVENANT_SIM_SEED").ok().and_then(|value| value.trim().parse().ok())
}

/// Runs `seeds` (or only `COVENANT_SIM_SEED`) through `build`; panics on the first failure with the
/// replay command. Returns the reports.
fn run_suite(test: &str, seeds: impl IntoIterator<Item = u64>, build: fn(u64) -> SimConfig) -> Vec<SimReport> {
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
            Ok(report) => {
                if live {
                    eprintln!("{test}: seed={seed} passed: {report:?}");
                }
                reports.push(report);
            }
            Err(failure) => panic!(
                "{failure}\n\nseed={seed} failed in {test}; replay with:\n  COVENANT_SIM_SEED={seed} cargo test -p covenant-sim --lib -- --exact tests::{test} --nocapture\n",
            ),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let heights: u64 = reports.iter().map(|report| report.heights_min).sum();
    eprintln!(
        "{test}: {} seeds in {seconds:.1} s ({:.2} seeds/s), {:.1} heights/seed",
        reports.len(),
        reports.len() as f64 / seconds.max(1e-9),
        heights as f64 / reports.len().max(1) as f64
    );
    reports
}

fn rejected(reports: &[SimReport], label: &str) -> u64 {
    reports.iter().map(|report| report.rejections.get(label).copied().unwrap_or(0)).sum()
}

// ---------------------------------------------------------------------------------------------------
// Suites that must pass: at most f faulty validators.

#[test]
fn calm_network_commits_every_height() {
    let reports = run_suite("calm_network_commits_every_height", 1..=4, |seed| {
        let mut config = SimConfig::calm(seed, if seed % 2 == 0 { 4 } else { 7 });
        config.chaos_ms = 4_000;
        config.liveness_heights = 5;
        config
    });
    for report in &reports {
        assert!(report.heights_min >= 8, "{report:?}");
        // Honest validators on a calm network refuse nothing but late messages.
        for label in report.rejections.keys() {
            assert!(["StaleHeight", "StaleRound"].contains(&label.as_str()), "{report:?}");
        }
    }
}

#[test]
fn fixed_seeds_with_random_faults() {
    // Seeds 1..=200: each draws n, up to f Byzantine or twinned validators, loss, duplication,
    // reordering, skew, partitions and crashes.
    run_suite("fixed_seeds_with_random_faults", 1..=200, SimConfig::from_seed);
}

/// Seeds that once broke an invariant, kept as regressions. 24994588570456: a silent Byzantine
/// validator, crashes and lost commits left two honest laggards whose sync requests went to peers
/// without the block; they retried only on messages from the one honest validator ahead, which sent
/// too few (fixed: laggards retry sync on their own timers too).
#[test]
fn regression_seeds() {
    run_suite("regression_seeds", [24_994_588_570_456], SimConfig::from_seed);
}

#[test]
fn random_seeds() {
    let count: u64 = std::env::var("COVENANT_SIM_SEEDS").ok().and_then(|value| value.parse().ok()).unwrap_or(40);
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos() as u64);
    let mut rng = rng::Rng::new(base);
    let seeds: Vec<u64> = (0..count).map(|_| rng.next_u64() >> 16).collect();
    let started = Instant::now();
    let reports = run_suite("random_seeds", seeds, SimConfig::from_seed);
    let heights: u64 = reports.iter().map(|report| report.heights_max).sum();
    eprintln!(
        "random_seeds: {} seeds, {:.2} seeds/s, {:.1} max heights/seed, {:.0} events/seed",
        reports.len(),
        reports.len() as f64 / started.elapsed().as_secs_f64().max(1e-9),
        heights as f64 / reports.len().max(1) as f64,
        reports.iter().map(|report| report.events).sum::<u64>() as f64 / reports.len().max(1) as f64
    );
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

fn with_faults(seed: u64, validators: usize) -> SimConfig {
    let mut config = SimConfig::from_seed(seed);
    config.validators = validators;
    config.byzantine.clear();
    config.twins.clear();
    config
}

#[test]
fn each_byzantine_behaviour_alone() {
    for behaviour in Byzantine::ALL {
        // v1 proposes heights 1, 5, 9, ... in round 0 (n = 4).
        let build: fn(u64) -> SimConfig = match behaviour {
            Byzantine::Silent => |seed| SimConfig { byzantine: vec![(1, Byzantine::Silent)], ..with_faults(seed, 4) },
            Byzantine::EquivocatingProposer => {
                |seed| SimConfig { byzantine: vec![(1, Byzantine::EquivocatingProposer)], ..with_faults(seed, 4) }
            }
            Byzantine::DoubleVoter => {
                |seed| SimConfig { byzantine: vec![(1, Byzantine::DoubleVoter)], ..with_faults(seed, 4) }
            }
            Byzantine::InvalidBlock => {
                |seed| SimConfig { byzantine: vec![(1, Byzantine::InvalidBlock)], ..with_faults(seed, 4) }
            }
            Byzantine::BadTimestamp => {
                |seed| SimConfig { byzantine: vec![(1, Byzantine::BadTimestamp)], ..with_faults(seed, 4) }
            }
        };
        let reports = run_suite("each_byzantine_behaviour_alone", 1..=6, build);
        match behaviour {
            Byzantine::InvalidBlock => {
                assert!(rejected(&reports, "COV-49-BLOCK-LIMITS") > 0, "COV-49 refusals expected");
                assert!(rejected(&reports, "StateRootMismatch") > 0, "state root refusals expected");
            }
            Byzantine::BadTimestamp => {
                assert!(rejected(&reports, "COV-35-CLOCK-DRIFT") > 0, "COV-35 refusals expected");
                assert!(rejected(&reports, "COV-36-TIMESTAMP-INTEGRITY") > 0, "COV-36 refusals expected");
            }
            _ => {}
        }
    }
}

#[test]
fn two_byzantine_validators_of_seven() {
    run_suite("two_byzantine_validators_of_seven", 1..=8, |seed| SimConfig {
        byzantine: vec![(1, Byzantine::EquivocatingProposer), (4, Byzantine::DoubleVoter)],
        ..with_faults(seed, 7)
    });
    run_suite("two_byzantine_validators_of_seven", 9..=14, |seed| SimConfig {
        byzantine: vec![(2, Byzantine::InvalidBlock), (3, Byzantine::BadTimestamp)],
        ..with_faults(seed, 7)
    });
}

#[test]
fn twins_within_f() {
    run_suite("twins_within_f", 1..=8, |seed| SimConfig { twins: vec![1], ..with_faults(seed, 4) });
    run_suite("twins_within_f", 9..=12, |seed| SimConfig { twins: vec![1, 2], ..with_faults(seed, 7) });
}

#[test]
fn crashes_between_persist_and_send() {
    let reports = run_suite("crashes_between_persist_and_send", 1..=10, |seed| SimConfig {
        crashes: true,
        crash_after_persist_per_mille: 40,
        byzantine: if seed % 2 == 0 { vec![(3, Byzantine::DoubleVoter)] } else { Vec::new() },
        ..with_faults(seed, 4)
    });
    assert!(reports.iter().map(|report| report.crashes).sum::<u64>() >= 10);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let first = run_seed(77).expect("seed 77 passes");
    let second = run_seed(77).expect("seed 77 passes");
    assert_eq!(first, second);
}

// ---------------------------------------------------------------------------------------------------
// Negative controls: beyond f faults the checkers must report the fork.

fn expect_agreement_violation(test: &str, seeds: impl IntoIterator<Item = u64>, build: fn(u64) -> SimConfig) {
    for seed in seeds {
        match Simulation::new(build(seed)).run() {
            Err(failure) => assert!(
                matches!(failure.violation, InvariantViolation::Agreement { .. }),
                "{test} seed={seed}: expected an agreement violation, got {failure}"
            ),
            Ok(report) => panic!("{test} seed={seed}: the checkers missed the fork: {report:?}"),
        }
    }
}

#[test]
fn negative_control_f_plus_one_twins_fork() {
    // n = 4, f = 1; v1 and v2 twinned (f + 1 = 2 keys doubled). Slots 4 and 5 are the twin copies.
    // {v0, v1, v2} and {v1', v2', v3} each hold a quorum of keys.
    expect_agreement_violation("negative_control_f_plus_one_twins_fork", 1..=3, |seed| SimConfig {
        twins: vec![1, 2],
        fixed_partition: Some(vec![vec![0, 1, 2], vec![4, 5, 3]]),
        ..SimConfig::calm(seed, 4)
    });
}

#[test]
fn negative_control_quorum_of_2f_forks() {
    // n = 4 with the quorum lowered from 3 to 2f = 2 (engines and checker): two halves decide apart.
    expect_agreement_violation("negative_control_quorum_of_2f_forks", 1..=3, |seed| SimConfig {
        quorum_override: Some(2),
        fixed_partition: Some(vec![vec![0, 1], vec![2, 3]]),
        ..SimConfig::calm(seed, 4)
    });
}

// ---------------------------------------------------------------------------------------------------
// The checkers themselves.

struct CheckerFixture {
    checker: Checker,
    keys: Vec<SecretKey>,
    genesis: covenant_types::BlockHeader,
    validators: covenant_types::ValidatorSet,
    chain: covenant_types::ChainId,
}

fn checker_fixture() -> CheckerFixture {
    use covenant_types::*;
    let chain = ChainId::new("covenant-sim").unwrap();
    let keys: Vec<SecretKey> = (0..4u8).map(|i| SecretKey::from_seed(&[i + 10; 32])).collect();
    let validators = ValidatorSet::new(
        keys.iter()
            .enumerate()
            .map(|(i, key)| Validator { id: NodeId::new(format!("v{i}")).unwrap(), consensus_key: key.public_key() })
            .collect(),
    )
    .unwrap();
    let params = sim_params();
    let genesis = BlockHeader {
        version: ENCODING_VERSION,
        chain_id: chain.clone(),
        height: 0,
        round: 0,
        parent_hash: Hash::ZERO,
        timestamp_ms: 1_000_000,
        proposer: NodeId::new("v0").unwrap(),
        transactions_root: merkle_root(&[]),
        state_root: Hash::digest(b"g"),
        validator_set_hash: validators.hash(),
        parameters_hash: params.hash(),
        parent_commit_seals: vec![],
    };
    let checker = Checker::new(chain.clone(), validators.clone(), params, 3, genesis.clone());
    CheckerFixture { checker, keys, genesis, validators, chain }
}

impl CheckerFixture {
    fn certificate(&self, timestamp_ms: u64, signers: &[usize]) -> CommitCertificate {
        use covenant_types::*;
        let mut block = Block {
            header: BlockHeader {
                height: 1,
                round: 0,
                parent_hash: self.genesis.hash(),
                timestamp_ms,
                proposer: self.validators.proposer(1, 0).id.clone(),
                ..self.genesis.clone()
            },
            transactions: Vec::new().into(),
        };
        block.header.state_root = toy_state_root(&self.genesis.state_root, &block);
        let digest = seal_digest(1, 0, block.hash());
        let seals = signers
            .iter()
            .map(|&i| CommitSeal {
                validator: self.validators.validators()[i].id.clone(),
                signature: self.keys[i].sign(SignatureDomain::CommitSeal, &self.chain, &digest),
            })
            .collect();
        CommitCertificate { block, seals }
    }
}

#[test]
fn checkers_catch_forks_bad_seals_and_reordering() {
    let mut f = checker_fixture();
    let good = f.certificate(1_000_200, &[0, 1, 2]);
    f.checker.on_commit(0, &good).expect("valid");
    f.checker.on_commit(1, &good).expect("same block elsewhere");

    // Another block at height 1: agreement.
    let fork = f.certificate(1_000_300, &[0, 1, 3]);
    assert!(matches!(f.checker.on_commit(2, &fork), Err(InvariantViolation::Agreement { height: 1, .. })));

    // Too few seals, or a duplicated signer: validity.
    let mut fresh = checker_fixture();
    let thin = fresh.certificate(1_000_200, &[0, 1]);
    assert!(matches!(fresh.checker.on_commit(0, &thin), Err(InvariantViolation::Validity { .. })));
    let doubled = fresh.certificate(1_000_200, &[0, 1, 1]);
    assert!(matches!(fresh.checker.on_commit(0, &doubled), Err(InvariantViolation::Validity { .. })));

    // Timestamp before parent + block_interval_ms_min (COV-36): validity.
    let early = fresh.certificate(1_000_050, &[0, 1, 2]);
    let error = fresh.checker.on_commit(0, &early).unwrap_err();
    assert!(error.to_string().contains("COV-36"), "{error}");

    // The same height twice on one node: monotonic.
    let mut fresh = checker_fixture();
    let good = fresh.certificate(1_000_200, &[0, 1, 2]);
    fresh.checker.on_commit(0, &good).unwrap();
    assert!(matches!(fresh.checker.on_commit(0, &good), Err(InvariantViolation::Monotonic { .. })));
}
