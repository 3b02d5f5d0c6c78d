//! A hand-built libp2p peer that holds an allowed key but does not play by the rules: it gossips
//! oversized payloads and sends malformed sync frames. The network must drop the former itself and
//! disconnect the peer for the latter.

mod common;

use std::io;
use std::time::Duration;

use common::*;
use covenant_network::limits::TX_PAYLOAD_BYTES_MAX;
use covenant_network::{GossipVerdict, NetworkEvent, topic_names};
use futures::prelude::*;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{StreamProtocol, Swarm, identity, noise, tcp, yamux};

const TEST_LIMIT: Duration = Duration::from_secs(30);

/// Sends raw bytes as a sync request and reads raw bytes back.
#[derive(Clone, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        io.take(1 << 20).read_to_end(&mut out).await?;
        Ok(out)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        io.take(1 << 20).read_to_end(&mut out).await?;
        Ok(out)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&request).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()> {
        io.write_all(&response).await
    }
}

#[derive(NetworkBehaviour)]
struct Rogue {
    gossip: gossipsub::Behaviour,
    sync: request_response::Behaviour<RawCodec>,
}

fn rogue_swarm(index: u8) -> Swarm<Rogue> {
    let keypair = identity::Keypair::ed25519_from_bytes(seed(index)).expect("seed");
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(|message: &gossipsub::Message| gossipsub::MessageId::from(message.data.clone()))
        .max_transmit_size(32 * 1024 * 1024)
        .flood_publish(true)
        .heartbeat_interval(Duration::from_millis(200))
        .build()
        .expect("gossip config");
    let mut gossip = gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).expect("gossip");
    for topic in topic_names(NETWORK_ID).all() {
        gossip.subscribe(&IdentTopic::new(topic)).expect("subscribe");
    }
    let protocol = StreamProtocol::try_from_owned(format!("/covenant/{NETWORK_ID}/sync/1")).expect("protocol");
    let sync = request_response::Behaviour::with_codec(
        RawCodec,
        [(protocol, ProtocolSupport::Full)],
        request_response::Config::default(),
    );
    libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::new(), noise::Config::new, yamux::Config::default)
        .expect("transport")
        .with_behaviour(|_| Rogue { gossip, sync })
        .expect("behaviour")
        .build()
}

/// Drives the rogue swarm until `done` says so, failing after [`WAIT`].
async fn drive_until(swarm: &mut Swarm<Rogue>, what: &str, mut done: impl FnMut(&SwarmEvent<RogueEvent>) -> bool) {
    tokio::time::timeout(WAIT, async {
        loop {
            let event = swarm.select_next_some().await;
            if done(&event) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("rogue timed out waiting for {what}"));
}

/// Keeps the rogue swarm polled in the background while the test reads the honest node's events.
fn keep_polling(mut swarm: Swarm<Rogue>) -> tokio::task::JoinHandle<Swarm<Rogue>> {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                swarm.select_next_some().await;
            }
        })
        .await;
        swarm
    })
}

