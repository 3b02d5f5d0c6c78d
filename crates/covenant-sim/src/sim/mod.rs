//! The simulation: real node cores over real stores, a simulated network with gossip relaying,
//! clocks, crashes and faults, clients, and Byzantine validators, all driven by one seed.

mod byzantine;
mod memo;
mod net;
mod trap;
mod workload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use covenant_consensus::engine::{FUTURE_AUTHOR_BYTES_MAX, FUTURE_BYTES_MAX};
use covenant_consensus::{Engine, Message, SafetyState};
use covenant_core::{
    Action, BatchId, ClientTx, CoreConfig, Counts, GossipId, GossipVerdict, Input, NodeCore, PeerKey, RequestId,
    ServeId, Topic,
};
use covenant_execution::genesis_outcome;
use covenant_storage::{ChainStore, CommitBatch, MemoryStore, RocksStore};
use covenant_types::{AssetId, Hash, RejectedTx, VerifiedTx};

use crate::chain::{ASSET, GENESIS_MS, SimChain};
use crate::check::{Checker, InvariantViolation, VoteChecker};
use crate::config::{Byzantine, Mutation, SimConfig, StoreKind};
use crate::report::{SimFailure, SimReport};
use crate::rng::Rng;

use memo::{MemoCrypto, SignatureMemo, TxMemo};
use net::{Delivery, Net};
use workload::Workload;

/// Most events one run may process before it is declared stuck.
pub const EVENTS_MAX: u64 = 3_000_000;
/// Lines of trace kept for a failure report.
pub const TRACE_LINES_MAX: usize = 160;
/// How long a penalised peer is refused, in virtual ms (the node's default misbehaviour ban).
pub const BAN_MS: u64 = 10_000;
/// Period of the status exchange between connected nodes.
pub const STATUS_INTERVAL_MS: u64 = 1_000;
/// Time after which a block request without an answer fails.
pub const REQUEST_TIMEOUT_MS: u64 = 2_000;
/// Block requests one honest node may send a validator lying about its height, at first: it backs
/// off from such a peer (250 ms doubling to 8 s) and penalises it after three unbacked answers.
/// (Nodes that believed claims asked again on every answer, several times a second.)
pub const LIAR_REQUESTS_PER_NODE_FIRST: u64 = 6;
/// After those, at most one request per node in this many seconds.
pub const LIAR_REQUEST_SECONDS_MIN: u64 = 2;
/// Gossip message ids a node remembers (gossipsub's duplicate cache).
const SEEN_MAX: usize = 4_096;

/// A node core as the simulator runs it.
pub(crate) type Core = NodeCore<dyn ChainStore, Counts>;

/// What a slot plays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Honest,
    /// One of two honest copies sharing a validator's keys.
    Twin,
    Byzantine(Vec<Byzantine>),
}

/// One simulated node process (two slots share an identity when a validator is twinned).
pub(crate) struct Slot {
    /// Index into the chain's identities.
    pub identity: usize,
    pub role: Role,
    pub core: Option<Core>,
    /// The node's disk: survives crashes.
    pub store: Arc<dyn ChainStore>,
    /// Keeps a RocksDB store's directory alive for the run.
    _dir: Option<tempfile::TempDir>,
    pub skew_ms: i64,
    /// Incremented by each crash, so that timers and answers of a previous life are ignored.
    pub epoch: u64,
    /// The pending tick: its real time and token.
    tick: Option<(u64, u64)>,
    /// The keys this node admits (its core's last allowlist).
    pub allowed: BTreeSet<PeerKey>,
    /// Slots it is connected to, as its core was told.
    pub connected: BTreeSet<usize>,
    /// Peers it refuses until a time (penalised).
    pub banned_until: BTreeMap<PeerKey, u64>,
    seen: (BTreeSet<Hash>, VecDeque<Hash>),
    pending_gossip: BTreeMap<GossipId, net::PendingGossip>,
    pending_serve: BTreeMap<ServeId, (usize, RequestId)>,
    /// Block requests it sent and has no answer for: request -> serving slot.
    pub outstanding: BTreeMap<RequestId, usize>,
    next_token: u64,
    /// Height up to which its commits were checked.
    checked_height: u64,
    /// Proposals a Byzantine proposer has made, to alternate between its ways of breaking rules.
    pub misbehaviours: u64,
    pub double_voted: BTreeSet<(u64, u32, Hash)>,
}

impl Slot {
    pub fn is_byzantine(&self) -> bool {
        matches!(self.role, Role::Byzantine(_))
    }

