//! The simulation: real engines, a simulated network, clocks, disks and faults, driven by one seed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::OnceLock;

use covenant_consensus::{
    Action, BlockOutcome, Commit, CommitCertificate, ConsensusCrypto, Ed25519Crypto, Engine, HeightStart, Input,
    Message, PrePrepare, Prepare, ProposalMessage, SafetyState, Signed, seal_digest,
};
use covenant_types::{
    AccountId, AssetId, Block, BlockHeader, ChainId, ENCODING_VERSION, Hash, NodeId, OperatorId, Payload, Principal,
    SecretKey, SignatureDomain, SignedTx, Transfer, TxBody, Validator, ValidatorSet, merkle_root,
};

use crate::check::{Checker, InvariantViolation, toy_state_root};
use crate::config::{Byzantine, SimConfig};
use crate::rng::Rng;

/// Virtual time at which every simulation starts (a realistic Unix time in milliseconds).
pub const GENESIS_MS: u64 = 1_700_000_000_000;
/// Most events one run may process before it is declared stuck.
pub const EVENTS_MAX: u64 = 2_000_000;
/// Lines of trace kept for a failure report.
pub const TRACE_LINES_MAX: usize = 120;
/// Most certificates one sync reply carries.
pub const SYNC_BATCH_MAX: usize = 16;
/// Signed transactions in the shared pool the proposers draw from.
const TX_POOL_LEN: usize = 32;

/// What a finished run measured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Validators.
    pub validators: usize,
    /// Lowest height committed by any honest validator at the end.
    pub heights_min: u64,
    /// Highest height committed by any validator at the end.
    pub heights_max: u64,
    /// Events processed.
    pub events: u64,
    /// Messages delivered to an engine.
    pub messages: u64,
    /// Virtual time simulated, in milliseconds.
    pub virtual_ms: u64,
    /// Refusals reported by the engines, by rule id or error kind.
    pub rejections: BTreeMap<String, u64>,
    /// Crashes injected.
    pub crashes: u64,
    /// Sync requests answered.
    pub syncs: u64,
}

/// A failed run: the broken invariant and the last lines of the trace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("seed={seed}: {violation}\n--- last trace lines ---\n{trace}")]
pub struct SimFailure {
    /// The seed that reproduces the failure.
    pub seed: u64,
    /// What broke.
    pub violation: InvariantViolation,
    /// The end of the trace.
    pub trace: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Honest,
    Twin,
    Byzantine(Byzantine),
}

/// One simulated node process (two slots share a validator when it is twinned).
struct Slot {
    validator: usize,
    role: Role,
    engine: Option<Engine>,
    skew_ms: i64,
    /// The "disk": survives crashes.
    safety: Option<SafetyState>,
    chain: Vec<CommitCertificate>,
    state_roots: Vec<Hash>,
    mempool: u64,
    /// Incremented by each crash, so timers and replies of a previous life are ignored.
    epoch: u64,
    sync_queue: VecDeque<CommitCertificate>,
    double_voted: BTreeSet<(u64, u32, Hash)>,
    /// Proposals a Byzantine proposer has made, to alternate between its ways of breaking rules.
    misbehaviours: u64,
}

enum Event {
    Deliver { from: usize, to: usize, bytes: Rc<Vec<u8>> },
    Timer { slot: usize, epoch: u64, timeout: covenant_consensus::Timeout },
    Validated { slot: usize, epoch: u64, height: u64, block_hash: Hash, outcome: BlockOutcome },
    Built { slot: usize, epoch: u64, height: u64, round: u32, transactions: Vec<SignedTx>, state_root: Hash },
    SyncReply { slot: usize, epoch: u64, certificates: Vec<CommitCertificate> },
    Crash { slot: usize },
    Restart { slot: usize },
    Partition { groups: Vec<usize> },
    PartitionEnd,
    TxArrival,
    Heal,
}

/// Keys are fixed per validator index (the seed varies everything else).
fn key_seed(validator: usize) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[0] = 0xc0;
    seed[1] = validator as u8;
    seed
}

