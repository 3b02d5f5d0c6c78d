//! What a simulation does: validators, faults, network, timing, workload. Every field derives from
//! one seed in [`SimConfig::from_seed`], so a seed alone replays a run.

use covenant_rules::ChainParams;

use crate::rng::Rng;

/// A Byzantine behaviour, played by one validator with its real keys. The node core under it is the
/// real one; the simulator rewrites, withholds or adds to what it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Byzantine {
    /// Sends nothing at all.
    Silent,
    /// Sends its messages to some validators only, a different choice each time.
    Withholding,
    /// As proposer, sends one block to half the validators and a different one to the other half.
    EquivocatingProposer,
    /// PREPAREs and COMMITs every proposal it sees, whatever it voted before.
    DoubleVoter,
    /// Proposes blocks that fail execution (wrong state root), COV-49 (too many transactions) or COV-45
    /// (a transaction over `tx_bytes_max`).
    InvalidBlock,
    /// Proposes blocks whose timestamp breaks COV-35 (far in the future) or COV-36 (too early).
    BadTimestamp,
    /// Gossips bytes that decode as nothing, and bytes over the gossip size limit, to one honest
    /// validator at a time, on the relayed topics.
    GarbageGossip,
    /// Gossips well-formed consensus messages with bad signatures, or signed by a key that is no
    /// validator's, to one honest validator at a time.
    BadSignatures,
    /// Claims a far higher height than it has (up to `u64::MAX`) and answers block requests with
    /// nothing, "unavailable", or certificates with forged seals.
    FalseHeight,
    /// Floods distinct ROUND-CHANGEs for future heights carrying large prepared certificates.
    FutureFlood,
    /// Asks every honest validator for the most blocks it can, again and again.
    SyncFlood,
    /// Gossips transaction batches in which one signature is bad.
    BadTxBatches,
    /// Sends round changes and proposals whose justifications are forged (bad prepare or round-change
    /// signatures), and decided blocks whose seals are forged.
    ForgedCertificates,
}

impl Byzantine {
    /// Every behaviour.
    pub const ALL: [Byzantine; 13] = [
        Byzantine::Silent,
        Byzantine::Withholding,
        Byzantine::EquivocatingProposer,
        Byzantine::DoubleVoter,
        Byzantine::InvalidBlock,
        Byzantine::BadTimestamp,
        Byzantine::GarbageGossip,
        Byzantine::BadSignatures,
        Byzantine::FalseHeight,
        Byzantine::FutureFlood,
        Byzantine::SyncFlood,
        Byzantine::BadTxBatches,
        Byzantine::ForgedCertificates,
    ];

    /// The behaviour's name in fault counts.
    pub fn name(self) -> &'static str {
        match self {
            Byzantine::Silent => "silent",
            Byzantine::Withholding => "withholding",
            Byzantine::EquivocatingProposer => "equivocating_proposer",
            Byzantine::DoubleVoter => "double_voter",
            Byzantine::InvalidBlock => "invalid_block",
            Byzantine::BadTimestamp => "bad_timestamp",
            Byzantine::GarbageGossip => "garbage_gossip",
            Byzantine::BadSignatures => "bad_signatures",
            Byzantine::FalseHeight => "false_height",
            Byzantine::FutureFlood => "future_flood",
            Byzantine::SyncFlood => "sync_flood",
            Byzantine::BadTxBatches => "bad_tx_batches",
            Byzantine::ForgedCertificates => "forged_certificates",
        }
    }
}

/// Deliberate bugs in the code under test, switched on at run time, that the checkers must catch
/// (negative controls).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mutation {
    /// The engine forgets its lock: it prepares and commits any valid proposal of a later round.
    NoLocking,
    /// The engine's safety state is not persisted, so a restarted validator may vote again.
    SkipSafetyPersist,
    /// A re-proposal justifies the lowest prepared certificate of the round changes, not the highest.
    WrongHighestPrepared,
    /// The node core blames the peer that relayed a bad message instead of only its author.
    BlameRelays,
    /// The node core believes claimed heights: a peer whose answers do not back its claim is asked
    /// again at once, never avoided or penalised.
    TrustClaimedHeights,
    /// The engine buffers future-height messages by count only, a round change per round, as it did
    /// before its byte budgets.
    UnboundedFutureBuffer,
}

impl Mutation {
    /// Every mutation.
    pub const ALL: [Mutation; 6] = [
        Mutation::NoLocking,
        Mutation::SkipSafetyPersist,
        Mutation::WrongHighestPrepared,
        Mutation::BlameRelays,
        Mutation::TrustClaimedHeights,
        Mutation::UnboundedFutureBuffer,
    ];
}

