//! The node core: one validator's decisions as a state machine without IO (see the crate docs).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use covenant_consensus::{
    Action as EngineAction, BlockOutcome as ConsensusOutcome, CommitCertificate, ConsensusError, Engine, HeightStart,
    Input as EngineInput, Message, Timeout, TimeoutKind,
};
use covenant_execution::{MemberState, NodeState, StateKey, StateReader};
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_storage::crash_points::{self, CrashPoint};
use covenant_storage::{ChainStore, CommitBatch};
use covenant_types::batch::decode_tx_batch;
use covenant_types::{
    BlockHeader, ChainId, CommitSeal, Hash, MemberStatus, NodeId, Principal, SecretKey, SignedTx, ValidatorSet,
};

use crate::admission::{Admission, AdmitContext};
use crate::anchor::{anchor_tx, anchorable_head, block_records, is_anchoring_height};
use crate::error::CoreError;
use crate::executor::{ExecutionKey, Outcomes, Validation, adopt, build, validate};
use crate::io::{
    Action, ClientTx, GetBlocks, GossipId, GossipVerdict, Input, PeerKey, RequestId, ServeId, SyncFailure, Topic,
};
use crate::peers::Peers;
use crate::rate::MemberTxLimits;
use crate::state::{StoreState, scan_table};
use crate::sync::{
    AnswerOutcome, SERVE_BLOCKS_PER_REQUEST_MAX, SERVE_BYTES_PER_REQUEST_MAX, SyncPlanner, record_answer,
};
use crate::telemetry::{Counter, Stage, Telemetry, Timing};
use crate::view::CoreView;

/// Most nodes read when refreshing the allowlist.
pub const NODES_MAX: usize = 1024;

/// Deliberate bugs that a simulator switches on to prove its checkers catch what they break.
#[derive(Clone, Copy, Debug, Default)]
struct Mutations {
    /// The engine's safety state is not written: a restarted validator may vote again.
    skip_safety_persist: bool,
    /// Any refusal of a gossiped message blames the peer that delivered it.
    blame_relays: bool,
    /// A sync answer that does not back the peer's claimed height neither backs off nor counts
    /// against it: the peer is asked again at once.
    trust_claimed_heights: bool,
}

/// A deliberate bug in the core (see [`NodeCore::set_mutation_for_tests`]).
#[cfg(feature = "test-mutations")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Do not persist the engine's safety state.
    SkipSafetyPersist,
    /// Blame the delivering peer for every refused gossip message, as if it had written it.
    BlameRelays,
    /// Believe claimed heights: ask a peer whose answers do not back its claim again at once.
    TrustClaimedHeights,
}

/// Who this node is.
pub struct CoreConfig {
    /// The chain.
    pub chain_id: ChainId,
    /// This node.
    pub node_id: NodeId,
    /// Signs this node's audit anchors (its consensus key, which the chain knows as the node's);
    /// `None`: no anchoring.
    pub anchor_key: Option<SecretKey>,
    /// Withhold this node's proposals while its clock is out of the drift bound against its peers (COV-35).
    /// Always true in the node; only the test build turns it off, to show that the other validators' own
    /// check refuses such proposals.
    pub withhold_proposals_out_of_drift: bool,
    /// Clients' transactions each member may send this node (COV-45).
    pub member_tx_limits: MemberTxLimits,
}

/// The node core over the store `S`, reporting to `T`.
pub struct NodeCore<S: ChainStore + ?Sized, T: Telemetry> {
    config: CoreConfig,
    store: Arc<S>,
    telemetry: T,
    view: Arc<CoreView>,
    engine: Engine,
    timers: BTreeMap<TimeoutKind, Timeout>,
    outcomes: Outcomes,
    /// The committed tip header and the validators that decided it.
    tip: BlockHeader,
    tip_validators: ValidatorSet,
    admission: Admission,
    peers: Peers,
    sync: SyncPlanner,
    /// Registered nodes' network keys, for point-to-point sends.
    node_keys: BTreeMap<NodeId, PeerKey>,
    /// The allowlist as last set.
    allowed: Vec<PeerKey>,
    now_ms: u64,
    height_started_ms: u64,
    /// `block_interval_ms_max` of the height being decided: a committed block further than this
    /// from its parent is counted late (ADR 0019).
    interval_ms_max: u64,
    highest_round: u32,
    last_pending: u64,
    /// False while this node's clock is out of the drift bound against its peers: it then withholds
    /// its proposals (COV-35), which the other validators would refuse anyway.
    clock_in_range: bool,
    /// Whether the last median clock offset was known (for the telemetry).
    clock_offset_ms: Option<i64>,
    out: Vec<Action>,
    /// The engine's refusals of the input fed to it by the latest [`NodeCore::step`] (not of what
    /// that input led to, such as buffered messages replayed at the next height), to judge a
    /// gossiped message or a synced block.
    refusals: Vec<(Option<NodeId>, ConsensusError)>,
    /// Whether refusals are being collected (only while the first input of a step is handled).
    collecting_refusals: bool,
    mutations: Mutations,
}