fn sim_chain() -> ChainId {
    ChainId::new("covenant-sim").expect("valid chain id")
}

fn tx_pool() -> &'static [SignedTx] {
    static POOL: OnceLock<Vec<SignedTx>> = OnceLock::new();
    POOL.get_or_init(|| {
        let key = SecretKey::from_seed(&[0x7a; 32]);
        (0..TX_POOL_LEN as u64)
            .map(|nonce| {
                let body = TxBody {
                    version: ENCODING_VERSION,
                    chain_id: sim_chain(),
                    sender: Principal::Operator(OperatorId::new("sim-operator").expect("valid id")),
                    nonce,
                    created_at_ms: GENESIS_MS,
                    payload: Payload::Transfer(Transfer {
                        from: AccountId::new("bank-a/treasury").expect("valid id"),
                        to: AccountId::new("bank-b/treasury").expect("valid id"),
                        asset: AssetId::new("twd").expect("valid id"),
                        amount: nonce + 1,
                        memo: String::new(),
                    }),
                };
                SignedTx::sign(body, &key)
            })
            .collect()
    })
}

/// Short label for a refusal: its rule id if it breaks a covenant rule, its kind otherwise.
fn rejection_label(error: &covenant_consensus::ConsensusError) -> String {
    if let Some(rule) = error.rule() {
        return rule.id().to_string();
    }
    let debug = format!("{error:?}");
    debug.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("Unknown").to_string()
}

/// A deterministic simulation of one consortium.
pub struct Simulation {
    config: SimConfig,
    rng: Rng,
    now: u64,
    sequence: u64,
    events: BTreeMap<(u64, u64), Event>,
    slots: Vec<Slot>,
    chain: ChainId,
    ids: Vec<NodeId>,
    validators: ValidatorSet,
    genesis: BlockHeader,
    checker: Checker,
    partition: Option<Vec<usize>>,
    healed: bool,
    heal_at: u64,
    liveness_target: u64,
    inbox: VecDeque<(usize, Input)>,
    report: SimReport,
    trace: VecDeque<String>,
    live_trace: bool,
}

impl Simulation {
    /// Sets up the validators, their clocks and the fault schedule for `config`.
    pub fn new(config: SimConfig) -> Simulation {
        let mut rng = Rng::new(config.seed);
        let chain = sim_chain();
        let ids: Vec<NodeId> =
            (0..config.validators).map(|index| NodeId::new(format!("v{index}")).expect("valid id")).collect();
        let validators = ValidatorSet::new(
            ids.iter()
                .enumerate()
                .map(|(index, id)| Validator {
                    id: id.clone(),
                    consensus_key: SecretKey::from_seed(&key_seed(index)).public_key(),
                })
                .collect(),
        )
        .expect("distinct validators");
        let genesis = BlockHeader {
            version: ENCODING_VERSION,
            chain_id: chain.clone(),
            height: 0,
            round: 0,
            parent_hash: Hash::ZERO,
            timestamp_ms: GENESIS_MS,
            proposer: ids[0].clone(),
            transactions_root: merkle_root(&[]),
            state_root: Hash::digest(b"covenant-sim genesis state"),
            validator_set_hash: validators.hash(),
            parameters_hash: config.params.hash(),
            parent_commit_seals: Vec::new(),
        };
        let quorum = config.quorum_override.unwrap_or_else(|| validators.quorum());
        let checker = Checker::new(chain.clone(), validators.clone(), config.params.clone(), quorum, genesis.clone());
        let mut slots = Vec::new();
        let new_slot = |validator: usize, role: Role, rng: &mut Rng| {
            let skew = rng.range(0, 2 * config.clock_skew_ms_max) as i64 - config.clock_skew_ms_max as i64;
            Slot {
                validator,
                role,
                engine: None,
                skew_ms: skew,
                safety: None,
                chain: Vec::new(),
                state_roots: vec![genesis.state_root],
                mempool: 0,
                epoch: 0,
                sync_queue: VecDeque::new(),
                double_voted: BTreeSet::new(),
                misbehaviours: 0,
            }
        };
        for validator in 0..config.validators {
            let role = match config.behaviour(validator) {
                Some(behaviour) => Role::Byzantine(behaviour),
                None if config.twins.contains(&validator) => Role::Twin,
                None => Role::Honest,
            };
            slots.push(new_slot(validator, role, &mut rng));
        }
        for &validator in &config.twins {
            slots.push(new_slot(validator, Role::Twin, &mut rng));
        }
        let report = SimReport { seed: config.seed, validators: config.validators, ..SimReport::default() };
        let partition = config.fixed_partition.as_ref().map(|groups| {
            let mut group_of = vec![usize::MAX; slots.len()];
            for (group, members) in groups.iter().enumerate() {
                for &slot in members {
                    if let Some(entry) = group_of.get_mut(slot) {
                        *entry = group;
                    }
                }
            }
            group_of
        });
        Simulation {
            heal_at: GENESIS_MS + config.chaos_ms,
            config,
            rng,
            now: GENESIS_MS,
            sequence: 0,
            events: BTreeMap::new(),
            slots,
            chain,
            ids,
            validators,
            genesis,
            checker,
            partition,
            healed: false,
            liveness_target: 0,
            inbox: VecDeque::new(),
            report,
            trace: VecDeque::new(),
            live_trace: false,
        }
    }

