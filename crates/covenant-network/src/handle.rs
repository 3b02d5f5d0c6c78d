//! The node's side of the network: a cloneable handle that sends commands to the network task and
//! reads the state it publishes.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use covenant_types::PublicKey;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::limits::{ALLOWED_PEERS_MAX, BLOCKS_PER_REQUEST_MAX, CONSENSUS_PAYLOAD_BYTES_MAX, TX_PAYLOAD_BYTES_MAX};
use crate::traffic::TrafficCounters;
use crate::{BlockResponder, GetBlocks, GossipToken, GossipVerdict, NetworkError, TrafficSnapshot};

/// What the handle asks the network task to do.
pub(crate) enum Command {
    BroadcastConsensus(Vec<u8>),
    BroadcastTx(Vec<u8>),
    SendConsensus { peer: PeerId, bytes: Vec<u8> },
    RequestBlocks { peer: PeerId, request: GetBlocks, reply: oneshot::Sender<Result<Vec<Vec<u8>>, NetworkError>> },
    SetAllowed(Vec<PeerId>),
    Disconnect { peer: PeerId, reason: String },
    ReportGossip { token: GossipToken, verdict: GossipVerdict },
    Shutdown(oneshot::Sender<()>),
}

/// State the network task publishes for the handle to read without a round trip.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) connected: Mutex<BTreeSet<PeerId>>,
    pub(crate) gossip_peers: Mutex<BTreeSet<PeerId>>,
    pub(crate) listen_addrs: Mutex<Vec<Multiaddr>>,
    pub(crate) height: AtomicU64,
    pub(crate) events_dropped_total: AtomicU64,
    pub(crate) traffic: Mutex<TrafficCounters>,
}

/// Locks a mutex whose data stays consistent even if a holder panicked (plain sets and lists).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The node's handle on the running network. Cheap to clone; the network task stops when
/// [`NetworkHandle::shutdown`] is called or the last handle is dropped.
///
/// Methods that send a command wait when the command channel is full (backpressure on the caller)
/// and fail with [`NetworkError::Stopped`] once the network task has ended.
#[derive(Clone)]
pub struct NetworkHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) local_peer_id: PeerId,
}

fn check_size(kind: &'static str, bytes: &[u8], max: usize) -> Result<(), NetworkError> {
    if bytes.len() > max {
        return Err(NetworkError::PayloadTooLarge { kind, bytes: bytes.len(), max });
    }
    Ok(())
}

impl NetworkHandle {
    async fn send(&self, command: Command) -> Result<(), NetworkError> {
        self.commands.send(command).await.map_err(|_| NetworkError::Stopped)
    }

    /// Gossips a consensus message to every connected validator (at most
    /// [`CONSENSUS_PAYLOAD_BYTES_MAX`] bytes). Fire and forget: delivery is best effort, as
    /// consensus expects.
    pub async fn broadcast_consensus(&self, bytes: Vec<u8>) -> Result<(), NetworkError> {
        check_size("consensus", &bytes, CONSENSUS_PAYLOAD_BYTES_MAX)?;
        self.send(Command::BroadcastConsensus(bytes)).await
    }

    /// Gossips transactions (a payload the node defines, at most [`TX_PAYLOAD_BYTES_MAX`] bytes).
    /// Identical payloads are sent once (gossip names messages by their content).
    pub async fn broadcast_tx(&self, bytes: Vec<u8>) -> Result<(), NetworkError> {
        check_size("transaction", &bytes, TX_PAYLOAD_BYTES_MAX)?;
        self.send(Command::BroadcastTx(bytes)).await
    }

    /// Sends a consensus message to one connected peer only (e.g. a round-change certificate for a
    /// lagging validator). Fire and forget; dropped if the peer is not connected.
    pub async fn send_consensus(&self, peer: PeerId, bytes: Vec<u8>) -> Result<(), NetworkError> {
        check_size("consensus", &bytes, CONSENSUS_PAYLOAD_BYTES_MAX)?;
        self.send(Command::SendConsensus { peer, bytes }).await
    }

