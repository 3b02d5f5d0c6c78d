//! The event loop: the one place where consensus, execution, storage, the mempool and the network
//! meet. It drives the same [`Engine`] the simulator drives, executing its actions strictly in order
//! (a [`Action::PersistSafety`] is durable before the vote after it leaves).

pub mod admission;
pub mod anchor;
pub mod chain;
pub mod executor;
pub mod shared;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use covenant_consensus::{
    Action, CommitCertificate, Engine, HeightStart, Input, Message, SafetyState, Timeout, TimeoutKind,
};
use covenant_execution::{MemberState, NodeState, StateKey, StateReader};
use covenant_network::{GetBlocks, NetworkEvent, PeerId, peer_id_of};
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_storage::{AuditLog, ChainStore, CommitBatch};
use covenant_types::{BlockHeader, Hash, MemberStatus, Principal, PublicKey, ValidatorSet};

use crate::metrics::{RejectionStage, median_offset};
use crate::runtime::chain::{StoreState, now_ms, scan_table};
use crate::runtime::executor::{ExecutionKey, Outcomes, Validation, adopt, build, validate};
use crate::runtime::shared::Shared;

/// Blocks asked for in one sync request.
pub const SYNC_BLOCKS_PER_REQUEST: u32 = 64;
/// Capacity of the channel carrying sync answers back to the loop.
pub const SYNC_REPLIES_CAPACITY: usize = 4;
/// Most nodes read when refreshing the allowlist.
pub const NODES_MAX: usize = 1024;

/// Answers of a sync request, decoded, for the loop to feed to the engine in order.
struct SyncReply {
    peer: PeerId,
    certificates: Result<Vec<CommitCertificate>, String>,
}

/// The running event loop.
pub struct Runtime {
    shared: Arc<Shared>,
    engine: Engine,
    events: mpsc::Receiver<NetworkEvent>,
    timers: BTreeMap<TimeoutKind, Timeout>,
    outcomes: Outcomes,
    /// The committed tip header and the validators that decided it.
    tip: BlockHeader,
    tip_validators: ValidatorSet,
    peer_heights: BTreeMap<PeerId, u64>,
    /// The latest clock offset measured against each connected peer, in ms.
    peer_clock_offsets: BTreeMap<PeerId, i64>,
    /// When the height being decided started, and its highest round so far (for the metrics).
    height_started: Instant,
    highest_round: u32,
    sync_in_flight: bool,
    sync_sender: mpsc::Sender<SyncReply>,
    sync_replies: mpsc::Receiver<SyncReply>,
    last_pending: u64,
    /// False while this node's clock is out of the drift bound against its peers: it then withholds
    /// its proposals (COV-35), which the other validators would refuse anyway.
    clock_in_range: bool,
    /// Signs this node's audit anchors (its consensus key); `None`: no anchoring.
    anchor_key: Option<covenant_types::SecretKey>,
}

impl Runtime {
    /// A runtime over an opened, initialised store. `safety` is what the store held at start.
    pub fn new(
        shared: Arc<Shared>,
        engine: Engine,
        events: mpsc::Receiver<NetworkEvent>,
        tip: BlockHeader,
    ) -> Result<Runtime> {
        let tip_validators = StoreState(&shared.store).validators().context("reading the validator set")?;
        let (sync_sender, sync_replies) = mpsc::channel(SYNC_REPLIES_CAPACITY);
        Ok(Runtime {
            shared,
            engine,
            events,
            timers: BTreeMap::new(),
            outcomes: Outcomes::default(),
            tip,
            tip_validators,
            peer_heights: BTreeMap::new(),
            peer_clock_offsets: BTreeMap::new(),
            height_started: Instant::now(),
            highest_round: 0,
            sync_in_flight: false,
            sync_sender,
            sync_replies,
            last_pending: 0,
            clock_in_range: true,
            anchor_key: None,
        })
    }

    /// Anchors this node's audit head on chain every few blocks, signed with `key` (the node's
    /// consensus key, which the chain knows as the node's).
    pub fn with_anchor_key(mut self, key: covenant_types::SecretKey) -> Runtime {
        self.anchor_key = Some(key);
        self
    }