    /// Prints every trace line to stderr as it happens (for replays).
    pub fn with_live_trace(mut self, live: bool) -> Simulation {
        self.live_trace = live;
        self
    }

    /// Runs until every honest validator made its liveness progress after healing, or an invariant
    /// breaks.
    pub fn run(mut self) -> Result<SimReport, SimFailure> {
        match self.run_inner() {
            Ok(()) => Ok(self.finish()),
            Err(violation) => {
                let trace = self.trace.iter().cloned().collect::<Vec<_>>().join("\n");
                Err(SimFailure { seed: self.config.seed, violation, trace })
            }
        }
    }

    fn finish(mut self) -> SimReport {
        let honest: Vec<usize> = self.liveness_slots();
        self.report.heights_min = honest.iter().map(|&slot| self.checker.height_of(slot)).min().unwrap_or(0);
        self.report.heights_max = self.slots.iter().map(|slot| slot.chain.len() as u64).max().unwrap_or(0);
        self.report.virtual_ms = self.now - GENESIS_MS;
        self.report
    }

    fn note(&mut self, line: String) {
        let line = format!("[{:>6} ms] {line}", self.now - GENESIS_MS);
        if self.live_trace {
            eprintln!("{line}");
        }
        if self.trace.len() == TRACE_LINES_MAX {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.sequence += 1;
        self.events.insert((at.max(self.now), self.sequence), event);
    }

    fn local_ms(&self, slot: usize) -> u64 {
        self.now.saturating_add_signed(self.slots[slot].skew_ms)
    }

    /// Real time at which a slot's local clock shows `local_ms`.
    fn real_ms(&self, slot: usize, local_ms: u64) -> u64 {
        local_ms.saturating_add_signed(-self.slots[slot].skew_ms)
    }

    fn checked(&self, slot: usize) -> bool {
        !matches!(self.slots[slot].role, Role::Byzantine(_))
    }

    fn liveness_slots(&self) -> Vec<usize> {
        (0..self.slots.len()).filter(|&slot| self.slots[slot].role == Role::Honest).collect()
    }

    fn run_inner(&mut self) -> Result<(), InvariantViolation> {
        self.schedule_faults();
        for slot in 0..self.slots.len() {
            self.boot(slot)?;
        }
        let mut processed = 0u64;
        while let Some(((time, _), event)) = self.events.pop_first() {
            self.now = time;
            processed += 1;
            self.report.events = processed;
            if processed > EVENTS_MAX {
                return Err(InvariantViolation::Liveness { detail: format!("no end after {EVENTS_MAX} events") });
            }
            self.dispatch(event)?;
            if self.healed {
                let behind: Vec<(usize, u64)> = self
                    .liveness_slots()
                    .into_iter()
                    .map(|slot| (slot, self.checker.height_of(slot)))
                    .filter(|(_, height)| *height < self.liveness_target)
                    .collect();
                if behind.is_empty() {
                    return Ok(());
                }
                if self.now > self.heal_at + self.config.liveness_ms {
                    return Err(InvariantViolation::Liveness {
                        detail: format!(
                            "{} ms after healing, validators (slot, height) {behind:?} are below height {}",
                            self.config.liveness_ms, self.liveness_target
                        ),
                    });
                }
            }
        }
        Err(InvariantViolation::Liveness { detail: "event queue ran dry".into() })
    }

    fn schedule_faults(&mut self) {
        let chaos = self.config.chaos_ms;
        self.schedule(self.heal_at, Event::Heal);
        let first_tx = GENESIS_MS + self.rng.range(0, 200);
        self.schedule(first_tx, Event::TxArrival);
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
            let honest = self.liveness_slots();
            for _ in 0..self.rng.range(1, 3) {
                if honest.is_empty() {
                    break;
                }
                let slot = honest[self.rng.index(honest.len())];
                let at = GENESIS_MS + self.rng.range(0, chaos);
                self.schedule(at, Event::Crash { slot });
            }
        }
    }