impl<S: ChainStore + ?Sized, T: Telemetry> NodeCore<S, T> {
    /// A core over an opened, initialised store, driving `engine` (built with the safety state the
    /// store held at start).
    pub fn new(config: CoreConfig, store: Arc<S>, engine: Engine, telemetry: T) -> Result<Self, CoreError> {
        let tip = store.latest()?.ok_or_else(|| CoreError::Diverged("the store holds no genesis block".into()))?;
        let tip = store
            .block_by_height(tip.height)?
            .ok_or_else(|| CoreError::Diverged(format!("the tip block {} is missing", tip.height)))?
            .header;
        let tip_validators = StoreState(store.as_ref()).validators()?;
        let view = Arc::new(CoreView::default());
        let member_tx_limits = config.member_tx_limits;
        view.update_status(|status| {
            status.height = tip.height;
            status.last_block_hash = Some(tip.hash());
        });
        Ok(NodeCore {
            config,
            store,
            telemetry,
            view,
            engine,
            timers: BTreeMap::new(),
            outcomes: Outcomes::default(),
            tip,
            tip_validators,
            admission: Admission::new(member_tx_limits),
            peers: Peers::default(),
            sync: SyncPlanner::default(),
            node_keys: BTreeMap::new(),
            allowed: Vec::new(),
            now_ms: 0,
            height_started_ms: 0,
            interval_ms_max: u64::MAX,
            highest_round: 0,
            last_pending: 0,
            clock_in_range: true,
            clock_offset_ms: None,
            out: Vec::new(),
            refusals: Vec::new(),
            collecting_refusals: false,
            mutations: Mutations::default(),
        })
    }

    /// Switches on a deliberate bug. Only for the simulator's negative controls.
    #[cfg(feature = "test-mutations")]
    pub fn set_mutation_for_tests(&mut self, mutation: Mutation) {
        match mutation {
            Mutation::SkipSafetyPersist => self.mutations.skip_safety_persist = true,
            Mutation::BlameRelays => self.mutations.blame_relays = true,
            Mutation::TrustClaimedHeights => self.mutations.trust_claimed_heights = true,
        }
    }

    /// What others may read while the core runs.
    pub fn view(&self) -> &Arc<CoreView> {
        &self.view
    }

    /// The telemetry.
    pub fn telemetry(&self) -> &T {
        &self.telemetry
    }

    /// The consensus engine (read only).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The committed tip's header.
    pub fn tip(&self) -> &BlockHeader {
        &self.tip
    }

    /// What the core knows about its peers.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// When the core next needs an [`Input::Tick`] if nothing else happens.
    pub fn next_tick_ms(&self) -> Option<u64> {
        let timers = self.timers.values().map(|timer| timer.at_ms).min();
        let batch = self.admission.deadline_ms();
        let sync = if self.behind() { self.sync.retry_at_ms(&self.peers, self.tip.height + 1) } else { None };
        [timers, batch, sync].into_iter().flatten().min()
    }