    /// Runs until `shutdown` flips to true or a fatal error (a store failure, a state root that
    /// disagrees with a committed header) stops the node.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        self.refresh_allowlist().await?;
        let seals = self.shared.store.commit_seals(self.tip.height)?.unwrap_or_default();
        self.start_height(seals).await?;
        loop {
            let sleep = self.next_timer_delay();
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        info!("shutting down");
                        return Ok(());
                    }
                }
                event = self.events.recv() => {
                    let Some(event) = event else { bail!("the network stopped") };
                    self.on_network_event(event).await?;
                }
                reply = self.sync_replies.recv() => {
                    if let Some(reply) = reply {
                        self.on_sync_reply(reply).await?;
                    }
                }
                () = self.shared.mempool_changed.notified() => {
                    self.report_pending().await?;
                }
                () = tokio::time::sleep(sleep) => {
                    self.fire_due_timers().await?;
                }
            }
        }
    }

    fn next_timer_delay(&self) -> Duration {
        let now = now_ms();
        let next = self.timers.values().map(|timer| timer.at_ms).min();
        match next {
            Some(at_ms) => Duration::from_millis(at_ms.saturating_sub(now)),
            None => Duration::from_secs(3600),
        }
    }

    async fn fire_due_timers(&mut self) -> Result<()> {
        let now = now_ms();
        let due: Vec<Timeout> = self.timers.values().filter(|timer| timer.at_ms <= now).copied().collect();
        for timer in due {
            self.timers.remove(&timer.kind);
            self.step(Input::Timeout { now_ms: now, timeout: timer }).await?;
        }
        Ok(())
    }

    async fn report_pending(&mut self) -> Result<()> {
        let count = self.shared.mempool.lock().expect("mempool lock poisoned").len() as u64;
        if count != self.last_pending {
            self.last_pending = count;
            self.step(Input::TransactionsPending { now_ms: now_ms(), count }).await?;
        }
        Ok(())
    }

    async fn on_network_event(&mut self, event: NetworkEvent) -> Result<()> {
        match event {
            NetworkEvent::Consensus { from, bytes } => match Message::decode(&bytes) {
                Ok(message) => self.step(Input::Message { now_ms: now_ms(), message }).await?,
                Err(error) => {
                    warn!(%from, %error, "undecodable consensus message; disconnecting the peer");
                    let _ =
                        self.shared.network.disconnect(from, format!("undecodable consensus message: {error}")).await;
                }
            },
            NetworkEvent::Transaction { from, bytes } => {
                // Queued for the admission stage; a peer's transaction is not gossiped again.
                if let Err(error) = self.shared.submit_from_peer(&bytes) {
                    warn!(%from, %error, "peer gossiped bytes that are not a transaction; disconnecting it");
                    let _ =
                        self.shared.network.disconnect(from, format!("gossiped an invalid transaction: {error}")).await;
                }
            }
            NetworkEvent::BlockRequest { peer, request, responder } => {
                let blocks = self.read_certificates(request.from_height, request.max_count);
                if let Err(error) = responder.respond(blocks) {
                    debug!(%peer, %error, "sync answer not sent");
                }
            }
            NetworkEvent::PeerStatus { peer, height, clock } => {
                if let Some(sample) = clock {
                    self.peer_clock_offsets.insert(peer, sample.offset_ms);
                    self.update_clock_offset()?;
                }
                self.peer_heights.insert(peer, height);
                if height > self.tip.height + 1 {
                    self.start_sync(self.tip.height + 1);
                }
            }
            NetworkEvent::PeerConnected { peer_id, address } => {
                info!(%peer_id, %address, "peer connected");
                self.update_peer_count();
            }
            NetworkEvent::PeerDisconnected { peer_id } => {
                info!(%peer_id, "peer disconnected");
                self.peer_heights.remove(&peer_id);
                if self.peer_clock_offsets.remove(&peer_id).is_some() {
                    self.update_clock_offset()?;
                }
                self.update_peer_count();
            }
            NetworkEvent::PeerRefused { peer_id, address, reason } => {
                let who = peer_id.map(|peer| peer.to_string()).unwrap_or_else(|| "unidentified".into());
                let place = address.map(|address| address.to_string()).unwrap_or_default();
                warn!(peer = %who, address = %place, %reason, "peer refused (COV-20)");
                let record = AuditRecord::new(
                    now_ms(),
                    self.shared.node_id.clone(),
                    EventType::PeerRefused,
                    Actor::Remote(who),
                    Outcome::Refused,
                )
                .with_detail("address", place)
                .with_detail("reason", reason.to_string())
                .with_detail("rule", "COV-20-PERMISSIONED-PEERS");
                self.shared.store.append(record)?;
            }
            NetworkEvent::RefusalsSuppressed { count } => {
                let record = AuditRecord::new(
                    now_ms(),
                    self.shared.node_id.clone(),
                    EventType::PeerRefused,
                    Actor::System,
                    Outcome::Refused,
                )
                .with_detail("suppressed_refusals", count.to_string())
                .with_detail("rule", "COV-20-PERMISSIONED-PEERS");
                self.shared.store.append(record)?;
            }
            NetworkEvent::EventsDropped { count } => warn!(count, "network events dropped: the node is not keeping up"),
        }
        Ok(())
    }

    /// The median of the peers' clock offsets, for the status and the metrics; raises or clears the
    /// clock alert (log, audit, metric) when the median crosses the drift bound.
    fn update_clock_offset(&mut self) -> Result<()> {
        let median = median_offset(self.peer_clock_offsets.values().copied());
        self.shared.metrics.clock_offset_ms.store(median.unwrap_or(i64::MIN), Ordering::Relaxed);
        self.shared.status.write().expect("status lock poisoned").clock_offset_ms = median;
        let drift_max = StoreState(&self.shared.store).params()?.clock_drift_ms_max;
        let in_range = median.is_none_or(|offset| offset.unsigned_abs() <= drift_max);
        if in_range == self.clock_in_range {
            return Ok(());
        }
        self.clock_in_range = in_range;
        self.shared.metrics.clock_out_of_range.store(u64::from(!in_range), Ordering::Relaxed);
        let offset = median.unwrap_or_default();
        let (event, outcome) = if in_range {
            info!(offset_ms = offset, drift_max_ms = drift_max, "clock back within the drift bound; proposing again");
            ("clock_in_range", Outcome::Success)
        } else {
            error!(
                offset_ms = offset,
                drift_max_ms = drift_max,
                rule = "COV-35-CLOCK-DRIFT",
                "this node's clock is out of the drift bound against its peers (median offset); not proposing until it is back in range: fix the clock (NTP)"
            );
            ("clock_out_of_range", Outcome::Failure)
        };
        let record = AuditRecord::new(
            now_ms(),
            self.shared.node_id.clone(),
            EventType::Custom(event.into()),
            Actor::System,
            outcome,
        )
        .with_detail("median_offset_ms", offset.to_string())
        .with_detail("clock_drift_ms_max", drift_max.to_string())
        .with_detail("rule", "COV-35-CLOCK-DRIFT");
        self.shared.store.append(record)?;
        Ok(())
    }

    fn update_peer_count(&self) {
        let peers = self.shared.network.connected_peers().len();
        self.shared.status.write().expect("status lock poisoned").peers = peers;
    }

    /// Committed blocks with their seals from `from_height`, encoded for a syncing peer.
    fn read_certificates(&self, from_height: u64, max_count: u32) -> Vec<Vec<u8>> {
        let mut blocks = Vec::new();
        for height in from_height..from_height.saturating_add(u64::from(max_count)) {
            let (Ok(Some(block)), Ok(Some(seals))) =
                (self.shared.store.block_by_height(height), self.shared.store.commit_seals(height))
            else {
                break;
            };
            blocks.push(covenant_types::encode(&CommitCertificate { block, seals }));
        }
        blocks
    }

    fn start_sync(&mut self, from_height: u64) {
        if self.sync_in_flight {
            return;
        }
        let Some((&peer, _)) =
            self.peer_heights.iter().filter(|(_, height)| **height >= from_height).max_by_key(|(_, height)| **height)
        else {
            return;
        };
        self.sync_in_flight = true;
        let network = self.shared.network.clone();
        let sender = self.sync_sender.clone();
        tokio::spawn(async move {
            let request = GetBlocks { from_height, max_count: SYNC_BLOCKS_PER_REQUEST };
            let certificates = match network.request_blocks(peer, request).await {
                Ok(blocks) => blocks
                    .iter()
                    .map(|bytes| {
                        covenant_types::decode::<CommitCertificate>(
                            "commit certificate",
                            bytes,
                            covenant_types::limits::CONSENSUS_MESSAGE_BYTES_MAX,
                        )
                        .map_err(|error| error.to_string())
                    })
                    .collect(),
                Err(error) => Err(error.to_string()),
            };
            let _ = sender.send(SyncReply { peer, certificates }).await;
        });
    }

    async fn on_sync_reply(&mut self, reply: SyncReply) -> Result<()> {
        self.sync_in_flight = false;
        let certificates = match reply.certificates {
            Ok(certificates) => certificates,
            Err(error) => {
                warn!(peer = %reply.peer, %error, "block sync failed");
                return Ok(());
            }
        };
        for certificate in certificates {
            if certificate.block.header.height != self.tip.height + 1 {
                continue;
            }
            let before = self.tip.height;
            self.step(Input::SyncedBlock(certificate)).await?;
            if self.tip.height == before {
                warn!(peer = %reply.peer, "synced block not accepted; stopping this sync round");
                return Ok(());
            }
        }
        let behind = self.peer_heights.values().any(|height| *height > self.tip.height);
        if behind {
            self.start_sync(self.tip.height + 1);
        }
        Ok(())
    }

    /// Feeds one input and executes every resulting action, in order, including the inputs those
    /// actions produce (block validated, proposal built, next height started).
    async fn step(&mut self, input: Input) -> Result<()> {
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            let actions = self.engine.handle(input);
            for action in actions {
                if let Some(next) = self.execute(action).await? {
                    inputs.push(next);
                }
            }
            let round = self.engine.round();
            let mut status = self.shared.status.write().expect("status lock poisoned");
            status.round = round;
            if round > self.highest_round {
                let changes = u64::from(round - self.highest_round);
                self.highest_round = round;
                status.round_changes += changes;
                self.shared.metrics.round_changes.fetch_add(changes, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    async fn execute(&mut self, action: Action) -> Result<Option<Input>> {
        match action {
            Action::PersistSafety(state) => {
                self.shared.store.save_safety_state(&state.encode()).context("persisting consensus safety state")?;
                Ok(None)
            }
            Action::Broadcast(message) => {
                if let Err(error) = self.shared.network.broadcast_consensus(message.encode()).await {
                    debug!(%error, "broadcast failed");
                }
                Ok(None)
            }
            Action::Send { to, message } => {
                if matches!(message, Message::Decided(_)) {
                    self.shared.metrics.decisions_sent.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(peer) = self.peer_of_node(&to)
                    && let Err(error) = self.shared.network.send_consensus(peer, message.encode()).await
                {
                    debug!(%to, %error, "send failed");
                }
                Ok(None)
            }
            Action::ScheduleTimeout(timeout) => {
                self.timers.insert(timeout.kind, timeout);
                Ok(None)
            }
            Action::ValidateBlock { height, round: _, block } => {
                let block_hash = block.hash();
                let validation = tokio::task::block_in_place(|| {
                    validate(
                        &self.shared.store,
                        &self.shared.mempool,
                        &self.shared.metrics,
                        &self.tip.state_root,
                        &block,
                    )
                });
                if let Some(execution) = validation.execution {
                    self.outcomes.insert(ExecutionKey::of(&block), execution);
                }
                if !validation.newly_verified.is_empty() {
                    let pending = tokio::task::block_in_place(|| {
                        adopt(
                            &StoreState(&self.shared.store),
                            &self.shared.mempool,
                            &self.shared.metrics,
                            validation.newly_verified,
                            now_ms(),
                        )
                    });
                    self.shared.pending_txs.store(pending, Ordering::Relaxed);
                }
                Ok(Some(Input::BlockValidated { height, block_hash, outcome: validation.verdict }))
            }
            Action::BuildProposal(request) if !self.clock_in_range => {
                // The round times out and the next proposer takes over.
                warn!(
                    height = request.height,
                    round = request.round,
                    "withholding this node's proposal: its clock is out of the drift bound (COV-35)"
                );
                self.shared.metrics.proposals_withheld.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Action::BuildProposal(request) => {
                let built = tokio::task::block_in_place(|| build(&self.shared.store, &self.shared.mempool, &request))?;
                if !built.dropped.is_empty() {
                    let mut mempool = self.shared.mempool.lock().expect("mempool lock poisoned");
                    for hash in &built.dropped {
                        mempool.evict_from(hash);
                    }
                    self.shared.pending_txs.store(mempool.len(), Ordering::Relaxed);
                }
                let state_root = built.outcome.state_root;
                self.outcomes.insert(built.key, built.outcome);
                Ok(Some(Input::ProposalBuilt {
                    height: request.height,
                    round: request.round,
                    transactions: built.transactions,
                    state_root,
                }))
            }
            Action::Commit(certificate) => self.commit(certificate).await.map(Some),
            Action::RequestSync { from_height } => {
                self.start_sync(from_height);
                Ok(None)
            }
            Action::Rejected(rejection) => {
                // Covenant rule violations are what operators must see; the rest (late votes for a
                // height already committed, duplicates) is routine in a BFT protocol.
                match rejection.error.rule() {
                    Some(rule) => {
                        self.shared.metrics.rejected(RejectionStage::Consensus, rule);
                        warn!(from = ?rejection.from, height = rejection.height, round = rejection.round, rule = rule.id(), error = %rejection.error, "consensus refused a message by covenant rule")
                    }
                    None => {
                        debug!(from = ?rejection.from, height = rejection.height, round = rejection.round, error = %rejection.error, "consensus ignored a message")
                    }
                }
                Ok(None)
            }
        }
    }

    /// Commits a decided block: execute it if this node has not (sync), check the state root, write
    /// everything in one synced batch, then start the next height.
    async fn commit(&mut self, certificate: CommitCertificate) -> Result<Input> {
        let block = &certificate.block;
        let key = ExecutionKey::of(block);
        let outcome = match self.outcomes.take(&key) {
            Some(outcome) => outcome,
            None => {
                // A decided block: its new transactions are not adopted, since this commit drops them.
                match tokio::task::block_in_place(|| {
                    validate(
                        &self.shared.store,
                        &self.shared.mempool,
                        &self.shared.metrics,
                        &self.tip.state_root,
                        block,
                    )
                }) {
                    Validation { execution: Some(outcome), .. } => outcome,
                    Validation { verdict: covenant_consensus::BlockOutcome::Invalid { reason }, .. } => {
                        bail!(
                            "the network decided block {} at height {} which this node cannot execute: {reason}; halting",
                            block.hash(),
                            block.header.height
                        )
                    }
                    Validation { verdict: covenant_consensus::BlockOutcome::Valid { .. }, execution: None, .. } => {
                        unreachable!("a valid outcome has an execution")
                    }
                }
            }
        };
        if outcome.state_root != block.header.state_root {
            bail!(
                "state root mismatch at height {}: this node computed {}, the decided header says {}; this node is non-deterministic or its store is corrupt; halting",
                block.header.height,
                outcome.state_root,
                block.header.state_root
            );
        }
        let senders: BTreeSet<Principal> = block.transactions.iter().map(|tx| tx.body.sender.clone()).collect();
        let tx_count = block.transactions.len() as u64;
        let committed: Vec<Hash> = outcome.receipts.iter().map(|receipt| receipt.tx_hash).collect();
        let audit = anchor::block_records(&self.shared.node_id, block, &outcome.receipts);
        let header = block.header.clone();
        let CommitCertificate { block, seals } = certificate;
        let batch = CommitBatch {
            block,
            seals: seals.clone(),
            receipts: outcome.receipts,
            state_writes: outcome.writes,
            audit,
        };
        let write_started = Instant::now();
        let tip =
            tokio::task::block_in_place(|| self.shared.store.commit_block(batch)).context("committing a block")?;
        debug!(height = tip.height, hash = %tip.hash, txs = tx_count, "committed");
        let metrics = &self.shared.metrics;
        metrics.store_commit.observe_ms(elapsed_ms(write_started));
        metrics.commit_latency.observe_ms(elapsed_ms(self.height_started));
        metrics.block_interval.observe_ms(header.timestamp_ms.saturating_sub(self.tip.timestamp_ms));
        metrics.committed_blocks.fetch_add(1, Ordering::Relaxed);
        metrics.committed_txs.fetch_add(tx_count, Ordering::Relaxed);
        {
            let state = StoreState(&self.shared.store);
            let mut mempool = self.shared.mempool.lock().expect("mempool lock poisoned");
            for sender in &senders {
                mempool.advance_sender(sender, state.next_nonce(sender)?);
            }
            mempool.note_in_block(committed);
            self.last_pending = mempool.len() as u64;
            self.shared.pending_txs.store(mempool.len(), Ordering::Relaxed);
        }
        {
            let mut status = self.shared.status.write().expect("status lock poisoned");
            status.height = tip.height;
            status.last_block_hash = Some(tip.hash);
            status.committed_txs += tx_count;
        }
        self.shared.network.set_height(tip.height);
        if let Some(key) = &self.anchor_key {
            let key = covenant_types::SecretKey::from_seed(&key.seed());
            tokio::spawn(anchor::anchor_if_due(self.shared.clone(), key, tip.height));
        }
        self.outcomes.forget_through(tip.height);
        self.tip = header;
        let input = self.height_start(seals)?;
        // The validator set or the node registry may have changed with this block.
        self.refresh_allowlist().await?;
        self.timers.clear();
        Ok(input)
    }

    async fn start_height(&mut self, parent_seals: Vec<covenant_types::CommitSeal>) -> Result<()> {
        let input = self.height_start(parent_seals)?;
        self.step(input).await
    }

    fn height_start(&mut self, parent_commit_seals: Vec<covenant_types::CommitSeal>) -> Result<Input> {
        self.height_started = Instant::now();
        self.highest_round = 0;
        let state = StoreState(&self.shared.store);
        let validators = state.validators()?;
        let params = state.params()?;
        let start = HeightStart {
            height: self.tip.height + 1,
            validators: validators.clone(),
            params,
            parent: self.tip.clone(),
            parent_validators: self.tip_validators.clone(),
            parent_commit_seals,
        };
        self.tip_validators = validators;
        Ok(Input::StartHeight { now_ms: now_ms(), start: Box::new(start) })
    }

    fn registered_nodes(&self) -> Result<Vec<NodeState>> {
        let table = [StateKey::Node(covenant_types::NodeId::new("x").expect("valid id")).table()];
        let nodes = scan_table::<covenant_types::NodeId, NodeState>(&self.shared.store, &table, NODES_MAX)?;
        Ok(nodes.into_iter().map(|(_, node)| node).collect())
    }

    fn peer_of_node(&self, node: &covenant_types::NodeId) -> Option<PeerId> {
        let state = StoreState(&self.shared.store);
        let node = state.get::<NodeState>(&StateKey::Node(node.clone())).ok()??;
        peer_id_of(&node.record.network_key).ok()
    }

    /// Allows exactly the network keys of registered nodes that are not removed and whose member is
    /// active (COV-20); a node of a suspended or sanctioned member is disconnected (COV-06).
    async fn refresh_allowlist(&self) -> Result<()> {
        let state = StoreState(&self.shared.store);
        let mut keys: Vec<PublicKey> = Vec::new();
        for node in self.registered_nodes()? {
            let member = state.get::<MemberState>(&StateKey::Member(node.record.member.clone()))?;
            if !node.removed && member.is_some_and(|member| member.status == MemberStatus::Active) {
                keys.push(node.record.network_key);
            }
        }
        self.shared.network.set_allowed(keys).await.context("updating the network allowlist")?;
        Ok(())
    }

    /// The safety state persisted in `store`, if any.
    pub fn load_safety(store: &covenant_storage::RocksStore) -> Result<Option<SafetyState>> {
        match store.load_safety_state()? {
            None => Ok(None),
            Some(bytes) => {
                Ok(Some(SafetyState::decode(&bytes).context("the stored consensus safety state is corrupt")?))
            }
        }
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Logs a fatal runtime error.
pub fn report_fatal(error: &anyhow::Error) {
    error!(error = %format!("{error:#}"), "node stopped");
}