    pub fn does(&self, behaviour: Byzantine) -> bool {
        matches!(&self.role, Role::Byzantine(behaviours) if behaviours.contains(&behaviour))
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Marks a gossip message seen; false if it was seen before.
    fn see(&mut self, id: Hash) -> bool {
        if !self.seen.0.insert(id) {
            return false;
        }
        self.seen.1.push_back(id);
        if self.seen.1.len() > SEEN_MAX
            && let Some(oldest) = self.seen.1.pop_front()
        {
            self.seen.0.remove(&oldest);
        }
        true
    }
}

pub(crate) enum Event {
    Deliver { from: usize, to: usize, delivery: Delivery },
    Tick { slot: usize, epoch: u64, token: u64 },
    Verified { slot: usize, epoch: u64, batch: BatchId, results: Vec<Result<VerifiedTx, RejectedTx>> },
    RequestTimeout { slot: usize, epoch: u64, request: RequestId },
    Crash { slot: usize },
    Restart { slot: usize },
    Partition { groups: Vec<usize> },
    PartitionEnd,
    BanEnd,
    Status,
    Client,
    Governance,
    ByzantineAct { slot: usize },
    Heal,
}

/// A deterministic simulation of one consortium.
pub struct Simulation {
    pub(crate) config: SimConfig,
    pub(crate) rng: Rng,
    pub(crate) now: u64,
    sequence: u64,
    events: BTreeMap<(u64, u64), Event>,
    pub(crate) chain: SimChain,
    pub(crate) slots: Vec<Slot>,
    pub(crate) net: Net,
    checker: Checker,
    votes: VoteChecker,
    pub(crate) workload: Workload,
    healed: bool,
    heal_at: u64,
    liveness_target: u64,
    pub(crate) report: SimReport,
    trace: VecDeque<String>,
    live_trace: bool,
    /// A fatal condition found while running actions (checked after each event).
    violation: Option<InvariantViolation>,
    /// The scripted trap, once its parts are cast.
    trap: Option<trap::TrapPlan>,
    /// Consensus signature checks, shared by every node's engine.
    signatures: Arc<SignatureMemo>,
    /// Transaction signature checks, for every node's admission.
    tx_checks: TxMemo,
    /// Something a link depends on changed (a node started or stopped, an allowlist, a ban, a
    /// partition) since the cores were last told which links are up.
    links_changed: bool,
}

fn local_clock(now: u64, skew_ms: i64) -> u64 {
    now.saturating_add_signed(skew_ms)
}

impl Simulation {
    /// Sets up the consortium, its clocks and the fault schedule for `config`.
    pub fn new(config: SimConfig) -> Simulation {
        let mut rng = Rng::new(config.seed);
        let chain = SimChain::new(config.validators, config.params.clone());
        let outcome = genesis_outcome(&chain.genesis);
        let genesis_state: BTreeMap<Vec<u8>, Vec<u8>> =
            outcome.writes.iter().filter_map(|(key, value)| value.clone().map(|value| (key.clone(), value))).collect();
        let accounts = chain.clients.iter().map(|client| client.account.clone()).collect();
        let asset = AssetId::new(ASSET).expect("valid asset id");
        let checker = Checker::new(
            chain.chain_id.clone(),
            &outcome.block,
            genesis_state,
            accounts,
            asset,
            config.quorum_override,
        );

        let mut identities: Vec<(usize, Role)> = Vec::new();
        for validator in 0..config.validators {
            let behaviours = config.behaviours(validator);
            let role = if !behaviours.is_empty() {
                Role::Byzantine(behaviours)
            } else if config.twins.contains(&validator) {
                Role::Twin
            } else {
                Role::Honest
            };
            identities.push((validator, role));
        }
        for &validator in &config.twins {
            identities.push((validator, Role::Twin));
        }
        if config.governance {
            identities.push((chain.joiner(), Role::Honest));
        }
        let slots: Vec<Slot> = identities
            .into_iter()
            .map(|(identity, role)| {
                let skew = rng.range(0, 2 * config.clock_skew_ms_max) as i64 - config.clock_skew_ms_max as i64;
                let (store, dir) = new_store(config.store);
                let mut batch = CommitBatch::new(outcome.block.clone(), Vec::new());
                batch.state_writes = outcome.writes.clone();
                store.commit_block(batch).expect("the genesis block commits");
                Slot {
                    identity,
                    role,
                    core: None,
                    store,
                    _dir: dir,
                    skew_ms: skew,
                    epoch: 0,
                    tick: None,
                    allowed: BTreeSet::new(),
                    connected: BTreeSet::new(),
                    banned_until: BTreeMap::new(),
                    seen: (BTreeSet::new(), VecDeque::new()),
                    pending_gossip: BTreeMap::new(),
                    pending_serve: BTreeMap::new(),
                    outstanding: BTreeMap::new(),
                    next_token: 0,
                    checked_height: 0,
                    misbehaviours: 0,
                    double_voted: BTreeSet::new(),
                }
            })
            .collect();
        let net = Net::new(&config, slots.len(), &mut rng);
        let chain_id = chain.chain_id.clone();
        let workload = Workload::new(&chain, &mut rng);
        let report = SimReport { seed: config.seed, validators: config.validators, ..SimReport::default() };
        Simulation {
            heal_at: GENESIS_MS + config.chaos_ms,
            config,
            rng,
            now: GENESIS_MS,
            sequence: 0,
            events: BTreeMap::new(),
            chain,
            slots,
            net,
            checker,
            votes: VoteChecker::default(),
            workload,
            healed: false,
            liveness_target: 0,
            report,
            trace: VecDeque::new(),
            live_trace: false,
            violation: None,
            trap: None,
            signatures: SignatureMemo::new(chain_id),
            tx_checks: TxMemo::new(),
            links_changed: true,
        }
    }