    fn new_engine(&self, slot: usize) -> Engine {
        let validator = self.slots[slot].validator;
        let crypto = Ed25519Crypto::new(SecretKey::from_seed(&key_seed(validator)));
        #[allow(unused_mut)]
        let mut engine = Engine::new(
            self.chain.clone(),
            self.ids[validator].clone(),
            Box::new(crypto),
            self.slots[slot].safety.clone(),
        );
        #[cfg(test)]
        if let Some(quorum) = self.config.quorum_override {
            engine.set_unsafe_quorum_for_tests(quorum);
        }
        engine
    }

    fn height_start(&self, slot: usize) -> Box<HeightStart> {
        let node = &self.slots[slot];
        let (parent, parent_commit_seals) = match node.chain.last() {
            Some(certificate) => (certificate.block.header.clone(), certificate.seals.clone()),
            None => (self.genesis.clone(), Vec::new()),
        };
        Box::new(HeightStart {
            height: parent.height + 1,
            validators: self.validators.clone(),
            params: self.config.params.clone(),
            parent,
            parent_validators: self.validators.clone(),
            parent_commit_seals,
        })
    }

    /// Starts (or restarts) a node from its disk.
    fn boot(&mut self, slot: usize) -> Result<(), InvariantViolation> {
        let engine = self.new_engine(slot);
        self.slots[slot].engine = Some(engine);
        let now_ms = self.local_ms(slot);
        let start = self.height_start(slot);
        self.feed(slot, Input::StartHeight { now_ms, start })?;
        let count = self.slots[slot].mempool;
        self.feed(slot, Input::TransactionsPending { now_ms, count })
    }

    fn feed(&mut self, slot: usize, input: Input) -> Result<(), InvariantViolation> {
        self.inbox.push_back((slot, input));
        while let Some((slot, input)) = self.inbox.pop_front() {
            let Some(engine) = self.slots[slot].engine.as_mut() else { continue };
            let actions = engine.handle(input);
            self.apply(slot, actions)?;
        }
        Ok(())
    }

