//! A Byzantine validator for end-to-end tests: a real libp2p peer (the node's own network layer,
//! `covenant-network`) holding one registered validator's network key, and its consensus key where an
//! attack needs valid signatures. It never votes; it does what a test tells it (gossip garbage, claim
//! heights it does not have, flood large messages), answers every block request with no blocks,
//! ignores every gossiped message it receives (it relays nothing), and records what the honest nodes
//! did to it: connections, disconnections, refusals, block requests, and every proposal and vote
//! it received (so a test can use it as an observer that catches a validator voting twice).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use covenant_network::{
    GetBlocks, GossipVerdict, Multiaddr, Network, NetworkConfig, NetworkEvent, NetworkHandle, PeerId, tcp_multiaddr,
};

use covenant_consensus::Message;
use covenant_types::Hash;

use crate::Consortium;
pub use covenant_byzantine::forge::{BulkyRoundChange, bulky_round_change};
use covenant_byzantine::forge::{SplitMix, garbage};

/// Who the attacker is and whom it talks to.
#[derive(Clone, Debug)]
pub struct AttackerSpec {
    /// The validator whose registered keys it holds (its own node process must not run).
    pub validator: usize,
    /// The honest nodes it dials (and keeps redialling). Others can reach it only if it listens on
    /// the validator's configured address.
    pub bootstrap: Vec<usize>,
    /// Listen on the validator's configured p2p address (the honest nodes then dial it as they
    /// would the validator); otherwise on a free port nobody knows.
    pub listen_on_own_address: bool,
    /// The height it claims in the status exchange.
    pub claimed_height: u64,
}

/// What happened to the attacker, with the time of each event.
#[derive(Clone, Debug, Default)]
pub struct AttackerLog {
    /// Block requests received (every one answered with no blocks).
    pub block_requests: Vec<(Instant, PeerId, GetBlocks)>,
    /// Peers whose first connection was established.
    pub connected: Vec<(Instant, PeerId)>,
    /// Peers whose last connection closed.
    pub disconnected: Vec<(Instant, PeerId)>,
    /// Connections refused (the attacker's view: a ban on the other side shows as a failed dial or
    /// a refused handshake).
    pub refused: Vec<(Instant, Option<PeerId>, String)>,
    /// Gossiped messages received (all ignored, none relayed).
    pub gossip_received: u64,
    /// Point-to-point consensus messages received.
    pub direct_received: u64,
    /// Garbage payloads handed to the network for gossip.
    pub garbage_sent: u64,
    /// The signed digests of every proposal and vote received, by author, height, round and kind:
    /// two digests in one slot are two different votes.
    pub votes: BTreeMap<VoteSlot, BTreeSet<Hash>>,
}