    /// Feeds one input at `now_ms` (the node's clock) and returns the actions to execute, in order.
    /// An error is fatal: the store failed, or this node cannot follow what the network decided.
    pub fn handle(&mut self, now_ms: u64, input: Input) -> Result<Vec<Action>, CoreError> {
        self.now_ms = self.now_ms.max(now_ms);
        match input {
            Input::Start => self.start()?,
            Input::Tick => self.tick()?,
            Input::Gossip { from, id, topic, relayed, bytes } => self.on_gossip(from, id, topic, relayed, bytes)?,
            Input::Direct { from, bytes } => {
                // Point-to-point messages (and a peer's gossip on direct topics, which the shell
                // delivers the same way) share the peer's gossip budget: a peer connected to every
                // node must not escape it by not relaying.
                if self.peers.charge_gossip(&from, bytes.len(), self.now_ms) {
                    self.on_consensus_bytes(from, &bytes, None)?;
                } else {
                    self.telemetry.count(Counter::GossipOverBudget, 1);
                }
            }
            Input::PeerConnected { peer } => {
                self.peers.connect(&peer, self.now_ms);
                self.update_peer_count();
            }
            Input::PeerDisconnected { peer } => {
                self.peers.disconnect(&peer);
                self.sync.peer_gone(&peer);
                self.update_clock_offset()?;
                self.update_peer_count();
            }
            Input::PeerStatus { peer, height, clock_offset_ms } => {
                self.on_peer_status(peer, height, clock_offset_ms)?
            }
            Input::BlockRequest { peer, serve, request } => self.on_block_request(peer, serve, request),
            Input::BlocksReceived { peer, request, answer } => self.on_blocks(peer, request, answer)?,
            Input::Submit(txs) => self.on_submit(txs),
            Input::Verified { batch, results } => {
                let cx = AdmitContext {
                    store: self.store.as_ref(),
                    view: &self.view,
                    telemetry: &mut self.telemetry,
                    node_id: &self.config.node_id,
                    now_ms: self.now_ms,
                };
                if self.admission.admit(cx, batch, results, &mut self.out) {
                    self.report_pending()?;
                }
            }
        }
        self.verify_if_due();
        self.view.set_verification_queue(self.admission.queued());
        Ok(std::mem::take(&mut self.out))
    }

    // ---- inputs ---------------------------------------------------------------------------------

    fn start(&mut self) -> Result<(), CoreError> {
        self.refresh_allowlist()?;
        let seals = self.store.commit_seals(self.tip.height)?.unwrap_or_default();
        let input = self.height_start(seals)?;
        self.step(input)
    }

    fn tick(&mut self) -> Result<(), CoreError> {
        let due: Vec<Timeout> = self.timers.values().filter(|timer| timer.at_ms <= self.now_ms).copied().collect();
        for timer in due {
            self.timers.remove(&timer.kind);
            self.step(EngineInput::Timeout { now_ms: self.now_ms, timeout: timer })?;
        }
        self.continue_sync();
        Ok(())
    }

    fn on_gossip(
        &mut self,
        from: PeerKey,
        id: GossipId,
        topic: Topic,
        relayed: bool,
        bytes: Vec<u8>,
    ) -> Result<(), CoreError> {
        if !self.peers.charge_gossip(&from, bytes.len(), self.now_ms) {
            self.telemetry.count(Counter::GossipOverBudget, 1);
            return self.verdict(id, GossipVerdict::Ignore);
        }
        let verdict = match topic {
            Topic::Consensus => self.on_consensus_bytes(from, &bytes, Some(relayed))?,
            Topic::Transactions => self.on_tx_batch(from, &bytes, relayed),
        };
        self.verdict(id, verdict)
    }

    fn verdict(&mut self, id: GossipId, verdict: GossipVerdict) -> Result<(), CoreError> {
        let counter = match verdict {
            GossipVerdict::Accept => Counter::GossipAccepted,
            GossipVerdict::Reject => Counter::GossipRejected,
            GossipVerdict::Ignore => Counter::GossipIgnored,
        };
        self.telemetry.count(counter, 1);
        self.out.push(Action::Validated { id, verdict });
        Ok(())
    }

    /// Feeds a consensus message delivered by `from` to the engine and judges it for the gossip
    /// layer (`relayed`: `None` for a point-to-point message). The delivering peer is blamed only
    /// for what proves it wrote the bytes itself: they do not decode, or they carry a bad signature
    /// or a malformed body at the height both are at. Honest relays validate before forwarding
    /// (this is that validation), so such bytes reach this node only from their author.
    fn on_consensus_bytes(
        &mut self,
        from: PeerKey,
        bytes: &[u8],
        relayed: Option<bool>,
    ) -> Result<GossipVerdict, CoreError> {
        let message = match Message::decode(bytes) {
            Ok(message) => message,
            Err(error) => {
                self.penalise(from, format!("sent a consensus message that does not decode: {error}"));
                return Ok(GossipVerdict::Reject);
            }
        };
        let current = self.engine.height();
        let at_current_height = message.height() == current;
        let author = message.author().cloned();
        let kind = message.kind_name();
        self.step(EngineInput::Message { now_ms: self.now_ms, message })?;
        let refusals = std::mem::take(&mut self.refusals);
        let refusal = refusals.iter().find(|(from, _)| *from == author).map(|(_, error)| error);
        Ok(match refusal {
            Some(error) if (at_current_height && proves_authorship(error)) || self.mutations.blame_relays => {
                self.penalise(from, format!("delivered a {kind} message that no honest node forwards: {error}"));
                GossipVerdict::Reject
            }
            Some(_) => GossipVerdict::Ignore,
            None if at_current_height && relayed == Some(true) => GossipVerdict::Accept,
            None => GossipVerdict::Ignore,
        })
    }