    fn dispatch(&mut self, event: Event) -> Result<(), InvariantViolation> {
        match event {
            Event::Deliver { from, to, bytes } => self.deliver(from, to, &bytes),
            Event::Timer { slot, epoch, timeout } => {
                if self.slots[slot].epoch != epoch {
                    return Ok(());
                }
                let now_ms = self.local_ms(slot);
                self.feed(slot, Input::Timeout { now_ms, timeout })
            }
            Event::Validated { slot, epoch, height, block_hash, outcome } => {
                if self.slots[slot].epoch != epoch {
                    return Ok(());
                }
                self.feed(slot, Input::BlockValidated { height, block_hash, outcome })
            }
            Event::Built { slot, epoch, height, round, transactions, state_root } => {
                if self.slots[slot].epoch != epoch {
                    return Ok(());
                }
                self.feed(slot, Input::ProposalBuilt { height, round, transactions, state_root })
            }
            Event::SyncReply { slot, epoch, certificates } => {
                if self.slots[slot].epoch != epoch || self.slots[slot].engine.is_none() {
                    return Ok(());
                }
                self.slots[slot].sync_queue = certificates.into();
                self.feed_sync(slot)
            }
            Event::Crash { slot } => {
                if self.healed || self.slots[slot].engine.is_none() {
                    return Ok(());
                }
                self.crash(slot);
                Ok(())
            }
            Event::Restart { slot } => {
                if self.slots[slot].engine.is_some() {
                    return Ok(());
                }
                self.note(format!("restart slot {slot} at height {}", self.slots[slot].chain.len() + 1));
                self.boot(slot)
            }
            Event::Partition { groups } => {
                if !self.healed && self.config.fixed_partition.is_none() {
                    self.note(format!("partition {groups:?}"));
                    self.partition = Some(groups);
                }
                Ok(())
            }
            Event::PartitionEnd => {
                if self.config.fixed_partition.is_none() && self.partition.is_some() {
                    self.note("partition healed".into());
                    self.partition = None;
                }
                Ok(())
            }
            Event::TxArrival => {
                for slot in 0..self.slots.len() {
                    self.slots[slot].mempool += 1;
                    let now_ms = self.local_ms(slot);
                    let count = self.slots[slot].mempool;
                    self.feed(slot, Input::TransactionsPending { now_ms, count })?;
                }
                // Bursts with quiet gaps, so both full and empty blocks happen.
                let gap = if self.rng.chance(150) { self.rng.range(1_200, 2_500) } else { self.rng.range(20, 300) };
                self.schedule(self.now + gap, Event::TxArrival);
                Ok(())
            }
            Event::Heal => self.heal(),
        }
    }

    fn heal(&mut self) -> Result<(), InvariantViolation> {
        self.healed = true;
        if self.config.fixed_partition.is_none() {
            self.partition = None;
        }
        let height = (0..self.slots.len())
            .filter(|&slot| self.checked(slot))
            .map(|slot| self.checker.height_of(slot))
            .max()
            .unwrap_or(0);
        self.liveness_target = height + self.config.liveness_heights;
        self.note(format!("heal: faults stop; every honest validator must reach height {}", self.liveness_target));
        for slot in 0..self.slots.len() {
            if self.slots[slot].engine.is_none() {
                self.note(format!("restart slot {slot} at heal"));
                self.boot(slot)?;
            }
        }
        Ok(())
    }

    fn crash(&mut self, slot: usize) {
        let node = &mut self.slots[slot];
        node.engine = None;
        node.epoch += 1;
        node.sync_queue.clear();
        self.report.crashes += 1;
        let restart = self.now + self.rng.range(200, 1_500);
        self.note(format!("crash slot {slot}; restart at +{} ms", restart - self.now));
        self.schedule(restart, Event::Restart { slot });
    }

    fn reachable(&self, from: usize, to: usize) -> bool {
        match &self.partition {
            Some(groups) => groups.get(from) == groups.get(to),
            None => true,
        }
    }

    fn delay(&mut self) -> u64 {
        if !self.healed && self.rng.chance(self.config.long_delay_per_mille) {
            self.rng.range(self.config.delay_ms_max, self.config.long_delay_ms_max.max(self.config.delay_ms_max))
        } else {
            self.rng.range(self.config.delay_ms_min, self.config.delay_ms_max)
        }
    }

