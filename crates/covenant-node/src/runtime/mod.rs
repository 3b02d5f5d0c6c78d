//! The shell around the node core ([`covenant_core::NodeCore`]): it owns the sockets, RocksDB and the
//! clock and nothing else. It turns network events, client submissions and timers into the core's
//! inputs, and runs the core's actions: publish and send through libp2p, report gossip verdicts,
//! verify signatures and serve block reads on blocking threads, answer clients. Every decision is
//! the core's, so the simulator, which drives the same core, tests what runs here (ADR 0014).

pub mod audit_watch;
pub mod chain;
pub mod retention;
pub mod shared;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, warn};

use covenant_consensus::SafetyState;
use covenant_core::{
    Action, AdmissionError, BatchId, ClientTx, CoreConfig, GetBlocks, GossipId, GossipVerdict, Input, NodeCore,
    PeerKey, RequestId, ServeId, SyncFailure, Ticket, Topic,
};
use covenant_network::{
    BlockResponder, EventReceiver, GossipToken, NetworkError, NetworkEvent, NetworkHandle, PeerId, peer_id_of,
    public_key_of,
};
use covenant_storage::audit::{Actor, AuditRecord, EventType, Outcome};
use covenant_storage::crash_points::{self, CrashPoint};
use covenant_storage::{AuditLog, ChainStore, RocksStore};
use covenant_types::{Hash, RejectedTx, VerifiedTx};

use crate::metrics::NodeTelemetry;
use crate::runtime::chain::{NodeStore, now_ms};
use crate::runtime::shared::{SUBMISSIONS_CAPACITY, Shared, Submission};

/// Client transactions taken from the submission queue at once.
const SUBMISSIONS_PER_STEP: usize = 1_024;
/// Capacity of each channel that carries work done off the loop back to it (verification results,
/// block answers). At most one verification batch and one block request are in flight at a time.
const RESULTS_CAPACITY: usize = 4;
/// Gossiped messages awaiting the core's verdict, at most; the oldest token is forgotten beyond it
/// (gossip drops an unreported message after a few heartbeats anyway).
const GOSSIP_TOKENS_MAX: usize = 16_384;
/// Peer ids whose keys are remembered (only admitted peers deliver anything).
const PEER_KEYS_CACHED_MAX: usize = covenant_network::limits::ALLOWED_PEERS_MAX;

/// The core as the node runs it.
type Core = NodeCore<RocksStore, NodeTelemetry>;

/// A signature-verification batch's results, sent back to the loop.
type VerifiedBatch = (BatchId, Vec<Result<VerifiedTx, RejectedTx>>);

/// The running event loop.
pub struct Runtime {
    shared: Arc<Shared>,
    core: Core,
    network: NetworkHandle,
    events: EventReceiver,
    submissions: mpsc::Receiver<Submission>,
    verified: (mpsc::Sender<VerifiedBatch>, mpsc::Receiver<VerifiedBatch>),
    blocks: (mpsc::Sender<Input>, mpsc::Receiver<Input>),
    tickets: BTreeMap<Ticket, oneshot::Sender<Result<Hash, AdmissionError>>>,
    gossip: BTreeMap<GossipId, GossipToken>,
    responders: BTreeMap<ServeId, BlockResponder>,
    peer_keys: BTreeMap<PeerId, PeerKey>,
    next_token: u64,
    reported_height: u64,
}

/// Everything the loop needs, from node start-up.
pub struct RuntimeParts {
    /// Who this node is.
    pub config: CoreConfig,
    /// The opened, initialised store.
    pub store: NodeStore,
    /// The consensus engine, with the safety state the store held.
    pub engine: covenant_consensus::Engine,
    /// The network.
    pub network: NetworkHandle,
    /// Its events.
    pub events: EventReceiver,
    /// The metrics the core's telemetry records into.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Runtime {
    /// The loop and the state it shares with the API.
    pub fn new(parts: RuntimeParts) -> Result<(Runtime, Arc<Shared>)> {
        let chain_id = parts.config.chain_id.clone();
        let node_id = parts.config.node_id.clone();
        let telemetry = NodeTelemetry::new(parts.metrics.clone());
        let core = NodeCore::new(parts.config, parts.store.clone(), parts.engine, telemetry)
            .context("starting the node core")?;
        let (submit, submissions) = mpsc::channel(SUBMISSIONS_CAPACITY);
        let shared = Shared::new(
            chain_id,
            node_id,
            parts.store,
            parts.network.clone(),
            core.view().clone(),
            parts.metrics,
            submit,
        );
        let runtime = Runtime {
            shared: shared.clone(),
            core,
            network: parts.network,
            events: parts.events,
            submissions,
            verified: mpsc::channel(RESULTS_CAPACITY),
            blocks: mpsc::channel(RESULTS_CAPACITY),
            tickets: BTreeMap::new(),
            gossip: BTreeMap::new(),
            responders: BTreeMap::new(),
            peer_keys: BTreeMap::new(),
            next_token: 0,
            reported_height: 0,
        };
        Ok((runtime, shared))
    }