    /// Queues a peer's gossiped batch of transactions for verification. Bytes that do not decode as
    /// a batch of transactions prove the deliverer wrote them (honest relays decode first); a bad
    /// signature proves nothing about who sent it, and is only refused.
    fn on_tx_batch(&mut self, from: PeerKey, bytes: &[u8], relayed: bool) -> GossipVerdict {
        let decoded =
            decode_tx_batch(bytes).and_then(|txs| txs.into_iter().map(SignedTx::decode).collect::<Result<Vec<_>, _>>());
        let txs = match decoded {
            Ok(txs) => txs,
            Err(error) => {
                self.penalise(from, format!("gossiped bytes that are not a batch of transactions: {error}"));
                return GossipVerdict::Reject;
            }
        };
        let new: Vec<(SignedTx, Hash)> = {
            let mempool = self.view.mempool_cell().lock().expect("mempool lock poisoned");
            txs.into_iter()
                .map(|tx| {
                    let hash = tx.body.hash();
                    (tx, hash)
                })
                .filter(|(_, hash)| !mempool.knows(hash))
                .collect()
        };
        let dropped = self.admission.queue_from_peer(from, new, self.now_ms);
        self.telemetry.count(Counter::GossipTxsDropped, dropped as u64);
        if relayed { GossipVerdict::Accept } else { GossipVerdict::Ignore }
    }

    fn on_submit(&mut self, txs: Vec<ClientTx>) {
        for tx in txs {
            let ticket = tx.ticket;
            if let Err(error) = self.admission.queue_client(tx, self.now_ms) {
                self.out.push(Action::Answer { ticket, result: Err(error) });
            }
        }
    }

    fn verify_if_due(&mut self) {
        let mempool = self.view.mempool_cell();
        let batch =
            self.admission.next_batch(self.now_ms, |hash| mempool.lock().expect("mempool lock poisoned").knows(hash));
        if let Some((batch, txs)) = batch {
            self.out.push(Action::Verify { batch, txs });
        }
    }

    fn on_peer_status(&mut self, peer: PeerKey, height: u64, clock_offset_ms: Option<i64>) -> Result<(), CoreError> {
        let Some(record) = self.peers.get_mut(&peer, self.now_ms) else { return Ok(()) };
        record.claimed_height = height;
        if let Some(offset) = clock_offset_ms {
            record.clock_offset_ms = Some(offset);
            self.update_clock_offset()?;
        }
        if height > self.tip.height + 1 {
            self.continue_sync();
        }
        Ok(())
    }

    /// Answers a peer's block request within its serving budget: the bytes to read are decided
    /// here, and the reading happens off this thread.
    fn on_block_request(&mut self, peer: PeerKey, serve: ServeId, request: GetBlocks) {
        let available = self.tip.height.checked_sub(request.from_height).map(|behind| behind + 1).unwrap_or(0);
        if request.max_count == 0 || available == 0 || request.from_height == 0 {
            self.out.push(Action::RefuseBlocks { serve });
            return;
        }
        let least = u64::try_from(covenant_types::limits::CONSENSUS_MESSAGE_BYTES_MAX).unwrap_or(u64::MAX);
        let granted = self.peers.grant_serve(
            &peer,
            SERVE_BYTES_PER_REQUEST_MAX,
            least.min(SERVE_BYTES_PER_REQUEST_MAX),
            self.now_ms,
        );
        if granted == 0 {
            self.telemetry.count(Counter::SyncServeRefused, 1);
            self.out.push(Action::RefuseBlocks { serve });
            return;
        }
        self.telemetry.count(Counter::SyncServed, 1);
        let max_count = request.max_count.min(SERVE_BLOCKS_PER_REQUEST_MAX);
        self.out.push(Action::ServeBlocks {
            serve,
            from_height: request.from_height,
            max_count,
            bytes_max: usize::try_from(granted).unwrap_or(usize::MAX),
        });
    }

    fn on_blocks(
        &mut self,
        peer: PeerKey,
        request: RequestId,
        answer: Result<Vec<Vec<u8>>, SyncFailure>,
    ) -> Result<(), CoreError> {
        let Some(flight) = self.sync.answered(&peer, request) else { return Ok(()) };
        let outcome = match answer {
            Err(failure) => {
                tracing::debug!(%peer, ?failure, "block request failed");
                AnswerOutcome::Failed
            }
            Ok(blocks) => self.feed_synced(peer, flight.from_height, &blocks)?,
        };
        if self.mutations.trust_claimed_heights && !matches!(outcome, AnswerOutcome::Progress(_)) {
            self.continue_sync();
            return Ok(());
        }
        if record_answer(&mut self.peers, &peer, outcome, self.now_ms) {
            self.penalise(peer, "claimed blocks it did not serve, again and again".into());
        }
        self.continue_sync();
        Ok(())
    }