    /// Asks `peer` for blocks and waits for the answer: the encoded blocks it supplied, in height
    /// order from `request.from_height`, possibly fewer than asked (none when it has none). Fails
    /// after the request timeout, if the peer is not connected, or if it is busy.
    pub async fn request_blocks(&self, peer: PeerId, request: GetBlocks) -> Result<Vec<Vec<u8>>, NetworkError> {
        if request.max_count == 0 || request.max_count > BLOCKS_PER_REQUEST_MAX {
            return Err(NetworkError::InvalidBlockCount {
                max_count: request.max_count,
                limit: BLOCKS_PER_REQUEST_MAX,
            });
        }
        let (reply, answer) = oneshot::channel();
        self.send(Command::RequestBlocks { peer, request, reply }).await?;
        answer.await.map_err(|_| NetworkError::Stopped)?
    }

    /// Answers a [`crate::NetworkEvent::BlockRequest`]; see [`BlockResponder::respond`].
    pub fn respond_blocks(&self, responder: BlockResponder, blocks: Vec<Vec<u8>>) -> Result<usize, NetworkError> {
        responder.respond(blocks)
    }

    /// Replaces the allowlist with the network keys registered on chain. Peers no longer allowed
    /// are disconnected at once; newly allowed bootstrap peers are dialled. Nothing changes if a
    /// key is unusable.
    pub async fn set_allowed(&self, keys: Vec<PublicKey>) -> Result<(), NetworkError> {
        if keys.len() > ALLOWED_PEERS_MAX {
            return Err(NetworkError::TooMany { what: "allowed peers", count: keys.len(), max: ALLOWED_PEERS_MAX });
        }
        let peers = keys.iter().map(crate::peer_id_of).collect::<Result<Vec<_>, _>>()?;
        self.send(Command::SetAllowed(peers)).await
    }

    /// Disconnects a peer that sent undecodable or invalid data, and refuses it for the configured
    /// misbehaviour ban. `reason` goes to the log.
    pub async fn disconnect(&self, peer: PeerId, reason: impl Into<String>) -> Result<(), NetworkError> {
        self.send(Command::Disconnect { peer, reason: reason.into() }).await
    }

    /// Reports the node's verdict on a gossiped message: only an accepted message is forwarded.
    pub async fn report_gossip(&self, token: GossipToken, verdict: GossipVerdict) -> Result<(), NetworkError> {
        self.send(Command::ReportGossip { token, verdict }).await
    }

    /// Records this node's last committed height, which the status exchange tells peers.
    pub fn set_height(&self, height: u64) {
        self.shared.height.store(height, Ordering::Relaxed);
    }

    /// Peers with at least one established connection, sorted.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        lock(&self.shared.connected).iter().copied().collect()
    }

    /// Connected peers subscribed to both gossip topics (they receive every broadcast), sorted.
    pub fn gossip_peers(&self) -> Vec<PeerId> {
        lock(&self.shared.gossip_peers).iter().copied().collect()
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Addresses this node listens on (with a concrete port when configured with port 0).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        lock(&self.shared.listen_addrs).clone()
    }

    /// Events dropped because a bound of the event queue was reached, since start (for metrics).
    pub fn events_dropped_total(&self) -> u64 {
        self.shared.events_dropped_total.load(Ordering::Relaxed)
    }

    /// Messages and bytes exchanged with each peer since start (COV-22): allowed peers one by one,
    /// every other peer added up.
    pub fn traffic(&self) -> TrafficSnapshot {
        lock(&self.shared.traffic).snapshot()
    }

    /// Stops the network task and waits until its sockets are closed (the listen port is free
    /// again when this returns).
    pub async fn shutdown(&self) {
        let (ack, done) = oneshot::channel();
        if self.commands.send(Command::Shutdown(ack)).await.is_ok() {
            let _ = done.await;
        }
    }
}

impl std::fmt::Debug for NetworkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkHandle").field("local_peer_id", &self.local_peer_id).finish()
    }
}