    /// Runs until `shutdown` flips to true or a fatal error (a store failure, a state root that
    /// disagrees with a committed header) stops the node.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        self.handle(Input::Start).await?;
        let mut submitted = Vec::with_capacity(SUBMISSIONS_PER_STEP);
        loop {
            let sleep = self.next_tick_delay();
            tokio::select! {
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        info!("shutting down");
                        return Ok(());
                    }
                }
                event = self.events.recv() => {
                    let Some(event) = event else { bail!("the network stopped") };
                    if let Some(input) = self.on_network_event(event)? {
                        self.handle(input).await?;
                    }
                }
                count = self.submissions.recv_many(&mut submitted, SUBMISSIONS_PER_STEP) => {
                    if count > 0 {
                        let txs = submitted.drain(..).map(|submission| self.ticket(submission)).collect();
                        self.handle(Input::Submit(txs)).await?;
                    }
                }
                Some((batch, results)) = self.verified.1.recv() => {
                    self.handle(Input::Verified { batch, results }).await?;
                }
                Some(input) = self.blocks.1.recv() => self.handle(input).await?,
                () = tokio::time::sleep(sleep) => self.handle(Input::Tick).await?,
            }
        }
    }

    fn next_tick_delay(&self) -> Duration {
        match self.core.next_tick_ms() {
            Some(at_ms) => Duration::from_millis(at_ms.saturating_sub(now_ms())),
            None => Duration::from_secs(3600),
        }
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    fn ticket(&mut self, submission: Submission) -> ClientTx {
        let ticket = Ticket(self.token());
        self.tickets.insert(ticket, submission.reply);
        ClientTx { ticket, tx: submission.tx, hash: submission.hash, bytes: submission.bytes }
    }

    /// Feeds one input to the core (on this thread: it may execute and commit a block) and runs
    /// its actions.
    async fn handle(&mut self, input: Input) -> Result<()> {
        let actions = tokio::task::block_in_place(|| self.core.handle(now_ms(), input))?;
        for action in actions {
            self.run_action(action).await;
        }
        let height = self.core.tip().height;
        if height != self.reported_height {
            self.reported_height = height;
            self.network.set_height(height);
        }
        Ok(())
    }

    async fn run_action(&mut self, action: Action) {
        match action {
            Action::Broadcast { topic: Topic::Consensus, bytes } => {
                let crash_point = crash_points::armed().then(|| sent_crash_point(&bytes)).flatten();
                match self.network.broadcast_consensus(bytes).await {
                    Ok(()) => {
                        if let Some((point, height)) = crash_point {
                            crash_points::reached(point, height);
                        }
                    }
                    Err(error) => debug!(%error, "broadcast failed"),
                }
            }
            Action::Broadcast { topic: Topic::Transactions, bytes } => {
                if let Err(error) = self.network.broadcast_tx(bytes).await {
                    debug!(%error, "transaction gossip not sent");
                }
            }
            Action::Send { to, bytes } => {
                let sent = match peer_id_of(&to) {
                    Ok(peer) => self.network.send_consensus(peer, bytes).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = sent {
                    debug!(%to, %error, "send failed");
                }
            }
            Action::Validated { id, verdict } => {
                if let Some(token) = self.gossip.remove(&id) {
                    let verdict = match verdict {
                        GossipVerdict::Accept => covenant_network::GossipVerdict::Accept,
                        GossipVerdict::Reject => covenant_network::GossipVerdict::Reject,
                        GossipVerdict::Ignore => covenant_network::GossipVerdict::Ignore,
                    };
                    let _ = self.network.report_gossip(token, verdict).await;
                }
            }
            Action::Penalise { peer, reason } => {
                warn!(%peer, %reason, "disconnecting a peer for what it sent");
                if let Ok(peer) = peer_id_of(&peer) {
                    let _ = self.network.disconnect(peer, reason).await;
                }
            }
            Action::SetAllowed { keys } => {
                if let Err(error) = self.network.set_allowed(keys).await {
                    error!(%error, "the network allowlist could not be updated");
                }
            }
            Action::RequestBlocks { peer, request, blocks } => self.request_blocks(peer, request, blocks),
            Action::ServeBlocks { serve, from_height, max_count, bytes_max } => {
                if let Some(responder) = self.responders.remove(&serve) {
                    self.serve_blocks(responder, from_height, max_count, bytes_max);
                }
            }
            Action::RefuseBlocks { serve } => {
                // Dropping the responder answers "unavailable".
                self.responders.remove(&serve);
            }
            Action::Verify { batch, txs } => {
                let chain = self.shared.chain_id.clone();
                let results = self.verified.0.clone();
                tokio::task::spawn_blocking(move || {
                    let verdicts = covenant_core::executor::verify_in_parallel(txs, &chain);
                    // The loop holds the receiver for as long as it runs.
                    let _ = results.blocking_send((batch, verdicts));
                });
            }
            Action::Answer { ticket, result } => {
                if let Some(reply) = self.tickets.remove(&ticket) {
                    // The client may have gone away; its transaction is admitted (or not) all the same.
                    let _ = reply.send(result);
                }
            }
        }
    }

    fn request_blocks(&self, peer: PeerKey, request: RequestId, blocks: GetBlocks) {
        let network = self.network.clone();
        let answers = self.blocks.0.clone();
        tokio::spawn(async move {
            let answer = match peer_id_of(&peer) {
                Ok(peer_id) => {
                    let request =
                        covenant_network::GetBlocks { from_height: blocks.from_height, max_count: blocks.max_count };
                    match network.request_blocks(peer_id, request).await {
                        Ok(blocks) => Ok(blocks),
                        Err(NetworkError::PeerUnavailable { .. }) => Err(SyncFailure::Unavailable),
                        Err(error) => Err(SyncFailure::Failed(error.to_string())),
                    }
                }
                Err(error) => Err(SyncFailure::Failed(error.to_string())),
            };
            let _ = answers.send(Input::BlocksReceived { peer, request, answer }).await;
        });
    }

    /// Reads the blocks a peer asked for on a blocking thread, within the byte budget the core
    /// granted, and answers it.
    fn serve_blocks(&self, responder: BlockResponder, from_height: u64, max_count: u32, bytes_max: usize) {
        let store = self.shared.store.clone();
        tokio::task::spawn_blocking(move || {
            let bytes_max = u64::try_from(bytes_max).unwrap_or(u64::MAX);
            match covenant_core::sync::read_certificates(store.as_ref(), from_height, max_count, bytes_max) {
                Ok(blocks) => {
                    if let Err(error) = responder.respond(blocks) {
                        debug!(%error, "sync answer not sent");
                    }
                }
                Err(error) => warn!(%error, "blocks for a syncing peer could not be read"),
            }
        });
    }

    /// A peer's network key, read from its peer id (peers are named by their keys in the core).
    fn key(&mut self, peer: &PeerId) -> Option<PeerKey> {
        if let Some(key) = self.peer_keys.get(peer) {
            return Some(*key);
        }
        let key = public_key_of(peer)?;
        if self.peer_keys.len() < PEER_KEYS_CACHED_MAX {
            self.peer_keys.insert(*peer, key);
        }
        Some(key)
    }

    /// The core's input for a network event, if it is one; peer refusals go to the audit log here.
    fn on_network_event(&mut self, event: NetworkEvent) -> Result<Option<Input>> {
        Ok(match event {
            NetworkEvent::Consensus { from, bytes, gossip } => {
                let Some(from) = self.key(&from) else { return Ok(None) };
                match gossip {
                    Some(token) => {
                        let id = self.remember_gossip(token);
                        Some(Input::Gossip { from, id, topic: Topic::Consensus, relayed: true, bytes })
                    }
                    None => Some(Input::Direct { from, bytes }),
                }
            }
            NetworkEvent::Transaction { from, bytes, gossip } => {
                let Some(from) = self.key(&from) else { return Ok(None) };
                let relayed = gossip.is_some();
                let id = match gossip {
                    Some(token) => self.remember_gossip(token),
                    None => GossipId(self.token()),
                };
                Some(Input::Gossip { from, id, topic: Topic::Transactions, relayed, bytes })
            }
            NetworkEvent::BlockRequest { peer, request, responder } => {
                let Some(peer) = self.key(&peer) else { return Ok(None) };
                let serve = ServeId(self.token());
                self.responders.insert(serve, responder);
                let request = GetBlocks { from_height: request.from_height, max_count: request.max_count };
                Some(Input::BlockRequest { peer, serve, request })
            }
            NetworkEvent::PeerStatus { peer, height, clock } => self.key(&peer).map(|peer| Input::PeerStatus {
                peer,
                height,
                clock_offset_ms: clock.map(|sample| sample.offset_ms),
            }),
            NetworkEvent::PeerConnected { peer_id, address } => {
                info!(%peer_id, %address, "peer connected");
                self.key(&peer_id).map(|peer| Input::PeerConnected { peer })
            }
            NetworkEvent::PeerDisconnected { peer_id } => {
                info!(%peer_id, "peer disconnected");
                self.key(&peer_id).map(|peer| Input::PeerDisconnected { peer })
            }
            NetworkEvent::PeerRefused { peer_id, address, reason } => {
                let who = peer_id.map(|peer| peer.to_string()).unwrap_or_else(|| "unidentified".into());
                let place = address.map(|address| address.to_string()).unwrap_or_default();
                // A peer of another chain or environment breaks environment separation; any other
                // refusal is about who may connect at all.
                let rule = match reason {
                    covenant_network::RefusalReason::WrongNetwork { .. } => {
                        warn!(peer = %who, address = %place, %reason, "peer refused (COV-19)");
                        covenant_rules::RuleId::EnvironmentSeparation
                    }
                    _ => {
                        warn!(peer = %who, address = %place, %reason, "peer refused (COV-20)");
                        covenant_rules::RuleId::PermissionedPeers
                    }
                };
                let record = AuditRecord::new(
                    now_ms(),
                    self.shared.node_id.clone(),
                    EventType::PeerRefused,
                    Actor::Remote(who),
                    Outcome::Refused,
                )
                .with_detail("address", place)
                .with_detail("reason", reason.to_string())
                .with_detail("rule", rule.id());
                self.shared.store.append(record)?;
                None
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
                None
            }
            NetworkEvent::EventsDropped { count } => {
                warn!(count, "network events dropped: a peer over its queue budget, or the node not keeping up");
                None
            }
        })
    }

    fn remember_gossip(&mut self, token: GossipToken) -> GossipId {
        let id = GossipId(self.token());
        self.gossip.insert(id, token);
        while self.gossip.len() > GOSSIP_TOKENS_MAX {
            self.gossip.pop_first();
        }
        id
    }

    /// The safety state persisted in `store`, if any.
    pub fn load_safety(store: &RocksStore) -> Result<Option<SafetyState>> {
        match store.load_safety_state()? {
            None => Ok(None),
            Some(bytes) => {
                Ok(Some(SafetyState::decode(&bytes).context("the stored consensus safety state is corrupt")?))
            }
        }
    }
}

/// The crash point a consensus message this node broadcast reaches, with its height.
fn sent_crash_point(bytes: &[u8]) -> Option<(CrashPoint, u64)> {
    let message = covenant_consensus::Message::decode(bytes).ok()?;
    let point = match message {
        covenant_consensus::Message::Proposal(_) => CrashPoint::ProposalSent,
        covenant_consensus::Message::Decided(_) => return None,
        _ => CrashPoint::VoteSent,
    };
    Some((point, message.height()))
}

/// Logs a fatal runtime error.
pub fn report_fatal(error: &anyhow::Error) {
    error!(error = %format!("{error:#}"), "node stopped");
}