    /// Feeds synced certificates to the engine in height order; a certificate that does not decode
    /// or that the engine refuses at the height it is for proves the peer sent bad blocks.
    fn feed_synced(&mut self, peer: PeerKey, from_height: u64, blocks: &[Vec<u8>]) -> Result<AnswerOutcome, CoreError> {
        let mut committed = 0u64;
        for bytes in blocks {
            let certificate: CommitCertificate = match covenant_types::decode("commit certificate", bytes, bytes.len())
            {
                Ok(certificate) => certificate,
                Err(error) => {
                    self.penalise(peer, format!("served a block that does not decode: {error}"));
                    return Ok(AnswerOutcome::Failed);
                }
            };
            let height = certificate.block.header.height;
            if height <= self.tip.height {
                continue;
            }
            if height != self.tip.height + 1 {
                break;
            }
            self.step(EngineInput::SyncedBlock(certificate))?;
            if self.tip.height < height {
                let reason =
                    self.refusals.first().map_or_else(|| "not accepted".to_string(), |(_, error)| error.to_string());
                self.penalise(peer, format!("served block {height} that does not verify: {reason}"));
                return Ok(AnswerOutcome::Failed);
            }
            committed = height;
            crash_points::reached(CrashPoint::SyncBlockCommitted, height);
            self.telemetry.count(Counter::SyncedBlocks, 1);
        }
        if committed > 0 {
            return Ok(AnswerOutcome::Progress(committed));
        }
        let claimed = self.peers.get(&peer).map_or(0, |record| record.claimed_height);
        if claimed >= from_height && self.tip.height < from_height {
            self.telemetry.count(Counter::SyncUnbacked, 1);
            Ok(AnswerOutcome::Unbacked)
        } else {
            Ok(AnswerOutcome::Failed)
        }
    }

    fn behind(&self) -> bool {
        self.peers.iter().any(|(_, peer)| peer.connected && peer.claimed_height > self.tip.height)
    }

    /// Asks for the next blocks if a peer claims them and none is being asked.
    fn continue_sync(&mut self) {
        if !self.behind() {
            return;
        }
        self.request_sync(self.tip.height + 1);
    }

    fn request_sync(&mut self, from_height: u64) {
        if let Some((flight, blocks)) = self.sync.next_request(&mut self.peers, from_height, self.now_ms) {
            self.telemetry.count(Counter::SyncRequests, 1);
            self.out.push(Action::RequestBlocks { peer: flight.peer, request: flight.request, blocks });
        }
    }

    fn penalise(&mut self, peer: PeerKey, reason: String) {
        tracing::warn!(%peer, %reason, "penalising a peer");
        self.telemetry.count(Counter::PeersPenalised, 1);
        self.sync.peer_gone(&peer);
        self.out.push(Action::Penalise { peer, reason });
    }

    // ---- the engine -----------------------------------------------------------------------------