/// A scripted adversarial schedule at one height, the kind of message pattern under which a
/// consensus safety bug shows (a random network reaches it too rarely for a bounded suite).
/// Everything else in the run stays random.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trap {
    /// Round 0's COMMITs at the trap height reach only one validator, which decides and then is
    /// down for a while: the others, who prepared the block, must re-propose it (locking).
    LockedBlock,
    /// At the trap height one validator alone prepares a block in round 0; its round change for
    /// round 1 is lost, so round 1 proposes a second block, which the others prepare and one of
    /// them decides before it is down for a while: round 2 must re-propose the second block, the
    /// highest prepared certificate, not the first.
    TwoPreparedRounds,
}

/// Which store each node keeps its chain in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// `covenant-storage`'s in-memory store.
    Memory,
    /// RocksDB in a temporary directory (slower; for runs that must exercise the real store).
    Rocks,
}

/// A complete simulation setup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// The seed of every random choice during the run.
    pub seed: u64,
    /// Number of validators at genesis (4 or 7 in the suites).
    pub validators: usize,
    /// Byzantine validators: `(validator index, behaviour)`. A validator may have several.
    pub byzantine: Vec<(usize, Byzantine)>,
    /// Validators run as two honest copies sharing one key (twins).
    pub twins: Vec<usize>,
    /// Length of the fault phase, in virtual milliseconds.
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
    /// Links missing for the whole run (a partial mesh): messages must be relayed.
    pub missing_links: bool,
    /// Random crashes (and restarts from the store) of honest validators.
    pub crashes: bool,
    /// Chance that a node crashes after a step that persisted a vote, before anything it sends
    /// leaves, per mille.
    pub crash_after_persist_per_mille: u32,
    /// Extra loss of COMMITs and decided blocks during the fault phase, per mille: an adversarial
    /// network that lets some validators decide and starves the others, so that rounds change with
    /// a block already decided somewhere (where locking must hold).
    pub commit_loss_per_mille: u32,
    /// A partition present from the start and never healed: groups of node slots (negative controls).
    pub fixed_partition: Option<Vec<Vec<usize>>>,
    /// Chain parameters of the simulated chain.
    pub params: ChainParams,
    /// Quorum used by every engine and by the checkers instead of ⌈2n/3⌉ (negative control only).
    pub quorum_override: Option<usize>,
    /// Client transfers per second of virtual time, spread over the nodes.
    pub tx_rate_per_s: u64,
    /// A member is voted in with a validator, and a validator voted out, during the fault phase.
    pub governance: bool,
    /// Deliberate bugs switched on (negative controls).
    pub mutations: Vec<Mutation>,
    /// Where the nodes keep their chains.
    pub store: StoreKind,
    /// A scripted adversarial schedule at one height (mutation controls).
    pub trap: Option<Trap>,
    /// Validators lying about their height sometimes answer with forged seals (and are penalised at
    /// once); without, they only ever answer with nothing, as in finding 2 of issue 21.
    pub liar_forges_seals: bool,
    /// Round changes a flooding validator sends per act.
    pub flood_messages: usize,
    /// Size of the block a flooded round change's certificate carries: big enough to matter to the
    /// buffers' byte budgets, small enough to keep a run fast.
    pub flood_block_bytes: usize,
    /// Flooded round changes are for rounds 1 to this.
    pub flood_rounds_max: u32,
    /// Flooded round changes with a garbage outer signature (refused at once, and the flooder
    /// penalised), per mille.
    pub flood_forged_per_mille: u32,
    /// Memo bytes of each transaction in a flooded round change's block (few large transactions
    /// make a large block cheap to build).
    pub flood_memo_bytes: usize,
}

/// Parameters with short intervals so that a run covers many heights in little virtual time.
pub fn sim_params() -> ChainParams {
    ChainParams {
        block_txs_max: 16,
        block_interval_ms_min: 100,
        block_interval_ms_max: 1_000,
        clock_drift_ms_max: 500,
        round_timeout_ms_base: 300,
        ..ChainParams::default()
    }
}