    fn transmit(&mut self, from: usize, to: usize, bytes: &Rc<Vec<u8>>, extra_loss_per_mille: u32) {
        if !self.healed && (self.rng.chance(self.config.loss_per_mille) || self.rng.chance(extra_loss_per_mille)) {
            return;
        }
        let copies = if !self.healed && self.rng.chance(self.config.duplicate_per_mille) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.delay();
            self.schedule(self.now + delay, Event::Deliver { from, to, bytes: bytes.clone() });
        }
    }

    /// Sends to every slot of `to` (or every other slot), through this slot's Byzantine behaviour.
    fn send(&mut self, from: usize, to: Option<usize>, message: Message) {
        let role = self.slots[from].role;
        let recipients: Vec<usize> = (0..self.slots.len())
            .filter(|&slot| slot != from && to.is_none_or(|validator| self.slots[slot].validator == validator))
            .collect();
        let (message, variant) = match (role, &message) {
            (Role::Byzantine(Byzantine::Silent), _) => return,
            (Role::Byzantine(behaviour), Message::Proposal(proposal)) => self.misbehave(from, behaviour, proposal),
            _ => (message, None),
        };
        let extra_loss = match message {
            Message::Commit(_) | Message::Decided(_) => self.config.commit_loss_per_mille,
            _ => 0,
        };
        let bytes = Rc::new(message.encode());
        let variant_bytes = variant.map(|variant| Rc::new(variant.encode()));
        for slot in recipients {
            match &variant_bytes {
                Some(other) if self.slots[slot].validator % 2 == 1 => self.transmit(from, slot, other, extra_loss),
                _ => self.transmit(from, slot, &bytes, extra_loss),
            }
        }
    }

    /// A Byzantine proposer's rewrite of its own proposal: the message to send, and for an
    /// equivocator a second one for half the validators.
    fn misbehave(
        &mut self,
        slot: usize,
        behaviour: Byzantine,
        proposal: &ProposalMessage,
    ) -> (Message, Option<Message>) {
        let original = Message::Proposal(Box::new(proposal.clone()));
        let count = self.slots[slot].misbehaviours;
        match behaviour {
            Byzantine::EquivocatingProposer => {
                let variant = self.forge(slot, proposal, |block| block.header.timestamp_ms += 1);
                (original, Some(variant))
            }
            // Odd-numbered builds carry a wrong state root; the even-numbered ones get too many
            // transactions here.
            Byzantine::InvalidBlock if count.is_multiple_of(2) => {
                let too_many = self.config.params.block_txs_max as usize + 1;
                (self.forge(slot, proposal, |block| block.transactions = tx_pool()[..too_many].to_vec().into()), None)
            }
            Byzantine::BadTimestamp => {
                let drift = self.config.params.clock_drift_ms_max;
                let parent_ms = self.slots[slot].chain.last().map_or(GENESIS_MS, |c| c.block.header.timestamp_ms);
                self.slots[slot].misbehaviours += 1;
                let forged = if count.is_multiple_of(2) {
                    self.forge(slot, proposal, |block| block.header.timestamp_ms += 3 * drift)
                } else {
                    self.forge(slot, proposal, |block| block.header.timestamp_ms = parent_ms + 1)
                };
                (forged, None)
            }
            _ => (original, None),
        }
    }

    /// Re-signs `proposal` after `mutate` changed its block (keeping the header's roots consistent).
    fn forge(&self, slot: usize, proposal: &ProposalMessage, mutate: impl FnOnce(&mut Block)) -> Message {
        let validator = self.slots[slot].validator;
        let crypto = Ed25519Crypto::new(SecretKey::from_seed(&key_seed(validator)));
        let mut block = proposal.block.clone();
        mutate(&mut block);
        block.header.transactions_root = block.compute_transactions_root();
        let body = PrePrepare { block_hash: block.hash(), ..proposal.pre_prepare.body.clone() };
        let pre_prepare = Signed::sign(self.ids[validator].clone(), body, &crypto, &self.chain);
        Message::Proposal(Box::new(ProposalMessage {
            pre_prepare,
            block,
            justification: proposal.justification.clone(),
        }))
    }

    /// A double voter PREPAREs and COMMITs every proposal it receives, whatever it voted before.
    fn double_vote(&mut self, slot: usize, proposal: &ProposalMessage) {
        let body = &proposal.pre_prepare.body;
        let key = (body.height, body.round, body.block_hash);
        if !self.slots[slot].double_voted.insert(key) {
            return;
        }
        let validator = self.slots[slot].validator;
        let crypto = Ed25519Crypto::new(SecretKey::from_seed(&key_seed(validator)));
        let author = self.ids[validator].clone();
        let prepare = Prepare { height: body.height, round: body.round, block_hash: body.block_hash };
        let prepare = Signed::sign(author.clone(), prepare, &crypto, &self.chain);
        let seal_hash = seal_digest(body.height, proposal.block.header.round, body.block_hash);
        let seal = crypto.sign(SignatureDomain::CommitSeal, &self.chain, &seal_hash);
        let commit = Commit { height: body.height, round: body.round, block_hash: body.block_hash, seal };
        let commit = Signed::sign(author, commit, &crypto, &self.chain);
        for (message, extra_loss) in
            [(Message::Prepare(prepare), 0), (Message::Commit(commit), self.config.commit_loss_per_mille)]
        {
            let bytes = Rc::new(message.encode());
            for to in 0..self.slots.len() {
                if to != slot {
                    self.transmit(slot, to, &bytes, extra_loss);
                }
            }
        }
    }

    fn deliver(&mut self, from: usize, to: usize, bytes: &[u8]) -> Result<(), InvariantViolation> {
        if self.slots[to].engine.is_none() || !self.reachable(from, to) {
            return Ok(());
        }
        let Ok(message) = Message::decode(bytes) else {
            *self.report.rejections.entry("Undecodable".into()).or_default() += 1;
            return Ok(());
        };
        self.report.messages += 1;
        if let (Role::Byzantine(Byzantine::DoubleVoter), Message::Proposal(proposal)) = (self.slots[to].role, &message)
        {
            self.double_vote(to, proposal);
        }
        let now_ms = self.local_ms(to);
        self.feed(to, Input::Message { now_ms, message })
    }

    fn execute(&self, slot: usize, block: &Block) -> Hash {
        let parent_root = self.slots[slot].state_roots.last().copied().unwrap_or(self.genesis.state_root);
        toy_state_root(&parent_root, block)
    }

    fn apply(&mut self, slot: usize, actions: Vec<Action>) -> Result<(), InvariantViolation> {
        let epoch = self.slots[slot].epoch;
        for action in actions {
            if self.slots[slot].epoch != epoch {
                // Crashed in the middle of the list: the rest never happens.
                return Ok(());
            }
            match action {
                Action::PersistSafety(state) => {
                    self.slots[slot].safety = Some(state);
                    if !self.healed
                        && self.slots[slot].role == Role::Honest
                        && self.rng.chance(self.config.crash_after_persist_per_mille)
                    {
                        self.note(format!("slot {slot} crashes right after persisting, before sending"));
                        self.crash(slot);
                    }
                }
                Action::Broadcast(message) => self.send(slot, None, message),
                Action::Send { to, message } => {
                    if let Some(validator) = self.ids.iter().position(|id| *id == to) {
                        self.send(slot, Some(validator), message);
                    }
                }
                Action::ScheduleTimeout(timeout) => {
                    let at = self.real_ms(slot, timeout.at_ms);
                    self.schedule(at, Event::Timer { slot, epoch, timeout });
                }
                Action::ValidateBlock { height, block, .. } => {
                    let outcome = BlockOutcome::Valid { state_root: self.execute(slot, &block) };
                    let at = self.now + self.rng.range(1, 15);
                    self.schedule(at, Event::Validated { slot, epoch, height, block_hash: block.hash(), outcome });
                }
                Action::BuildProposal(request) => {
                    let pool = tx_pool();
                    let count = self.slots[slot].mempool.min(request.transactions_max).min(4) as usize;
                    let first = (request.height as usize * 7) % pool.len();
                    let transactions: Vec<SignedTx> =
                        (0..count).map(|offset| pool[(first + offset) % pool.len()].clone()).collect();
                    let probe = Block {
                        header: BlockHeader { parent_commit_seals: Vec::new(), ..self.genesis.clone() },
                        transactions: transactions.clone().into(),
                    };
                    let state_root = match self.slots[slot].role {
                        Role::Byzantine(Byzantine::InvalidBlock) => {
                            self.slots[slot].misbehaviours += 1;
                            if self.slots[slot].misbehaviours % 2 == 1 {
                                Hash::digest(b"bogus")
                            } else {
                                self.execute(slot, &probe)
                            }
                        }
                        _ => self.execute(slot, &probe),
                    };
                    let at = self.now + self.rng.range(1, 10);
                    let (height, round) = (request.height, request.round);
                    self.schedule(at, Event::Built { slot, epoch, height, round, transactions, state_root });
                }
                Action::Commit(certificate) => self.commit(slot, certificate)?,
                Action::RequestSync { from_height } => self.sync(slot, from_height),
                Action::Rejected(rejection) => {
                    let label = rejection_label(&rejection.error);
                    *self.report.rejections.entry(label).or_default() += 1;
                    if !rejection.error.is_benign() && self.live_trace {
                        let from = rejection.from.map_or_else(|| "?".into(), |id| id.to_string());
                        self.note(format!(
                            "slot {slot} refused from {from} at h{} r{}: {}",
                            rejection.height, rejection.round, rejection.error
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, slot: usize, certificate: CommitCertificate) -> Result<(), InvariantViolation> {
        let height = certificate.block.header.height;
        self.note(format!(
            "slot {slot} ({}) commits h{height} r{} {} ({} txs, {} seals)",
            self.ids[self.slots[slot].validator],
            certificate.block.header.round,
            &certificate.block.hash().to_hex()[..12],
            certificate.block.transactions.len(),
            certificate.seals.len()
        ));
        if self.checked(slot) {
            self.checker.on_commit(slot, &certificate)?;
        }
        let state_root = self.execute(slot, &certificate.block);
        let included = certificate.block.transactions.len() as u64;
        let node = &mut self.slots[slot];
        node.chain.push(certificate);
        node.state_roots.push(state_root);
        node.mempool = node.mempool.saturating_sub(included);
        let now_ms = self.local_ms(slot);
        let start = self.height_start(slot);
        self.inbox.push_back((slot, Input::StartHeight { now_ms, start }));
        let count = self.slots[slot].mempool;
        self.inbox.push_back((slot, Input::TransactionsPending { now_ms, count }));
        self.feed_sync_later(slot);
        Ok(())
    }

    /// After the next height starts, the next synced certificate (if any) is fed.
    fn feed_sync_later(&mut self, slot: usize) {
        let height = self.slots[slot].chain.len() as u64 + 1;
        let queue = &mut self.slots[slot].sync_queue;
        while queue.front().is_some_and(|certificate| certificate.block.header.height < height) {
            queue.pop_front();
        }
        if let Some(certificate) = queue.pop_front() {
            self.inbox.push_back((slot, Input::SyncedBlock(certificate)));
        }
    }

    fn feed_sync(&mut self, slot: usize) -> Result<(), InvariantViolation> {
        let height = self.slots[slot].chain.len() as u64 + 1;
        let queue = &mut self.slots[slot].sync_queue;
        while queue.front().is_some_and(|certificate| certificate.block.header.height < height) {
            queue.pop_front();
        }
        match queue.pop_front() {
            Some(certificate) => self.feed(slot, Input::SyncedBlock(certificate)),
            None => Ok(()),
        }
    }

    /// Block sync: ask one random peer; its committed blocks arrive after a network delay (if the
    /// peer is up and reachable).
    fn sync(&mut self, slot: usize, from_height: u64) {
        let peers: Vec<usize> = (0..self.slots.len()).filter(|&peer| peer != slot).collect();
        let peer = peers[self.rng.index(peers.len())];
        let silent = self.slots[peer].role == Role::Byzantine(Byzantine::Silent);
        if silent || self.slots[peer].engine.is_none() || !self.reachable(slot, peer) {
            return;
        }
        let start = from_height.saturating_sub(1) as usize;
        let certificates: Vec<CommitCertificate> =
            self.slots[peer].chain.iter().skip(start).take(SYNC_BATCH_MAX).cloned().collect();
        if certificates.is_empty() {
            return;
        }
        self.report.syncs += 1;
        let epoch = self.slots[slot].epoch;
        let at = self.now + 2 * self.delay();
        self.schedule(at, Event::SyncReply { slot, epoch, certificates });
    }
}
