//! Real libp2p over 127.0.0.1 TCP with Noise and Yamux: connection, broadcast, refusal of unknown
//! keys, allowlist changes, block sync, size limits, misbehaviour and restarts. Every test is
//! bounded in time.

mod common;

use std::time::Duration;

use common::*;
use covenant_network::limits::{CONSENSUS_PAYLOAD_BYTES_MAX, TX_PAYLOAD_BYTES_MAX};
use covenant_network::{GetBlocks, GossipVerdict, NetworkError, NetworkEvent, RefusalReason};
use tokio::time::Instant;

const TEST_LIMIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_connect_and_broadcast_both_kinds() {
    bounded(TEST_LIMIT, async {
        let mut nodes = full_mesh(4).await;
        for node in &nodes {
            assert_eq!(node.handle.connected_peers().len(), 3, "node {} peers", node.index);
        }

        nodes[0].handle.broadcast_consensus(b"prepare from 0".to_vec()).await.expect("broadcast");
        nodes[1].handle.broadcast_tx(b"tx from 1".to_vec()).await.expect("broadcast");
        for node in nodes.iter_mut() {
            // Everyone but the author hears each message, in whatever order they arrive, from the
            // author or a relay (gossip is anonymous; the payload names its author).
            let mut consensus_expected = node.index != 0;
            let mut tx_expected = node.index != 1;
            let index = node.index;
            while consensus_expected || tx_expected {
                wait_event(node, &format!("broadcasts at node {index}"), |event| match event {
                    NetworkEvent::Consensus { bytes, .. } if bytes == b"prepare from 0" => {
                        consensus_expected = false;
                        Some(())
                    }
                    NetworkEvent::Transaction { bytes, .. } if bytes == b"tx from 1" => {
                        tx_expected = false;
                        Some(())
                    }
                    _ => None,
                })
                .await;
            }
        }

        // Point to point: only the addressee hears it.
        nodes[2].handle.send_consensus(peer(3), b"direct to 3".to_vec()).await.expect("send");
        let bytes = wait_event(&mut nodes[3], "direct message", |event| match event {
            NetworkEvent::Consensus { from, bytes, .. } if *from == peer(2) => Some(bytes.clone()),
            _ => None,
        })
        .await;
        assert_eq!(bytes, b"direct to 3");

        // Latency on loopback: time until all three others hold each of 20 consensus messages.
        let mut latencies = Vec::new();
        for round in 0..20u32 {
            let payload = format!("round {round}").into_bytes();
            let sent = Instant::now();
            nodes[0].handle.broadcast_consensus(payload.clone()).await.expect("broadcast");
            for node in nodes.iter_mut().skip(1) {
                wait_event(node, "timed consensus message", |event| match event {
                    NetworkEvent::Consensus { bytes, .. } if *bytes == payload => Some(()),
                    _ => None,
                })
                .await;
            }
            latencies.push(sent.elapsed());
        }
        latencies.sort();
        let median = latencies[latencies.len() / 2];
        eprintln!("4-node broadcast to all: median {median:?}, max {:?}", latencies[latencies.len() - 1]);
        assert!(median < Duration::from_millis(200), "median broadcast latency {median:?}");
    })
    .await;
}