/// The next transaction `node` hears (relay and payload), checking that no other follows within
/// 300 ms.
async fn only_transaction(node: &mut TestNode, what: &str) -> (libp2p::PeerId, Vec<u8>) {
    let got = wait_event(node, what, |event| match event {
        NetworkEvent::Transaction { from, bytes, .. } => Some((*from, bytes.clone())),
        _ => None,
    })
    .await;
    let later = events_within(node, Duration::from_millis(300)).await;
    assert!(!later.iter().any(|event| matches!(event, NetworkEvent::Transaction { .. })), "after {what}: {later:?}");
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_gossip_from_an_allowed_peer_is_dropped_by_the_network() {
    bounded(TEST_LIMIT, async {
        let port = free_port();
        // Key 5 is allowed: the point is what happens after the allowlist.
        let mut honest = start(0, port, &[0, 5], &[]).await;
        let mut rogue = rogue_swarm(5);
        rogue.dial(dial_address(0, port)).expect("dial");
        let tx_topic = topic_names(NETWORK_ID).tx;
        let tx_hash = IdentTopic::new(tx_topic.clone()).hash();
        drive_until(&mut rogue, "honest node's subscription", |event| {
            matches!(event, SwarmEvent::Behaviour(RogueEvent::Gossip(gossipsub::Event::Subscribed { topic, .. })) if *topic == tx_hash)
        })
        .await;

        // One byte over the limit: passes gossipsub's frame check, refused by the network's own.
        rogue.behaviour_mut().gossip.publish(IdentTopic::new(tx_topic.clone()), vec![1; TX_PAYLOAD_BYTES_MAX + 1]).expect("publish");
        // Far over: refused by the per-topic frame limit before decoding.
        rogue.behaviour_mut().gossip.publish(IdentTopic::new(tx_topic.clone()), vec![2; TX_PAYLOAD_BYTES_MAX + 64 * 1024]).expect("publish");
        // Then a valid one, which must arrive alone.
        rogue.behaviour_mut().gossip.publish(IdentTopic::new(tx_topic), b"valid tx".to_vec()).expect("publish");
        let polling = keep_polling(rogue);

        let got = only_transaction(&mut honest, "the valid tx").await;
        assert_eq!(got, (peer(5), b"valid tx".to_vec()), "oversized transactions never reach the node");
        polling.await.expect("rogue task");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_sync_request_gets_the_peer_disconnected() {
    bounded(TEST_LIMIT, async {
        let port = free_port();
        let mut honest = start(0, port, &[0, 5], &[]).await;
        let mut rogue = rogue_swarm(5);
        rogue.dial(dial_address(0, port)).expect("dial");
        drive_until(&mut rogue, "connection", |event| matches!(event, SwarmEvent::ConnectionEstablished { .. })).await;
        wait_event(&mut honest, "rogue connected", |event| match event {
            NetworkEvent::PeerConnected { peer_id, .. } if *peer_id == peer(5) => Some(()),
            _ => None,
        })
        .await;

        // Tag 9 is no request of the protocol.
        rogue.behaviour_mut().sync.send_request(&peer(0), vec![9, 9, 9]);
        let polling = keep_polling(rogue);
        wait_event(&mut honest, "rogue disconnected", |event| match event {
            NetworkEvent::PeerDisconnected { peer_id } if *peer_id == peer(5) => Some(()),
            _ => None,
        })
        .await;
        assert!(!honest.handle.connected_peers().contains(&peer(5)));
        polling.await.expect("rogue task");
    })
    .await;
}

/// A batch on the direct topic is delivered but never forwarded: its author published it to every
/// peer itself (ADR 0009). One on the relayed topic is forwarded. Here the rogue has a link to node
/// 1 only, so node 0 can hear its batches only through node 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_transaction_batches_are_delivered_but_not_relayed() {
    bounded(TEST_LIMIT, async {
        let (port_0, port_1) = (free_port(), free_port());
        let allowed = [0, 1, 5];
        let mut relay = start(1, port_1, &allowed, &[]).await;
        let mut far = start(0, port_0, &allowed, &[(1, port_1)]).await;
        wait_until("nodes 0 and 1 gossip", || relay.handle.gossip_peers().len() == 1).await;
        let mut rogue = rogue_swarm(5);
        rogue.dial(dial_address(1, port_1)).expect("dial");
        let topics = topic_names(NETWORK_ID);
        let direct_hash = IdentTopic::new(topics.tx_direct.clone()).hash();
        drive_until(&mut rogue, "node 1's subscription", |event| {
            matches!(event, SwarmEvent::Behaviour(RogueEvent::Gossip(gossipsub::Event::Subscribed { topic, .. })) if *topic == direct_hash)
        })
        .await;
        wait_until("the rogue gossips with node 1", || relay.handle.gossip_peers().len() == 2).await;

        rogue.behaviour_mut().gossip.publish(IdentTopic::new(topics.tx_direct), b"direct".to_vec()).expect("publish");
        rogue.behaviour_mut().gossip.publish(IdentTopic::new(topics.tx), b"relayed".to_vec()).expect("publish");
        let polling = keep_polling(rogue);

        // Node 1 gets both, from the rogue; only the relayed one awaits its verdict, and once node 1
        // accepts it, it travels on.
        for payload in [&b"direct"[..], b"relayed"] {
            let (from, gossip) = wait_event(&mut relay, "a batch at node 1", |event| match event {
                NetworkEvent::Transaction { from, bytes, gossip } if bytes == payload => Some((*from, gossip.clone())),
                _ => None,
            })
            .await;
            assert_eq!(from, peer(5));
            assert_eq!(gossip.is_some(), payload == b"relayed", "only a relayed batch awaits a verdict");
            if let Some(token) = gossip {
                relay.handle.report_gossip(token, GossipVerdict::Accept).await.expect("report");
            }
        }
        // Node 0 gets only the relayed one, from node 1; the direct one would have come first.
        let first = only_transaction(&mut far, "a batch at node 0").await;
        assert_eq!(first, (peer(1), b"relayed".to_vec()), "a direct batch must not be forwarded");
        polling.await.expect("rogue task");
    })
    .await;
}
