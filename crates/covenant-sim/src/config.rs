//! What a simulation does: validators, faults, network, timing. Every field derives from one seed in
//! [`SimConfig::from_seed`], so a seed alone replays a run.

use covenant_rules::ChainParams;

use crate::rng::Rng;

/// A Byzantine behaviour, played by one validator (its key; the engine under it is the real one,
/// and the simulator rewrites or adds to what it sends).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Byzantine {
    /// Sends nothing at all.
    Silent,
    /// As proposer, sends one block to half the validators and a different one to the other half.
    EquivocatingProposer,
    /// PREPAREs and COMMITs every proposal it sees, whatever it voted before.
    DoubleVoter,
    /// Proposes blocks that fail execution (wrong state root) or COV-49 (too many transactions).
    InvalidBlock,
    /// Proposes blocks whose timestamp breaks COV-35 (far in the future) or COV-36 (too early).
    BadTimestamp,
}

impl Byzantine {
    /// Every behaviour.
    pub const ALL: [Byzantine; 5] = [
        Byzantine::Silent,
        Byzantine::EquivocatingProposer,
        Byzantine::DoubleVoter,
        Byzantine::InvalidBlock,
        Byzantine::BadTimestamp,
    ];
}

/// A complete simulation setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed of every random choice during the run.
    pub seed: u64,
    /// Number of validators (4 or 7 in the suites).
    pub validators: usize,
    /// Byzantine validators: `(validator index, behaviour)`.
    pub byzantine: Vec<(usize, Byzantine)>,
    /// Validators run as two honest copies sharing one key (twins).
    pub twins: Vec<usize>,
    /// Length of the fault phase (loss, partitions, crashes), in virtual milliseconds.
    pub chaos_ms: u64,
    /// After healing, every honest validator must commit `liveness_heights` more heights within this.
    pub liveness_ms: u64,
    /// Heights each honest validator must gain after healing.
    pub liveness_heights: u64,
    /// Message loss during the fault phase, per mille.
    pub loss_per_mille: u32,
    /// Message duplication, per mille.
    pub duplicate_per_mille: u32,
    /// Normal one-way delay range.
    pub delay_ms_min: u64,
    /// Normal one-way delay range.
    pub delay_ms_max: u64,
    /// Messages delayed much longer (reordering), per mille.
    pub long_delay_per_mille: u32,
    /// Upper bound of a long delay.
    pub long_delay_ms_max: u64,
    /// Each validator's clock is off by up to this much, either way.
    pub clock_skew_ms_max: u64,
    /// Random partitions during the fault phase.
    pub partitions: bool,
    /// Random crashes (and restarts from persisted safety state) of honest validators.
    pub crashes: bool,
    /// Chance to crash right after a safety state is persisted, before the vote is sent, per mille.
    pub crash_after_persist_per_mille: u32,
    /// Extra loss of COMMITs and decided-block replies during the fault phase, per mille: an
    /// adversarial network that lets some validators decide and starves the others, so that rounds
    /// change with a block already decided somewhere (where locking must hold).
    pub commit_loss_per_mille: u32,
    /// A partition present from the start and never healed: groups of node slots (negative controls).
    pub fixed_partition: Option<Vec<Vec<usize>>>,
    /// Chain parameters of the simulated chain.
    pub params: ChainParams,
    /// Quorum used by every engine and by the checkers instead of ⌈2n/3⌉ (negative control only).
    pub quorum_override: Option<usize>,
}

/// Parameters with short intervals so that a run covers many heights in little virtual time.
pub fn sim_params() -> ChainParams {
    ChainParams {
        block_txs_max: 8,
        block_interval_ms_min: 100,
        block_interval_ms_max: 1_000,
        clock_drift_ms_max: 500,
        round_timeout_ms_base: 300,
        ..ChainParams::default()
    }
}

impl SimConfig {
    /// No faults at all: `validators` honest validators on a reliable network.
    pub fn calm(seed: u64, validators: usize) -> SimConfig {
        SimConfig {
            seed,
            validators,
            byzantine: Vec::new(),
            twins: Vec::new(),
            chaos_ms: 2_000,
            liveness_ms: 30_000,
            liveness_heights: 3,
            loss_per_mille: 0,
            duplicate_per_mille: 0,
            delay_ms_min: 5,
            delay_ms_max: 40,
            long_delay_per_mille: 0,
            long_delay_ms_max: 0,
            clock_skew_ms_max: 50,
            partitions: false,
            crashes: false,
            crash_after_persist_per_mille: 0,
            commit_loss_per_mille: 0,
            fixed_partition: None,
            params: sim_params(),
            quorum_override: None,
        }
    }

    /// A configuration drawn from `seed`: n = 4 or 7, up to f faulty validators (Byzantine behaviours
    /// and twins), and random network faults, skew, partitions and crashes during the fault phase.
    pub fn from_seed(seed: u64) -> SimConfig {
        let mut rng = Rng::new(seed ^ 0x5eed_c0f1_6000_0000);
        let validators = if rng.chance(500) { 4 } else { 7 };
        let faulty_max = (validators - 1) / 3;
        let faulty = rng.range(0, faulty_max as u64) as usize;
        let mut indices: Vec<usize> = (0..validators).collect();
        let mut byzantine = Vec::new();
        let mut twins = Vec::new();
        for _ in 0..faulty {
            let index = indices.remove(rng.index(indices.len()));
            if rng.chance(200) {
                twins.push(index);
            } else {
                byzantine.push((index, Byzantine::ALL[rng.index(Byzantine::ALL.len())]));
            }
        }
        let mut config = SimConfig::calm(seed, validators);
        config.byzantine = byzantine;
        config.twins = twins;
        config.chaos_ms = rng.range(2_000, 6_000);
        config.loss_per_mille = rng.range(0, 100) as u32;
        config.duplicate_per_mille = rng.range(0, 50) as u32;
        config.delay_ms_min = rng.range(1, 10);
        config.delay_ms_max = rng.range(20, 80);
        config.long_delay_per_mille = rng.range(0, 50) as u32;
        config.long_delay_ms_max = rng.range(100, 600);
        config.clock_skew_ms_max = rng.range(0, 120);
        config.partitions = rng.chance(500);
        config.crashes = rng.chance(500);
        config.crash_after_persist_per_mille = if config.crashes { rng.range(0, 5) as u32 } else { 0 };
        config.commit_loss_per_mille = [0, 0, 300, 600, 850][rng.index(5)];
        config
    }

    /// f = ⌊(n - 1) / 3⌋.
    pub fn max_faulty(&self) -> usize {
        (self.validators - 1) / 3
    }

    /// Validators that are faulty in the protocol's sense (Byzantine or twinned).
    pub fn faulty(&self) -> usize {
        self.byzantine.len() + self.twins.len()
    }

    /// The behaviour of validator `index`, if Byzantine.
    pub fn behaviour(&self, index: usize) -> Option<Byzantine> {
        self.byzantine.iter().find(|(validator, _)| *validator == index).map(|(_, behaviour)| *behaviour)
    }
}
