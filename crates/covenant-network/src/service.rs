//! The network task: owns the libp2p swarm, executes the handle's commands, turns swarm events into
//! [`NetworkEvent`]s, and keeps the bootstrap peers connected.
//!
//! The task never waits on the node: events go into the per-peer, per-class event queue
//! (`crate::queue`) or are dropped and counted at once. That is what makes the bounded command
//! channel (where the node does wait) deadlock free.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use libp2p::allow_block_list::{self, AllowedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, TopicHash, ValidationMode};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{ConnectionDenied, DialError, ListenError, NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, noise, ping, tcp, yamux};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, MissedTickBehavior};

use crate::handle::{Command, Shared, lock};
use crate::limits::{
    BLOCKS_PER_REQUEST_MAX, CONNECTIONS_PER_PEER_MAX, CONSENSUS_PAYLOAD_BYTES_MAX, ESTABLISHED_CONNECTIONS_MAX,
    GOSSIP_ENVELOPE_BYTES_MAX, GOSSIP_HEARTBEAT_INTERVAL, IDLE_CONNECTION_TIMEOUT, INBOUND_BLOCK_REQUESTS_PER_PEER_MAX,
    MAINTENANCE_INTERVAL, OUTBOUND_BLOCK_REQUESTS_MAX, PENDING_INCOMING_CONNECTIONS_MAX,
    PENDING_OUTGOING_CONNECTIONS_MAX, PING_INTERVAL, PING_TIMEOUT, REDIAL_BACKOFF_MIN, REFUSAL_EVENTS_BURST_MAX,
    REFUSAL_EVENTS_PER_SECOND, SYNC_STREAMS_PER_CONNECTION_MAX, TX_PAYLOAD_BYTES_MAX,
};
use crate::protocol::{Request, Response, SyncCodec, request_frame_bytes, response_frame_bytes};
use crate::queue::{EventReceiver, EventSender, event_queue};
use crate::traffic::Direction;
use crate::{
    BlockResponder, ClockSample, GetBlocks, GossipToken, GossipVerdict, NetworkConfig, NetworkError, NetworkEvent,
    NetworkHandle, RefusalReason,
};

/// Time `Network::spawn` waits for the listener to report its address.
const LISTEN_ADDRESS_WAIT: Duration = Duration::from_secs(5);

/// The composed behaviour. Field order matters: the swarm asks each behaviour in turn whether to
/// accept an established connection and the first denial wins, so the allowlist decides before
/// anything else sees the peer, and before any handler (and so any application stream) exists.
#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    allow: allow_block_list::Behaviour<AllowedPeers>,
    limits: connection_limits::Behaviour,
    gossip: gossipsub::Behaviour,
    sync: request_response::Behaviour<SyncCodec>,
    ping: ping::Behaviour,
}

/// What a gossip topic carries, and whether its messages are forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TopicKind {
    consensus: bool,
    relayed: bool,
}

/// The four gossip topics, in subscription-mask bit order (the order of [`TopicNames::all`]).
const TOPIC_KINDS: [TopicKind; 4] = [
    TopicKind { consensus: true, relayed: true },
    TopicKind { consensus: true, relayed: false },
    TopicKind { consensus: false, relayed: true },
    TopicKind { consensus: false, relayed: false },
];

/// A peer subscribed to every topic (one bit each) receives every broadcast.
const TOPICS_ALL: u8 = (1 << TOPIC_KINDS.len()) - 1;

/// Gossip topics and the sync protocol name, all carrying the network id.
struct Names {
    /// The network id itself (the chain id and its environment, in the node).
    network_id: String,
    /// In [`TOPIC_KINDS`] order.
    topics: [IdentTopic; 4],
    sync: StreamProtocol,
}

impl Names {
    fn new(network_id: &str) -> Result<Names, NetworkError> {
        let sync = StreamProtocol::try_from_owned(format!("/covenant/{network_id}/sync/1"))
            .map_err(|error| NetworkError::Setup { detail: error.to_string() })?;
        let topics = topic_names(network_id).all().map(IdentTopic::new);
        Ok(Names { network_id: network_id.to_string(), topics, sync })
    }

    /// Index of `topic` in [`TOPIC_KINDS`].
    fn index(&self, topic: &TopicHash) -> Option<usize> {
        self.topics.iter().position(|known| known.hash() == *topic)
    }

    fn topic_bit(&self, topic: &TopicHash) -> u8 {
        self.index(topic).map_or(0, |index| 1 << index)
    }

    fn kind(&self, topic: &TopicHash) -> Option<TopicKind> {
        self.index(topic).map(|index| TOPIC_KINDS[index])
    }

    fn topic(&self, kind: TopicKind) -> TopicHash {
        let index = TOPIC_KINDS.iter().position(|known| *known == kind).expect("every kind has a topic");
        self.topics[index].hash()
    }
}