/// A node missing a link to an admitted peer publishes transactions and votes to be relayed, so that
/// the peer still gets them through the others; a node linked to every peer publishes them for
/// direct delivery (ADR 0009). A line 0 — 1 — 2 of nodes that all allow each other shows both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_reaches_a_peer_without_a_direct_link_through_a_relay() {
    bounded(TEST_LIMIT, async {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let allowed = [0, 1, 2];
        let mut middle = start(1, ports[1], &allowed, &[]).await;
        let mut left = start(0, ports[0], &allowed, &[(1, ports[1])]).await;
        let mut right = start(2, ports[2], &allowed, &[(1, ports[1])]).await;
        wait_until("the line 0 — 1 — 2", || {
            middle.handle.gossip_peers().len() == 2
                && left.handle.gossip_peers().len() == 1
                && right.handle.gossip_peers().len() == 1
        })
        .await;

        left.handle.broadcast_tx(b"from an end".to_vec()).await.expect("broadcast");
        left.handle.broadcast_consensus(b"vote from an end".to_vec()).await.expect("broadcast");
        // The relay forwards only what its node accepted: here the batch and the vote, not the
        // second vote it rejects.
        let batch = wait_event(&mut middle, "the end's batch", |event| match event {
            NetworkEvent::Transaction { bytes, gossip, .. } if bytes == b"from an end" => gossip.clone(),
            _ => None,
        })
        .await;
        let vote = wait_event(&mut middle, "the end's vote", |event| match event {
            NetworkEvent::Consensus { bytes, gossip, .. } if bytes == b"vote from an end" => gossip.clone(),
            _ => None,
        })
        .await;
        left.handle.broadcast_consensus(b"bad vote from an end".to_vec()).await.expect("broadcast");
        let bad_vote = wait_event(&mut middle, "the end's bad vote", |event| match event {
            NetworkEvent::Consensus { bytes, gossip, .. } if bytes == b"bad vote from an end" => gossip.clone(),
            _ => None,
        })
        .await;
        middle.handle.report_gossip(bad_vote, GossipVerdict::Reject).await.expect("report");
        middle.handle.report_gossip(batch, GossipVerdict::Accept).await.expect("report");
        middle.handle.report_gossip(vote, GossipVerdict::Accept).await.expect("report");
        wait_event(&mut right, "the end's batch", |event| {
            matches!(event, NetworkEvent::Transaction { bytes, .. } if bytes == b"from an end").then_some(())
        })
        .await;
        wait_event(&mut right, "the end's vote", |event| {
            matches!(event, NetworkEvent::Consensus { bytes, .. } if bytes == b"vote from an end").then_some(())
        })
        .await;
        let later = events_within(&mut right, Duration::from_millis(500)).await;
        assert!(
            !later.iter().any(
                |event| matches!(event, NetworkEvent::Consensus { bytes, .. } if bytes == b"bad vote from an end")
            ),
            "a rejected message was forwarded: {later:?}"
        );
        middle.handle.broadcast_tx(b"from the middle".to_vec()).await.expect("broadcast");
        for node in [&mut left, &mut right] {
            let from = wait_event(node, "the middle's batch", |event| match event {
                NetworkEvent::Transaction { from, bytes, .. } if bytes == b"from the middle" => Some(*from),
                _ => None,
            })
            .await;
            assert_eq!(from, peer(1));
        }
        assert!(left.handle.connected_peers().len() == 1, "the ends never linked up");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_peer_is_refused_reported_and_gets_no_message_through() {
    bounded(TEST_LIMIT, async {
        let (port_v, port_a, port_o) = (free_port(), free_port(), free_port());
        // Validators 0 (victim) and 1 allow each other only.
        let mut victim = start(0, port_v, &[0, 1], &[]).await;
        let mut member = start(1, port_a, &[0, 1], &[(0, port_v)]).await;
        wait_until("0 and 1 connected", || victim.handle.gossip_peers().contains(&peer(1))).await;
        // The outsider (key 9) would accept the victim and dials it.
        let mut outsider = start(9, port_o, &[0, 1, 9], &[(0, port_v)]).await;

        let (refused_peer, reason) = wait_event(&mut victim, "refusal of the outsider", |event| match event {
            NetworkEvent::PeerRefused { peer_id, reason, address } => {
                assert!(address.is_some(), "refusal carries the remote address");
                Some((*peer_id, reason.clone()))
            }
            _ => None,
        })
        .await;
        assert_eq!(refused_peer, Some(peer(9)));
        assert_eq!(reason, RefusalReason::NotAllowed);
        assert!(!victim.handle.connected_peers().contains(&peer(9)));

        // Both directions stay silent: the outsider's broadcasts never reach the victim, and the
        // victim's broadcasts reach the member but not the outsider.
        outsider.handle.broadcast_consensus(b"forged proposal".to_vec()).await.expect("queued");
        outsider.handle.broadcast_tx(b"forged tx".to_vec()).await.expect("queued");
        outsider.handle.send_consensus(peer(0), b"forged direct".to_vec()).await.expect("queued");
        victim.handle.broadcast_consensus(b"for members only".to_vec()).await.expect("broadcast");
        wait_event(&mut member, "member hears the victim", |event| match event {
            NetworkEvent::Consensus { bytes, .. } if bytes == b"for members only" => Some(()),
            _ => None,
        })
        .await;
        let heard_by_victim = events_within(&mut victim, Duration::from_millis(700)).await;
        assert!(!heard_by_victim.iter().any(|event| is_payload_from(event, peer(9))), "{heard_by_victim:?}");
        let heard_by_outsider = events_within(&mut outsider, Duration::from_millis(100)).await;
        assert!(
            !heard_by_outsider
                .iter()
                .any(|event| matches!(event, NetworkEvent::Consensus { .. } | NetworkEvent::Transaction { .. })),
            "{heard_by_outsider:?}"
        );
        // Block sync is closed to it as well.
        let request = GetBlocks { from_height: 0, max_count: 1 };
        assert!(outsider.handle.request_blocks(peer(0), request).await.is_err());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_peer_from_the_allowlist_disconnects_it_and_adding_it_back_reconnects() {
    bounded(TEST_LIMIT, async {
        let (port_a, port_b) = (free_port(), free_port());
        let mut a = start(0, port_a, &[0, 1], &[(1, port_b)]).await;
        let b = start(1, port_b, &[0, 1], &[(0, port_a)]).await;
        wait_until("connected", || a.handle.connected_peers().contains(&peer(1))).await;

        a.handle.set_allowed(vec![key(0)]).await.expect("set allowed");
        wait_event(&mut a, "disconnection of 1", |event| match event {
            NetworkEvent::PeerDisconnected { peer_id } if *peer_id == peer(1) => Some(()),
            _ => None,
        })
        .await;
        assert!(!a.handle.connected_peers().contains(&peer(1)));
        // 1 keeps redialling and is refused each time.
        wait_event(&mut a, "refusal of 1", |event| match event {
            NetworkEvent::PeerRefused { peer_id: Some(p), reason: RefusalReason::NotAllowed, .. } if *p == peer(1) => {
                Some(())
            }
            _ => None,
        })
        .await;

        a.handle.set_allowed(vec![key(0), key(1)]).await.expect("set allowed");
        wait_until("reconnected", || {
            a.handle.connected_peers().contains(&peer(1)) && b.handle.connected_peers().contains(&peer(0))
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnected_peer_is_banned_for_a_while_then_readmitted() {
    bounded(TEST_LIMIT, async {
        let (port_a, port_b) = (free_port(), free_port());
        let mut a = start(0, port_a, &[0, 1], &[(1, port_b)]).await;
        let _b = start(1, port_b, &[0, 1], &[(0, port_a)]).await;
        wait_until("connected", || a.handle.connected_peers().contains(&peer(1))).await;

        a.handle.disconnect(peer(1), "sent an undecodable block").await.expect("disconnect");
        wait_event(&mut a, "disconnection", |event| match event {
            NetworkEvent::PeerDisconnected { peer_id } if *peer_id == peer(1) => Some(()),
            _ => None,
        })
        .await;
        wait_event(&mut a, "refusal while banned", |event| match event {
            NetworkEvent::PeerRefused { peer_id: Some(p), reason: RefusalReason::Banned, .. } if *p == peer(1) => {
                Some(())
            }
            _ => None,
        })
        .await;
        // The ban is one second in tests; the peer is back soon after.
        wait_until("readmitted after the ban", || a.handle.connected_peers().contains(&peer(1))).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_sync_round_trip_status_and_failures() {
    bounded(TEST_LIMIT, async {
        let (port_a, port_b) = (free_port(), free_port());
        let mut server = start(0, port_a, &[0, 1], &[]).await;
        let mut client = start(1, port_b, &[0, 1], &[(0, port_a)]).await;
        server.handle.set_height(42);
        // The client's own status request comes back with the server's clock: on one machine the
        // offset is within the round trip.
        let sample = wait_event(&mut client, "status answer of the server", |event| match event {
            NetworkEvent::PeerStatus { peer: p, height: 42, clock: Some(sample) } if *p == peer(0) => Some(*sample),
            _ => None,
        })
        .await;
        assert!(sample.offset_ms.unsigned_abs() <= sample.round_trip_ms + 5, "{sample:?}");

        // The server's node answers block requests from its event loop.
        let server_handle = server.handle.clone();
        let answering = tokio::spawn(async move {
            let mut served = 0;
            while let Some(event) = server.events.recv().await {
                if let NetworkEvent::BlockRequest { peer: from, request, responder } = event {
                    assert_eq!(from, peer(1));
                    match request.from_height {
                        // Normal answer, with one block too many: the network cuts it to max_count.
                        3 => {
                            let blocks = (3..3 + u64::from(request.max_count) + 1)
                                .map(|height| format!("block {height}").into_bytes())
                                .collect();
                            let sent = server_handle.respond_blocks(responder, blocks).expect("respond");
                            assert_eq!(sent, request.max_count as usize);
                        }
                        // Dropping the responder answers "unavailable".
                        100 => drop(responder),
                        // Never answering: the request times out.
                        _ => {
                            tokio::time::sleep(Duration::from_secs(3)).await;
                            assert!(responder.respond(Vec::new()).is_err(), "late answer has nowhere to go");
                        }
                    }
                    served += 1;
                    if served == 3 {
                        return;
                    }
                }
            }
        });

        let blocks = client.handle.request_blocks(peer(0), GetBlocks { from_height: 3, max_count: 4 }).await;
        let expected: Vec<Vec<u8>> = (3..7).map(|height| format!("block {height}").into_bytes()).collect();
        assert_eq!(blocks.expect("blocks"), expected);

        let unavailable = client.handle.request_blocks(peer(0), GetBlocks { from_height: 100, max_count: 1 }).await;
        assert_eq!(unavailable, Err(NetworkError::PeerUnavailable { peer: peer(0) }));

        let started = Instant::now();
        let timed_out = client.handle.request_blocks(peer(0), GetBlocks { from_height: 200, max_count: 1 }).await;
        assert!(
            matches!(timed_out, Err(NetworkError::RequestFailed { .. } | NetworkError::PeerUnavailable { .. })),
            "{timed_out:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "request timeout of 2 s honoured");

        let invalid = client.handle.request_blocks(peer(0), GetBlocks { from_height: 0, max_count: 0 }).await;
        assert!(matches!(invalid, Err(NetworkError::InvalidBlockCount { .. })));
        let stranger = client.handle.request_blocks(peer(7), GetBlocks { from_height: 0, max_count: 1 }).await;
        assert_eq!(stranger, Err(NetworkError::NotConnected { peer: peer(7) }));
        answering.await.expect("server task");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_are_refused_locally() {
    bounded(TEST_LIMIT, async {
        let node = start(0, free_port(), &[0], &[]).await;
        let tx = node.handle.broadcast_tx(vec![0; TX_PAYLOAD_BYTES_MAX + 1]).await;
        assert!(matches!(tx, Err(NetworkError::PayloadTooLarge { kind: "transaction", .. })), "{tx:?}");
        let consensus = node.handle.broadcast_consensus(vec![0; CONSENSUS_PAYLOAD_BYTES_MAX + 1]).await;
        assert!(matches!(consensus, Err(NetworkError::PayloadTooLarge { kind: "consensus", .. })));
        let direct = node.handle.send_consensus(peer(1), vec![0; CONSENSUS_PAYLOAD_BYTES_MAX + 1]).await;
        assert!(matches!(direct, Err(NetworkError::PayloadTooLarge { .. })));
        // At the limit is fine.
        node.handle.broadcast_tx(vec![0; TX_PAYLOAD_BYTES_MAX]).await.expect("at the limit");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_consensus_message_crosses_the_gossip_default_limit() {
    bounded(TEST_LIMIT, async {
        let mut nodes = full_mesh(2).await;
        // A 1 MiB proposal: far over gossipsub's default 64 KiB, well within ours.
        let proposal = vec![7u8; 1024 * 1024];
        nodes[0].handle.broadcast_consensus(proposal.clone()).await.expect("broadcast");
        let got = wait_event(&mut nodes[1], "large proposal", |event| match event {
            NetworkEvent::Consensus { bytes, .. } => Some(bytes.len()),
            _ => None,
        })
        .await;
        assert_eq!(got, proposal.len());
        // A transaction exactly at its limit also crosses.
        nodes[1].handle.broadcast_tx(vec![1; TX_PAYLOAD_BYTES_MAX]).await.expect("broadcast");
        let got = wait_event(&mut nodes[0], "tx at the limit", |event| match event {
            NetworkEvent::Transaction { bytes, .. } => Some(bytes.len()),
            _ => None,
        })
        .await;
        assert_eq!(got, TX_PAYLOAD_BYTES_MAX);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_is_reconnected_by_the_others() {
    bounded(TEST_LIMIT, async {
        let mut nodes = full_mesh(4).await;
        let restarted = nodes.pop().expect("four nodes");
        let (index, port) = (restarted.index, restarted.port);
        restarted.handle.shutdown().await;
        drop(restarted);
        for node in &mut nodes {
            wait_event(node, "loss of node 3", |event| match event {
                NetworkEvent::PeerDisconnected { peer_id } if *peer_id == peer(index) => Some(()),
                _ => None,
            })
            .await;
        }

        // Same key, same port, and no bootstrap list of its own: the others must dial it.
        let mut back = start(index, port, &[0, 1, 2, 3], &[]).await;
        wait_until("the others reconnect to the restarted node", || {
            back.handle.gossip_peers().len() == 3
                && nodes.iter().all(|node| node.handle.gossip_peers().contains(&peer(index)))
        })
        .await;
        nodes[0].handle.broadcast_consensus(b"welcome back".to_vec()).await.expect("broadcast");
        wait_event(&mut back, "gossip after restart", |event| match event {
            NetworkEvent::Consensus { bytes, .. } if bytes == b"welcome back" => Some(()),
            _ => None,
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_bounded_and_time_out_in_the_handshake() {
    bounded(TEST_LIMIT, async {
        let port = free_port();
        let mut config = test_config(0, port, &[0, 1], Vec::new());
        config.handshake_timeout = Duration::from_secs(1);
        let mut node = start_with(0, port, config).await;

        // 40 TCP connections that never speak: more than the pending-handshake limit of 32.
        let mut sockets = Vec::new();
        for _ in 0..40 {
            sockets.push(tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("tcp connect"));
        }
        let mut limited = 0;
        let mut timed_out = 0;
        while limited < 8 || timed_out < 32 {
            wait_event(&mut node, "refusals of silent connections", |event| match event {
                NetworkEvent::PeerRefused {
                    peer_id: None,
                    reason: RefusalReason::ConnectionLimit { limit: 32 },
                    ..
                } => {
                    limited += 1;
                    Some(())
                }
                NetworkEvent::PeerRefused { peer_id: None, reason: RefusalReason::HandshakeFailed { .. }, .. } => {
                    timed_out += 1;
                    Some(())
                }
                _ => None,
            })
            .await;
        }
        assert_eq!((limited, timed_out), (8, 32));

        // The node still admits a registered peer afterwards.
        let _member = start(1, free_port(), &[0, 1], &[(0, port)]).await;
        wait_until("member connected", || node.handle.connected_peers().contains(&peer(1))).await;
        drop(sockets);
    })
    .await;
}

/// COV-19: a node of another chain or environment is refused even when its network key is in the
/// allowlist (an operator reused a production node's network key on a test node). The protocol
/// names carry the network id (the node makes it `<chain id>.<environment>`); the test node does not
/// speak the production node's sync protocol, so the status request every new connection gets
/// fails, and the production node refuses it, reports the refusal for the audit log, and nothing of
/// the test node's gets through.
// covers: COV-19-ENVIRONMENT-SEPARATION
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_of_another_environment_is_refused_even_with_an_allowed_key() {
    bounded(TEST_LIMIT, async {
        let (port_p, port_t) = (free_port(), free_port());
        let mut production_config = test_config(0, port_p, &[0, 1], Vec::new());
        production_config.network_id = "consortium.production".into();
        let mut production = start_with(0, port_p, production_config).await;
        let mut test_chain_config = test_config(1, port_t, &[0, 1], vec![dial_address(0, port_p)]);
        test_chain_config.network_id = "consortium.test".into();
        let test_node = start_with(1, port_t, test_chain_config).await;

        let reason = wait_event(&mut production, "refusal of the test node", |event| match event {
            NetworkEvent::PeerRefused { peer_id: Some(refused), reason, .. } if *refused == peer(1) => {
                Some(reason.clone())
            }
            _ => None,
        })
        .await;
        assert_eq!(reason, RefusalReason::WrongNetwork { network_id: "consortium.production".into() });
        assert!(reason.to_string().contains("another chain or environment"), "{reason}");

        test_node.handle.broadcast_consensus(b"test-chain proposal".to_vec()).await.expect("queued");
        test_node.handle.broadcast_tx(b"test-chain tx".to_vec()).await.expect("queued");
        let heard = events_within(&mut production, Duration::from_millis(700)).await;
        assert!(!heard.iter().any(|event| is_payload_from(event, peer(1))), "{heard:?}");
        assert!(production.handle.gossip_peers().is_empty(), "the test node never becomes a gossip peer");
    })
    .await;
}

/// COV-22: the network counts messages and bytes per peer, in and out, on gossip and on sync.
// covers: COV-22-MONITORING
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_is_counted_per_peer_in_both_directions() {
    bounded(TEST_LIMIT, async {
        let mut nodes = full_mesh(2).await;
        let of = |snapshot: &covenant_network::TrafficSnapshot, index: u8| {
            snapshot.peers.iter().find(|(peer_id, _)| *peer_id == peer(index)).map(|(_, traffic)| *traffic)
        };
        // A publish in the first moments of a connection, while gossipsub is still learning the peer's
        // subscriptions, may be counted to no one; a later one must be. Up to three broadcasts.
        let mut counted = None;
        for attempt in 0..3u8 {
            let sent_before = of(&nodes[0].handle.traffic(), 1).unwrap_or_default();
            let before = nodes[1].handle.traffic();
            nodes[0].handle.broadcast_consensus(vec![7 + attempt; 1_000]).await.expect("broadcast");
            wait_event(&mut nodes[1], "the broadcast", |event| match event {
                NetworkEvent::Consensus { bytes, .. } if bytes.len() == 1_000 => Some(()),
                _ => None,
            })
            .await;
            let to_1 = of(&nodes[0].handle.traffic(), 1).expect("node 1 counted by node 0");
            if to_1.bytes_out >= sent_before.bytes_out + 1_000 {
                counted = Some((to_1, sent_before, before));
                break;
            }
        }
        let (to_1, sent_before, before) = counted.expect("node 0 counted none of three broadcasts to node 1");
        assert!(to_1.messages_out > sent_before.messages_out, "{to_1:?} after {sent_before:?}");
        let sent = nodes[0].handle.traffic();
        let received = nodes[1].handle.traffic();
        let from_0 = of(&received, 0).expect("node 0 counted by node 1");
        let from_0_before = of(&before, 0).unwrap_or_default();
        assert!(from_0.messages_in > from_0_before.messages_in, "{from_0:?} after {from_0_before:?}");
        assert!(from_0.bytes_in >= from_0_before.bytes_in + 1_000, "{from_0:?} after {from_0_before:?}");
        // The status exchange (sync protocol) goes both ways too.
        assert!(from_0.messages_out >= 1, "{from_0:?}");
        assert_eq!(sent.unknown, Default::default(), "only registered peers talked");
    })
    .await;
}
