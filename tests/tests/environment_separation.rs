//! End to end (COV-19): a node of another environment dials a running validator with a network key
//! that IS registered on the validator's chain (an operator reused node 3's key for a node of the
//! same chain id in production). The allowlist admits the key, but the node speaks the protocols of
//! network `covenant-local.production`, not `covenant-local.test`: the validator refuses it right
//! after the handshake, nothing of the chain reaches it, and the validator's audit log holds the
//! refusal naming COV-19. (The network id differs both ways, so a production node refuses a test
//! node alike; `covenant-network`'s tests show that direction.)

use std::time::Duration;

use covenant_network::{Network, NetworkConfig, NetworkEvent, peer_id_of, tcp_multiaddr};
use covenant_storage::AuditLog;
use covenant_storage::audit::{Actor, EventType, Outcome};
use covenant_tests::Consortium;

const RULE: &str = "COV-19-ENVIRONMENT-SEPARATION";
/// How long the other environment's node keeps trying.
const WINDOW: Duration = Duration::from_secs(6);

// covers: COV-19-ENVIRONMENT-SEPARATION
#[test]
fn a_node_of_another_environment_with_a_registered_key_is_refused_and_audited() {
    let mut consortium = Consortium::start(4);
    consortium.wait_for_height(&[0, 1, 2, 3], 1, Duration::from_secs(60));
    let genesis = consortium.genesis();
    assert_eq!(covenant_node::node::network_id(&genesis), "covenant-local.test");

    // Node 3's key, on a node of the production network of the same chain id.
    consortium.kill_node(3);
    let reused_key = consortium.network_key(3);
    let impostor = peer_id_of(&reused_key.public_key()).expect("valid key");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let mut config = NetworkConfig::new(
        reused_key.seed(),
        "covenant-local.production",
        tcp_multiaddr(([127, 0, 0, 1], port).into()),
    );
    config.bootstrap = vec![consortium.p2p_address(0)];
    config.allowed = genesis.nodes().iter().map(|node| node.network_key).collect();
    config.redial_backoff_max = Duration::from_millis(500);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let events = runtime.block_on(async {
        let (network, mut events) = Network::spawn(config).await.expect("the other environment's node starts");
        let _ = network.broadcast_consensus(b"production consensus message".to_vec()).await;
        let deadline = tokio::time::Instant::now() + WINDOW;
        let mut seen = Vec::new();
        while let Ok(Some(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
            seen.push(event);
        }
        tokio::time::timeout(Duration::from_secs(5), network.shutdown()).await.expect("shuts down");
        seen
    });
    drop(runtime);
    let leaked: Vec<&NetworkEvent> = events
        .iter()
        .filter(|event| {
            matches!(
                event,
                NetworkEvent::Consensus { .. } | NetworkEvent::Transaction { .. } | NetworkEvent::BlockRequest { .. }
            )
        })
        .collect();
    assert!(leaked.is_empty(), "the other environment's node received chain traffic: {leaked:#?}");

    let log = consortium.log(0);
    assert!(
        log.lines().any(|line| line.contains("peer refused (COV-19)") && line.contains(&impostor.to_string())),
        "node 0's log does not report refusing {impostor} under COV-19\n{}",
        consortium.logs()
    );
    consortium.stop_node(0, Duration::from_secs(30));
    let store = consortium.open_store(0);
    let entries = store.range(0, covenant_storage::limits::SCAN_ENTRIES_MAX).expect("audit entries");
    let refusals: Vec<_> = entries
        .iter()
        .filter(|entry| entry.event_type == EventType::PeerRefused)
        .filter(|entry| entry.actor == Actor::Remote(impostor.to_string()))
        .filter(|entry| entry.details.get("rule").map(String::as_str) == Some(RULE))
        .filter(|entry| entry.outcome == Outcome::Refused)
        .collect();
    assert!(!refusals.is_empty(), "no PeerRefused audit entry names {impostor} with rule {RULE}");
    let reason = refusals[0].details.get("reason").cloned().unwrap_or_default();
    assert!(reason.contains("covenant-local.test") && reason.contains("another chain or environment"), "{reason}");
}
