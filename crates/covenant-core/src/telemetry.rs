//! What the core reports about itself: counters, timings and refusals by rule. The node turns them
//! into Prometheus metrics; the simulator counts them to prove that the faults it schedules happened.
//! The core never reads a clock for these: durations come from the times its inputs carry.

use covenant_rules::RuleId;

/// Where something was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Transaction admission (a client's or a peer's transaction).
    Admission,
    /// A consensus message, proposal or synced block.
    Consensus,
}

/// Things the core counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counter {
    /// Extra rounds needed to decide heights.
    RoundChanges,
    /// Blocks committed (decided here or synced).
    CommittedBlocks,
    /// Transactions committed.
    CommittedTxs,
    /// Peers' transactions dropped unverified: the verification queue, or the peer's share of it,
    /// was full.
    GossipTxsDropped,
    /// Decided blocks sent to validators still voting at a decided height.
    DecisionsSent,
    /// Transaction signatures verified at admission.
    VerifiedAtAdmission,
    /// Transaction signatures verified for proposals (not verified at admission).
    VerifiedInBlocks,
    /// A valid proposal's newly verified transactions admitted to the mempool.
    AdoptedFromProposals,
    /// Verification batches at admission.
    AdmissionBatches,
    /// Verification batches for proposals.
    BlockBatches,
    /// Proposals withheld because this node's clock is out of the drift bound.
    ProposalsWithheld,
    /// Committed blocks further than `block_interval_ms_max` from their parent (ADR 0019).
    LateBlocks,
    /// Gossiped messages accepted for forwarding.
    GossipAccepted,
    /// Gossiped messages rejected as provably bad (their deliverer penalised).
    GossipRejected,
    /// Gossiped messages neither forwarded nor blamed.
    GossipIgnored,
    /// Gossip dropped because its delivering peer exceeded its byte or message budget.
    GossipOverBudget,
    /// Peers penalised (disconnected and refused for a while).
    PeersPenalised,
    /// Block requests sent.
    SyncRequests,
    /// Block requests that brought no usable block from a peer whose claim said it had them.
    SyncUnbacked,
    /// Blocks received by sync and committed.
    SyncedBlocks,
    /// Block requests served (read off the core's thread).
    SyncServed,
    /// Block requests refused because the peer's serving budget was spent.
    SyncServeRefused,
    /// Consensus messages refused by the engine (any reason, benign included).
    ConsensusRefusals,
    /// Anchoring heights at which this node did not anchor its audit log because the log had not
    /// verified against its blocks' anchors (ADR 0020).
    AnchorsRefused,
}

/// Durations the core measures, in milliseconds of its inputs' clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timing {
    /// Between the header timestamps of consecutive committed blocks.
    BlockInterval,
    /// From the start of a height to its block committed here.
    CommitLatency,
}

/// Receives what the core reports. Every method has a default that ignores it.
pub trait Telemetry {
    /// `counter` grew by `amount`.
    fn count(&mut self, counter: Counter, amount: u64) {
        let _ = (counter, amount);
    }

    /// A covenant rule refused something at `stage`.
    fn rejected(&mut self, stage: Stage, rule: RuleId) {
        let _ = (stage, rule);
    }

    /// The consensus engine refused a message or block (benign refusals included: late votes,
    /// duplicates).
    fn consensus_refusal(&mut self, error: &covenant_consensus::ConsensusError) {
        let _ = error;
    }

    /// One observation of `timing`.
    fn observe_ms(&mut self, timing: Timing, ms: u64) {
        let _ = (timing, ms);
    }

    /// The median clock offset against the peers changed (`None`: unknown), and whether it is
    /// within the drift bound.
    fn clock_offset(&mut self, median_ms: Option<i64>, in_range: bool) {
        let _ = (median_ms, in_range);
    }

    /// The store is about to commit a block (the shell may time the write between this and
    /// [`Telemetry::store_commit_finished`]; the core itself reads no clock).
    fn store_commit_started(&mut self) {}

    /// The store finished committing a block.
    fn store_commit_finished(&mut self) {}
}

/// Telemetry that keeps nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoTelemetry;

impl Telemetry for NoTelemetry {}

/// Telemetry that counts everything, for tests and the simulator.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Each counter's total.
    pub counters: std::collections::BTreeMap<Counter, u64>,
    /// Refusals by covenant rule and stage.
    pub rejections: std::collections::BTreeMap<(Stage, RuleId), u64>,
    /// The engine's refusals by the error's kind (its variant name).
    pub consensus_refusals: std::collections::BTreeMap<String, u64>,
}

impl Counts {
    /// The total of `counter`.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters.get(&counter).copied().unwrap_or(0)
    }
}

impl Telemetry for Counts {
    fn count(&mut self, counter: Counter, amount: u64) {
        *self.counters.entry(counter).or_default() += amount;
    }

    fn rejected(&mut self, stage: Stage, rule: RuleId) {
        *self.rejections.entry((stage, rule)).or_default() += 1;
    }

    fn consensus_refusal(&mut self, error: &covenant_consensus::ConsensusError) {
        *self.consensus_refusals.entry(error_kind(error)).or_default() += 1;
    }
}

/// The name of an error's variant (`BadSignature` for `BadSignature { .. }`).
pub fn error_kind(error: &impl std::fmt::Debug) -> String {
    let debug = format!("{error:?}");
    debug.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("Unknown").to_string()
}