/// Where a validator may sign one message only: author, height, round, kind.
pub type VoteSlot = (String, u64, u32, &'static str);

impl AttackerLog {
    /// Block requests received in `[from, to)`.
    pub fn block_requests_between(&self, from: Instant, to: Instant) -> usize {
        self.block_requests.iter().filter(|(at, _, _)| *at >= from && *at < to).count()
    }

    /// Disconnections by `peer`.
    pub fn disconnections_by(&self, peer: &PeerId) -> usize {
        self.disconnected.iter().filter(|(_, who)| who == peer).count()
    }

    /// Records a consensus message received, if it is a signed proposal or vote.
    pub fn record_vote(&mut self, bytes: &[u8]) {
        let Ok(message) = Message::decode(bytes) else { return };
        let digest = match &message {
            Message::Proposal(proposal) => proposal.pre_prepare.digest(),
            Message::Prepare(prepare) => prepare.digest(),
            Message::Commit(commit) => commit.digest(),
            Message::RoundChange(round_change) => round_change.round_change.digest(),
            Message::Decided(_) => return,
        };
        let Some(author) = message.author() else { return };
        let slot = (author.as_str().to_string(), message.height(), message.round(), message.kind_name());
        self.votes.entry(slot).or_default().insert(digest);
    }

    /// Every slot in which an author signed two different messages, with the digests.
    pub fn double_votes(&self) -> Vec<(VoteSlot, Vec<Hash>)> {
        self.votes
            .iter()
            .filter(|(_, digests)| digests.len() > 1)
            .map(|(slot, digests)| (slot.clone(), digests.iter().copied().collect()))
            .collect()
    }

    /// Proposals and votes received from `author`.
    pub fn votes_by(&self, author: &str) -> usize {
        self.votes.iter().filter(|((who, ..), _)| who == author).map(|(_, digests)| digests.len()).sum()
    }
}

fn lock(log: &Mutex<AttackerLog>) -> MutexGuard<'_, AttackerLog> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running attacker. Dropping it shuts its network down.
pub struct Attacker {
    runtime: Option<tokio::runtime::Runtime>,
    network: NetworkHandle,
    log: Arc<Mutex<AttackerLog>>,
    /// Its peer id (the impersonated validator's).
    pub peer_id: PeerId,
    /// Its network key's public half.
    pub network_public_key: covenant_types::PublicKey,
}

impl Attacker {
    /// Starts the attacker's network with validator `spec.validator`'s network key, the chain id as
    /// network id, every registered node's network key allowed.
    pub fn start(consortium: &Consortium, spec: &AttackerSpec) -> Attacker {
        let genesis = consortium.genesis();
        let key = consortium.network_key(spec.validator);
        let listen = if spec.listen_on_own_address {
            consortium.p2p_socket(spec.validator)
        } else {
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
            SocketAddr::from(([127, 0, 0, 1], port))
        };
        let mut config =
            NetworkConfig::new(key.seed(), covenant_node::node::network_id(&genesis), tcp_multiaddr(listen));
        config.bootstrap =
            spec.bootstrap.iter().map(|index| consortium.p2p_address(*index)).collect::<Vec<Multiaddr>>();
        config.allowed = genesis.nodes().iter().map(|node| node.network_key).collect();
        // Redial quickly after every ban, to attack again as soon as the victim lets it back in.
        config.redial_backoff_max = Duration::from_millis(500);
        // Large messages sent point to point may take long to cross a loaded machine.
        config.request_timeout = Duration::from_secs(60);
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
        let log = Arc::new(Mutex::new(AttackerLog::default()));
        let network = runtime.block_on(async {
            let (network, mut events) = Network::spawn(config).await.expect("the attacker's network starts");
            network.set_height(spec.claimed_height);
            let handle = network.clone();
            let log = log.clone();
            tokio::spawn(async move {
                while let Some(event) = events.recv().await {
                    let now = Instant::now();
                    match event {
                        NetworkEvent::BlockRequest { peer, request, responder } => {
                            lock(&log).block_requests.push((now, peer, request));
                            // Claims every height, serves none.
                            let _ = responder.respond(Vec::new());
                        }
                        NetworkEvent::Consensus { bytes, gossip, .. } => {
                            lock(&log).record_vote(&bytes);
                            match gossip {
                                Some(token) => {
                                    lock(&log).gossip_received += 1;
                                    let _ = handle.report_gossip(token, GossipVerdict::Ignore).await;
                                }
                                None => lock(&log).direct_received += 1,
                            }
                        }
                        NetworkEvent::Transaction { gossip, .. } => match gossip {
                            Some(token) => {
                                lock(&log).gossip_received += 1;
                                let _ = handle.report_gossip(token, GossipVerdict::Ignore).await;
                            }
                            None => lock(&log).direct_received += 1,
                        },
                        NetworkEvent::PeerConnected { peer_id, .. } => lock(&log).connected.push((now, peer_id)),
                        NetworkEvent::PeerDisconnected { peer_id } => lock(&log).disconnected.push((now, peer_id)),
                        NetworkEvent::PeerRefused { peer_id, reason, .. } => {
                            lock(&log).refused.push((now, peer_id, reason.to_string()));
                        }
                        NetworkEvent::PeerStatus { .. }
                        | NetworkEvent::RefusalsSuppressed { .. }
                        | NetworkEvent::EventsDropped { .. } => {}
                    }
                }
            });
            network
        });
        Attacker {
            runtime: Some(runtime),
            peer_id: network.local_peer_id(),
            network,
            log,
            network_public_key: key.public_key(),
        }
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime.as_ref().expect("the attacker runs")
    }

    /// Changes the height it claims (the next status exchange carries it).
    pub fn set_claimed_height(&self, height: u64) {
        self.network.set_height(height);
    }

    /// Peers it is connected to now.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.network.connected_peers()
    }

    /// Peers it gossips with now.
    pub fn gossip_peers(&self) -> Vec<PeerId> {
        self.network.gossip_peers()
    }

    /// Waits until it is connected to every one of `peers` (and gossips with them), at most `timeout`.
    pub fn wait_connected(&self, peers: &[PeerId], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let gossip = self.gossip_peers();
            if peers.iter().all(|peer| gossip.contains(peer)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// A copy of what happened so far.
    pub fn log(&self) -> AttackerLog {
        lock(&self.log).clone()
    }

    /// Gossips `bytes` on the consensus topic.
    pub fn broadcast_consensus(&self, bytes: Vec<u8>) {
        let network = self.network.clone();
        let _ = self.runtime().block_on(async move { network.broadcast_consensus(bytes).await });
    }

    /// Gossips `bytes` on the transaction topic.
    pub fn broadcast_tx(&self, bytes: Vec<u8>) {
        let network = self.network.clone();
        let _ = self.runtime().block_on(async move { network.broadcast_tx(bytes).await });
    }

    /// Sends `bytes` as a consensus message to `peer` only.
    pub fn send_consensus(&self, peer: PeerId, bytes: Vec<u8>) {
        let network = self.network.clone();
        let _ = self.runtime().block_on(async move { network.send_consensus(peer, bytes).await });
    }

    /// Starts gossiping `bytes_per_message` bytes of undecodable garbage every `period`, on the
    /// consensus topic and on the transaction topic, for `duration`. Returns at once; the log counts
    /// what was handed to the network.
    pub fn spawn_garbage_gossip(&self, bytes_per_message: usize, period: Duration, duration: Duration) {
        let network = self.network.clone();
        let log = self.log.clone();
        let mut random = SplitMix(now_nanos());
        self.runtime().spawn(async move {
            let end = tokio::time::Instant::now() + duration;
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while tokio::time::Instant::now() < end {
                interval.tick().await;
                for consensus in [true, false] {
                    let bytes = garbage(&mut random, bytes_per_message);
                    let sent = if consensus {
                        network.broadcast_consensus(bytes).await
                    } else {
                        network.broadcast_tx(bytes).await
                    };
                    if sent.is_ok() {
                        lock(&log).garbage_sent += 1;
                    }
                }
            }
        });
    }

    /// Stops the network and waits until its sockets are closed.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            let network = self.network.clone();
            let _ = runtime
                .block_on(async move { tokio::time::timeout(Duration::from_secs(10), network.shutdown()).await });
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

impl Drop for Attacker {
    fn drop(&mut self) {
        self.stop();
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos() as u64)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use covenant_types::{ChainId, NodeId, SecretKey};

    #[test]
    fn two_different_votes_in_one_slot_are_double_votes_and_a_repeat_is_not() {
        let chain = ChainId::new("observer-test").expect("chain id");
        let author = NodeId::new("validator-1").expect("node id");
        let key = SecretKey::from_seed(&[7; 32]);
        let [first, second] = covenant_byzantine::forge::equivocating_votes(&chain, &author, &key, 5, 1, 9);
        let mut log = AttackerLog::default();
        for bytes in first.iter().chain(&first) {
            log.record_vote(bytes);
        }
        assert!(log.double_votes().is_empty(), "the same votes twice are one vote each");
        assert_eq!(log.votes_by("validator-1"), 2);
        log.record_vote(&second[0]);
        let doubles = log.double_votes();
        assert_eq!(doubles.len(), 1, "{doubles:?}");
        assert_eq!(doubles[0].0, ("validator-1".to_string(), 5, 1, "prepare"));
        log.record_vote(b"not a message");
        assert_eq!(log.double_votes().len(), 1);
    }
}