    /// Prints every trace line to stderr as it happens (for replays).
    pub fn with_live_trace(mut self, live: bool) -> Simulation {
        self.live_trace = live;
        self
    }

    /// Runs until every honest validator made its liveness progress after healing, or an invariant
    /// breaks.
    pub fn run(mut self) -> Result<SimReport, Box<SimFailure>> {
        match self.run_inner() {
            Ok(()) => Ok(self.finish()),
            Err(violation) => {
                let trace = self.trace.iter().cloned().collect::<Vec<_>>().join("\n");
                Err(Box::new(SimFailure { seed: self.config.seed, violation, trace }))
            }
        }
    }

    fn finish(mut self) -> SimReport {
        let live = self.liveness_slots();
        self.report.heights_min = live.iter().map(|&slot| self.checker.height_of(slot)).min().unwrap_or(0);
        self.report.heights_max = (0..self.slots.len())
            .map(|slot| self.slots[slot].store.latest().map_or(0, |tip| tip.map_or(0, |t| t.height)))
            .max()
            .unwrap_or(0);
        self.report.virtual_ms = self.now - GENESIS_MS;
        self.report.txs_committed = self.checker.committed_count();
        for slot in 0..self.slots.len() {
            self.fold_telemetry(slot);
        }
        self.report
    }