impl SimConfig {
    /// No faults at all: `validators` honest validators on a reliable network with a light load.
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
            missing_links: false,
            crashes: false,
            crash_after_persist_per_mille: 0,
            commit_loss_per_mille: 0,
            fixed_partition: None,
            params: sim_params(),
            quorum_override: None,
            tx_rate_per_s: 20,
            governance: false,
            mutations: Vec::new(),
            store: StoreKind::Memory,
            trap: None,
            liar_forges_seals: true,
            flood_messages: 12,
            flood_block_bytes: 256 * 1024,
            flood_rounds_max: 8,
            flood_forged_per_mille: 500,
            flood_memo_bytes: 0,
        }
    }

    /// `from_seed`'s network faults with `validators` honest validators (no Byzantine validators,
    /// twins or governance).
    pub fn with_faults(seed: u64, validators: usize) -> SimConfig {
        let mut config = SimConfig::from_seed(seed);
        config.validators = validators;
        config.byzantine.clear();
        config.twins.clear();
        config.governance = false;
        config
    }

    /// One Byzantine validator of four with `behaviour`, on `from_seed`'s network faults.
    pub fn byzantine_alone(seed: u64, behaviour: Byzantine) -> SimConfig {
        SimConfig { byzantine: vec![(1, behaviour)], ..SimConfig::with_faults(seed, 4) }
    }

    /// Four honest validators with `trap` set, on `from_seed`'s delays and skew, without the random
    /// losses, partitions and crashes that would spoil the trap's message pattern.
    pub fn trapped(seed: u64, trap: Trap) -> SimConfig {
        SimConfig {
            trap: Some(trap),
            loss_per_mille: 0,
            partitions: false,
            crashes: false,
            crash_after_persist_per_mille: 0,
            commit_loss_per_mille: 0,
            ..SimConfig::with_faults(seed, 4)
        }
    }

    /// A run with `mutation` switched on, in the kind of run where its bug shows: the checkers must
    /// catch it for most seeds (the mutation controls, and `covenant-sim --mutation`).
    pub fn for_mutation(seed: u64, mutation: Mutation) -> SimConfig {
        let base = match mutation {
            Mutation::NoLocking => SimConfig::trapped(seed, Trap::LockedBlock),
            Mutation::WrongHighestPrepared => SimConfig::trapped(seed, Trap::TwoPreparedRounds),
            Mutation::SkipSafetyPersist => {
                SimConfig { crashes: true, crash_after_persist_per_mille: 100, ..SimConfig::from_seed(seed) }
            }
            Mutation::BlameRelays => SimConfig { missing_links: true, ..SimConfig::from_seed(seed) },
            Mutation::TrustClaimedHeights => {
                SimConfig { liar_forges_seals: false, ..SimConfig::byzantine_alone(seed, Byzantine::FalseHeight) }
            }
            // A flood heavy enough, over enough rounds, to pass an author's byte budget within the
            // few heights its messages wait for, and with valid signatures only, so that its author
            // is never penalised and cut off.
            Mutation::UnboundedFutureBuffer => SimConfig {
                flood_messages: 48,
                flood_block_bytes: 1024 * 1024,
                flood_rounds_max: 64,
                flood_forged_per_mille: 0,
                flood_memo_bytes: 16 * 1024,
                ..SimConfig::byzantine_alone(seed, Byzantine::FutureFlood)
            },
        };
        SimConfig { mutations: vec![mutation], ..base }
    }

    /// A configuration drawn from `seed`: n = 4 or 7, up to f faulty validators (Byzantine behaviours
    /// and twins), and random network faults, skew, partitions, missing links, crashes and
    /// governance during the fault phase.
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
                // Sometimes a second behaviour for the same validator.
                if rng.chance(300) {
                    byzantine.push((index, Byzantine::ALL[rng.index(Byzantine::ALL.len())]));
                }
            }
        }
        byzantine.sort();
        byzantine.dedup();
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
        config.missing_links = rng.chance(250);
        config.crashes = rng.chance(500);
        config.crash_after_persist_per_mille = if config.crashes { rng.range(0, 5) as u32 } else { 0 };
        config.commit_loss_per_mille = [0, 0, 300, 600, 850][rng.index(5)];
        config.tx_rate_per_s = rng.range(0, 60);
        config.governance = rng.chance(250);
        config
    }

    /// f = ⌊(n - 1) / 3⌋.
    pub fn max_faulty(&self) -> usize {
        (self.validators - 1) / 3
    }

    /// Validators that are faulty in the protocol's sense (Byzantine or twinned).
    pub fn faulty(&self) -> usize {
        let mut indices: Vec<usize> = self.byzantine.iter().map(|(index, _)| *index).collect();
        indices.extend(&self.twins);
        indices.sort_unstable();
        indices.dedup();
        indices.len()
    }

    /// The behaviours of validator `index` (empty if honest).
    pub fn behaviours(&self, index: usize) -> Vec<Byzantine> {
        self.byzantine.iter().filter(|(validator, _)| *validator == index).map(|(_, behaviour)| *behaviour).collect()
    }

    /// Whether `mutation` is switched on.
    pub fn has(&self, mutation: Mutation) -> bool {
        self.mutations.contains(&mutation)
    }
}
