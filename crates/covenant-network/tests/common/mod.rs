//! Shared helpers for the network tests: nodes on 127.0.0.1 with short timeouts, event waits with
//! deadlines, and a bounded test body.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use covenant_network::{
    EventReceiver, Multiaddr, Network, NetworkConfig, NetworkEvent, NetworkHandle, PeerId, tcp_multiaddr, with_peer_id,
};
use covenant_types::{PublicKey, SecretKey};
use tokio::time::Instant;
use zeroize::Zeroizing;

/// Network id used by every test node.
pub const NETWORK_ID: &str = "test-net";
/// Longest any single wait in a test may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// Runs a test body with an overall deadline, so nothing hangs.
pub async fn bounded<F: Future<Output = ()>>(limit: Duration, body: F) {
    tokio::time::timeout(limit, body).await.expect("test exceeded its time limit");
}

/// A deterministic 32-byte seed per test node index.
pub fn seed(index: u8) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[0] = index;
    seed[31] = 0xc0;
    seed
}

/// The covenant public key of seed `index`.
pub fn key(index: u8) -> PublicKey {
    SecretKey::from_seed(&seed(index)).public_key()
}

/// The peer id of seed `index`.
pub fn peer(index: u8) -> PeerId {
    covenant_network::peer_id_of(&key(index)).expect("valid key")
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// `/ip4/127.0.0.1/tcp/<port>`.
pub fn loopback(port: u16) -> Multiaddr {
    tcp_multiaddr(([127, 0, 0, 1], port).into())
}

/// `/ip4/127.0.0.1/tcp/<port>/p2p/<peer of index>`.
pub fn dial_address(index: u8, port: u16) -> Multiaddr {
    with_peer_id(&loopback(port), peer(index))
}

/// A running test node.
pub struct TestNode {
    pub index: u8,
    pub port: u16,
    pub handle: NetworkHandle,
    pub events: EventReceiver,
}

/// A config with short timeouts for tests.
pub fn test_config(index: u8, port: u16, allowed: &[u8], bootstrap: Vec<Multiaddr>) -> NetworkConfig {
    let mut config = NetworkConfig::new(Zeroizing::new(seed(index)), NETWORK_ID, loopback(port));
    config.allowed = allowed.iter().map(|i| key(*i)).collect();
    config.bootstrap = bootstrap;
    config.request_timeout = Duration::from_secs(2);
    config.status_interval = Duration::from_millis(300);
    config.redial_backoff_max = Duration::from_millis(500);
    config.misbehaviour_ban = Duration::from_secs(1);
    config
}

/// Starts a node from a config.
pub async fn start_with(index: u8, port: u16, config: NetworkConfig) -> TestNode {
    let (handle, events) = Network::spawn(config).await.expect("network starts");
    TestNode { index, port, handle, events }
}

/// Starts node `index` on `port`, allowing `allowed` and dialling `bootstrap` (indices and ports).
pub async fn start(index: u8, port: u16, allowed: &[u8], bootstrap: &[(u8, u16)]) -> TestNode {
    let bootstrap = bootstrap.iter().filter(|(i, _)| *i != index).map(|(i, p)| dial_address(*i, *p)).collect();
    start_with(index, port, test_config(index, port, allowed, bootstrap)).await
}

/// Starts `count` validators that all allow and dial each other, and waits until every one has all
/// the others as gossip peers.
pub async fn full_mesh(count: u8) -> Vec<TestNode> {
    let members: Vec<(u8, u16)> = (0..count).map(|i| (i, free_port())).collect();
    let allowed: Vec<u8> = (0..count).collect();
    let mut nodes = Vec::new();
    for (index, port) in &members {
        nodes.push(start(*index, *port, &allowed, &members).await);
    }
    wait_gossip_ready(&nodes).await;
    nodes
}

/// Waits until every node has every other node as a gossip peer.
pub async fn wait_gossip_ready(nodes: &[TestNode]) {
    let others = nodes.len() - 1;
    wait_until("full gossip mesh", || nodes.iter().all(|node| node.handle.gossip_peers().len() >= others)).await;
}

/// Polls `condition` every 10 ms until it holds, failing after [`WAIT`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Reads events until `pick` returns a value, failing after [`WAIT`]. Other events are skipped.
pub async fn wait_event<T>(node: &mut TestNode, what: &str, mut pick: impl FnMut(&NetworkEvent) -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, node.events.recv())
            .await
            .unwrap_or_else(|_| panic!("node {} timed out waiting for {what}", node.index))
            .unwrap_or_else(|| panic!("node {} event channel closed while waiting for {what}", node.index));
        if let Some(value) = pick(&event) {
            return value;
        }
    }
}

/// Collects every event that arrives within `window`.
pub async fn events_within(node: &mut TestNode, window: Duration) -> Vec<NetworkEvent> {
    let deadline = Instant::now() + window;
    let mut events = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout_at(deadline, node.events.recv()).await {
        events.push(event);
    }
    events
}

/// Whether an event carries an application payload (consensus or transaction) from `from`.
pub fn is_payload_from(event: &NetworkEvent, from: PeerId) -> bool {
    matches!(event, NetworkEvent::Consensus { from: f, .. } | NetworkEvent::Transaction { from: f, .. } if *f == from)
}