    pub(crate) fn note(&mut self, line: String) {
        let line = format!("[{:>6} ms] {line}", self.now - GENESIS_MS);
        if self.live_trace {
            eprintln!("{line}");
        }
        if self.trace.len() == TRACE_LINES_MAX {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    pub(crate) fn schedule(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.events.insert((at.max(self.now), self.sequence), event);
    }

    pub(crate) fn local_ms(&self, slot: usize) -> u64 {
        local_clock(self.now, self.slots[slot].skew_ms)
    }

    pub(crate) fn healed(&self) -> bool {
        self.healed
    }

    pub(crate) fn key_of(&self, slot: usize) -> PeerKey {
        self.chain.nodes[self.slots[slot].identity].network_key()
    }

    /// Slots that must make progress: running honest slots whose node is a current validator.
    fn liveness_slots(&self) -> Vec<usize> {
        let validators = self.checker.current_validators();
        (0..self.slots.len())
            .filter(|&slot| {
                self.slots[slot].role == Role::Honest
                    && validators.get(&self.chain.nodes[self.slots[slot].identity].node_id).is_some()
            })
            .collect()
    }

    fn run_inner(&mut self) -> Result<(), InvariantViolation> {
        self.plan_trap();
        self.report.count(crate::faults::TWINNED_VALIDATORS, self.config.twins.len() as u64);
        self.schedule_faults();
        for slot in 0..self.slots.len() {
            self.boot(slot);
        }
        self.refresh_links();
        self.take_violation()?;
        let mut processed = 0u64;
        while let Some(((time, _), event)) = self.events.pop_first() {
            self.now = time;
            processed += 1;
            self.report.events = processed;
            if processed > EVENTS_MAX {
                return Err(InvariantViolation::Liveness { detail: format!("no end after {EVENTS_MAX} events") });
            }
            self.dispatch(event);
            if std::mem::take(&mut self.links_changed) {
                self.refresh_links();
            }
            self.take_violation()?;
            if self.healed {
                let behind: Vec<(usize, u64)> = self
                    .liveness_slots()
                    .into_iter()
                    .map(|slot| (slot, self.checker.height_of(slot)))
                    .filter(|(_, height)| *height < self.liveness_target)
                    .collect();
                let script_done = !self.config.governance || self.workload.governance_done();
                if behind.is_empty() && script_done {
                    return self.final_checks();
                }
                if self.now > self.heal_at + self.config.liveness_ms {
                    return Err(InvariantViolation::Liveness {
                        detail: format!(
                            "{} ms after healing, validators (slot, height) {behind:?} are below height {} \
                             (governance script done: {script_done}: {})",
                            self.config.liveness_ms,
                            self.liveness_target,
                            self.governance_status()
                        ),
                    });
                }
            }
        }
        Err(InvariantViolation::Liveness { detail: "event queue ran dry".into() })
    }

    fn take_violation(&mut self) -> Result<(), InvariantViolation> {
        match self.violation.take() {
            Some(violation) => Err(violation),
            None => Ok(()),
        }
    }

    pub(crate) fn fail(&mut self, violation: InvariantViolation) {
        if self.violation.is_none() {
            self.violation = Some(violation);
        }
    }

    /// Checks left for the end: every transaction a client saw committed is in the chain once.
    fn final_checks(&mut self) -> Result<(), InvariantViolation> {
        for hash in self.workload.acknowledged() {
            self.checker.acknowledged(&hash)?;
        }
        let requests = self.report.fault(crate::faults::REQUESTS_TO_LIARS);
        let seconds = (self.now - GENESIS_MS).div_ceil(1_000);
        let honest = self.slots.iter().filter(|slot| !slot.is_byzantine()).count() as u64;
        let bound = honest * (LIAR_REQUESTS_PER_NODE_FIRST + seconds / LIAR_REQUEST_SECONDS_MIN);
        if requests > bound {
            return Err(InvariantViolation::Exhaustion {
                detail: format!(
                    "validators lying about their height drew {requests} block requests from {honest} honest \
                     nodes in {seconds} s (at most {bound} expected)"
                ),
            });
        }
        Ok(())
    }

    fn schedule_faults(&mut self) {
        let chaos = self.config.chaos_ms;
        self.schedule(self.heal_at, Event::Heal);
        let first_client = GENESIS_MS + self.rng.range(0, 200);
        self.schedule(first_client, Event::Client);
        self.schedule(GENESIS_MS + STATUS_INTERVAL_MS / 2, Event::Status);
        if self.config.governance {
            let first_proposal = GENESIS_MS + self.rng.range(200, chaos / 3 + 200);
            self.schedule(first_proposal, Event::Governance);
        }
        if self.config.partitions && self.config.fixed_partition.is_none() {
            for _ in 0..self.rng.range(1, 3) {
                let start = GENESIS_MS + self.rng.range(0, chaos);
                let end = start + self.rng.range(300, 2_000);
                let groups: Vec<usize> = (0..self.slots.len()).map(|_| self.rng.range(0, 1) as usize).collect();
                self.schedule(start, Event::Partition { groups });
                self.schedule(end, Event::PartitionEnd);
            }
        }
        if self.config.crashes {
            let honest: Vec<usize> =
                (0..self.slots.len()).filter(|&slot| self.slots[slot].role == Role::Honest).collect();
            for _ in 0..self.rng.range(1, 3) {
                if honest.is_empty() {
                    break;
                }
                let slot = honest[self.rng.index(honest.len())];
                let at = GENESIS_MS + self.rng.range(0, chaos);
                self.schedule(at, Event::Crash { slot });
            }
        }
        for slot in 0..self.slots.len() {
            if self.slots[slot].is_byzantine() {
                let at = GENESIS_MS + self.rng.range(50, 500);
                self.schedule(at, Event::ByzantineAct { slot });
            }
        }
    }

    fn new_core(&self, slot: usize) -> Core {
        let identity = &self.chain.nodes[self.slots[slot].identity];
        let store = self.slots[slot].store.clone();
        let safety = match store.load_safety_state() {
            Ok(Some(bytes)) => SafetyState::decode(&bytes).ok(),
            _ => None,
        };
        let crypto = MemoCrypto::new(identity.consensus_key(), self.signatures.clone());
        #[allow(unused_mut)]
        let mut engine = Engine::new(self.chain.chain_id.clone(), identity.node_id.clone(), Box::new(crypto), safety);
        if let Some(quorum) = self.config.quorum_override {
            engine.set_unsafe_quorum_for_tests(quorum);
        }
        for mutation in &self.config.mutations {
            match mutation {
                Mutation::NoLocking => engine.set_mutation_for_tests(covenant_consensus::Mutation::NoLocking),
                Mutation::WrongHighestPrepared => {
                    engine.set_mutation_for_tests(covenant_consensus::Mutation::WrongHighestPrepared)
                }
                Mutation::UnboundedFutureBuffer => {
                    engine.set_mutation_for_tests(covenant_consensus::Mutation::UnboundedFutureBuffer)
                }
                Mutation::SkipSafetyPersist | Mutation::BlameRelays | Mutation::TrustClaimedHeights => {}
            }
        }
        let config = CoreConfig {
            chain_id: self.chain.chain_id.clone(),
            node_id: identity.node_id.clone(),
            anchor_key: None,
            withhold_proposals_out_of_drift: true,
            member_tx_limits: Default::default(),
        };
        let mut core =
            NodeCore::new(config, store, engine, Counts::default()).expect("a core over an initialised store");
        for mutation in &self.config.mutations {
            match mutation {
                Mutation::SkipSafetyPersist => core.set_mutation_for_tests(covenant_core::Mutation::SkipSafetyPersist),
                Mutation::BlameRelays => core.set_mutation_for_tests(covenant_core::Mutation::BlameRelays),
                Mutation::TrustClaimedHeights => {
                    core.set_mutation_for_tests(covenant_core::Mutation::TrustClaimedHeights)
                }
                Mutation::NoLocking | Mutation::WrongHighestPrepared | Mutation::UnboundedFutureBuffer => {}
            }
        }
        core
    }

    /// Starts (or restarts) a node from its store.
    fn boot(&mut self, slot: usize) {
        let core = self.new_core(slot);
        self.slots[slot].core = Some(core);
        self.links_changed = true;
        self.feed(slot, Input::Start);
    }

    /// Feeds one input to a slot's core and runs its actions.
    pub(crate) fn feed(&mut self, slot: usize, input: Input) {
        let now_ms = self.local_ms(slot);
        let Some(core) = self.slots[slot].core.as_mut() else { return };
        let actions = match core.handle(now_ms, input) {
            Ok(actions) => actions,
            Err(error) => {
                let reason = error.to_string();
                self.note(format!("slot {slot} halts: {reason}"));
                if !self.slots[slot].is_byzantine() {
                    self.fail(InvariantViolation::Halted { slot, reason });
                }
                self.fold_telemetry(slot);
                self.slots[slot].core = None;
                self.links_changed = true;
                return;
            }
        };
        self.check_commits(slot);
        self.check_buffers(slot);
        if self.spring_trap(slot) {
            return;
        }
        if !self.healed
            && self.slots[slot].role == Role::Honest
            && self.config.crash_after_persist_per_mille > 0
            && actions.iter().any(|action| matches!(action, Action::Broadcast { topic: Topic::Consensus, .. }))
            && self.rng.chance(self.config.crash_after_persist_per_mille)
        {
            self.note(format!("slot {slot} crashes after persisting its vote, before sending it"));
            self.report.count(crate::faults::CRASHES_AFTER_PERSIST, 1);
            self.crash(slot);
            return;
        }
        let epoch = self.slots[slot].epoch;
        for action in actions {
            if self.slots[slot].epoch != epoch {
                return;
            }
            self.run_action(slot, action);
        }
        self.schedule_tick(slot);
    }

    fn schedule_tick(&mut self, slot: usize) {
        let Some(core) = self.slots[slot].core.as_ref() else { return };
        let Some(local) = core.next_tick_ms() else { return };
        let at = local.saturating_add_signed(-self.slots[slot].skew_ms).max(self.now);
        if let Some((pending, _)) = self.slots[slot].tick
            && pending <= at
            && pending >= self.now
        {
            return;
        }
        let token = self.slots[slot].token();
        self.slots[slot].tick = Some((at, token));
        let epoch = self.slots[slot].epoch;
        self.schedule(at, Event::Tick { slot, epoch, token });
    }

    /// Checks every block the slot committed since the last look.
    fn check_commits(&mut self, slot: usize) {
        let tip = match self.slots[slot].store.latest() {
            Ok(Some(tip)) => tip.height,
            _ => return,
        };
        while self.slots[slot].checked_height < tip {
            let height = self.slots[slot].checked_height + 1;
            self.slots[slot].checked_height = height;
            let store = &self.slots[slot].store;
            let (Ok(Some(block)), Ok(Some(seals))) = (store.block_by_height(height), store.commit_seals(height)) else {
                self.fail(InvariantViolation::Halted {
                    slot,
                    reason: format!("block {height} missing from its store"),
                });
                return;
            };
            let certificate = covenant_consensus::CommitCertificate { block, seals };
            self.note(format!(
                "slot {slot} ({}) commits h{height} r{} {} ({} txs)",
                self.chain.nodes[self.slots[slot].identity].node_id,
                certificate.block.header.round,
                &certificate.block.hash().to_hex()[..12],
                certificate.block.transactions.len()
            ));
            let first = !self.checker.decided().contains_key(&height);
            if !self.slots[slot].is_byzantine()
                && let Err(violation) = self.checker.on_commit(slot, &certificate)
            {
                self.fail(violation);
                return;
            }
            if first && certificate.block.transactions.is_empty() {
                self.count_empty_block(slot, &certificate.block.header);
            }
        }
    }

    /// Checks that an honest engine keeps within its stated budgets for messages of future heights,
    /// whatever a Byzantine validator floods it with.
    fn check_buffers(&mut self, slot: usize) {
        if self.slots[slot].is_byzantine() {
            return;
        }
        let Some(core) = self.slots[slot].core.as_ref() else { return };
        let used = core.engine().buffered_bytes();
        if used.future_author_bytes_max > FUTURE_AUTHOR_BYTES_MAX || used.future_bytes > FUTURE_BYTES_MAX {
            self.fail(InvariantViolation::Exhaustion {
                detail: format!(
                    "slot {slot} buffers {} bytes for future heights ({} from one author); the budgets are \
                     {FUTURE_BYTES_MAX} and {FUTURE_AUTHOR_BYTES_MAX}",
                    used.future_bytes, used.future_author_bytes_max
                ),
            });
        }
    }

    /// Counts a newly decided empty block, and whether it came early (see
    /// [`crate::faults::EMPTY_BLOCKS_EARLY`]).
    fn count_empty_block(&mut self, slot: usize, header: &covenant_types::BlockHeader) {
        let parent = self.slots[slot].store.block_by_height(header.height - 1).ok().flatten();
        let Some(parent) = parent else { return };
        self.report.count(crate::faults::EMPTY_BLOCKS, 1);
        let interval = header.timestamp_ms.saturating_sub(parent.header.timestamp_ms);
        if interval < self.config.params.block_interval_ms_max / 2 {
            self.report.count(crate::faults::EMPTY_BLOCKS_EARLY, 1);
        }
    }

    fn run_action(&mut self, slot: usize, action: Action) {
        if self.slots[slot].is_byzantine() {
            self.run_byzantine_action(slot, action);
        } else {
            self.run_honest_action(slot, action);
        }
    }

    pub(crate) fn run_honest_action(&mut self, slot: usize, action: Action) {
        match action {
            Action::Broadcast { topic, bytes } => {
                let message = if topic == Topic::Consensus { Message::decode(&bytes).ok() } else { None };
                if let Some(message) = &message
                    && self.slots[slot].role == Role::Honest
                {
                    self.record_vote(slot, message);
                }
                let extra_loss = message.as_ref().map_or(0, |message| self.loss_of(message));
                self.publish_as(slot, topic, Rc::new(bytes), false, None, extra_loss);
            }
            Action::Send { to, bytes } => {
                let extra_loss = self.commit_loss(&bytes);
                for peer in self.slots_of(&to) {
                    self.transmit(slot, peer, Delivery::Direct(Rc::new(bytes.clone())), extra_loss);
                }
            }
            Action::Validated { id, verdict } => self.on_verdict(slot, id, verdict),
            Action::Penalise { peer, reason } => self.penalise(slot, peer, reason),
            Action::SetAllowed { keys } => {
                self.slots[slot].allowed = keys.into_iter().collect();
                self.links_changed = true;
            }
            Action::RequestBlocks { peer, request, blocks } => self.request_blocks(slot, peer, request, blocks),
            Action::ServeBlocks { serve, from_height, max_count, bytes_max } => {
                self.serve_blocks(slot, serve, from_height, max_count, bytes_max)
            }
            Action::RefuseBlocks { serve } => self.refuse_blocks(slot, serve),
            Action::Verify { batch, txs } => {
                let results = self.tx_checks.verify_batch(txs, &self.chain.chain_id);
                let epoch = self.slots[slot].epoch;
                let at = self.now + self.rng.range(1, 5);
                self.schedule(at, Event::Verified { slot, epoch, batch, results });
            }
            Action::Answer { ticket, result } => self.workload.on_answer(ticket, result),
        }
    }

    /// Records an honest validator's PREPARE or COMMIT for the double-vote checker.
    fn record_vote(&mut self, slot: usize, message: &Message) {
        let validator = self.chain.nodes[self.slots[slot].identity].node_id.clone();
        let vote = match message {
            Message::Prepare(prepare) => {
                Some((prepare.body.height, prepare.body.round, "PREPARE", prepare.body.block_hash))
            }
            Message::Commit(commit) => Some((commit.body.height, commit.body.round, "COMMIT", commit.body.block_hash)),
            _ => None,
        };
        if let Some((height, round, kind, block_hash)) = vote
            && let Err(violation) = self.votes.on_vote(&validator, height, round, kind, block_hash)
        {
            self.fail(violation);
        }
    }

    /// Extra loss of a consensus message in flight (see [`SimConfig::commit_loss_per_mille`]).
    pub(crate) fn commit_loss(&self, bytes: &[u8]) -> u32 {
        Message::decode(bytes).map_or(0, |message| self.loss_of(&message))
    }

    pub(crate) fn loss_of(&self, message: &Message) -> u32 {
        match message {
            Message::Commit(_) | Message::Decided(_) => self.config.commit_loss_per_mille,
            _ => 0,
        }
    }

    /// A slot's core penalised `peer`: it refuses it for [`BAN_MS`]. An honest node penalising an
    /// honest peer breaks the blame invariant.
    fn penalise(&mut self, slot: usize, peer: PeerKey, reason: String) {
        self.report.count(crate::faults::PENALTIES, 1);
        let until = self.now + BAN_MS;
        self.slots[slot].banned_until.insert(peer, until);
        self.links_changed = true;
        self.schedule(until, Event::BanEnd);
        let by = self.chain.nodes[self.slots[slot].identity].node_id.clone();
        self.note(format!("slot {slot} ({by}) penalises {peer}: {reason}"));
        if self.slots[slot].is_byzantine() {
            return;
        }
        let peer_slots = self.slots_of(&peer);
        let honest_peer = !peer_slots.is_empty() && peer_slots.iter().all(|&other| !self.slots[other].is_byzantine());
        if honest_peer {
            let peer_id = self.chain.nodes[self.slots[peer_slots[0]].identity].node_id.clone();
            self.fail(InvariantViolation::HonestPeerPenalised { by, peer: peer_id, reason });
        } else {
            self.report.count(crate::faults::BYZANTINE_PENALISED, 1);
        }
    }

    /// Slots whose node has network key `key` (two for a twinned validator).
    pub(crate) fn slots_of(&self, key: &PeerKey) -> Vec<usize> {
        (0..self.slots.len()).filter(|&slot| self.key_of(slot) == *key).collect()
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Deliver { from, to, delivery } => self.deliver(from, to, delivery),
            Event::Tick { slot, epoch, token } => {
                if self.slots[slot].epoch != epoch || self.slots[slot].tick.map(|(_, pending)| pending) != Some(token) {
                    return;
                }
                self.slots[slot].tick = None;
                self.feed(slot, Input::Tick);
            }
            Event::Verified { slot, epoch, batch, results } => {
                if self.slots[slot].epoch == epoch {
                    self.feed(slot, Input::Verified { batch, results });
                }
            }
            Event::RequestTimeout { slot, epoch, request } => {
                if self.slots[slot].epoch != epoch {
                    return;
                }
                if let Some(peer) = self.slots[slot].outstanding.remove(&request) {
                    let peer = self.key_of(peer);
                    let answer = Err(covenant_core::SyncFailure::Failed("request timed out".into()));
                    self.feed(slot, Input::BlocksReceived { peer, request, answer });
                }
            }
            Event::Crash { slot } => {
                if !self.healed && self.slots[slot].core.is_some() {
                    self.crash(slot);
                }
            }
            Event::Restart { slot } => {
                if self.slots[slot].core.is_none() {
                    self.note(format!("restart slot {slot}"));
                    self.boot(slot);
                }
            }
            Event::Partition { groups } => {
                if !self.healed && self.config.fixed_partition.is_none() {
                    self.note(format!("partition {groups:?}"));
                    self.report.count(crate::faults::PARTITIONS, 1);
                    self.net.partition = Some(groups);
                    self.links_changed = true;
                }
            }
            Event::PartitionEnd => {
                if self.config.fixed_partition.is_none() && self.net.partition.is_some() {
                    self.note("partition healed".into());
                    self.net.partition = None;
                    self.links_changed = true;
                }
            }
            Event::BanEnd => self.links_changed = true,
            Event::Status => {
                self.exchange_status();
                self.schedule(self.now + STATUS_INTERVAL_MS, Event::Status);
            }
            Event::Client => self.client_step(),
            Event::Governance => self.governance_step(),
            Event::ByzantineAct { slot } => self.byzantine_act(slot),
            Event::Heal => self.heal(),
        }
    }

    fn heal(&mut self) {
        self.healed = true;
        if self.config.fixed_partition.is_none() {
            self.net.partition = None;
            self.links_changed = true;
        }
        let height = (0..self.slots.len())
            .filter(|&slot| !self.slots[slot].is_byzantine())
            .map(|slot| self.checker.height_of(slot))
            .max()
            .unwrap_or(0);
        self.liveness_target = height + self.config.liveness_heights;
        self.note(format!("heal: faults stop; every honest validator must reach height {}", self.liveness_target));
        for slot in 0..self.slots.len() {
            if self.slots[slot].core.is_none() && !self.slots[slot].is_byzantine() {
                self.note(format!("restart slot {slot} at heal"));
                self.boot(slot);
            }
        }
    }

    fn crash(&mut self, slot: usize) {
        let down_ms = self.rng.range(200, 1_500);
        self.crash_for(slot, down_ms);
    }

    /// Crashes `slot` and restarts it from its store `down_ms` later.
    pub(crate) fn crash_for(&mut self, slot: usize, down_ms: u64) {
        self.fold_telemetry(slot);
        let node = &mut self.slots[slot];
        node.core = None;
        self.links_changed = true;
        node.epoch += 1;
        node.tick = None;
        node.pending_gossip.clear();
        node.pending_serve.clear();
        node.outstanding.clear();
        self.report.count(crate::faults::CRASHES, 1);
        let restart = self.now + down_ms;
        self.note(format!("crash slot {slot}; restart at +{} ms", restart - self.now));
        self.schedule(restart, Event::Restart { slot });
    }

    /// Adds what a slot's core counted in its life to the report; called once per life (at a crash,
    /// a halt, or the end of the run).
    fn fold_telemetry(&mut self, slot: usize) {
        let Some(core) = self.slots[slot].core.as_ref() else { return };
        if self.slots[slot].is_byzantine() {
            return;
        }
        let counts = core.telemetry().clone();
        for (counter, total) in &counts.counters {
            if let Some(kind) = crate::faults::of_counter(*counter) {
                self.report.count(kind, *total);
            }
        }
        for (kind, total) in &counts.consensus_refusals {
            *self.report.rejections.entry(kind.clone()).or_default() += total;
            if ["BudgetFull", "BufferFull", "Unauthenticated", "UnsolicitedDecision"].contains(&kind.as_str()) {
                self.report.count(crate::faults::BUFFER_REJECTIONS, *total);
            }
        }
        for ((_, rule), total) in &counts.rejections {
            *self.report.rejections.entry(rule.id().to_string()).or_default() += total;
        }
    }

    /// Counts a client transaction or workload step as sent, for the checker.
    pub(crate) fn note_sent(&mut self, hash: Hash) {
        self.checker.sent(hash);
    }

    /// Submits a client's transaction to `slot`.
    pub(crate) fn submit(&mut self, slot: usize, tx: ClientTx) {
        self.feed(slot, Input::Submit(vec![tx]));
    }

    /// Whether the transaction `hash` is committed in `slot`'s store.
    pub(crate) fn is_committed_at(&self, slot: usize, hash: &Hash) -> bool {
        matches!(self.slots[slot].store.tx_location(hash), Ok(Some(_)))
    }

    /// Records the number of counted events for the checks that only count.
    pub(crate) fn count(&mut self, kind: &'static str, amount: u64) {
        self.report.count(kind, amount);
    }

    /// Running, non-Byzantine slots.
    pub(crate) fn running_honest(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&slot| self.slots[slot].core.is_some() && !self.slots[slot].is_byzantine())
            .collect()
    }

    /// Feeds the verdict to the gossip model: an accepted relayed message travels on.
    fn on_verdict(&mut self, slot: usize, id: GossipId, verdict: GossipVerdict) {
        let Some(pending) = self.slots[slot].pending_gossip.remove(&id) else { return };
        if verdict == GossipVerdict::Accept && pending.relayed {
            if pending.garbage {
                self.report.count(crate::faults::GARBAGE_FORWARDED, 1);
            }
            self.report.count(crate::faults::GOSSIP_FORWARDED, 1);
            self.forward(slot, pending);
        }
    }
}

fn new_store(kind: StoreKind) -> (Arc<dyn ChainStore>, Option<tempfile::TempDir>) {
    match kind {
        StoreKind::Memory => (Arc::new(MemoryStore::new()), None),
        StoreKind::Rocks => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let store = RocksStore::open(dir.path().join("db")).expect("RocksDB opens");
            (Arc::new(store), Some(dir))
        }
    }
}
