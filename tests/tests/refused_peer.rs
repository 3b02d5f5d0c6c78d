//! End to end (COV-20): a node whose network key is not registered on chain dials a running
//! validator over real libp2p (TCP, Noise, Yamux). The validator refuses it after the handshake,
//! the intruder gets no consensus traffic, no transactions and no blocks, the validator keeps
//! committing, and after a clean shutdown its audit log holds the refusal naming the intruder and
//! the rule.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use covenant_network::{GetBlocks, Network, NetworkConfig, NetworkEvent, peer_id_of, tcp_multiaddr, with_peer_id};
use covenant_node::config::Host;
use covenant_storage::AuditLog;
use covenant_storage::audit::{Actor, EventType, Outcome};
use covenant_tests::Consortium;
use covenant_types::SecretKey;

const RULE: &str = "COV-20-PERMISSIONED-PEERS";
/// How long the intruder keeps trying.
const INTRUSION_WINDOW: Duration = Duration::from_secs(6);
/// Longest an intruder connection may look open from the intruder's side before node 0 cuts it.
const MOMENT: Duration = Duration::from_millis(500);

// covers: COV-20-PERMISSIONED-PEERS
#[test]
fn refused_peer_unregistered_gets_nothing_and_is_in_the_audit_log() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(60));

    // Node 0 as the intruder must address it: its p2p address and the peer id of its network key.
    let config = consortium.config(0);
    let Host::Ip(ip) = config.listen_addr.host else { panic!("node 0 listens on a name: {}", config.listen_addr) };
    let victim_address = SocketAddr::new(ip, config.listen_addr.port);
    let victim_key = covenant_node::keyfile::read_plaintext_key(&config.network_key_file)
        .expect("node 0's network key file")
        .key
        .public_key();
    let genesis = consortium.genesis();
    assert_eq!(genesis.node(&config.node_id).expect("node 0 registered").network_key, victim_key);
    let victim = peer_id_of(&victim_key).expect("valid key");

    // The intruder: a fresh network key, not registered, same chain id, node 0 as bootstrap peer
    // (and allowed on its side, so it really dials and completes the handshake).
    let intruder_key = SecretKey::generate();
    let intruder = peer_id_of(&intruder_key.public_key()).expect("valid key");
    assert!(genesis.nodes().iter().all(|node| node.network_key != intruder_key.public_key()));
    let intruder_port =
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("local address").port();
    let mut network_config = NetworkConfig::new(
        intruder_key.seed(),
        covenant_node::node::network_id(&genesis),
        tcp_multiaddr(([127, 0, 0, 1], intruder_port).into()),
    );
    network_config.bootstrap = vec![with_peer_id(&tcp_multiaddr(victim_address), victim)];
    network_config.allowed = vec![victim_key, intruder_key.public_key()];
    network_config.redial_backoff_max = Duration::from_millis(500);

    let height_before = consortium.height(0);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (events, window_end, blocks_answer, gossip_peers, connected_peers) = runtime.block_on(async {
        let (network, mut events) = Network::spawn(network_config).await.expect("intruder network starts");
        // Try to inject traffic too, in case a connection were ever admitted.
        let _ = network.broadcast_consensus(b"forged consensus message".to_vec()).await;
        let _ = network.broadcast_tx(b"forged transaction".to_vec()).await;
        let deadline = tokio::time::Instant::now() + INTRUSION_WINDOW;
        let mut seen = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
            seen.push((Instant::now(), event));
        }
        let window_end = Instant::now();
        let blocks = tokio::time::timeout(
            Duration::from_secs(5),
            network.request_blocks(victim, GetBlocks { from_height: 0, max_count: 1 }),
        )
        .await;
        let gossip_peers = network.gossip_peers();
        let connected_peers = network.connected_peers();
        tokio::time::timeout(Duration::from_secs(5), network.shutdown()).await.expect("intruder shuts down");
        (seen, window_end, blocks, gossip_peers, connected_peers)
    });
    drop(runtime);

    let summary: Vec<String> = events.iter().map(|(_, event)| format!("{event:?}")).collect();
    eprintln!("intruder {intruder} saw {} events, first ones: {:#?}", events.len(), &summary[..summary.len().min(6)]);
    // Nothing from the chain reached the intruder.
    let leaked: Vec<&String> = events
        .iter()
        .zip(&summary)
        .filter(|((_, event), _)| {
            matches!(
                event,
                NetworkEvent::Consensus { .. }
                    | NetworkEvent::Transaction { .. }
                    | NetworkEvent::PeerStatus { .. }
                    | NetworkEvent::BlockRequest { .. }
            )
        })
        .map(|(_, text)| text)
        .collect();
    assert!(leaked.is_empty(), "the refused intruder received chain traffic: {leaked:#?}");
    // Node 0 can refuse only once the Noise handshake has named the intruder's key, and the dialling
    // side counts its connection established as soon as its own upgrade is done, so the intruder may
    // see node 0 "connect" for a moment. Each such connection must be cut at once, before anything
    // runs over it.
    let mut connected_since: Option<Instant> = None;
    let mut longest = Duration::ZERO;
    let mut connections = 0;
    for (at, event) in &events {
        match event {
            NetworkEvent::PeerConnected { peer_id, .. } if *peer_id == victim => {
                connections += 1;
                connected_since = Some(*at);
            }
            NetworkEvent::PeerDisconnected { peer_id } if *peer_id == victim => {
                let since = connected_since.take().expect("a disconnection follows a connection");
                longest = longest.max(at.duration_since(since));
            }
            _ => {}
        }
    }
    if let Some(since) = connected_since {
        // Still open when the window closed.
        longest = longest.max(window_end.duration_since(since));
    }
    eprintln!("the intruder's side saw {connections} momentary connections to node 0, the longest {longest:?}");
    assert!(longest < MOMENT, "node 0 kept an intruder connection open for {longest:?}");
    assert!(!gossip_peers.contains(&victim), "node 0 is a gossip peer of the intruder: {gossip_peers:?}");
    assert!(!connected_peers.contains(&victim), "node 0 is connected to the intruder: {connected_peers:?}");
    match blocks_answer {
        Ok(Ok(blocks)) => panic!("node 0 answered the intruder's block request with {} blocks", blocks.len()),
        Ok(Err(error)) => eprintln!("block request refused as expected: {error}"),
        Err(_) => panic!("the intruder's block request got no answer, not even a failure, within 5 s"),
    }

    // Node 0 stays healthy: still connected to its three peers and committing.
    consortium.wait_for_height(&[0, 1, 2, 3], height_before + 2, Duration::from_secs(30));
    let status = consortium.status(0).expect("node 0 answers");
    assert_eq!(status["peers"], 3, "node 0 lost peers: {status}");
    let log = consortium.log(0);
    assert!(
        log.lines().any(|line| line.contains("peer refused (COV-20)") && line.contains(&intruder.to_string())),
        "node 0's log does not report refusing {intruder}\n{}",
        consortium.logs()
    );

    // Stop node 0 cleanly and read its audit log.
    let stopping = Instant::now();
    consortium.stop_node(0, Duration::from_secs(30));
    eprintln!("node 0 stopped cleanly in {:?}", stopping.elapsed());
    let store = consortium.open_store(0);
    let summary = store.verify().expect("node 0's audit log verifies");
    eprintln!("audit log verified: {summary:?}");
    let entries = store.range(0, covenant_storage::limits::SCAN_ENTRIES_MAX).expect("audit entries");
    let refusals: Vec<_> = entries.iter().filter(|entry| entry.event_type == EventType::PeerRefused).collect();
    let of_intruder: Vec<_> = refusals
        .iter()
        .filter(|entry| entry.actor == Actor::Remote(intruder.to_string()))
        .filter(|entry| entry.details.get("rule").map(String::as_str) == Some(RULE))
        .filter(|entry| entry.outcome == Outcome::Refused)
        .collect();
    assert!(
        !of_intruder.is_empty(),
        "no PeerRefused audit entry names {intruder} with rule {RULE}; refusals: {refusals:#?}\nall event types: {:?}",
        entries.iter().map(|entry| entry.event_type.name()).collect::<Vec<_>>()
    );
    let first = of_intruder[0];
    assert_eq!(first.node, config.node_id);
    assert!(
        first.details.get("reason").is_some_and(|reason| reason.contains("allowlist")),
        "refusal reason: {:?}",
        first.details
    );
    assert!(
        first.details.get("address").is_some_and(|address| address.starts_with("/ip4/127.0.0.1/tcp/")),
        "refusal address: {:?}",
        first.details
    );
    assert!(
        entries.iter().any(|entry| entry.event_type == EventType::NodeStopped && entry.outcome == Outcome::Success),
        "the clean shutdown is not in the audit log"
    );
}