/// The gossip topics of a network. A message's author publishes it to every peer it gossips with;
/// it uses a direct topic when that is every admitted peer, so that relayed copies would only be
/// duplicates, and a relayed topic when it lacks a link (ADR 0009).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicNames {
    /// Consensus messages; forwarded by receivers.
    pub consensus: String,
    /// Consensus messages whose author reached every admitted peer; delivered, not forwarded.
    pub consensus_direct: String,
    /// Transaction batches; forwarded by receivers.
    pub tx: String,
    /// Transaction batches whose author reached every admitted peer; delivered, not forwarded.
    pub tx_direct: String,
}

impl TopicNames {
    /// All four, in the order of the network's subscription mask: consensus, consensus direct,
    /// transactions, transactions direct.
    pub fn all(self) -> [String; 4] {
        [self.consensus, self.consensus_direct, self.tx, self.tx_direct]
    }
}

/// The gossip topic names for a network id, for tools and tests that speak the protocol directly.
pub fn topic_names(network_id: &str) -> TopicNames {
    TopicNames {
        consensus: format!("/covenant/{network_id}/consensus/2"),
        consensus_direct: format!("/covenant/{network_id}/consensus-direct/2"),
        tx: format!("/covenant/{network_id}/tx/2"),
        tx_direct: format!("/covenant/{network_id}/tx-direct/2"),
    }
}

fn setup_error(error: impl std::fmt::Display) -> NetworkError {
    NetworkError::Setup { detail: error.to_string() }
}

fn gossip_behaviour(names: &Names) -> Result<gossipsub::Behaviour, NetworkError> {
    let mut builder = gossipsub::ConfigBuilder::default();
    builder
        // Messages carry no author, sequence number or signature (ADR 0006): every payload is
        // signed by its author at the application layer (transactions by their operator, consensus
        // messages by their validator), and the peer that relays a message is authenticated by
        // Noise and checked against the allowlist. A gossipsub signature per message would cost a
        // second ed25519 signing and verification per transaction and per vote.
        .validation_mode(ValidationMode::Anonymous)
        // Without authors and sequence numbers a message is named by its content; SHA-256 so
        // that no peer can make a different message collide with (and so suppress) one to come.
        .message_id_fn(|message: &gossipsub::Message| {
            let digest = covenant_types::Hash::digest_parts(&[message.topic.as_str().as_bytes(), &message.data]);
            gossipsub::MessageId::from(digest.as_bytes().to_vec())
        })
        .validate_messages()
        // Publish straight to every subscribed peer, not only the mesh: in a full mesh of
        // validators a message reaches everyone in one hop.
        .flood_publish(true)
        .heartbeat_interval(GOSSIP_HEARTBEAT_INTERVAL)
        .max_transmit_size(CONSENSUS_PAYLOAD_BYTES_MAX + GOSSIP_ENVELOPE_BYTES_MAX);
    for (topic, kind) in names.topics.iter().zip(TOPIC_KINDS) {
        let payload_max = if kind.consensus { CONSENSUS_PAYLOAD_BYTES_MAX } else { TX_PAYLOAD_BYTES_MAX };
        builder.max_transmit_size_for_topic(payload_max + GOSSIP_ENVELOPE_BYTES_MAX, topic.hash());
    }
    let config = builder.build().map_err(setup_error)?;
    let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).map_err(setup_error)?;
    for topic in &names.topics {
        gossip.subscribe(topic).map_err(setup_error)?;
    }
    Ok(gossip)
}

/// The running network. See the crate documentation.
#[derive(Debug)]
pub struct Network;