    /// Feeds one input to the engine and executes every resulting action, in order, including the
    /// inputs those actions produce (block validated, proposal built, next height started).
    fn step(&mut self, input: EngineInput) -> Result<(), CoreError> {
        self.refusals.clear();
        self.collecting_refusals = true;
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            let actions = self.engine.handle(input);
            for action in actions {
                if let Some(next) = self.execute(action)? {
                    inputs.push(next);
                }
            }
            self.collecting_refusals = false;
            // A commit (or anything else in the step) may have changed the mempool: the engine
            // proposes early only while transactions are pending, so it hears the new count
            // before the next input (before the next height starts, after a commit).
            let pending = self.view.pending_txs() as u64;
            if pending != self.last_pending {
                self.last_pending = pending;
                inputs.push(EngineInput::TransactionsPending { now_ms: self.now_ms, count: pending });
            }
            let round = self.engine.round();
            if round > self.highest_round {
                let changes = u64::from(round - self.highest_round);
                self.highest_round = round;
                self.telemetry.count(Counter::RoundChanges, changes);
                self.view.update_status(|status| status.round_changes += changes);
            }
            self.view.update_status(|status| status.round = round);
        }
        Ok(())
    }

    fn execute(&mut self, action: EngineAction) -> Result<Option<EngineInput>, CoreError> {
        match action {
            EngineAction::PersistSafety(state) => {
                // Durable before any later action: the vote it records is only sent afterwards.
                if !self.mutations.skip_safety_persist {
                    self.store.save_safety_state(&state.encode())?;
                }
                crash_points::reached(CrashPoint::SafetyPersisted, state.height);
                Ok(None)
            }
            EngineAction::Broadcast(message) => {
                self.out.push(Action::Broadcast { topic: Topic::Consensus, bytes: message.encode() });
                Ok(None)
            }
            EngineAction::Send { to, message } => {
                if matches!(message, Message::Decided(_)) {
                    self.telemetry.count(Counter::DecisionsSent, 1);
                }
                if let Some(peer) = self.node_keys.get(&to) {
                    self.out.push(Action::Send { to: *peer, bytes: message.encode() });
                }
                Ok(None)
            }
            EngineAction::ScheduleTimeout(timeout) => {
                self.timers.insert(timeout.kind, timeout);
                Ok(None)
            }
            EngineAction::ValidateBlock { height, round: _, block } => {
                let block_hash = block.hash();
                let validation = validate(
                    self.store.as_ref(),
                    self.view.mempool_cell(),
                    &mut self.telemetry,
                    &self.tip.state_root,
                    &block,
                );
                if let Some(execution) = validation.execution {
                    self.outcomes.insert(ExecutionKey::of(&block), execution);
                }
                if !validation.newly_verified.is_empty() {
                    let pending = adopt(
                        &StoreState(self.store.as_ref()),
                        self.view.mempool_cell(),
                        &mut self.telemetry,
                        validation.newly_verified,
                        self.now_ms,
                    );
                    self.view.set_pending_txs(pending);
                }
                Ok(Some(EngineInput::BlockValidated { height, block_hash, outcome: validation.verdict }))
            }
            EngineAction::BuildProposal(request)
                if !self.clock_in_range && self.config.withhold_proposals_out_of_drift =>
            {
                // The round times out and the next proposer takes over.
                tracing::warn!(
                    height = request.height,
                    round = request.round,
                    "withholding this node's proposal: its clock is out of the drift bound (COV-35)"
                );
                self.telemetry.count(Counter::ProposalsWithheld, 1);
                Ok(None)
            }
            EngineAction::BuildProposal(request) => {
                let built = build(self.store.as_ref(), self.view.mempool_cell(), &request)?;
                if !built.dropped.is_empty() {
                    let mut mempool = self.view.mempool_cell().lock().expect("mempool lock poisoned");
                    for hash in &built.dropped {
                        mempool.evict_from(hash);
                    }
                    self.view.set_pending_txs(mempool.len());
                }
                let state_root = built.outcome.state_root;
                self.outcomes.insert(built.key, built.outcome);
                Ok(Some(EngineInput::ProposalBuilt {
                    height: request.height,
                    round: request.round,
                    transactions: built.transactions,
                    state_root,
                }))
            }
            EngineAction::Commit(certificate) => self.commit(certificate).map(Some),
            EngineAction::RequestSync { from_height } => {
                self.request_sync(from_height);
                Ok(None)
            }
            EngineAction::Rejected(rejection) => {
                self.telemetry.consensus_refusal(&rejection.error);
                self.telemetry.count(Counter::ConsensusRefusals, 1);
                // Covenant rule violations are what operators must see; the rest (late votes for a
                // height already committed, duplicates) is routine in a BFT protocol.
                match rejection.error.rule() {
                    Some(rule) => {
                        self.telemetry.rejected(Stage::Consensus, rule);
                        tracing::warn!(from = ?rejection.from, height = rejection.height, round = rejection.round, rule = rule.id(), error = %rejection.error, "consensus refused a message by covenant rule");
                    }
                    None => {
                        tracing::debug!(from = ?rejection.from, height = rejection.height, round = rejection.round, error = %rejection.error, "consensus ignored a message");
                    }
                }
                if self.collecting_refusals {
                    self.refusals.push((rejection.from, rejection.error));
                }
                Ok(None)
            }
        }
    }

    /// Commits a decided block: execute it if this node has not (sync), check the state root, write
    /// everything in one synced batch, then start the next height.
    fn commit(&mut self, certificate: CommitCertificate) -> Result<EngineInput, CoreError> {
        let block = &certificate.block;
        let key = ExecutionKey::of(block);
        let outcome = match self.outcomes.take(&key) {
            Some(outcome) => outcome,
            None => {
                // A decided block: its new transactions are not adopted, since this commit drops them.
                match validate(
                    self.store.as_ref(),
                    self.view.mempool_cell(),
                    &mut self.telemetry,
                    &self.tip.state_root,
                    block,
                ) {
                    Validation { execution: Some(outcome), .. } => outcome,
                    Validation { verdict: ConsensusOutcome::Invalid { reason }, .. } => {
                        return Err(CoreError::Diverged(format!(
                            "the network decided block {} at height {} which this node cannot execute: {reason}",
                            block.hash(),
                            block.header.height
                        )));
                    }
                    Validation { verdict: ConsensusOutcome::Valid { .. }, execution: None, .. } => {
                        unreachable!("a valid outcome has an execution")
                    }
                }
            }
        };
        if outcome.state_root != block.header.state_root {
            return Err(CoreError::Diverged(format!(
                "state root mismatch at height {}: this node computed {}, the decided header says {}; this node is non-deterministic or its store is corrupt",
                block.header.height, outcome.state_root, block.header.state_root
            )));
        }
        let senders: BTreeSet<Principal> = block.transactions.iter().map(|tx| tx.body.sender.clone()).collect();
        let tx_count = block.transactions.len() as u64;
        let committed: Vec<Hash> = outcome.receipts.iter().map(|receipt| receipt.tx_hash).collect();
        let audit = block_records(&self.config.node_id, block, &outcome.receipts);
        let header = block.header.clone();
        let CommitCertificate { block, seals } = certificate;
        let batch = CommitBatch {
            block,
            seals: seals.clone(),
            receipts: outcome.receipts,
            state_writes: outcome.writes,
            audit,
        };
        self.telemetry.store_commit_started();
        let tip = self.store.commit_block(batch)?;
        crash_points::reached(CrashPoint::BlockCommitted, tip.height);
        self.telemetry.store_commit_finished();
        tracing::debug!(height = tip.height, hash = %tip.hash, txs = tx_count, "committed");
        self.telemetry.observe_ms(Timing::CommitLatency, self.now_ms.saturating_sub(self.height_started_ms));
        let interval_ms = header.timestamp_ms.saturating_sub(self.tip.timestamp_ms);
        self.telemetry.observe_ms(Timing::BlockInterval, interval_ms);
        if interval_ms > self.interval_ms_max {
            self.telemetry.count(Counter::LateBlocks, 1);
        }
        self.telemetry.count(Counter::CommittedBlocks, 1);
        self.telemetry.count(Counter::CommittedTxs, tx_count);
        {
            let state = StoreState(self.store.as_ref());
            let mut mempool = self.view.mempool_cell().lock().expect("mempool lock poisoned");
            for sender in &senders {
                mempool.advance_sender(sender, state.next_nonce(sender)?);
            }
            mempool.note_in_block(committed);
            self.view.set_pending_txs(mempool.len());
        }
        self.view.update_status(|status| {
            status.height = tip.height;
            status.last_block_hash = Some(tip.hash);
            status.committed_txs += tx_count;
        });
        self.outcomes.forget_through(tip.height);
        self.tip = header;
        if is_anchoring_height(tip.height) {
            self.anchor_audit_head(tip.height)?;
        }
        let input = self.height_start(seals)?;
        // The validator set or the node registry may have changed with this block.
        self.refresh_allowlist()?;
        self.timers.clear();
        Ok(input)
    }

    /// Puts this node's audit head on chain, if it moved since the last anchor: the transaction is
    /// queued for admission like a client's and gossiped once admitted. Best effort: a refusal is
    /// logged and the next interval tries again.
    fn anchor_audit_head(&mut self, height: u64) -> Result<(), CoreError> {
        let Some(key) = &self.config.anchor_key else { return Ok(()) };
        let head = match anchorable_head(&self.view.audit_check()) {
            Ok(Some(head)) => head,
            Ok(None) => return Ok(()),
            Err(reason) => {
                // The node keeps validating; it only refuses to make a bad log permanent (COV-33).
                tracing::error!(height, rule = %covenant_rules::RuleId::AuditTrail, "not anchoring the audit log: {reason}");
                self.telemetry.count(Counter::AnchorsRefused, 1);
                return Ok(());
            }
        };
        let tx = anchor_tx(
            self.store.as_ref(),
            head,
            self.view.mempool_cell(),
            &self.config.chain_id,
            &self.config.node_id,
            key,
            self.now_ms,
        )?;
        if let Some(tx) = tx {
            tracing::info!(height, "anchoring the audit head");
            self.admission.queue_local(tx, self.now_ms);
        }
        Ok(())
    }

    fn height_start(&mut self, parent_commit_seals: Vec<CommitSeal>) -> Result<EngineInput, CoreError> {
        self.height_started_ms = self.now_ms;
        self.highest_round = 0;
        let state = StoreState(self.store.as_ref());
        let validators = state.validators()?;
        let params = state.params()?;
        self.interval_ms_max = params.block_interval_ms_max;
        let start = HeightStart {
            height: self.tip.height + 1,
            validators: validators.clone(),
            params,
            parent: self.tip.clone(),
            parent_validators: self.tip_validators.clone(),
            parent_commit_seals,
        };
        self.tip_validators = validators;
        Ok(EngineInput::StartHeight { now_ms: self.now_ms, start: Box::new(start) })
    }

    fn report_pending(&mut self) -> Result<(), CoreError> {
        let count = self.view.pending_txs() as u64;
        if count != self.last_pending {
            self.last_pending = count;
            self.step(EngineInput::TransactionsPending { now_ms: self.now_ms, count })?;
        }
        Ok(())
    }

    // ---- peers, allowlist, clocks ----------------------------------------------------------------

    fn update_peer_count(&self) {
        let peers = self.peers.connected();
        self.view.update_status(|status| status.peers = peers);
    }

    /// Allows exactly the network keys of registered nodes that are not removed and whose member is
    /// active (COV-20); a node of a suspended or sanctioned member is disconnected (COV-06).
    fn refresh_allowlist(&mut self) -> Result<(), CoreError> {
        let state = StoreState(self.store.as_ref());
        let table = [StateKey::Node(NodeId::new("x").expect("valid id")).table()];
        let nodes = scan_table::<S, NodeId, NodeState>(self.store.as_ref(), &table, NODES_MAX)?;
        let mut keys: Vec<PeerKey> = Vec::new();
        let mut node_keys = BTreeMap::new();
        for (id, node) in nodes {
            node_keys.insert(id, node.record.network_key);
            let member = state.get::<MemberState>(&StateKey::Member(node.record.member.clone()))?;
            if !node.removed && member.is_some_and(|member| member.status == MemberStatus::Active) {
                keys.push(node.record.network_key);
            }
        }
        self.node_keys = node_keys;
        if keys != self.allowed {
            self.peers.retain_allowed(&keys);
            self.allowed = keys.clone();
            self.out.push(Action::SetAllowed { keys });
        }
        Ok(())
    }

    /// The median of the peers' clock offsets, for the status and the telemetry; raises or clears
    /// the clock alert (log, audit) when the median crosses the drift bound.
    fn update_clock_offset(&mut self) -> Result<(), CoreError> {
        let median = self.peers.median_clock_offset();
        self.view.update_status(|status| status.clock_offset_ms = median);
        let drift_max = StoreState(self.store.as_ref()).params()?.clock_drift_ms_max;
        let in_range = median.is_none_or(|offset| offset.unsigned_abs() <= drift_max);
        if median != self.clock_offset_ms || in_range != self.clock_in_range {
            self.clock_offset_ms = median;
            self.telemetry.clock_offset(median, in_range);
        }
        if in_range == self.clock_in_range {
            return Ok(());
        }
        self.clock_in_range = in_range;
        let offset = median.unwrap_or_default();
        let (event, outcome) = if in_range {
            tracing::info!(
                offset_ms = offset,
                drift_max_ms = drift_max,
                "clock back within the drift bound; proposing again"
            );
            ("clock_in_range", Outcome::Success)
        } else {
            tracing::error!(
                offset_ms = offset,
                drift_max_ms = drift_max,
                rule = "COV-35-CLOCK-DRIFT",
                "this node's clock is out of the drift bound against its peers (median offset); not proposing until it is back in range: fix the clock (NTP)"
            );
            ("clock_out_of_range", Outcome::Failure)
        };
        let record = AuditRecord::new(
            self.now_ms,
            self.config.node_id.clone(),
            EventType::Custom(event.into()),
            Actor::System,
            outcome,
        )
        .with_detail("median_offset_ms", offset.to_string())
        .with_detail("clock_drift_ms_max", drift_max.to_string())
        .with_detail("rule", "COV-35-CLOCK-DRIFT");
        self.store.append(record)?;
        Ok(())
    }
}

/// Whether a refusal of a message at the height this node is deciding proves that whoever
/// delivered it did not validate it: checks that do not depend on anything but the message and
/// the height's validator set, which every honest node at that height applies before forwarding.
fn proves_authorship(error: &ConsensusError) -> bool {
    matches!(
        error,
        ConsensusError::BadSignature { .. }
            | ConsensusError::BadSeal { .. }
            | ConsensusError::BlockHashMismatch { .. }
            | ConsensusError::Malformed { .. }
    )
}