impl Network {
    /// Starts the network on the current tokio runtime: binds the listen address, waits until it
    /// is known, then runs the swarm in a task and returns the handle and the event receiver.
    ///
    /// The receiver holds each peer's events in lanes bounded in count and bytes (see
    /// [`crate::limits`]); read it promptly (events over a bound are dropped and counted).
    pub async fn spawn(config: NetworkConfig) -> Result<(NetworkHandle, EventReceiver), NetworkError> {
        let parts = config.validate()?;
        let keypair = crate::peer::keypair_from_seed(&config.seed)?;
        let local_peer_id = keypair.public().to_peer_id();
        let names = Names::new(&config.network_id)?;

        let mut allow = allow_block_list::Behaviour::<AllowedPeers>::default();
        for peer in &parts.allowed {
            allow.allow_peer(*peer);
        }
        let limits = connection_limits::Behaviour::new(
            ConnectionLimits::default()
                .with_max_pending_incoming(Some(PENDING_INCOMING_CONNECTIONS_MAX))
                .with_max_pending_outgoing(Some(PENDING_OUTGOING_CONNECTIONS_MAX))
                .with_max_established(Some(ESTABLISHED_CONNECTIONS_MAX))
                .with_max_established_per_peer(Some(CONNECTIONS_PER_PEER_MAX)),
        );
        let behaviour = Behaviour {
            allow,
            limits,
            gossip: gossip_behaviour(&names)?,
            sync: request_response::Behaviour::with_codec(
                SyncCodec,
                [(names.sync.clone(), ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(SYNC_STREAMS_PER_CONNECTION_MAX),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_INTERVAL).with_timeout(PING_TIMEOUT)),
        };
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_tcp(tcp::Config::new().nodelay(true), noise::Config::new, yamux::Config::default)
            .map_err(setup_error)?
            .with_behaviour(|_| behaviour)
            .map_err(setup_error)?
            .with_swarm_config(|swarm_config| swarm_config.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            // Bounds TCP connect plus the Noise and Yamux upgrades of every connection.
            .with_connection_timeout(config.handshake_timeout)
            .build();

        swarm
            .listen_on(config.listen.clone())
            .map_err(|error| NetworkError::Listen { address: config.listen.clone(), detail: error.to_string() })?;
        let shared = Arc::new(Shared::default());
        let first_address = tokio::time::timeout(LISTEN_ADDRESS_WAIT, async {
            loop {
                match swarm.select_next_some().await {
                    SwarmEvent::NewListenAddr { address, .. } => return Ok(address),
                    SwarmEvent::ListenerClosed { reason: Err(error), .. } => return Err(error.to_string()),
                    SwarmEvent::ListenerError { error, .. } => return Err(error.to_string()),
                    _ => {}
                }
            }
        })
        .await
        .map_err(|_| "no listen address reported in time".to_string())
        .and_then(|result| result)
        .map_err(|detail| NetworkError::Listen { address: config.listen.clone(), detail })?;
        lock(&shared.listen_addrs).push(first_address);

        let (command_sender, commands) = mpsc::channel(crate::limits::COMMAND_CHANNEL_CAPACITY);
        let (event_sender, events) = event_queue();
        let now = Instant::now();
        let service = Service {
            swarm,
            commands,
            events: event_sender,
            shared: Arc::clone(&shared),
            names,
            allowed: parts.allowed.into_iter().collect(),
            banned: HashMap::new(),
            bootstrap: parts
                .bootstrap
                .into_iter()
                .filter(|(peer, _)| *peer != local_peer_id)
                .map(|(peer, address)| BootstrapPeer { peer, address, backoff: REDIAL_BACKOFF_MIN, next_attempt: now })
                .collect(),
            outbound: HashMap::new(),
            status_in_flight: HashSet::new(),
            subscriptions: HashMap::new(),
            inbound_per_peer: HashMap::new(),
            pending_answers: FuturesUnordered::new(),
            refusal_tokens: REFUSAL_EVENTS_BURST_MAX,
            refusals_suppressed: 0,
            last_refill: now,
            next_status: now,
            misbehaviour_ban: config.misbehaviour_ban,
            status_interval: config.status_interval,
            request_timeout: config.request_timeout,
            redial_backoff_max: config.redial_backoff_max.max(REDIAL_BACKOFF_MIN),
        };
        tokio::spawn(service.run());
        Ok((NetworkHandle { commands: command_sender, shared, local_peer_id }, events))
    }
}

/// A bootstrap peer and when to dial it next.
struct BootstrapPeer {
    peer: PeerId,
    address: Multiaddr,
    backoff: Duration,
    next_attempt: Instant,
}

/// What an outbound sync request is waiting for.
enum Outbound {
    Blocks {
        reply: oneshot::Sender<Result<Vec<Vec<u8>>, NetworkError>>,
        max_count: u32,
    },
    /// Sent at this wall-clock time (ms), for the clock-offset estimate.
    Status {
        sent_ms: u64,
    },
}

/// The node's answer (or its absence) to an inbound block request.
struct PendingAnswer {
    peer: PeerId,
    channel: ResponseChannel<Response>,
    blocks: Option<Vec<Vec<u8>>>,
}

struct Service {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Command>,
    events: EventSender,
    shared: Arc<Shared>,
    names: Names,
    /// Peers whose keys are registered on chain.
    allowed: HashSet<PeerId>,
    /// Peers disconnected for misbehaviour, until when. The allowlist behaviour holds
    /// `allowed − banned`.
    banned: HashMap<PeerId, Instant>,
    bootstrap: Vec<BootstrapPeer>,
    /// Block and status requests in flight (block requests bounded by
    /// [`OUTBOUND_BLOCK_REQUESTS_MAX`], status requests by one per peer).
    outbound: HashMap<OutboundRequestId, Outbound>,
    status_in_flight: HashSet<PeerId>,
    /// Topics each connected peer subscribed to (bit mask).
    subscriptions: HashMap<PeerId, u8>,
    /// Inbound block requests handed to the node and not yet answered, per peer.
    inbound_per_peer: HashMap<PeerId, usize>,
    pending_answers: FuturesUnordered<BoxFuture<'static, PendingAnswer>>,
    refusal_tokens: u32,
    refusals_suppressed: u64,
    last_refill: Instant,
    next_status: Instant,
    misbehaviour_ban: Duration,
    status_interval: Duration,
    request_timeout: Duration,
    redial_backoff_max: Duration,
}

fn admitted(allowed: &HashSet<PeerId>, banned: &HashMap<PeerId, Instant>, peer: &PeerId) -> bool {
    allowed.contains(peer) && !banned.contains_key(peer)
}

impl Service {
    async fn run(mut self) {
        let mut maintenance = tokio::time::interval(MAINTENANCE_INTERVAL);
        maintenance.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let shutdown_ack = loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(ack)) => break Some(ack),
                    Some(command) => self.on_command(command),
                    None => break None,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some(answer) = self.pending_answers.next(), if !self.pending_answers.is_empty() => self.on_answer(answer),
                _ = maintenance.tick() => self.maintain(),
            }
        };
        lock(&self.shared.connected).clear();
        lock(&self.shared.gossip_peers).clear();
        lock(&self.shared.listen_addrs).clear();
        // Dropping the swarm closes the listener and every connection before the ack goes out.
        drop(self);
        if let Some(ack) = shutdown_ack {
            let _ = ack.send(());
        }
    }

    fn is_admitted(&self, peer: &PeerId) -> bool {
        admitted(&self.allowed, &self.banned, peer)
    }

    /// Counts one message exchanged with `peer` (COV-22): on its own if the peer is registered on
    /// chain (in the allowlist), else with every unknown peer.
    fn count(&self, peer: &PeerId, direction: Direction, bytes: usize) {
        let allowed = self.allowed.contains(peer);
        lock(&self.shared.traffic).record(peer, allowed, direction, bytes);
    }

    /// Sends a sync request to `peer`, counted.
    fn send_request(&mut self, peer: &PeerId, request: Request) -> OutboundRequestId {
        self.count(peer, Direction::Out, request_frame_bytes(&request));
        self.swarm.behaviour_mut().sync.send_request(peer, request)
    }

    /// Answers a sync request of `peer`, counted. Fails only if the peer went away meanwhile.
    fn send_response(&mut self, peer: &PeerId, channel: ResponseChannel<Response>, response: Response) {
        self.count(peer, Direction::Out, response_frame_bytes(&response));
        let _ = self.swarm.behaviour_mut().sync.send_response(channel, response);
    }

    // ---- events to the node -------------------------------------------------------------------

    /// Hands an event to the node without waiting. Returns whether it is queued.
    fn emit(&mut self, event: NetworkEvent) -> bool {
        let pushed = self.events.push(event);
        if pushed.dropped > 0 {
            self.shared.events_dropped_total.fetch_add(pushed.dropped, Ordering::Relaxed);
        }
        pushed.queued
    }

    /// Reports a refused connection, within the refusal event rate.
    fn refused(&mut self, peer_id: Option<PeerId>, address: Option<Multiaddr>, reason: RefusalReason) {
        tracing::warn!(peer = ?peer_id, address = ?address, %reason, "connection refused");
        if self.refusal_tokens == 0 {
            self.refusals_suppressed = self.refusals_suppressed.saturating_add(1);
            return;
        }
        self.refusal_tokens -= 1;
        self.flush_suppressed();
        self.emit(NetworkEvent::PeerRefused { peer_id, address, reason });
    }

    fn flush_suppressed(&mut self) {
        if self.refusals_suppressed > 0 {
            let count = self.refusals_suppressed;
            if self.emit(NetworkEvent::RefusalsSuppressed { count }) {
                self.refusals_suppressed = 0;
            }
        }
    }

    fn denial_reason(&self, peer: Option<PeerId>, cause: &ConnectionDenied) -> RefusalReason {
        if cause.downcast_ref::<allow_block_list::NotAllowed>().is_some() {
            return match peer {
                Some(peer) if self.banned.contains_key(&peer) => RefusalReason::Banned,
                _ => RefusalReason::NotAllowed,
            };
        }
        if let Some(exceeded) = cause.downcast_ref::<connection_limits::Exceeded>() {
            return RefusalReason::ConnectionLimit { limit: exceeded.limit() };
        }
        let detail = std::error::Error::source(cause).map_or_else(|| cause.to_string(), |source| source.to_string());
        RefusalReason::Other { detail }
    }

    // ---- commands from the node ---------------------------------------------------------------

    fn on_command(&mut self, command: Command) {
        match command {
            Command::BroadcastConsensus(bytes) => self.broadcast(true, bytes),
            Command::BroadcastTx(bytes) => self.broadcast(false, bytes),
            Command::SendConsensus { peer, bytes } => {
                if self.swarm.is_connected(&peer) && self.is_admitted(&peer) {
                    // The acknowledgement is not tracked: point-to-point consensus is best effort.
                    self.send_request(&peer, Request::Consensus(bytes));
                } else {
                    tracing::debug!(%peer, "point-to-point consensus message dropped: peer not connected");
                }
            }
            Command::RequestBlocks { peer, request, reply } => self.request_blocks(peer, request, reply),
            Command::SetAllowed(peers) => self.set_allowed(peers.into_iter().collect()),
            Command::Disconnect { peer, reason } => self.punish(peer, &reason),
            Command::ReportGossip { token, verdict } => {
                let acceptance = match verdict {
                    GossipVerdict::Accept => MessageAcceptance::Accept,
                    GossipVerdict::Reject => MessageAcceptance::Reject,
                    GossipVerdict::Ignore => MessageAcceptance::Ignore,
                };
                // False when the message already left the gossip cache: it is then not forwarded.
                let _ = self.swarm.behaviour_mut().gossip.report_message_validation_result(
                    &token.message_id,
                    &token.source,
                    acceptance,
                );
            }
            // Handled by the run loop.
            Command::Shutdown(_) => {}
        }
    }

    /// Publishes on the direct topic of its kind if this node reaches every admitted peer itself,
    /// else on the relayed one, so that a peer this node has no link to still hears of it through
    /// the others. Between fully connected validators relayed copies only doubled the bytes and the
    /// work of receiving them (ADR 0009).
    fn broadcast(&mut self, consensus: bool, bytes: Vec<u8>) {
        let relayed = !self.reaches_every_peer();
        let topic = self.names.topic(TopicKind { consensus, relayed });
        self.publish(topic, bytes);
    }

    /// Whether this node is connected to, and gossips with, every admitted peer: then publishing
    /// (to every subscribed peer, not only the mesh) reaches them all in one hop.
    fn reaches_every_peer(&self) -> bool {
        let gossip_peers = lock(&self.shared.gossip_peers);
        let local = self.swarm.local_peer_id();
        self.allowed.iter().all(|peer| peer == local || self.banned.contains_key(peer) || gossip_peers.contains(peer))
    }

    fn publish(&mut self, topic: TopicHash, bytes: Vec<u8>) {
        // Publishing floods to every peer subscribed to the topic (flood_publish), as gossipsub itself
        // knows the subscriptions: this node's own record of them may not have caught up yet.
        let recipients: Vec<PeerId> = self
            .swarm
            .behaviour()
            .gossip
            .all_peers()
            .filter(|(_, topics)| topics.contains(&&topic))
            .map(|(peer, _)| *peer)
            .collect();
        let len = bytes.len();
        match self.swarm.behaviour_mut().gossip.publish(topic.clone(), bytes) {
            Ok(_) => {
                for peer in &recipients {
                    self.count(peer, Direction::Out, len);
                }
            }
            Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => {
                tracing::debug!(%topic, "nothing to publish to: no peer subscribed");
            }
            // Messages are named by content: the same bytes again are already on their way.
            Err(gossipsub::PublishError::Duplicate) => tracing::debug!(%topic, "duplicate message not published again"),
            Err(error) => tracing::warn!(%topic, %error, "publish failed"),
        }
    }

    fn request_blocks(
        &mut self,
        peer: PeerId,
        request: GetBlocks,
        reply: oneshot::Sender<Result<Vec<Vec<u8>>, NetworkError>>,
    ) {
        let in_flight = self.outbound.values().filter(|outbound| matches!(outbound, Outbound::Blocks { .. })).count();
        if in_flight >= OUTBOUND_BLOCK_REQUESTS_MAX {
            let _ = reply.send(Err(NetworkError::TooManyRequests { in_flight, max: OUTBOUND_BLOCK_REQUESTS_MAX }));
            return;
        }
        if request.max_count == 0 || request.max_count > BLOCKS_PER_REQUEST_MAX {
            let _ = reply.send(Err(NetworkError::InvalidBlockCount {
                max_count: request.max_count,
                limit: BLOCKS_PER_REQUEST_MAX,
            }));
            return;
        }
        if !self.swarm.is_connected(&peer) || !self.is_admitted(&peer) {
            let _ = reply.send(Err(NetworkError::NotConnected { peer }));
            return;
        }
        let id = self.send_request(&peer, Request::GetBlocks(request));
        self.outbound.insert(id, Outbound::Blocks { reply, max_count: request.max_count });
    }

    fn set_allowed(&mut self, peers: HashSet<PeerId>) {
        let before: HashSet<PeerId> =
            self.allowed.iter().filter(|peer| !self.banned.contains_key(peer)).copied().collect();
        self.allowed = peers;
        let after: HashSet<PeerId> =
            self.allowed.iter().filter(|peer| !self.banned.contains_key(peer)).copied().collect();
        for peer in before.difference(&after) {
            tracing::info!(%peer, "peer removed from the allowlist: disconnecting");
            // Queues a close of every connection to the peer.
            self.swarm.behaviour_mut().allow.disallow_peer(*peer);
        }
        for peer in after.difference(&before) {
            self.swarm.behaviour_mut().allow.allow_peer(*peer);
        }
        let now = Instant::now();
        for entry in &mut self.bootstrap {
            if after.contains(&entry.peer) && !before.contains(&entry.peer) {
                entry.backoff = REDIAL_BACKOFF_MIN;
                entry.next_attempt = now;
            }
        }
    }

    /// Refuses a connected peer that does not speak this network's sync protocol, whose name
    /// carries the chain id and the environment (COV-19): its key may be registered here, but it
    /// runs another chain or environment (a test node with a key also registered on production).
    /// Every connection is asked for its status at once, so this happens right after the handshake.
    fn refuse_other_network(&mut self, peer: PeerId) {
        let network_id = self.names.network_id.clone();
        let address = self.bootstrap.iter().find(|entry| entry.peer == peer).map(|entry| entry.address.clone());
        self.refused(Some(peer), address, RefusalReason::WrongNetwork { network_id });
        self.punish(peer, "does not speak this network's protocols (another chain or environment)");
    }

    /// Disconnects a peer for misbehaviour and refuses it until its ban ends.
    fn punish(&mut self, peer: PeerId, reason: &str) {
        tracing::warn!(%peer, reason, ban = ?self.misbehaviour_ban, "disconnecting peer for misbehaviour");
        // Only allowed peers need a ban (others are refused anyway), which also bounds the map.
        if !self.misbehaviour_ban.is_zero() && self.allowed.contains(&peer) {
            if self.is_admitted(&peer) {
                self.swarm.behaviour_mut().allow.disallow_peer(peer);
            }
            self.banned.insert(peer, Instant::now() + self.misbehaviour_ban);
        }
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    // ---- housekeeping --------------------------------------------------------------------------

    fn maintain(&mut self) {
        let now = Instant::now();

        // Bans that ended: the peer is admitted again if it is still allowed.
        let expired: Vec<PeerId> =
            self.banned.iter().filter(|(_, until)| **until <= now).map(|(peer, _)| *peer).collect();
        for peer in expired {
            self.banned.remove(&peer);
            if self.allowed.contains(&peer) {
                self.swarm.behaviour_mut().allow.allow_peer(peer);
            }
        }

        // Refusal event budget.
        let elapsed_ms = now.saturating_duration_since(self.last_refill).as_millis();
        let earned = elapsed_ms.saturating_mul(u128::from(REFUSAL_EVENTS_PER_SECOND)) / 1000;
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.refusal_tokens = self.refusal_tokens.saturating_add(earned).min(REFUSAL_EVENTS_BURST_MAX);
            self.last_refill = now;
        }
        if self.refusals_suppressed > 0 && self.refusal_tokens > 0 {
            self.refusal_tokens -= 1;
            self.flush_suppressed();
        }

        // Keep the bootstrap peers connected, with exponential backoff per peer.
        for entry in &mut self.bootstrap {
            if !admitted(&self.allowed, &self.banned, &entry.peer)
                || self.swarm.is_connected(&entry.peer)
                || now < entry.next_attempt
            {
                continue;
            }
            let opts = DialOpts::peer_id(entry.peer)
                .addresses(vec![entry.address.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                // A fresh local port: reusing the listen port for both directions between two
                // nodes that dial each other at once gives identical TCP 4-tuples.
                .allocate_new_port()
                .build();
            match self.swarm.dial(opts) {
                Ok(()) => tracing::debug!(peer = %entry.peer, address = %entry.address, "dialling bootstrap peer"),
                Err(DialError::DialPeerConditionFalse(_)) => {}
                Err(error) => tracing::debug!(peer = %entry.peer, %error, "dial not started"),
            }
            entry.next_attempt = now + entry.backoff;
            entry.backoff = (entry.backoff * 2).min(self.redial_backoff_max);
        }

        // Status exchange.
        if now >= self.next_status {
            self.next_status = now + self.status_interval;
            let peers: Vec<PeerId> = self.swarm.connected_peers().copied().collect();
            for peer in peers {
                self.request_status(peer);
            }
        }
    }

    fn request_status(&mut self, peer: PeerId) {
        if !self.is_admitted(&peer) || !self.status_in_flight.insert(peer) {
            return;
        }
        let height = self.shared.height.load(Ordering::Relaxed);
        let id = self.send_request(&peer, Request::Status { height });
        self.outbound.insert(id, Outbound::Status { sent_ms: wall_clock_ms() });
    }

    // ---- swarm events --------------------------------------------------------------------------

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(event)) => self.on_gossip(event),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync(event),
            SwarmEvent::Behaviour(BehaviourEvent::Ping(event)) => {
                match event.result {
                    // A peer without ping (not a covenant node, or a tool) is left alone.
                    Ok(_) | Err(ping::Failure::Unsupported) => {}
                    Err(error) => {
                        tracing::debug!(peer = %event.peer, %error, "ping failed: closing the connection");
                        self.swarm.close_connection(event.connection);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Allow(never)) => match never {},
            SwarmEvent::Behaviour(BehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::NewListenAddr { address, .. } => {
                let mut addresses = lock(&self.shared.listen_addrs);
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                lock(&self.shared.listen_addrs).retain(|known| *known != address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                if !self.is_admitted(&peer_id) {
                    // The allowlist behaviour already refuses these; this is defence in depth.
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                for entry in self.bootstrap.iter_mut().filter(|entry| entry.peer == peer_id) {
                    entry.backoff = REDIAL_BACKOFF_MIN;
                }
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, address = %endpoint.get_remote_address(), "peer connected");
                    lock(&self.shared.connected).insert(peer_id);
                    self.emit(NetworkEvent::PeerConnected { peer_id, address: endpoint.get_remote_address().clone() });
                    self.request_status(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, cause, .. } => {
                tracing::info!(peer = %peer_id, cause = ?cause, "peer disconnected");
                lock(&self.shared.connected).remove(&peer_id);
                lock(&self.shared.gossip_peers).remove(&peer_id);
                self.subscriptions.remove(&peer_id);
                self.status_in_flight.remove(&peer_id);
                let retry = Instant::now() + REDIAL_BACKOFF_MIN;
                for entry in self.bootstrap.iter_mut().filter(|entry| entry.peer == peer_id) {
                    entry.next_attempt = entry.next_attempt.max(retry);
                }
                self.emit(NetworkEvent::PeerDisconnected { peer_id });
            }
            SwarmEvent::IncomingConnectionError { peer_id, send_back_addr, error, .. } => {
                let reason = match &error {
                    ListenError::Denied { cause } => self.denial_reason(peer_id, cause),
                    ListenError::Transport(error) => RefusalReason::HandshakeFailed { detail: error.to_string() },
                    ListenError::Aborted => return,
                    other => RefusalReason::Other { detail: other.to_string() },
                };
                self.refused(peer_id, Some(send_back_addr), reason);
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                let address = |peer: Option<PeerId>| {
                    self.bootstrap.iter().find(|entry| Some(entry.peer) == peer).map(|entry| entry.address.clone())
                };
                match error {
                    DialError::Denied { cause } => {
                        let reason = self.denial_reason(peer_id, &cause);
                        let address = address(peer_id);
                        self.refused(peer_id, address, reason);
                    }
                    DialError::WrongPeerId { obtained, address } => {
                        self.refused(Some(obtained), Some(address), RefusalReason::WrongPeerId { expected: peer_id });
                    }
                    other => tracing::debug!(peer = ?peer_id, error = %other, "dial failed"),
                }
            }
            SwarmEvent::ListenerError { error, .. } => tracing::warn!(%error, "listener error"),
            SwarmEvent::ListenerClosed { addresses, reason, .. } => {
                tracing::warn!(?addresses, ?reason, "listener closed");
                lock(&self.shared.listen_addrs).retain(|known| !addresses.contains(known));
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                if let Some(acceptance) = self.accept_gossip(propagation_source, &message_id, message) {
                    self.swarm.behaviour_mut().gossip.report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        acceptance,
                    );
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                let mask = self.subscriptions.entry(peer_id).or_default();
                *mask |= self.names.topic_bit(&topic);
                if *mask == TOPICS_ALL {
                    lock(&self.shared.gossip_peers).insert(peer_id);
                }
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                if let Some(mask) = self.subscriptions.get_mut(&peer_id) {
                    *mask &= !self.names.topic_bit(&topic);
                }
                lock(&self.shared.gossip_peers).remove(&peer_id);
            }
            _ => {}
        }
    }

    /// Checks what the network can check of a gossiped message: the peer that relayed it
    /// (authenticated by Noise) must be admitted, the message anonymous (gossipsub checked that),
    /// the topic known and the payload within its limit. What passes goes to the node. A message on
    /// a relayed topic is forwarded only once the node has validated it (the returned `None`: the
    /// node reports); one on a direct topic is never forwarded; one the node cannot take (event
    /// channel full) is dropped without blame.
    fn accept_gossip(
        &mut self,
        relay: PeerId,
        message_id: &gossipsub::MessageId,
        message: gossipsub::Message,
    ) -> Option<MessageAcceptance> {
        self.count(&relay, Direction::In, message.data.len());
        if !self.is_admitted(&relay) {
            tracing::warn!(%relay, "gossip from a peer outside the allowlist rejected");
            return Some(MessageAcceptance::Reject);
        }
        let Some(TopicKind { consensus, relayed }) = self.names.kind(&message.topic) else {
            return Some(MessageAcceptance::Reject);
        };
        let max = if consensus { CONSENSUS_PAYLOAD_BYTES_MAX } else { TX_PAYLOAD_BYTES_MAX };
        if message.data.len() > max {
            tracing::warn!(%relay, bytes = message.data.len(), max, "oversized gossip rejected");
            return Some(MessageAcceptance::Reject);
        }
        let bytes = message.data;
        let gossip = relayed.then(|| GossipToken { message_id: message_id.clone(), source: relay });
        let event = if consensus {
            NetworkEvent::Consensus { from: relay, bytes, gossip }
        } else {
            NetworkEvent::Transaction { from: relay, bytes, gossip }
        };
        if self.emit(event) && relayed { None } else { Some(MessageAcceptance::Ignore) }
    }

    fn on_sync(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request { request, channel, .. } => self.on_request(peer, request, channel),
                request_response::Message::Response { request_id, response } => {
                    self.on_response(peer, request_id, response)
                }
            },
            request_response::Event::OutboundFailure { peer, request_id, error, .. } => {
                let malformed = matches!(&error, request_response::OutboundFailure::Io(io) if io.kind() == std::io::ErrorKind::InvalidData);
                match self.outbound.remove(&request_id) {
                    Some(Outbound::Blocks { reply, .. }) => {
                        let _ = reply.send(Err(NetworkError::RequestFailed { peer, detail: error.to_string() }));
                    }
                    Some(Outbound::Status { .. }) => {
                        self.status_in_flight.remove(&peer);
                    }
                    None => tracing::debug!(%peer, %error, "point-to-point message failed"),
                }
                if malformed {
                    self.punish(peer, &format!("malformed sync response: {error}"));
                } else if matches!(error, request_response::OutboundFailure::UnsupportedProtocols) {
                    self.refuse_other_network(peer);
                }
            }
            // Malformed requests arrive as `Request::Malformed`; what remains here is timeouts and
            // closed streams, which are no misbehaviour.
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "inbound sync request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_request(&mut self, peer: PeerId, request: Request, channel: ResponseChannel<Response>) {
        self.count(&peer, Direction::In, request_frame_bytes(&request));
        if !self.is_admitted(&peer) {
            // Dropping the channel closes the stream unanswered.
            return;
        }
        let response = match request {
            Request::Malformed(detail) => {
                drop(channel);
                self.punish(peer, &format!("malformed sync request: {detail}"));
                return;
            }
            Request::Status { height } => {
                self.emit(NetworkEvent::PeerStatus { peer, height, clock: None });
                Response::Status { height: self.shared.height.load(Ordering::Relaxed), time_ms: wall_clock_ms() }
            }
            Request::Consensus(bytes) => {
                if self.emit(NetworkEvent::Consensus { from: peer, bytes, gossip: None }) {
                    Response::Ack
                } else {
                    Response::Unavailable
                }
            }
            Request::GetBlocks(request) => {
                let waiting = self.inbound_per_peer.entry(peer).or_default();
                if *waiting >= INBOUND_BLOCK_REQUESTS_PER_PEER_MAX {
                    Response::Unavailable
                } else {
                    *waiting += 1;
                    let (sender, answer) = oneshot::channel();
                    let timeout = self.request_timeout;
                    self.pending_answers.push(
                        async move {
                            let blocks = tokio::time::timeout(timeout, answer).await.ok().and_then(Result::ok);
                            PendingAnswer { peer, channel, blocks }
                        }
                        .boxed(),
                    );
                    // If the event is dropped, so is the responder, and the peer hears `Unavailable`.
                    self.emit(NetworkEvent::BlockRequest {
                        peer,
                        request,
                        responder: BlockResponder { peer, max_count: request.max_count, sender },
                    });
                    return;
                }
            }
        };
        self.send_response(&peer, channel, response);
    }

    fn on_answer(&mut self, answer: PendingAnswer) {
        if let Some(waiting) = self.inbound_per_peer.get_mut(&answer.peer) {
            *waiting = waiting.saturating_sub(1);
            if *waiting == 0 {
                self.inbound_per_peer.remove(&answer.peer);
            }
        }
        let response = match answer.blocks {
            Some(blocks) => Response::Blocks(blocks),
            None => Response::Unavailable,
        };
        self.send_response(&answer.peer, answer.channel, response);
    }

    fn on_response(&mut self, peer: PeerId, request_id: OutboundRequestId, response: Response) {
        self.count(&peer, Direction::In, response_frame_bytes(&response));
        match self.outbound.remove(&request_id) {
            Some(Outbound::Blocks { reply, max_count }) => match response {
                Response::Blocks(blocks) if blocks.len() <= max_count as usize => {
                    let _ = reply.send(Ok(blocks));
                }
                Response::Unavailable => {
                    let _ = reply.send(Err(NetworkError::PeerUnavailable { peer }));
                }
                other => {
                    let detail = format!("answered a request for {max_count} blocks with {}", describe(&other));
                    let _ = reply.send(Err(NetworkError::ProtocolViolation { peer, detail: detail.clone() }));
                    self.punish(peer, &detail);
                }
            },
            Some(Outbound::Status { sent_ms }) => {
                self.status_in_flight.remove(&peer);
                match response {
                    Response::Status { height, time_ms } => {
                        let clock = ClockSample::estimate(sent_ms, time_ms, wall_clock_ms());
                        self.emit(NetworkEvent::PeerStatus { peer, height, clock });
                    }
                    Response::Unavailable => {}
                    other => self.punish(peer, &format!("answered a status request with {}", describe(&other))),
                }
            }
            // Acknowledgement of a point-to-point consensus message.
            None => {}
        }
    }
}

/// This machine's wall clock in ms since the Unix epoch (0 if the clock is before 1970).
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn describe(response: &Response) -> String {
    match response {
        Response::Status { .. } => "a status".to_string(),
        Response::Blocks(blocks) => format!("{} blocks", blocks.len()),
        Response::Ack => "an acknowledgement".to_string(),
        Response::Unavailable => "unavailable".to_string(),
    }
}
